"""What Stripe's answer to a settlement charge or capture means for the
pledge, and the end of a grace period. Pure: the service layer calls Stripe
and writes what these functions return."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal, Protocol

from .pledge import PaymentFlow, Pledge
from .schedule import STRIPE_KEY_MEMORY
from .settlement import GRACE_PERIOD_ENDED, canceled_reason, charge_intent
from .states import SETTLED, PledgeStatus

# The values of `cashmob.payments.ChargeStatus` (a StrEnum), which the
# domain cannot import: the payments package depends on the domain.
ChargeState = Literal["succeeded", "needs_backer", "canceled", "refused"]


class ChargeAnswer(Protocol):
    """Stripe's answer to a charge or capture (`cashmob.payments.ChargeResult`)."""

    @property
    def status(self) -> str: ...
    @property
    def intent_id(self) -> str | None: ...
    @property
    def client_secret(self) -> str | None: ...
    @property
    def decline_code(self) -> str | None: ...
    @property
    def reason(self) -> str | None: ...


def new_attempt(pledge: Pledge, now: datetime) -> Pledge:
    """The pledge with its next charge attempt recorded (and so its
    idempotency key), before Stripe is called."""
    payment = replace(
        pledge.payment, charge_attempt=pledge.payment.charge_attempt + 1, charge_recorded_at=now
    )
    return replace(pledge, payment=payment)


def look_up_first(pledge: Pledge, now: datetime) -> bool:
    """Whether a settlement charge must look Stripe up before charging: an
    attempt after the first follows one whose outcome is unknown (Stripe
    answered 5xx, perhaps after taking the money), and Stripe forgets a key
    after a day."""
    recorded = pledge.payment.charge_recorded_at or now
    return pledge.payment.charge_attempt > 1 or now - recorded > STRIPE_KEY_MEMORY


def after_charge(
    pledge: Pledge,
    answer: ChargeAnswer,
    *,
    now: datetime,
    grace_period: timedelta,
    reminder_interval: timedelta,
) -> Pledge:
    """An active pledge after Stripe's answer to its charge or capture."""
    match answer.status:
        case "succeeded":
            assert answer.intent_id is not None
            return pledge.collected_by(answer.intent_id)
        case "needs_backer":
            assert answer.intent_id is not None
            return pledge.needs_backer(
                intent_id=answer.intent_id,
                client_secret=answer.client_secret,
                decline_code=answer.decline_code,
                now=now,
                grace_period=grace_period,
                reminder_interval=reminder_interval,
            )
        case "refused":
            # Stripe refuses this charge for good (e.g. amount_too_small): no
            # retry changes that, so the pledge ends here and settlement goes on.
            return pledge.failed(answer.reason or "refused")
        case "canceled":
            # The payment is gone at Stripe (a hold it cancelled 7 days after
            # authorisation): the campaign collects, this pledge cannot.
            held = pledge.payment.flow is PaymentFlow.HOLD
            payment = replace(pledge.payment, intent_open=pledge.payment.intent_open and not held)
            return pledge.failed(canceled_reason(answer.reason), payment=payment)
    raise ValueError(f"unknown charge status {answer.status!r}")


# ---------------------------------------------------------------- the grace period


class GraceStep(StrEnum):
    WAIT = "wait"  # the next reminder is not due yet
    REMIND = "remind"
    LAST_ATTEMPT = "last_attempt"  # the grace period is over


def grace_step(pledge: Pledge, now: datetime) -> GraceStep:
    """A reminder every interval; at the end of the grace period one last attempt."""
    assert pledge.status is PledgeStatus.ACTION_REQUIRED and pledge.grace_until is not None
    if pledge.next_reminder_at is not None and now < pledge.next_reminder_at:
        return GraceStep.WAIT
    if now < pledge.grace_until:
        return GraceStep.REMIND
    return GraceStep.LAST_ATTEMPT


def last_attempt_recorded(pledge: Pledge) -> bool:
    """Whether the last attempt of a setup-flow pledge is already recorded:
    a retry of the step repeats that attempt (its key) rather than leaving a
    new declined charge behind."""
    assert pledge.grace_until is not None
    recorded = pledge.payment.charge_recorded_at
    return recorded is not None and recorded >= pledge.grace_until


def still_payable(pledge: Pledge, last: ChargeAnswer) -> list[str]:
    """The charges the backer could still pay once the last attempt has
    answered `last`, which must be cancelled before the pledge is failed:
    the charge the backer was sent, and the last attempt's own declined one."""
    took = last.intent_id if last.status == "succeeded" else None
    candidates = [charge_intent(pledge)]
    if last.status == "needs_backer":
        candidates.append(last.intent_id)
    return [i for i in dict.fromkeys(candidates) if i and i != took]


def grace_failure(last: ChargeAnswer) -> str:
    """`failure_reason` of a pledge whose grace period ended unpaid. (Stable
    across retries of the step: a replayed attempt may answer differently.)"""
    if last.status == "refused":
        return last.reason or "refused"
    if last.status == "canceled" and last.reason == "automatic":
        return canceled_reason(last.reason)  # the hold lapsed meanwhile
    return GRACE_PERIOD_ENDED


# ---------------------------------------------------------------- late payments


class LateRefund(StrEnum):
    DONE = "done"  # given back already (a redelivery)
    NOT_YET = "not_yet"  # the end of the grace period is being written: retry
    KEEP = "keep"  # the payment the pledge collected: never refunded
    REFUND = "refund"


def late_refund(pledge: Pledge, intent_id: str) -> LateRefund:
    """What to do with a payment Stripe took for `pledge` (API.md: money for a
    finished pledge is given back, never kept silently). When the webhook
    recorded this payment as the pledge's while the end of its grace period
    found another, that other one is refunded instead."""
    if intent_id in pledge.late_refunds:
        return LateRefund.DONE
    if pledge.status not in SETTLED:
        return LateRefund.NOT_YET
    collected = pledge.status in (PledgeStatus.COLLECTED, PledgeStatus.REFUNDED)
    if collected and intent_id == charge_intent(pledge):
        return LateRefund.KEEP
    return LateRefund.REFUND
