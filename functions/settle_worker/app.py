"""Settles units of work from the settlement queue (partial batch responses)."""

from __future__ import annotations

from typing import Any

from cashmob.observability import handler


@handler()
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Every record is reported failed until settlement lands: nothing is lost.
    return {
        "batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event.get("Records", [])]
    }
