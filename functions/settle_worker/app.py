"""Settles units of work from the settlement queue. A failed record is
reported alone (partial batch response) and made visible again after an
exponential backoff; after maxReceiveCount receives SQS parks it in the
dead-letter queue, where an alarm fires."""

from __future__ import annotations

# First: the garbage collector paused for the init, until `done()` on the
# last line (cashmob.startup); then Powertools' event handler and event
# classes by their modules, not their packages' `__init__`
# (cashmob.lazy_powertools).
import cashmob.startup  # isort: skip
import cashmob.lazy_powertools  # isort: skip

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from cashmob import container
from cashmob.domain.messages import decode
from cashmob.messaging import back_off_failures, retry_delay
from cashmob.observability import handler
from cashmob.service import settlement


def record_handler(record: SQSRecord) -> None:
    # An invalid message raises InvalidMessage: a failure like any other,
    # parked in the dead-letter queue after maxReceiveCount receives.
    settlement.handle(container.current(), decode(record.body))


def prompt_first(event: dict[str, Any]) -> dict[str, Any]:
    """The batch with its pages, decisions and checks ahead of its pledges
    (service.settlement.PROMPT), each group in the order received: a
    standard queue promises no order, and a page should not wait for nine
    paced Stripe calls."""
    records = event.get("Records") or []
    ordered = sorted(records, key=lambda record: not settlement.prompt(record.get("body", "")))
    return {**event, "Records": ordered}


@handler()
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # One processor per invocation: it keeps the batch's results as state.
    # A batch whose records all failed is reported like any other, so each
    # record retries on its own schedule instead of the invocation erroring.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    event = prompt_first(event)
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    back_off_failures(container.current().queue, event, response, retry_delay)
    return response


cashmob.startup.done()  # the init is over: freeze what it made (cashmob.startup)
