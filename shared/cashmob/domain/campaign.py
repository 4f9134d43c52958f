"""Campaigns: the goal, the deadline, and who may pledge when."""

from __future__ import annotations

from dataclasses import field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from ..records import record
from .errors import CampaignClosed, ValidationFailed
from .events import (
    CampaignCancelled,
    CampaignCreated,
    CampaignFailed,
    CampaignSucceeded,
    DomainEvent,
)
from .fair_share import SharePlan
from .money import Money, chargeable, currency, settlement_minimum
from .refunds import CampaignRefund
from .states import CAMPAIGN_TRANSITIONS, CampaignStatus

MAX_CAMPAIGN_DURATION = timedelta(days=365)
MIN_CAMPAIGN_DURATION = timedelta(minutes=1)


class FundingModel(StrEnum):
    ALL_OR_NOTHING = "all_or_nothing"
    KEEP_WHAT_YOU_RAISE = "keep_what_you_raise"
    # All or nothing, and an overfunded goal is charged as fair shares (fair_share).
    FIXED_PRICE = "fixed_price"


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"  # collect every active pledge
    FAILED = "failed"  # release every pledge, charge nothing
    CANCELLED = "cancelled"  # the organizer cancelled: release, charge nothing

    @property
    def collects(self) -> bool:
        return self is Outcome.SUCCEEDED


@record
class Settlement:
    outcome: Outcome
    collected: int
    collected_backers: int
    released: int
    failed: int
    pending_action: int
    settled_at: datetime
    # The collected pledges' amounts (`pledged` after settlement); `collected`
    # is what they were charged (less, for a fixed_price fair share). None: as collected.
    collected_pledged: int | None = None
    # What was given back of `collected` (the organizer's refund of the
    # campaign: domain.refunds), in minor units.
    refunded: int = 0


@record
class Campaign:
    id: str
    title: str
    description: str
    organizer: str
    goal: Money
    min_backers: int
    min_pledge: Money
    funding_model: FundingModel
    deadline: datetime
    status: CampaignStatus
    created_at: datetime
    outcome: Outcome | None = None
    settlement: Settlement | None = None
    locked_at: datetime | None = None  # when settlement (or cancellation) began
    fanned_out_at: datetime | None = None  # when its last page of settlement work was sent
    next_check_at: datetime | None = None  # when the scheduler next looks at it
    # Fixed at the decision (conditions, fair_share): the size of the counted
    # set of pledges (a conditional pledge is collected iff its min_backers is
    # at most this), and, for `fixed_price`, the plan of each pledge's charge.
    crowd: int | None = None
    share_plan: SharePlan | None = None
    # The organizer's refund of the whole campaign (refunding, refunded).
    refund: CampaignRefund | None = None
    revision: int | None = None  # storage revision, for optimistic concurrency
    # What the transitions that made this value recorded, for the use case to
    # publish once the store has written it. Storage ignores it.
    events: tuple[DomainEvent, ...] = field(default=(), compare=False, repr=False)

    @property
    def currency(self) -> str:
        return self.goal.currency

    def is_open(self, now: datetime) -> bool:
        return self.status is CampaignStatus.LIVE and now < self.deadline

    def check_pledge(self, amount: Money, now: datetime) -> None:
        """Raises unless a pledge of `amount` may be made now."""
        if not self.is_open(now):
            raise CampaignClosed(f"Campaign {self.id} is not accepting pledges.")
        if amount.currency != self.currency:
            raise ValidationFailed(
                f"This campaign takes pledges in {self.currency}.",
                details=[{"field": "currency", "expected": self.currency}],
            )
        if amount < self.min_pledge:
            raise ValidationFailed(
                f"The minimum pledge is {self.min_pledge.format()}.",
                details=[{"field": "amount", "minimum": self.min_pledge.amount}],
            )

    def moved_to(self, status: CampaignStatus, **changes: Any) -> Campaign:
        """The campaign in `status` (checked against the table), recording the
        event integrators hear about that status, if any. A campaign that
        ends succeeded or failed carries its settlement."""
        CAMPAIGN_TRANSITIONS.check(self.status, status)
        after = replace(self, status=status, **changes)
        match status:
            case CampaignStatus.CANCELLED:
                return after.recording(CampaignCancelled(after.id))
            case CampaignStatus.SUCCEEDED | CampaignStatus.FAILED:
                if after.settlement is None:
                    raise ValueError("a finished campaign needs its settlement")
                ended = CampaignSucceeded if status is CampaignStatus.SUCCEEDED else CampaignFailed
                return after.recording(
                    ended(
                        after.id,
                        collected=after.settlement.collected,
                        backers=after.settlement.collected_backers,
                    )
                )
        return after

    def recording(self, *events: DomainEvent) -> Campaign:
        return replace(self, events=(*self.events, *events))

    def without_events(self) -> Campaign:
        return replace(self, events=())


def new_campaign(
    *,
    id: str,
    organizer: str,
    title: str,
    description: str,
    goal_amount: int,
    goal_currency: str,
    deadline: datetime,
    now: datetime,
    funding_model: FundingModel = FundingModel.ALL_OR_NOTHING,
    min_backers: int = 0,
    min_pledge_amount: int | None = None,
    min_pledge_currency: str | None = None,
    account_currency: str | None = None,
) -> Campaign:
    """Validates the organizer's input against the business rules.
    `account_currency`: the Stripe account's settlement currency, whose
    minimum charge every pledge must clear after conversion."""
    cur = currency(goal_currency)
    goal = chargeable(goal_amount, cur.code, field="goal.amount", account_currency=account_currency)
    if min_pledge_currency is not None and min_pledge_currency != cur.code:
        raise ValidationFailed(
            "min_pledge must be in the goal's currency.",
            details=[{"field": "min_pledge.currency", "expected": cur.code}],
        )
    least = (
        cur.minimum_charge
        if account_currency is None
        else settlement_minimum(cur.code, account_currency)
    )
    min_pledge = (
        Money(least, cur.code)
        if min_pledge_amount is None
        else chargeable(
            min_pledge_amount,
            cur.code,
            field="min_pledge.amount",
            account_currency=account_currency,
        )
    )
    if min_pledge > goal:
        raise ValidationFailed(
            "min_pledge cannot exceed the goal.", details=[{"field": "min_pledge.amount"}]
        )
    if deadline.tzinfo is None:
        raise ValidationFailed("deadline must carry a time zone.", details=[{"field": "deadline"}])
    if deadline < now + MIN_CAMPAIGN_DURATION:
        raise ValidationFailed(
            "deadline must be in the future (at least a minute from now).",
            details=[{"field": "deadline"}],
        )
    if deadline > now + MAX_CAMPAIGN_DURATION:
        raise ValidationFailed("deadline must be within a year.", details=[{"field": "deadline"}])
    if min_backers < 0:
        raise ValidationFailed(
            "min_backers cannot be negative.", details=[{"field": "min_backers"}]
        )
    return Campaign(
        id=id,
        title=title,
        description=description,
        organizer=organizer,
        goal=goal,
        min_backers=min_backers,
        min_pledge=min_pledge,
        funding_model=funding_model,
        deadline=deadline,
        status=CampaignStatus.LIVE,
        created_at=now,
        next_check_at=deadline,
        events=(CampaignCreated(id, organizer),),
    )
