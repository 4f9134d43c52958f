"""Settles units of work from the settlement queue. A failed record is
reported alone (partial batch response) and SQS redelivers it with backoff;
after maxReceiveCount it lands in the dead-letter queue."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from cashmob import services
from cashmob.observability import handler
from cashmob.service import settlement

# A batch whose records all failed is reported like any other: each record
# retries on its own schedule instead of the invocation erroring.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> None:
    settlement.handle(services.current(), json.loads(record.body))


@handler()
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
