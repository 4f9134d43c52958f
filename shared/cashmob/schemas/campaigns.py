"""A campaign in and out: creating one, reading one or a page of them, its
public backers, and the organizer's refund of all of it."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StrictInt

from ..domain import CampaignStatus, FundingModel
from .common import ONE_LINE, ONE_LINE_DOC, MoneyIn, MoneyOut, RefundReason, Schema, Strict, Text


class CreateCampaign(Strict):
    title: Annotated[
        str,
        Field(min_length=1, max_length=200, description=ONE_LINE_DOC),
        ONE_LINE,
    ]
    description: Text = ""
    goal: MoneyIn
    deadline: datetime
    funding_model: FundingModel = FundingModel.ALL_OR_NOTHING
    min_backers: Annotated[StrictInt, Field(ge=0, le=1_000_000)] = 0
    min_pledge: MoneyIn | None = None


class Pledged(MoneyOut):
    backers: int


class SettlementOut(Schema):
    outcome: Literal["succeeded", "failed"]
    collected: int
    released: int
    failed: int
    pending_action: int
    settled_at: str
    refunded: int = Field(
        default=0,
        description="What was given back of `collected` (the campaign's refund), minor units.",
    )


class PayoutOut(Schema):
    status: Literal["not_ready", "pending", "paid", "reversed"]
    amount: int = Field(description="What the organizer receives, minor units.")
    fee: int = Field(description="The platform fee, minor units (rounded half up).")
    transfer_id: str | None


class CampaignOut(Schema):
    id: str
    title: str
    description: str
    organizer: str
    goal: MoneyOut
    min_backers: int
    min_pledge: MoneyOut
    funding_model: FundingModel
    deadline: str
    status: CampaignStatus
    pledged: Pledged
    pledged_if_conditions_met: Pledged = Field(
        description="Every active pledge, conditional or not (`pledged` counts the "
        "conditional ones only once the crowd meets them; after settlement both "
        "are what was collected)."
    )
    percent_funded: int
    created_at: str
    settlement: SettlementOut | None
    payout: PayoutOut | None = Field(
        default=None,
        description="What the organizer receives after a success (collected - refunded - "
        "platform fee), paid by Stripe Connect; null when payouts are off.",
    )


class CampaignList(Schema):
    campaigns: list[CampaignOut]
    next_cursor: str | None


class RefundCampaign(Strict):
    reason: RefundReason


class Backer(Schema):
    name: str
    amount: int | None
    pledged_at: str


class BackerList(Schema):
    backers: list[Backer]
    next_cursor: str | None
