"""The settlement sweep, fired by the schedule."""

from __future__ import annotations

from typing import Any

from cashmob import services
from cashmob.observability import handler, logger


@handler()
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    svc = services.current()
    due = list(svc.store.due_campaigns(svc.clock.now()))
    logger.info("sweep", extra={"due_campaigns": len(due)})
    return {"due": len(due)}
