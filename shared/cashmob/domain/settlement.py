"""What happens at the deadline: the campaign's outcome and each pledge's fate."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from enum import StrEnum

from ..records import record
from .campaign import Campaign, FundingModel, Outcome, Settlement
from .conditions import Backing, Bucket, crowd_from_buckets
from .fair_share import SharePlan, plan_shares
from .pledge import PaymentFlow, Pledge
from .schedule import CHECK_INTERVAL
from .states import CampaignStatus, PledgeStatus


@record
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


@record
class Decision:
    """What the deadline fixed, from an exact recount of the active pledges.

    `tally`: the counted set's (the conditions resolved, domain.conditions);
    `crowd`: its size, which decides each conditional pledge (None: not
    counted to the end, which only happens when no pledge is conditional);
    `share_plan`: a fixed_price success's fair shares (domain.fair_share)."""

    outcome: Outcome
    tally: Tally
    crowd: int | None = None
    share_plan: SharePlan | None = None

    def applied_to(self, campaign: Campaign) -> Campaign:
        return replace(campaign, outcome=self.outcome, crowd=self.crowd, share_plan=self.share_plan)


def decided(campaign: Campaign, active: Iterable[Backing], *, minimum: int) -> Decision:
    """The decision over every pledge active at the deadline (each once):
    the outcome on the largest consistent set, and for a `fixed_price`
    success the fair-share plan over that set. `minimum`: Stripe's least
    charge in the campaign's currency (`money.settlement_minimum`).

    Only a fixed_price campaign holds the pledges (ids and amounts: the plan's
    largest remainders need them all); otherwise they are folded into one
    bucket per threshold as they stream by."""
    fixed = campaign.funding_model is FundingModel.FIXED_PRICE
    kept: list[Backing] = []
    sums: dict[int, tuple[int, int]] = {}
    for backing in active:
        key = backing.min_backers or 0
        amount, backers = sums.get(key, (0, 0))
        sums[key] = (amount + backing.amount, backers + 1)
        if fixed:
            kept.append(backing)
    crowd = crowd_from_buckets(Bucket(key, *sums[key]) for key in sums)
    tally = Tally(crowd.amount, crowd.backers)
    outcome = decide(campaign, tally)
    plan = None
    if fixed and outcome is Outcome.SUCCEEDED and campaign.goal.amount > 0:
        plan = plan_shares(
            ((b.pledge_id, b.amount) for b in kept if crowd.admits(b.min_backers)),
            campaign.goal.amount,
            minimum=minimum,
        )
    return Decision(outcome, tally, crowd.backers, plan)


def admitted(pledge: Pledge, crowd: int | None) -> bool:
    """Whether an active pledge is in the counted set the decision fixed: an
    unconditional one always; a conditional one when the crowd meets its
    `min_backers` (unknown crowd: never charged on a guess)."""
    if pledge.min_backers is None:
        return True
    return crowd is not None and pledge.min_backers <= crowd


def share_of(campaign: Campaign, pledge: Pledge) -> int | None:
    """The pledge's fair share under its campaign's plan (None: no plan, the
    amount is charged). A pure function of the plan persisted at the decision
    and the pledge's own id and amount: every retry, and every worker running
    in parallel, charges the same number."""
    plan = campaign.share_plan
    if plan is None or not admitted(pledge, campaign.crowd):
        return None
    return plan.charge(pledge.id, pledge.amount.amount)


class Action(StrEnum):
    CHARGE = "charge"  # setup flow: off-session PaymentIntent on the saved card
    CAPTURE = "capture"  # hold flow: capture the held funds
    RELEASE = "release"  # active pledge of a campaign that will not collect
    EXPIRE = "expire"  # never confirmed before the deadline
    CANCEL_INTENT = "cancel_intent"  # already settled here, but Stripe still holds something
    NONE = "none"


# Pledges that may still need settlement work: the ones fan-out sends.
OPEN_WORK = frozenset(
    {
        PledgeStatus.PENDING,
        PledgeStatus.ACTIVE,
        PledgeStatus.RELEASED,
        PledgeStatus.CANCELLED,
        PledgeStatus.EXPIRED,
    }
)


def action_for(outcome: Outcome | None, pledge: Pledge, *, crowd: int | None = None) -> Action:
    """The one step settlement takes next for `pledge` under `outcome`
    (None: the campaign is live, and only a cancelled pledge, or a
    confirmation that came too late, can leave something to release).
    `crowd`: the counted set's size the decision fixed: a conditional pledge
    it does not meet is released, never charged."""
    if outcome is None:
        finished = pledge.status in (PledgeStatus.CANCELLED, PledgeStatus.RELEASED)
        return Action.CANCEL_INTENT if finished and pledge.payment.intent_open else Action.NONE
    match pledge.status:
        case PledgeStatus.PENDING:
            return Action.RELEASE if outcome is Outcome.CANCELLED else Action.EXPIRE
        case PledgeStatus.ACTIVE if outcome.collects and admitted(pledge, crowd):
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


# ---------------------------------------------------------------- completion


@record
class Totals:
    """A campaign's pledges, summed by how they ended (minor units)."""

    collected: Tally = Tally()  # what was charged (a fair share, or the amount)
    released: int = 0
    failed: int = 0
    pending_action: int = 0  # in their grace period: the backer may still pay
    collected_pledged: int = 0  # the collected pledges' amounts

    @property
    def counts(self) -> tuple[int, int, int, int, int, int]:
        """The totals as whole numbers (a completion check hands them to the
        next one: messages.CheckCompletion.done); `of_counts` reads them back."""
        return (
            self.collected.amount,
            self.collected.backers,
            self.released,
            self.failed,
            self.pending_action,
            self.collected_pledged,
        )

    @classmethod
    def of_counts(cls, counts: tuple[int, ...] | None) -> Totals:
        if counts is None:
            return cls()
        amount, backers, released, failed, pending, pledged = counts
        return cls(Tally(amount, backers), released, failed, pending, pledged)

    def plus(self, pledge: Pledge) -> Totals:
        amount = pledge.amount.amount
        match pledge.status:
            case PledgeStatus.COLLECTED:
                return replace(
                    self,
                    collected=self.collected.plus(pledge.charged),
                    collected_pledged=self.collected_pledged + amount,
                )
            case PledgeStatus.RELEASED:
                return replace(self, released=self.released + amount)
            case PledgeStatus.FAILED:
                return replace(self, failed=self.failed + amount)
            case PledgeStatus.ACTION_REQUIRED:
                # what the backer is asked to pay: the share, or the amount
                return replace(self, pending_action=self.pending_action + pledge.to_charge)
        return self


def finished(campaign: Campaign, totals: Totals, now: datetime) -> Campaign:
    """The campaign once no pledge is left to settle: succeeded or failed with
    its totals (which later checks refresh while pledges are in their grace
    period, which does not hold the campaign back). A cancelled campaign just
    stops being checked."""
    assert campaign.outcome is not None
    if campaign.status is CampaignStatus.CANCELLED:
        return replace(campaign, next_check_at=None)
    outcome = Outcome.SUCCEEDED if campaign.outcome.collects else Outcome.FAILED
    settlement = Settlement(
        outcome=outcome,
        collected=totals.collected.amount,
        collected_backers=totals.collected.backers,
        released=totals.released,
        failed=totals.failed,
        pending_action=totals.pending_action,
        collected_pledged=None  # None: the same as collected
        if totals.collected_pledged == totals.collected.amount
        else totals.collected_pledged,
        settled_at=campaign.settlement.settled_at if campaign.settlement else now,
    )
    after = replace(
        campaign,
        settlement=settlement,
        next_check_at=now + CHECK_INTERVAL if totals.pending_action else None,
    )
    if campaign.status is not CampaignStatus.SETTLING:
        return after  # finished already: the totals are refreshed
    ended = CampaignStatus.SUCCEEDED if outcome is Outcome.SUCCEEDED else CampaignStatus.FAILED
    return after.moved_to(ended)
