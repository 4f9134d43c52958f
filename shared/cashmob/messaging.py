"""The settlement queue and the domain event bus (SQS and EventBridge)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Any

import boto3

from .observability import logger

SOURCE = "cashmob"
# Backoff for failed settlement work: 2 s after the first failure, doubling,
# at most 5 minutes (below the queue's visibility timeout).
RETRY_BASE_SECONDS = 2
RETRY_MAX_SECONDS = 300


def retry_delay(receive_count: int) -> int:
    return min(RETRY_BASE_SECONDS * 2 ** max(receive_count - 1, 0), RETRY_MAX_SECONDS)


class WorkQueue:
    """Units of settlement work, as JSON messages on the settlement queue."""

    def __init__(self, queue_url: str, region: str) -> None:
        self.queue_url = queue_url
        self.region = region

    @cached_property
    def _sqs(self) -> Any:
        return boto3.client("sqs", region_name=self.region)

    def send(self, message: Mapping[str, Any], *, delay_seconds: int = 0) -> None:
        self._sqs.send_message(
            QueueUrl=self.queue_url,
            MessageBody=json.dumps(message, sort_keys=True),
            DelaySeconds=min(max(delay_seconds, 0), 900),
        )

    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None:
        """Makes a received message visible again after `delay_seconds`."""
        self._sqs.change_message_visibility(
            QueueUrl=self.queue_url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=delay_seconds,
        )

    def send_many(self, messages: Iterable[Mapping[str, Any]]) -> int:
        batch: list[dict[str, str]] = []
        sent = 0
        for message in messages:
            batch.append(
                {"Id": str(len(batch)), "MessageBody": json.dumps(message, sort_keys=True)}
            )
            if len(batch) == 10:
                sent += self._flush(batch)
                batch = []
        if batch:
            sent += self._flush(batch)
        return sent

    def _flush(self, batch: list[dict[str, str]]) -> int:
        response = self._sqs.send_message_batch(QueueUrl=self.queue_url, Entries=batch)
        failed = response.get("Failed", [])
        if failed:
            # Nothing is lost: the caller's own message is retried and re-sends the page.
            raise RuntimeError(
                f"SQS refused {len(failed)} settlement messages: {failed[0].get('Code')}"
            )
        return len(batch)


class EventPublisher:
    """Domain events for integrators (emails, analytics) on the EventBridge bus."""

    def __init__(self, bus_name: str, region: str) -> None:
        self.bus_name = bus_name
        self.region = region

    @cached_property
    def _events(self) -> Any:
        return boto3.client("events", region_name=self.region)

    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        entry = {
            "Source": SOURCE,
            "DetailType": detail_type,
            "Detail": json.dumps(detail, sort_keys=True, default=str),
            "EventBusName": self.bus_name,
        }
        response = self._events.put_events(Entries=[entry])
        if response.get("FailedEntryCount"):
            logger.error("event not published", extra={"detail_type": detail_type})
