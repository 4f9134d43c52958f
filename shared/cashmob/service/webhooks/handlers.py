"""What each Stripe event does to the pledge it names. Each handler looks at
the pledge as it is now and only ever moves it forward, so a duplicate or a
stale event is a no-op. Before money state moves, the event's object is
checked against the pledge: its intent id, amount and currency (a mismatch
is acknowledged, counted and ignored)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ...clock import from_epoch
from ...container import Services
from ...domain import PaymentFlow, Pledge, PledgeStatus
from ...domain.refunds import refunded_by_stripe
from ...domain.settlement import canceled_reason, charge_intent
from ...records import record
from .verification import metadata, text, whole

# Event times we believe (seconds since the epoch): later ones are not times.
MAX_EPOCH = 2**34


class Mismatch(Exception):
    """The event names the pledge, but its object is not the pledge's payment."""


@record
class LatePayment:
    """Money Stripe took for a pledge that is finished: to be given back."""

    intent_id: str


def _same_money(
    pledge: Pledge, obj: dict[str, Any], amount_field: str, *, charge: bool = False
) -> None:
    """`charge`: the field is what settlement charges (`Pledge.to_charge`: a
    fixed_price fair share, recorded before Stripe was asked), not the pledge."""
    expected = pledge.to_charge if charge else pledge.amount.amount
    if whole(obj, amount_field) != expected:
        raise Mismatch(f"{amount_field} is not the pledge's amount")
    if obj.get("currency") != pledge.amount.currency:
        raise Mismatch("currency is not the pledge's")


# (services, the pledge now, the event's object, the event) -> the pledge after
# (with the events its transition recorded), a late payment to refund, or None
# (nothing to do). Raises Mismatch.
Handler = Callable[[Services, Pledge, dict[str, Any], dict[str, Any]], Pledge | LatePayment | None]


def _activated(
    svc: Services, pledge: Pledge, obj: dict[str, Any], event: dict[str, Any]
) -> Pledge | None:
    """The backer confirmed: the pledge counts from now on (if it is in time)."""
    if (
        pledge.status is not PledgeStatus.PENDING
        or not pledge.ready
        or text(obj, "id") != pledge.payment.intent_id
    ):
        return None
    if pledge.payment.flow is PaymentFlow.HOLD:
        _same_money(pledge, obj, "amount")
        if whole(obj, "amount_capturable") != pledge.amount.amount:
            raise Mismatch("amount_capturable is not the pledge's amount")
    payment = replace(
        pledge.payment,
        payment_method=text(obj, "payment_method") or pledge.payment.payment_method,
        # A succeeded SetupIntent holds nothing; a hold stays open until captured.
        intent_open=pledge.payment.flow is PaymentFlow.HOLD,
    )
    created = whole(event, "created")
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
    intent_id = text(obj, "id")
    if intent_id is None or intent_id not in pledge.payment_intent_ids():
        raise Mismatch("the intent is not one of the pledge's payments")
    _same_money(pledge, obj, "amount_received", charge=True)
    if pledge.status is PledgeStatus.ACTION_REQUIRED:  # so intent_id is its charge
        return pledge.collected_by(intent_id)
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
    intent_id = text(obj, "id")
    if (
        pledge.status is not PledgeStatus.ACTIVE
        or pledge.payment.flow is not PaymentFlow.SETUP
        or intent_id is None
        or intent_id == pledge.payment.intent_id
    ):
        return None
    _same_money(pledge, obj, "amount", charge=True)
    customer = obj.get("customer")
    if customer is not None and customer != pledge.payment.customer_id:
        raise Mismatch("the charge is not on the pledge's customer")
    attempt = metadata(obj).get("attempt")
    recorded = pledge.payment.charge_attempt
    if not isinstance(attempt, str) or not attempt.isdigit() or not 0 < int(attempt) <= recorded:
        raise Mismatch("the charge is not an attempt the worker recorded")
    if int(attempt) < recorded:
        return None  # an older attempt, superseded by the worker's newer one
    error = obj.get("last_payment_error")
    return pledge.needs_backer(
        intent_id=intent_id,
        client_secret=text(obj, "client_secret"),
        decline_code=text(error, "code") if isinstance(error, dict) else None,
        now=svc.clock.now(),
        grace_period=svc.settings.grace_period,
        reminder_interval=svc.settings.reminder_interval,
    )


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
        or text(obj, "id") != pledge.payment.intent_id
        or not pledge.payment.intent_open
    ):
        return None
    payment = replace(pledge.payment, intent_open=False)
    if pledge.status is PledgeStatus.ACTIVE:
        outcome = svc.store.get_campaign(pledge.campaign_id).outcome
        if outcome is not None and outcome.collects:
            reason = canceled_reason(text(obj, "cancellation_reason"))
            return pledge.failed(reason, payment=payment)
    if pledge.status in (PledgeStatus.PENDING, PledgeStatus.ACTIVE):
        return pledge.moved_to(PledgeStatus.RELEASED, payment=payment)
    return replace(pledge, payment=payment)


def _refunded(
    svc: Services, pledge: Pledge, obj: dict[str, Any], event: dict[str, Any]
) -> Pledge | None:
    """Refunded in full or in part (in Stripe's dashboard, say): the collected
    payment, not a late one we gave back ourselves. The charge's
    `amount_refunded` is the truth and only grows (domain.refunds), so
    duplicates and events out of order change nothing."""
    amount_refunded = whole(obj, "amount_refunded")
    full = obj.get("refunded") is True
    if pledge.status not in (PledgeStatus.COLLECTED, PledgeStatus.REFUNDED):
        return None
    if not full and (amount_refunded is None or amount_refunded <= 0):
        return None
    intent_id = text(obj, "payment_intent")
    if intent_id is not None and intent_id in pledge.late_refunds:
        return None
    if intent_id is None or intent_id != charge_intent(pledge):
        raise Mismatch("the charge is not the pledge's collected payment")
    if obj.get("currency") != pledge.amount.currency:
        raise Mismatch("currency is not the pledge's")
    total = max(amount_refunded or 0, pledge.to_charge if full else 0)
    return refunded_by_stripe(pledge, total)


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
