"""Stripe webhooks: believe an event only once its signature verifies, then
move its pledge forward through the transition table.

Stripe delivers events late, more than once and in any order. Each handler
below looks at the pledge as it is now and only ever moves it forward, so a
duplicate or a stale event is a no-op; an event that does change the pledge
is recorded as processed in the same transaction, so it applies once.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from hashlib import sha256
from typing import Any

from ..clock import from_epoch
from ..domain import PaymentFlow, Pledge, PledgeStatus
from ..domain.errors import BadRequest, CampaignClosed, ConcurrentUpdate
from ..observability import logger, metrics
from ..payments.gateway import NEEDS_BACKER_FLAG
from ..services import Services
from ..store.repository import DuplicateEvent
from .settlement import action_required_announced, needs_backer

# Stripe retries a delivery for up to three days; remember events a while longer.
EVENT_MEMORY = timedelta(days=7)
ATTEMPTS = 5  # re-reads when the pledge changes under us


# ---------------------------------------------------------------- verification


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
    secret = svc.secrets.stripe_webhook_secret.encode()
    expected = hmac.new(secret, str(timestamp).encode() + b"." + payload, sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise BadRequest("Stripe-Signature does not match the payload.")
    try:
        event = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequest("The event is not JSON.") from None
    if (
        not isinstance(event, dict)
        or not isinstance(event.get("id"), str)
        or not isinstance(event.get("type"), str)
        or not isinstance((event.get("data") or {}).get("object"), dict)
    ):
        raise BadRequest("The event lacks an id, a type or a data object.")
    return event


# ---------------------------------------------------------------- handlers

# (services, the pledge now, the event's object, the event) -> the pledge after, or None
Handler = Callable[[Services, Pledge, dict[str, Any], dict[str, Any]], Pledge | None]


def _activated(
    svc: Services, pledge: Pledge, obj: dict[str, Any], event: dict[str, Any]
) -> Pledge | None:
    """The backer confirmed: the pledge counts from now on (if it is in time)."""
    if pledge.status is not PledgeStatus.PENDING or obj.get("id") != pledge.payment.intent_id:
        return None
    payment = replace(
        pledge.payment,
        payment_method=obj.get("payment_method") or pledge.payment.payment_method,
        # A succeeded SetupIntent holds nothing; a hold stays open until captured.
        intent_open=pledge.payment.flow is PaymentFlow.HOLD,
    )
    moment = from_epoch(event.get("created") or svc.clock.now().timestamp())
    return pledge.moved_to(PledgeStatus.ACTIVE, payment=payment, activated_at=moment)


def _collected(
    svc: Services, pledge: Pledge, obj: dict[str, Any], event: dict[str, Any]
) -> Pledge | None:
    """The backer finished a charge that needed them. (Charges of active
    pledges belong to the settlement worker, which has Stripe's answer in
    hand and retries until it is recorded; racing it here would only make
    both sides write twice.)"""
    if pledge.status is not PledgeStatus.ACTION_REQUIRED:
        return None
    if pledge.payment.flow is PaymentFlow.HOLD and obj.get("id") != pledge.payment.intent_id:
        return None
    payment = replace(pledge.payment, charge_intent_id=obj.get("id"), intent_open=False)
    return pledge.moved_to(PledgeStatus.COLLECTED, payment=payment, next_reminder_at=None)


def _charge_failed(
    svc: Services, pledge: Pledge, obj: dict[str, Any], event: dict[str, Any]
) -> Pledge | None:
    """A settlement charge needs the backer (hold confirmations that fail leave
    the pledge pending: the backer may try another card)."""
    if pledge.status is not PledgeStatus.ACTIVE or obj.get("id") == pledge.payment.intent_id:
        return None
    return needs_backer(svc, pledge, intent_id=obj["id"], client_secret=obj.get("client_secret"))


def _intent_canceled(
    svc: Services, pledge: Pledge, obj: dict[str, Any], event: dict[str, Any]
) -> Pledge | None:
    """The intent can never take money again. A pledge still pending or active
    is released (a cancellation can overtake the confirmation that preceded
    it, so pending too); a settled one just notes that nothing is held."""
    if obj.get("id") != pledge.payment.intent_id or not pledge.payment.intent_open:
        return None
    payment = replace(pledge.payment, intent_open=False)
    if pledge.status in (PledgeStatus.PENDING, PledgeStatus.ACTIVE):
        return pledge.moved_to(PledgeStatus.RELEASED, payment=payment)
    return replace(pledge, payment=payment)


def _refunded(
    svc: Services, pledge: Pledge, obj: dict[str, Any], event: dict[str, Any]
) -> Pledge | None:
    if pledge.status is not PledgeStatus.COLLECTED or not obj.get("refunded"):
        return None
    return pledge.moved_to(PledgeStatus.REFUNDED)


def _no_change(
    svc: Services, pledge: Pledge, obj: dict[str, Any], event: dict[str, Any]
) -> Pledge | None:
    return None


HANDLERS: dict[str, Handler] = {
    "setup_intent.succeeded": _activated,
    "payment_intent.amount_capturable_updated": _activated,
    "payment_intent.succeeded": _collected,
    "payment_intent.payment_failed": _charge_failed,
    "payment_intent.requires_action": _charge_failed,
    "payment_intent.canceled": _intent_canceled,
    "setup_intent.canceled": _intent_canceled,
    "charge.refunded": _refunded,
    # The backer may retry with another card; nothing changes for us.
    "setup_intent.setup_failed": _no_change,
}


def process(svc: Services, event: dict[str, Any]) -> str:
    """Applies a verified event; returns what happened (for logs and tests)."""
    event_type = event["type"]
    obj = event["data"]["object"]
    if event_type == "charge.dispute.created":
        svc.events.publish(
            "PaymentDisputed",
            {
                k: obj.get(k)
                for k in ("id", "charge", "payment_intent", "amount", "currency", "reason")
            },
        )
        return "published"
    handler = HANDLERS.get(event_type)
    metadata = obj.get("metadata") or {}
    campaign_id, pledge_id = metadata.get("campaign_id"), metadata.get("pledge_id")
    if handler is None or not campaign_id or not pledge_id:
        return "ignored"
    if event_type == "payment_intent.succeeded" and metadata.get(NEEDS_BACKER_FLAG) != "true":
        # The worker collected it and recorded it with Stripe's answer in hand
        # (retrying until it did): nothing to read or write here.
        return "settlement_owns_it"
    now = svc.clock.now()
    record = (event["id"], event_type, now, now + EVENT_MEMORY)
    for _ in range(ATTEMPTS):
        pledge = svc.store.find_pledge(campaign_id, pledge_id)
        if pledge is None:
            logger.warning(
                "event for an unknown pledge", extra={"pledge_id": pledge_id, "type": event_type}
            )
            return "ignored"
        after = handler(svc, pledge, obj, event)
        if after is None:
            return "no_change"
        try:
            if after.status is PledgeStatus.ACTIVE:
                after = _activate(svc, pledge, after, record)
            else:
                svc.store.save_pledge(pledge, after, event=record)
        except DuplicateEvent:
            return "duplicate"
        except ConcurrentUpdate:
            continue
        if after.status is PledgeStatus.ACTION_REQUIRED and pledge.status is not after.status:
            error = obj.get("last_payment_error") or {}
            action_required_announced(svc, after, error.get("code"))
        metrics.add_metric(name="StripeEventsApplied", unit="Count", value=1)
        return f"{pledge.status.value}->{after.status.value}"
    raise ConcurrentUpdate(f"Pledge {pledge_id} kept changing; Stripe will redeliver.")


def _activate(svc: Services, before: Pledge, after: Pledge, record: tuple) -> Pledge:
    """Counts the pledge if the campaign is live and its deadline after the
    confirmation; otherwise the confirmation is late: the pledge is released
    and the worker cancels its hold. Returns the pledge as written."""
    try:
        return svc.store.save_pledge(
            before, after, open_campaign_at=after.activated_at, event=record
        )
    except CampaignClosed:
        late = svc.store.save_pledge(
            before, before.moved_to(PledgeStatus.RELEASED, payment=after.payment), event=record
        )
        if late.payment.intent_open:
            svc.queue.send(
                {"kind": "pledge", "campaign_id": late.campaign_id, "pledge_id": late.id}
            )
        logger.info("late confirmation released", extra={"pledge_id": before.id})
        return late
