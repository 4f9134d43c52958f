"""Emails backers about their pledges. An EventBridge rule sends the domain
events that concern a backer to the notification queue; each record is one
event, turned into at most one email (`cashmob.notify.notifier`). A failed
record is reported alone and retried after the queue's visibility timeout;
after maxReceiveCount receives SQS parks it in the dead-letter queue. Logs
name the pledge and the kind of email, never an address, a name or a body."""

from __future__ import annotations

# First: the garbage collector paused for the init, until `done()` on the
# last line (cashmob.startup); then Powertools' event handler and event
# classes by their modules, not their packages' `__init__`
# (cashmob.lazy_powertools).
import cashmob.startup  # isort: skip
import cashmob.lazy_powertools  # isort: skip

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from cashmob import container
from cashmob.notify import notifier
from cashmob.observability import handler, logger


def record_handler(record: SQSRecord) -> str:
    envelope = json.loads(record.body)
    outcome = notifier.handle(container.current(), envelope)
    detail = envelope.get("detail") if isinstance(envelope, dict) else None
    logger.info(
        "notification",
        extra={
            "detail_type": envelope.get("detail-type"),
            "pledge_id": detail.get("pledge_id") if isinstance(detail, dict) else None,
            "outcome": outcome,
        },
    )
    return outcome


@handler()
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )


cashmob.startup.done()  # the init is over: freeze what it made (cashmob.startup)
