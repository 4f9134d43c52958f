"""What happens at the deadline: the campaign's outcome and each pledge's fate."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .campaign import Campaign, FundingModel, Outcome
from .pledge import PaymentFlow, Pledge
from .states import CampaignStatus, PledgeStatus


@dataclass(frozen=True, slots=True)
class Tally:
    """An exact recount of the pledges active at the deadline."""

    amount: int = 0
    backers: int = 0

    def plus(self, amount: int) -> Tally:
        return Tally(self.amount + amount, self.backers + 1)


def decide(campaign: Campaign, tally: Tally) -> Outcome:
    if campaign.status is CampaignStatus.CANCELLED:
        return Outcome.CANCELLED
    if campaign.funding_model is FundingModel.KEEP_WHAT_YOU_RAISE:
        return Outcome.SUCCEEDED if tally.backers > 0 else Outcome.FAILED
    reached = tally.amount >= campaign.goal.amount and tally.backers >= campaign.min_backers
    return Outcome.SUCCEEDED if reached else Outcome.FAILED


class Action(StrEnum):
    CHARGE = "charge"  # setup flow: off-session PaymentIntent on the saved card
    CAPTURE = "capture"  # hold flow: capture the held funds
    RELEASE = "release"  # active pledge of a campaign that will not collect
    EXPIRE = "expire"  # never confirmed before the deadline
    CANCEL_INTENT = "cancel_intent"  # already settled here, but Stripe still holds something
    NONE = "none"


def action_for(outcome: Outcome, pledge: Pledge) -> Action:
    """The one step settlement takes next for `pledge` under `outcome`."""
    match pledge.status:
        case PledgeStatus.PENDING:
            return Action.RELEASE if outcome is Outcome.CANCELLED else Action.EXPIRE
        case PledgeStatus.ACTIVE if outcome.collects:
            return Action.CAPTURE if pledge.payment.flow is PaymentFlow.HOLD else Action.CHARGE
        case PledgeStatus.ACTIVE:
            return Action.RELEASE
        case (
            PledgeStatus.RELEASED
            | PledgeStatus.CANCELLED
            | PledgeStatus.EXPIRED
            | PledgeStatus.FAILED
        ):
            return Action.CANCEL_INTENT if pledge.payment.intent_open else Action.NONE
        case _:
            return Action.NONE


# `failure_reason` of a pledge whose hold Stripe cancelled on its own, 7 days
# after authorisation: the campaign collects, but this money is gone.
HOLD_EXPIRED = "hold_expired"
# `failure_reason` of a pledge the backer did not finish paying in time.
GRACE_PERIOD_ENDED = "grace_period_ended"


def canceled_reason(cancellation_reason: str | None) -> str:
    """Why a pledge whose payment Stripe reports cancelled ends `failed`."""
    return HOLD_EXPIRED if cancellation_reason == "automatic" else "payment_canceled"


def charge_intent(pledge: Pledge) -> str | None:
    """The PaymentIntent that collects the pledge: the hold itself, or the
    settlement charge on the saved card (the one a backer is asked to finish)."""
    if pledge.payment.flow is PaymentFlow.HOLD:
        return pledge.payment.intent_id
    return pledge.payment.charge_intent_id
