"""Giving collected money back (API.md: a campaign's or one pledge's refund;
Stripe's dashboard refunds, `charge.refunded`). Pure: the service layer
calls Stripe and writes what these functions return.

A refund is recorded on the pledge before Stripe is asked, like a charge
attempt (`charging.new_attempt`): its number keys the Stripe request
(`pledge:{id}:refund-{n}`), so a crash between Stripe and our write repeats
the same request and Stripe answers it with the refund it already made. A
partial refund and a later full one are refunds 1 and 2: their keys never
collide. The amount given back only grows, and never beyond what the
pledge's collection took (`Pledge.to_charge`: the amount, or a fair share).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from ..records import record
from .errors import ConcurrentUpdate, Conflict, ValidationFailed
from .events import CampaignRefunded, PledgeRefunded
from .states import CampaignStatus, PledgeStatus

if TYPE_CHECKING:
    from .campaign import Campaign
    from .pledge import Pledge

# The longest reason we keep (and send as Stripe metadata, whose values hold 500).
MAX_REASON = 500
# `failure_reason` of a pledge whose charge the backer had not finished when
# the organizer refunded the campaign: its payment is cancelled, not taken.
CAMPAIGN_REFUNDED = "campaign_refunded"
# The refund fan-out is started again when its last page has not gone out
# this long after the organizer asked (a page message parked in the DLQ).
STALLED_REFUND_FAN_OUT = timedelta(minutes=15)
# Pledges still waiting this long after the last page went out lost their
# message: they are sent again.
REFUND_STRAGGLERS_AFTER = timedelta(minutes=5)

SOURCE_CASHMOB = "cashmob"
SOURCE_STRIPE = "stripe"


class NotRefundable(Conflict):
    """The pledge has nothing (or less than asked) to give back."""

    code = "not_refundable"


@record
class Refunds:
    """What a pledge's collection gave back, and the refund in flight."""

    refunded: int = 0  # given back so far (API.md `refunded_amount`)
    number: int = 0  # the latest refund request's number: its key is `refund-{number}`
    pending: int = 0  # the amount of refund `number`, recorded, not yet confirmed
    target: int = 0  # `refunded` once the pending refund is confirmed (its Stripe tag)
    retry: bool = False  # an earlier key of the pending refund met a 5xx: look Stripe up
    reason: str | None = None  # the organizer's reason, as they gave it

    @property
    def in_flight(self) -> bool:
        return self.pending > 0


NO_REFUNDS = Refunds()  # a pledge nothing was given back of


@record
class CampaignRefund:
    """The organizer's refund of a whole campaign."""

    reason: str
    started_at: datetime
    sent_at: datetime | None = None  # when its last page of pledges went out


# ---------------------------------------------------------------- one pledge


def refundable(pledge: Pledge) -> int:
    """What may still be given back: what the collection took, less refunds."""
    if pledge.status is not PledgeStatus.COLLECTED:
        return 0
    return max(pledge.to_charge - pledge.refunds.refunded, 0)


def recorded(pledge: Pledge, amount: int | None, reason: str) -> Pledge:
    """The pledge with its next refund recorded (`amount`; None: all that is
    left), before Stripe is asked. Raises NotRefundable (409) unless it is
    collected and holds that much, ValidationFailed (422) for a bad amount,
    ConcurrentUpdate while another refund of it is in flight."""
    if pledge.refunds.in_flight:
        raise ConcurrentUpdate(f"A refund of pledge {pledge.id} is in flight.")
    left = refundable(pledge)
    if left <= 0:
        raise NotRefundable(f"Pledge {pledge.id} is {pledge.status.value}: nothing to refund.")
    if amount is not None and (type(amount) is not int or amount < 1):
        raise ValidationFailed(
            "amount must be a positive integer of minor units.", details=[{"field": "amount"}]
        )
    if amount is not None and amount > left:
        raise NotRefundable(
            f"Pledge {pledge.id} has {left} left to refund.",
        )
    amount = left if amount is None else amount
    r = pledge.refunds
    after = replace(
        r,
        number=r.number + 1,
        pending=amount,
        target=r.refunded + amount,
        retry=False,
        reason=reason[:MAX_REASON],
    )
    return replace(pledge, refunds=after)


def retried(pledge: Pledge) -> Pledge:
    """Stripe answered the pending refund with a 5xx (it may have made it, and
    replays that 5xx under its key): the same refund under a new key, which
    looks Stripe up first."""
    assert pledge.refunds.in_flight
    r = pledge.refunds
    return replace(pledge, refunds=replace(r, number=r.number + 1, retry=True))


def confirmed(pledge: Pledge) -> Pledge:
    """Stripe made the pending refund: it counts, and a pledge given back in
    full is `refunded`."""
    r = pledge.refunds
    done = replace(r, pending=0, retry=False)
    return _given_back(replace(pledge, refunds=done), r.target, SOURCE_CASHMOB)


def refunded_by_stripe(pledge: Pledge, amount_refunded: int) -> Pledge | None:
    """Stripe's charge says `amount_refunded` of it is back (`charge.refunded`:
    a refund made in Stripe's dashboard, or our own). Stripe's total is the
    truth and only ever grows, so a duplicate or an older event changes
    nothing. While a refund of ours is in flight, the total up to its target
    is left for the worker to confirm (it asks Stripe again with its key)."""
    if pledge.status not in (PledgeStatus.COLLECTED, PledgeStatus.REFUNDED):
        return None
    r = pledge.refunds
    if r.in_flight and amount_refunded <= r.target:
        return None
    if amount_refunded <= r.refunded:
        return None
    after = _given_back(pledge, amount_refunded, SOURCE_STRIPE)
    return None if after is pledge else after


def _given_back(pledge: Pledge, total: int, source: str) -> Pledge:
    """The pledge with `total` given back (capped at what was charged; never less than before)."""
    before = pledge.refunds.refunded
    total = min(max(total, before), pledge.to_charge)
    if total == before:
        return pledge
    after = replace(pledge, refunds=replace(pledge.refunds, refunded=total))
    full = total >= pledge.to_charge
    if full and after.status is PledgeStatus.COLLECTED:
        after = after.moved_to(PledgeStatus.REFUNDED)
    return after.recording(
        PledgeRefunded(
            campaign_id=pledge.campaign_id,
            pledge_id=pledge.id,
            amount=total - before,
            currency=pledge.amount.currency,
            refunded=total,
            full=full,
            source=source,
        )
    )


# ---------------------------------------------------------------- a campaign


class RefundStep(StrEnum):
    """The one step a campaign's refund takes next for a pledge."""

    SEND = "send"  # a refund is in flight: ask Stripe (again) with its key
    RECORD = "record"  # collected, money left: record a refund of all of it
    CLOSE = "close"  # its charge needs the backer: cancel it, the pledge fails
    NONE = "none"


# Pledges a campaign's refund may have work for: the ones its pages send.
REFUND_WORK = frozenset({PledgeStatus.COLLECTED, PledgeStatus.ACTION_REQUIRED})


def refund_step(pledge: Pledge) -> RefundStep:
    if pledge.refunds.in_flight:
        return RefundStep.SEND
    if refundable(pledge) > 0:
        return RefundStep.RECORD
    if pledge.status is PledgeStatus.ACTION_REQUIRED:
        return RefundStep.CLOSE
    return RefundStep.NONE


def refund_started(campaign: Campaign, reason: str, now: datetime) -> Campaign:
    """succeeded -> refunding; the sweep looks at it every CHECK_INTERVAL."""
    from .schedule import CHECK_INTERVAL  # schedule imports campaign, which imports this

    return campaign.moved_to(
        CampaignStatus.REFUNDING,
        refund=CampaignRefund(reason=reason[:MAX_REASON], started_at=now),
        next_check_at=now + CHECK_INTERVAL,
    )


def refund_sent(campaign: Campaign, now: datetime) -> Campaign:
    assert campaign.refund is not None
    return replace(campaign, refund=replace(campaign.refund, sent_at=now))


def refund_finished(campaign: Campaign, refunded: int) -> Campaign:
    """refunding -> refunded, with what was given back in all."""
    assert campaign.settlement is not None
    settlement = replace(campaign.settlement, refunded=refunded)
    after = campaign.moved_to(CampaignStatus.REFUNDED, settlement=settlement, next_check_at=None)
    return after.recording(CampaignRefunded(campaign.id, refunded=refunded))


class RefundCheck(StrEnum):
    NOTHING = "nothing"
    WAIT_FOR_FAN_OUT = "wait_for_fan_out"
    RESTART_FAN_OUT = "restart_fan_out"
    COUNT = "count"


def refund_check(campaign: Campaign, now: datetime) -> RefundCheck:
    if campaign.status is not CampaignStatus.REFUNDING or campaign.refund is None:
        return RefundCheck.NOTHING
    if campaign.refund.sent_at is None:
        if now - campaign.refund.started_at > STALLED_REFUND_FAN_OUT:
            return RefundCheck.RESTART_FAN_OUT
        return RefundCheck.WAIT_FOR_FAN_OUT
    return RefundCheck.COUNT


def refund_stragglers_due(campaign: Campaign, now: datetime) -> bool:
    assert campaign.refund is not None and campaign.refund.sent_at is not None
    return now - campaign.refund.sent_at > REFUND_STRAGGLERS_AFTER
