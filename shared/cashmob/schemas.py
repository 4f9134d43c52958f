"""Request and response models of the HTTP API (they generate docs/openapi.json)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from .domain import CampaignStatus, FundingModel, PledgeStatus

Currency = Annotated[str, Field(pattern=r"^[a-z]{3}$", examples=["gbp"])]
Amount = Annotated[StrictInt, Field(ge=1, le=99_999_999, description="Integer minor units")]
Text = Annotated[str, Field(max_length=5000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MoneyIn(Strict):
    amount: Amount
    currency: Currency


class CreateCampaign(Strict):
    title: Annotated[str, Field(min_length=1, max_length=200)]
    description: Text = ""
    goal: MoneyIn
    deadline: datetime
    funding_model: FundingModel = FundingModel.ALL_OR_NOTHING
    min_backers: Annotated[StrictInt, Field(ge=0, le=1_000_000)] = 0
    min_pledge: MoneyIn | None = None


class CreatePledge(Strict):
    amount: Amount
    currency: Currency
    email: Annotated[
        str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    ]
    display_name: Annotated[str, Field(min_length=1, max_length=80)] | None = None
    anonymous: StrictBool = False
    hide_amount: StrictBool = False
    message: Annotated[str, Field(max_length=500)] | None = None


class MoneyOut(BaseModel):
    amount: int
    currency: str


class Pledged(MoneyOut):
    backers: int


class SettlementOut(BaseModel):
    outcome: Literal["succeeded", "failed"]
    collected: int
    released: int
    failed: int
    pending_action: int
    settled_at: str


class CampaignOut(BaseModel):
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
    percent_funded: int
    created_at: str
    settlement: SettlementOut | None


class CampaignList(BaseModel):
    campaigns: list[CampaignOut]
    next_cursor: str | None


class PledgeOut(BaseModel):
    id: str
    campaign_id: str
    amount: int
    currency: str
    status: PledgeStatus
    created_at: str


class PaymentOut(BaseModel):
    flow: Literal["setup", "hold"]
    intent_id: str
    client_secret: str | None
    publishable_key: str


class PledgeCreated(BaseModel):
    pledge: PledgeOut
    pledge_token: str
    payment: PaymentOut


class PledgeDetail(PledgeOut):
    payment: PaymentOut
    action_required_until: str | None = None


class OwnerPledge(PledgeOut):
    email: str
    display_name: str | None
    anonymous: bool
    hide_amount: bool
    message: str | None
    flow: Literal["setup", "hold"]


class OwnerPledgeList(BaseModel):
    pledges: list[OwnerPledge]
    next_cursor: str | None


class Backer(BaseModel):
    name: str
    amount: int | None
    pledged_at: str


class BackerList(BaseModel):
    backers: list[Backer]
    next_cursor: str | None


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: list[dict] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail
