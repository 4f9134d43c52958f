"""Prepares queued pledges (flash intake): creates each one's Stripe object at
the pledge-time budget's pace, in arrival order (an SQS FIFO queue: tickets in
order within each message group). A failed record stops its group for this
batch (Powertools' FIFO processor reports it and the rest of its group as
failures), becomes visible again after a short backoff, and after
maxReceiveCount receives SQS parks it in the dead-letter queue, where an
alarm fires."""

from __future__ import annotations

# First: the garbage collector paused for the init, until `done()` on the
# last line (cashmob.startup); then Powertools' event handler and event
# classes by their modules, not their packages' `__init__`
# (cashmob.lazy_powertools).
import cashmob.startup  # isort: skip
import cashmob.lazy_powertools  # isort: skip

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from cashmob import container
from cashmob.domain.messages import decode_intake
from cashmob.messaging import back_off_failures, intake_retry_delay
from cashmob.observability import handler
from cashmob.service import intake


def record_handler(record: SQSRecord) -> None:
    # An invalid message raises InvalidMessage: a failure like any other,
    # parked in the dead-letter queue after maxReceiveCount receives.
    intake.handle(container.current(), decode_intake(record.body))


@handler()
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # One processor per invocation: it keeps the batch's results as state.
    # skip_group_on_error: other groups' records go on; the failed group's
    # later records are reported failed without running (order holds).
    processor = SqsFifoPartialProcessor(skip_group_on_error=True)
    # As the settlement worker: a batch whose records all failed (with
    # BatchSize 1, any failure) is reported like any other, so the record
    # comes back after its short backoff rather than the visibility timeout.
    # (BatchProcessor's constructor flag; the FIFO processor does not pass it on.)
    processor.raise_on_entire_batch_failure = False
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    back_off_failures(container.current().intake, event, response, intake_retry_delay)
    return response


cashmob.startup.done()  # the init is over: freeze what it made (cashmob.startup)
