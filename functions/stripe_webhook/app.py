"""Stripe webhook: verify the signature against the raw body, then apply the
event to its pledge. 400 (and nothing written) when anything does not verify;
2xx for every verified event, duplicates and ignored types included, so Stripe
stops retrying. A failure of ours (DynamoDB) is a 500 and Stripe retries."""

from __future__ import annotations

# First: the garbage collector paused for the init (cashmob.startup), until
# `done()` on the last line.
import cashmob.startup  # isort: skip

import json
from typing import Any

from cashmob import container, guard
from cashmob.domain.errors import BadRequest
from cashmob.error_body import JSON, error_result
from cashmob.observability import handler, logger
from cashmob.service import webhooks

MAX_EVENT_BYTES = 512 * 1024  # larger than any Stripe event


@handler()
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    svc = container.current()
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    try:
        try:
            raw = guard.raw_body(event, max_bytes=MAX_EVENT_BYTES)
        except guard.Refused as refused:
            raise BadRequest(refused.message) from None
        stripe_event = webhooks.verify(svc, raw, headers.get("stripe-signature"))
    except BadRequest as error:
        logger.warning("webhook refused", extra={"reason": error.message})
        return error_result(400, error.code, error.message)
    outcome = webhooks.process(svc, stripe_event)
    logger.info(
        "stripe event",
        extra={"event_id": stripe_event["id"], "type": stripe_event["type"], "outcome": outcome},
    )
    return {
        "statusCode": 200,
        "headers": {"Content-Type": JSON},
        "body": json.dumps({"received": True, "outcome": outcome}),
        "isBase64Encoded": False,
    }


cashmob.startup.done()  # the init is over: freeze what it made (cashmob.startup)
