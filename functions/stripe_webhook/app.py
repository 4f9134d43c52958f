"""Stripe webhook: verify the signature against the raw body, then apply the
event to its pledge. 400 (and nothing written) when anything does not verify;
2xx for every verified event, duplicates and ignored types included, so Stripe
stops retrying. A failure of ours (DynamoDB) is a 500 and Stripe retries."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from cashmob import container
from cashmob.domain.errors import BadRequest
from cashmob.observability import handler, logger
from cashmob.service import webhooks


def _answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


@handler()
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    svc = container.current()
    body = event.get("body") or ""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    try:
        try:
            raw = (
                base64.b64decode(body, validate=True)
                if event.get("isBase64Encoded")
                else body.encode()
            )
        except (binascii.Error, ValueError):
            raise BadRequest("The body is not valid base64.") from None
        if len(raw) > 512 * 1024:
            raise BadRequest("The body is larger than any Stripe event.")
        stripe_event = webhooks.verify(svc, raw, headers.get("stripe-signature"))
    except BadRequest as error:
        logger.warning("webhook refused", extra={"reason": error.message})
        return _answer(400, {"error": {"code": error.code, "message": error.message}})
    outcome = webhooks.process(svc, stripe_event)
    logger.info(
        "stripe event",
        extra={"event_id": stripe_event["id"], "type": stripe_event["type"], "outcome": outcome},
    )
    return _answer(200, {"received": True, "outcome": outcome})
