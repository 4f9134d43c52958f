"""The settlement sweep, fired by the schedule (at least once, maybe twice)."""

from __future__ import annotations

# First: the garbage collector paused for the init (cashmob.startup), until
# `done()` on the last line.
import cashmob.startup  # isort: skip

from typing import Any

from cashmob import container
from cashmob.observability import handler, logger
from cashmob.service import settlement


@handler()
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    summary = settlement.sweep(container.current())
    if any(summary.values()):
        logger.info("sweep done", extra=summary)
    return summary


cashmob.startup.done()  # the init is over: freeze what it made (cashmob.startup)
