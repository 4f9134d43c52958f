"""The settlement queue, the intake queue and the domain event bus (SQS and
EventBridge)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .domain.messages import encode
from .observability import logger

if TYPE_CHECKING:
    from .domain.events import DomainEvent
    from .domain.messages import IntakeMessage, Message

SOURCE = "cashmob"
# Backoff for failed settlement work: 2 s after the first failure, doubling,
# at most 5 minutes (below the queue's visibility timeout).
RETRY_BASE_SECONDS = 2
RETRY_MAX_SECONDS = 300


def retry_delay(receive_count: int) -> int:
    return min(RETRY_BASE_SECONDS * 2 ** max(receive_count - 1, 0), RETRY_MAX_SECONDS)


# Intake retries soon (its group waits behind the failed pledge): 1 s after the
# first failure, doubling, at most 60 s.
INTAKE_RETRY_MAX_SECONDS = 60


def intake_retry_delay(receive_count: int) -> int:
    return min(2 ** max(receive_count - 1, 0), INTAKE_RETRY_MAX_SECONDS)


def back_off_failures(
    queue: Any,
    event: dict[str, Any],
    response: dict[str, Any],
    delay: Callable[[int], int],
) -> None:
    """A worker's failed records (its partial batch response) come back after
    `delay(receive count)` rather than the queue's visibility timeout; if that
    cannot be set, the visibility timeout still brings them back."""
    failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
    for record in event.get("Records", []):
        if record["messageId"] in failed:
            receives = int(record.get("attributes", {}).get("ApproximateReceiveCount", 1))
            try:
                queue.retry_later(record["receiptHandle"], delay(receives))
            except Exception:
                logger.exception("could not delay a failed record")


def _client(service: str, *, region_name: str) -> Any:
    """A boto3 client, boto3 imported with the first one: a function whose
    first request sends nothing does not load it (PynamoDB needs only botocore)."""
    import boto3

    return boto3.client(service, region_name=region_name)


# PutEvents takes at most 10 entries a request.
PUT_EVENTS_BATCH = 10


class WorkQueue:
    """Units of settlement work (`cashmob.domain.messages`) on the settlement
    queue, in their one serialisation."""

    def __init__(self, queue_url: str, region: str) -> None:
        self.queue_url = queue_url
        self.region = region

    @cached_property
    def _sqs(self) -> Any:
        return _client("sqs", region_name=self.region)

    def send(self, message: Message, *, delay_seconds: int = 0) -> None:
        self._sqs.send_message(
            QueueUrl=self.queue_url,
            MessageBody=encode(message),
            DelaySeconds=min(max(delay_seconds, 0), 900),
        )

    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None:
        """Makes a received message visible again after `delay_seconds`."""
        self._sqs.change_message_visibility(
            QueueUrl=self.queue_url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=delay_seconds,
        )

    def send_many(self, messages: Iterable[Message]) -> int:
        batch: list[dict[str, str]] = []
        sent = 0
        for message in messages:
            batch.append({"Id": str(len(batch)), "MessageBody": encode(message)})
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


class IntakeQueue:
    """Pledges to prepare, on the intake queue (SQS FIFO). The message group is
    the ticket modulo `groups`: tickets are served in order within a group,
    and `groups` workers run at once. The deduplication id is the pledge id,
    so sending a pledge again (a replay after a crash) is harmless."""

    def __init__(self, queue_url: str, region: str, *, groups: int) -> None:
        self.queue_url = queue_url
        self.region = region
        self.groups = groups

    @cached_property
    def _sqs(self) -> Any:
        return _client("sqs", region_name=self.region)

    def send(self, message: IntakeMessage) -> None:
        self._sqs.send_message(
            QueueUrl=self.queue_url,
            MessageBody=encode(message),
            MessageGroupId=intake_group(message.ticket, self.groups),
            MessageDeduplicationId=message.pledge_id,
        )

    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None:
        """Makes a received message visible again after `delay_seconds`."""
        self._sqs.change_message_visibility(
            QueueUrl=self.queue_url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=delay_seconds,
        )


def intake_group(ticket: int, groups: int) -> str:
    return f"intake-{ticket % groups}"


class EventPublisher:
    """Domain events (`cashmob.domain.events`) for integrators (emails,
    analytics) on the EventBridge bus: source `cashmob`, detail-type the
    event's class name, detail its `detail()` as JSON (docs/events.md)."""

    def __init__(self, bus_name: str, region: str) -> None:
        self.bus_name = bus_name
        self.region = region

    @cached_property
    def _events(self) -> Any:
        return _client("events", region_name=self.region)

    def publish(self, event: DomainEvent) -> None:
        self.publish_all([event])

    def publish_all(self, events: Iterable[DomainEvent]) -> None:
        entries = [self._entry(event) for event in events]
        for start in range(0, len(entries), PUT_EVENTS_BATCH):
            batch = entries[start : start + PUT_EVENTS_BATCH]
            response = self._events.put_events(Entries=batch)
            if response.get("FailedEntryCount"):
                for entry, result in zip(batch, response.get("Entries", []), strict=False):
                    if result.get("ErrorCode"):
                        logger.error(
                            "event not published",
                            extra={
                                "detail_type": entry["DetailType"],
                                "error": result["ErrorCode"],
                            },
                        )

    def _entry(self, event: DomainEvent) -> dict[str, str]:
        return {
            "Source": SOURCE,
            "DetailType": event.detail_type,
            "Detail": json.dumps(event.detail(), sort_keys=True, default=str),
            "EventBusName": self.bus_name,
        }
