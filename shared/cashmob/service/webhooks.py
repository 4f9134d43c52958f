"""Stripe webhooks: believe an event only once its signature verifies, then
move its pledge forward through the transition table.

Stripe delivers events late, more than once and in any order. Each handler
below looks at the pledge as it is now and only ever moves it forward, so a
duplicate or a stale event is a no-op; an event that does change the pledge
is recorded as processed in the same transaction, so it applies once.

A signature proves the event came from whoever holds the webhook secret, not
that its object is the pledge's: before money state moves, the object's
intent id, amount and currency are checked against the pledge (a mismatch is
acknowledged, counted and ignored). Whatever shape a signed event has, the
answer is 2xx or 400; a 5xx only ever means a failure of ours (DynamoDB),
which Stripe retries.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from hashlib import sha256
from typing import Any

from ..clock import from_epoch
from ..container import Services
from ..domain import PaymentFlow, Pledge, PledgeStatus
from ..domain.errors import BadRequest, CampaignClosed, ConcurrentUpdate
from ..domain.settlement import canceled_reason, charge_intent
from ..observability import logger, metrics
from ..store.repository import DuplicateEvent
from .settlement import action_required_announced, needs_backer

# Stripe retries a delivery for up to three days; remember events a while longer.
EVENT_MEMORY = timedelta(days=7)
ATTEMPTS = 5  # re-reads when the pledge changes under us
# Ids (events, intents, our metadata) are short; anything longer is not one.
MAX_ID_LENGTH = 255
# Event times we believe (seconds since the epoch): later ones are not times.
MAX_EPOCH = 2**34


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
    except (UnicodeDecodeError, ValueError, RecursionError):
        # ValueError: JSONDecodeError, and integers longer than Python parses;
        # RecursionError: nesting deeper than the parser's stack.
        raise BadRequest("The event is not JSON.") from None
    data = event.get("data") if isinstance(event, dict) else None
    if (
        not isinstance(event, dict)
        or _text(event, "id") is None
        or _text(event, "type") is None
        or not isinstance(data, dict)
        or not isinstance(data.get("object"), dict)
    ):
        raise BadRequest("The event lacks an id, a type or a data object.")
    return event


# ---------------------------------------------------------------- the event's fields
# Signed is not well-formed: every field is read for the type we expect, and
# anything else reads as missing.


def _text(obj: dict[str, Any], key: str) -> str | None:
    """An id or a code: Stripe's and ours are short printable ASCII."""
    value = obj.get(key)
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH:
        return None
    return value if value.isascii() and value.isprintable() else None


def _whole(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _metadata(obj: dict[str, Any]) -> dict[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


class Mismatch(Exception):
    """The event names the pledge, but its object is not the pledge's payment."""


@dataclass(frozen=True, slots=True)
class LatePayment:
    """Money Stripe took for a pledge that is finished: to be given back."""

    intent_id: str


def _same_money(pledge: Pledge, obj: dict[str, Any], amount_field: str) -> None:
    if _whole(obj, amount_field) != pledge.amount.amount:
        raise Mismatch(f"{amount_field} is not the pledge's amount")
    if obj.get("currency") != pledge.amount.currency:
        raise Mismatch("currency is not the pledge's")


# ---------------------------------------------------------------- handlers

# (services, the pledge now, the event's object, the event) -> the pledge after,
# a late payment to refund, or None (nothing to do). Raises Mismatch.
Handler = Callable[[Services, Pledge, dict[str, Any], dict[str, Any]], Pledge | LatePayment | None]


def _activated(
    svc: Services, pledge: Pledge, obj: dict[str, Any], event: dict[str, Any]
) -> Pledge | None:
    """The backer confirmed: the pledge counts from now on (if it is in time)."""
    if (
        pledge.status is not PledgeStatus.PENDING
        or not pledge.ready
        or _text(obj, "id") != pledge.payment.intent_id
    ):
        return None
    if pledge.payment.flow is PaymentFlow.HOLD:
        _same_money(pledge, obj, "amount")
        if _whole(obj, "amount_capturable") != pledge.amount.amount:
            raise Mismatch("amount_capturable is not the pledge's amount")
    payment = replace(
        pledge.payment,
        payment_method=_text(obj, "payment_method") or pledge.payment.payment_method,
        # A succeeded SetupIntent holds nothing; a hold stays open until captured.
        intent_open=pledge.payment.flow is PaymentFlow.HOLD,
    )
    created = _whole(event, "created")
    moment = (
        from_epoch(created) if created is not None and 0 < created < MAX_EPOCH else svc.clock.now()
    )
    return pledge.moved_to(PledgeStatus.ACTIVE, payment=payment, activated_at=moment)


def _collected(
    svc: Services, pledge: Pledge, obj: dict[str, Any], event: dict[str, Any]
) -> Pledge | LatePayment | None:
    """A payment of the pledge succeeded. Whose it is depends on the pledge
    now, not on the order the worker and Stripe happened to write in:
    - active: the worker's own charge or capture, which it records with
      Stripe's answer in hand (retrying until it has);
    - action_required: the backer finished the charge: collected;
    - finished (failed, released, expired, cancelled, or collected through
      another payment): money we must not keep: refunded by the worker."""
    if pledge.status in (PledgeStatus.PENDING, PledgeStatus.ACTIVE):
        return None
    intent_id = _text(obj, "id")
    if intent_id is None or intent_id not in pledge.payment_intent_ids():
        raise Mismatch("the intent is not one of the pledge's payments")
    _same_money(pledge, obj, "amount_received")
    if pledge.status is PledgeStatus.ACTION_REQUIRED:  # so intent_id is its charge
        payment = replace(pledge.payment, charge_intent_id=intent_id, intent_open=False)
        return pledge.moved_to(PledgeStatus.COLLECTED, payment=payment, next_reminder_at=None)
    collected = pledge.status in (PledgeStatus.COLLECTED, PledgeStatus.REFUNDED)
    if intent_id in pledge.late_refunds or (collected and intent_id == charge_intent(pledge)):
        return None
    return LatePayment(intent_id)


def _charge_failed(
    svc: Services, pledge: Pledge, obj: dict[str, Any], event: dict[str, Any]
) -> Pledge | None:
    """A settlement charge needs the backer. (Hold confirmations that fail
    leave the pledge pending: the backer may try another card.) The charge is
    the worker's newest, not yet recorded on the pledge: believed only if it
    is for the pledge's money and the attempt the worker recorded."""
    intent_id = _text(obj, "id")
    if (
        pledge.status is not PledgeStatus.ACTIVE
        or pledge.payment.flow is not PaymentFlow.SETUP
        or intent_id is None
        or intent_id == pledge.payment.intent_id
    ):
        return None
    _same_money(pledge, obj, "amount")
    customer = obj.get("customer")
    if customer is not None and customer != pledge.payment.customer_id:
        raise Mismatch("the charge is not on the pledge's customer")
    attempt = _metadata(obj).get("attempt")
    recorded = pledge.payment.charge_attempt
    if not isinstance(attempt, str) or not attempt.isdigit() or not 0 < int(attempt) <= recorded:
        raise Mismatch("the charge is not an attempt the worker recorded")
    if int(attempt) < recorded:
        return None  # an older attempt, superseded by the worker's newer one
    client_secret = _text(obj, "client_secret")
    return needs_backer(svc, pledge, intent_id=intent_id, client_secret=client_secret)


def _intent_canceled(
    svc: Services, pledge: Pledge, obj: dict[str, Any], event: dict[str, Any]
) -> Pledge | None:
    """The intent can never take money again. A pledge still pending, or
    active before its campaign collects, is released (a cancellation can
    overtake the confirmation that preceded it, so pending too); an active
    hold of a campaign that collects is failed (Stripe cancels a hold 7 days
    after authorisation); a settled pledge just notes that nothing is held."""
    if (
        not pledge.ready
        or _text(obj, "id") != pledge.payment.intent_id
        or not pledge.payment.intent_open
    ):
        return None
    payment = replace(pledge.payment, intent_open=False)
    if pledge.status is PledgeStatus.ACTIVE:
        outcome = svc.store.get_campaign(pledge.campaign_id).outcome
        if outcome is not None and outcome.collects:
            reason = canceled_reason(_text(obj, "cancellation_reason"))
            return pledge.moved_to(PledgeStatus.FAILED, payment=payment, failure_reason=reason)
    if pledge.status in (PledgeStatus.PENDING, PledgeStatus.ACTIVE):
        return pledge.moved_to(PledgeStatus.RELEASED, payment=payment)
    return replace(pledge, payment=payment)


def _refunded(
    svc: Services, pledge: Pledge, obj: dict[str, Any], event: dict[str, Any]
) -> Pledge | None:
    """Refunded in full (in Stripe's dashboard, say): the collected payment,
    not a late one we gave back ourselves."""
    if pledge.status is not PledgeStatus.COLLECTED or obj.get("refunded") is not True:
        return None
    intent_id = _text(obj, "payment_intent")
    if intent_id is not None and intent_id in pledge.late_refunds:
        return None
    if intent_id is None or intent_id != charge_intent(pledge):
        raise Mismatch("the charge is not the pledge's collected payment")
    if obj.get("currency") != pledge.amount.currency:
        raise Mismatch("currency is not the pledge's")
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
# What integrators hear when the webhook moves a pledge (after the write).
ANNOUNCED = {
    PledgeStatus.COLLECTED: "PledgeCollected",
    PledgeStatus.RELEASED: "PledgeReleased",
    PledgeStatus.FAILED: "PledgeFailed",
}
DISPUTE_FIELDS = ("id", "charge", "payment_intent", "amount", "currency", "reason")


def process(svc: Services, event: dict[str, Any]) -> str:
    """Applies a verified event; returns what happened (for logs and tests)."""
    event_type = event["type"]
    obj = event["data"]["object"]
    if event_type == "charge.dispute.created":
        svc.events.publish(
            "PaymentDisputed",
            {k: _whole(obj, k) if k == "amount" else _text(obj, k) for k in DISPUTE_FIELDS},
        )
        return "published"
    handler = HANDLERS.get(event_type)
    metadata = _metadata(obj)
    campaign_id, pledge_id = _text(metadata, "campaign_id"), _text(metadata, "pledge_id")
    if handler is None or campaign_id is None or pledge_id is None:
        return "ignored"
    now = svc.clock.now()
    record = (event["id"], event_type, now, now + EVENT_MEMORY)
    for _ in range(ATTEMPTS):
        pledge = svc.store.find_pledge(campaign_id, pledge_id)
        if pledge is None:
            logger.warning(
                "event for an unknown pledge", extra={"pledge_id": pledge_id, "type": event_type}
            )
            return "ignored"
        try:
            after = handler(svc, pledge, obj, event)
        except Mismatch as mismatch:
            logger.warning(
                "Stripe event does not match its pledge",
                extra={
                    "event_id": event["id"],
                    "type": event_type,
                    "pledge_id": pledge_id,
                    "reason": str(mismatch),
                },
            )
            metrics.add_metric(name="StripeEventMismatch", unit="Count", value=1)
            return "mismatch"
        if after is None:
            return "no_change"
        if isinstance(after, LatePayment):
            svc.queue.send(
                {
                    "kind": "refund_late",
                    "campaign_id": campaign_id,
                    "pledge_id": pledge_id,
                    "intent_id": after.intent_id,
                }
            )
            logger.warning(
                "a finished pledge was paid; refunding it",
                extra={"pledge_id": pledge_id, "intent_id": after.intent_id},
            )
            return "refund_late"
        try:
            if after.status is PledgeStatus.ACTIVE:
                after = _activate(svc, pledge, after, record)
            else:
                after = svc.store.save_pledge(pledge, after, event=record)
        except DuplicateEvent:
            return "duplicate"
        except ConcurrentUpdate:
            continue
        if pledge.status is not after.status:
            _announce(svc, after, obj)
        metrics.add_metric(name="StripeEventsApplied", unit="Count", value=1)
        return f"{pledge.status.value}->{after.status.value}"
    raise ConcurrentUpdate(f"Pledge {pledge_id} kept changing; Stripe will redeliver.")


def _announce(svc: Services, pledge: Pledge, obj: dict[str, Any]) -> None:
    """After the write, the same events the settlement worker publishes."""
    if pledge.status is PledgeStatus.ACTION_REQUIRED:
        error = obj.get("last_payment_error")
        code = _text(error, "code") if isinstance(error, dict) else None
        action_required_announced(svc, pledge, code)
        return
    name = ANNOUNCED.get(pledge.status)
    if name is None:
        return
    detail: dict[str, Any] = {
        "campaign_id": pledge.campaign_id,
        "pledge_id": pledge.id,
        "amount": pledge.amount.amount,
        "currency": pledge.amount.currency,
    }
    if pledge.status is PledgeStatus.FAILED:
        detail["reason"] = pledge.failure_reason
    if pledge.status is PledgeStatus.COLLECTED:
        metrics.add_metric(name="PledgesCollected", unit="Count", value=1)
    svc.events.publish(name, detail)


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
