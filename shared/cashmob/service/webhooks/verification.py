"""Believe a Stripe event only once its signature verifies; then read its
fields for the types we expect (signed is not well-formed: anything else
reads as missing)."""

from __future__ import annotations

import hmac
import json
from hashlib import sha256
from typing import Any

from ...container import Services
from ...domain.errors import BadRequest

# Ids (events, intents, our metadata) are short; anything longer is not one.
MAX_ID_LENGTH = 255


def verify(svc: Services, payload: bytes, header: str | None) -> dict[str, Any]:
    """The event, if `header` signs `payload` with our secret at a time within
    the tolerance of our clock, in either direction. BadRequest otherwise."""
    if not header:
        raise BadRequest("Stripe-Signature header is missing.")
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise BadRequest("Stripe-Signature has a malformed timestamp.") from None
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise BadRequest("Stripe-Signature is malformed.")
    skew = abs(svc.clock.now().timestamp() - timestamp)
    if skew > svc.settings.webhook_tolerance_seconds:
        raise BadRequest("Stripe-Signature timestamp is outside the tolerance.")
    # The platform's endpoint, and the Connect endpoint if one is configured
    # (Stripe signs each endpoint's deliveries with that endpoint's secret).
    keys = [svc.secrets.stripe_webhook_secret, svc.secrets.stripe_connect_webhook_secret]
    signed = str(timestamp).encode() + b"." + payload
    expected = [hmac.new(k.encode(), signed, sha256).hexdigest() for k in keys if k]
    if not any(hmac.compare_digest(e, candidate) for e in expected for candidate in signatures):
        raise BadRequest("Stripe-Signature does not match the payload.")
    try:
        event = json.loads(payload)
    except (UnicodeDecodeError, ValueError, RecursionError):
        # ValueError: JSONDecodeError, and integers longer than Python parses;
        # RecursionError: nesting deeper than the parser's stack.
        raise BadRequest("The event is not JSON.") from None
    data = event.get("data") if isinstance(event, dict) else None
    if (
        not isinstance(event, dict)
        or text(event, "id") is None
        or text(event, "type") is None
        or not isinstance(data, dict)
        or not isinstance(data.get("object"), dict)
    ):
        raise BadRequest("The event lacks an id, a type or a data object.")
    return event


# ---------------------------------------------------------------- the event's fields


def text(obj: dict[str, Any], key: str) -> str | None:
    """An id or a code: Stripe's and ours are short printable ASCII."""
    value = obj.get(key)
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH:
        return None
    return value if value.isascii() and value.isprintable() else None


def whole(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def metadata(obj: dict[str, Any]) -> dict[str, Any]:
    found = obj.get("metadata")
    return found if isinstance(found, dict) else {}
