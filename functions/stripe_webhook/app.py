"""Stripe webhook: verify the signature, then apply the event to its pledge."""

from __future__ import annotations

from typing import Any

from cashmob.observability import handler


@handler()
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Verification and processing arrive with the Stripe issue; until then
    # nothing unverified is ever believed.
    return {
        "statusCode": 400,
        "body": '{"error": {"code": "not_ready", "message": "Webhooks are not processed yet."}}',
    }
