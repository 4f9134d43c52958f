"""The SQS workers' batches run without asyncio: Powertools' batch utility
imports it for its async processors alone, so `cashmob.lazy_powertools` leaves
it a shell (`cashmob.lazy_imports.UNUSED_BY_OUR_FUNCTIONS`), and the
synchronous processors the workers use (BatchProcessor, SqsFifoPartialProcessor
with process_partial_response, as in functions/*/app.py) never ask it for a
name. Whoever does ask gets the real asyncio. Each case runs in a fresh
interpreter: pytest's own may have imported asyncio already."""

from __future__ import annotations

from tests.probes import probe

PROBE = """
import json, sys
import cashmob.lazy_powertools
from cashmob.lazy_imports import is_shell
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor, EventType, SqsFifoPartialProcessor, process_partial_response,
)

def record(i, group):
    return {
        "messageId": f"m{i}", "receiptHandle": f"r{i}", "body": f"body {i}",
        "attributes": {"ApproximateReceiveCount": "1", "MessageGroupId": group},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q.fifo", "awsRegion": "us-east-1",
    }

seen = []
def handle(record):
    seen.append(record.body)
    if record.body == "body 1":
        raise ValueError("refused")

event = {"Records": [record(0, "a"), record(1, "a"), record(2, "a"), record(3, "b")]}
plain = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
standard = process_partial_response(event=event, record_handler=handle, processor=plain)
fifo = SqsFifoPartialProcessor(skip_group_on_error=True)
fifo.raise_on_entire_batch_failure = False
ordered = process_partial_response(event=event, record_handler=handle, processor=fifo)
after_batches = is_shell("asyncio")

import asyncio
async def answer():
    return 42
late = asyncio.run(answer())
print(json.dumps({
    "after_batches": after_batches, "after_use": is_shell("asyncio"), "late": late,
    "standard": sorted(f["itemIdentifier"] for f in standard["batchItemFailures"]),
    "fifo": sorted(f["itemIdentifier"] for f in ordered["batchItemFailures"]),
    "seen": seen,
}))
"""


def test_a_batch_leaves_asyncio_a_shell_and_asyncio_still_works_when_asked():
    found = probe(PROBE)

    # Both processors ran their batch as before: one failure; FIFO's skips the
    # rest of its group.
    assert found["standard"] == ["m1"]
    assert found["fifo"] == ["m1", "m2"]
    assert found["seen"] == ["body 0", "body 1", "body 2", "body 3", "body 0", "body 1", "body 3"]
    # ... without asyncio's __init__ ever running,
    assert found["after_batches"] is True
    # which runs the moment someone asks asyncio for a name.
    assert found["late"] == 42
    assert found["after_use"] is False
