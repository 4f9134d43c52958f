"""Feeding the settlement queue to the worker the way Lambda's SQS event source does."""

from __future__ import annotations

import boto3

from cashmob_local import runtime, template
from tests.events import FakeContext

sweep_handler = template.load_handler("SettlementFunction")
worker_handler = template.load_handler("SettleWorkerFunction")


def sqs_record(message: dict) -> dict:
    return runtime.sqs_record(message, "arn:aws:sqs:us-east-1:123456789012:SettlementQueue")


def drain(settings, *, fail_first: int = 0, max_rounds: int = 200) -> int:
    """Feeds queue messages to the worker handler in SQS batches until the queue is empty."""
    sqs = boto3.client("sqs")
    delivered = 0
    for _ in range(max_rounds):
        got = sqs.receive_message(QueueUrl=settings.settlement_queue_url, MaxNumberOfMessages=10)
        messages = got.get("Messages", [])
        if not messages:
            return delivered
        event = {"Records": [sqs_record(m) for m in messages]}
        result = worker_handler(event, FakeContext())
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        for m in messages:
            if m["MessageId"] in failed:
                sqs.change_message_visibility(
                    QueueUrl=settings.settlement_queue_url,
                    ReceiptHandle=m["ReceiptHandle"],
                    VisibilityTimeout=0,
                )
            else:
                sqs.delete_message(
                    QueueUrl=settings.settlement_queue_url, ReceiptHandle=m["ReceiptHandle"]
                )
        delivered += len(messages)
    raise AssertionError("the queue never drained")
