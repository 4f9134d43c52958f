"""Request and response models of the HTTP API (they generate docs/openapi.json).

No `from __future__ import annotations` here: with it every field's
annotation is a string that pydantic has to evaluate when it creates the
class: about a quarter of this module's import time (the API's cold start)."""

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt

from .domain import CampaignStatus, FundingModel, PledgeStatus
from .domain.conditions import MAX_CONDITION

Currency = Annotated[str, Field(pattern=r"^[a-z]{3}$", examples=["gbp"])]
Amount = Annotated[StrictInt, Field(ge=1, le=99_999_999, description="Integer minor units")]

# Text people type: no control characters (C0, DEL, C1), nor what is not a
# character at all (lone surrogates, U+FFFE/U+FFFF); multi-line fields may
# hold tabs and line breaks. Such input is refused (422), never stored.
_NOT_IN_A_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_NOT_IN_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _one_line(value: str) -> str:
    if _NOT_IN_A_LINE.search(value):
        raise ValueError("must not contain control characters")
    return value


def _lines(value: str) -> str:
    if _NOT_IN_LINES.search(value):
        raise ValueError("must not contain control characters other than tab and line breaks")
    return value


# Applied after a field's own constraints, so that they stay in the schema.
ONE_LINE = AfterValidator(_one_line)
LINES = AfterValidator(_lines)
ONE_LINE_DOC = "One line: no control characters."
LINES_DOC = "No control characters except tab and line breaks."
Text = Annotated[str, Field(max_length=5000, description=LINES_DOC), LINES]


class Schema(BaseModel):
    """Every model here. Cold start: pydantic builds a model's validator and
    serializer with its first use (a route's first request, or the OpenAPI
    document), not at import, so an instance builds only the models of the
    routes it serves. That first build is not thread-safe in pydantic 2.13
    (pydantic#13419): fine while an instance serves one request at a time, as
    in Lambda and the local gateway (`gateway.invoke_in_process`)."""

    model_config = ConfigDict(defer_build=True)


class Strict(Schema):
    model_config = ConfigDict(extra="forbid")


class MoneyIn(Strict):
    amount: Amount
    currency: Currency


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


class Condition(Strict):
    min_backers: Annotated[StrictInt, Field(ge=1, le=MAX_CONDITION)]


class CreatePledge(Strict):
    amount: Amount
    currency: Currency
    email: Annotated[
        str,
        Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
        ONE_LINE,
    ]
    display_name: (
        Annotated[
            str,
            Field(min_length=1, max_length=80, description=ONE_LINE_DOC),
            ONE_LINE,
        ]
        | None
    ) = None
    anonymous: StrictBool = False
    hide_amount: StrictBool = False
    message: (
        Annotated[
            str,
            Field(max_length=500, description=LINES_DOC),
            LINES,
        ]
        | None
    ) = None
    condition: Condition | None = Field(
        default=None,
        description='"Count me in only if at least min_backers backers pledge in all."',
    )


class MoneyOut(Schema):
    amount: int
    currency: str


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


class PledgeOut(Schema):
    id: str
    campaign_id: str
    amount: int
    currency: str
    status: PledgeStatus
    created_at: str
    charged: int = Field(
        description="What the pledge's collection took: the amount, or less for a "
        "fixed_price campaign's fair share; 0 until collected."
    )
    condition: Condition | None = None
    refunded_amount: int | None = Field(
        default=None,
        description="What was given back of `charged` (all of it: status `refunded`); "
        "absent until a refund.",
    )


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


# Why the organizer gives the money back (kept on the campaign or pledge, and
# sent in the Stripe Refund's metadata, whose values hold 500 characters).
RefundReason = Annotated[
    str,
    Field(min_length=1, max_length=500, description=ONE_LINE_DOC + " Not blank."),
    ONE_LINE,
    AfterValidator(_not_blank),
]


class RefundCampaign(Strict):
    reason: RefundReason


class RefundPledgeIn(Strict):
    amount: Amount | None = Field(
        default=None, description="Minor units to give back; absent: all that is left."
    )
    reason: RefundReason


class PaymentError(Schema):
    code: str
    message: str


class PaymentOut(Schema):
    flow: Literal["setup", "hold"]
    # "preparing": recorded, Stripe's object not made yet (intent_id and
    # client_secret null; API.md "Flash intake"); "ready": it exists;
    # "failed": Stripe would not make it (`error` says why).
    status: Literal["ready", "preparing", "failed"]
    intent_id: str | None
    client_secret: str | None
    publishable_key: str
    ready_in: int | None = Field(
        default=None,
        description="While preparing: seconds until it should be ready, from the intake queue.",
    )
    error: PaymentError | None = None


class PledgeCreated(Schema):
    pledge: PledgeOut
    pledge_token: str
    payment: PaymentOut


class PledgeDetail(PledgeOut):
    payment: PaymentOut
    action_required_until: str | None = None


class OwnerPledge(PledgeOut):
    email: str | None  # null once erased
    display_name: str | None
    anonymous: bool
    hide_amount: bool
    message: str | None
    flow: Literal["setup", "hold"]


class OwnerPledgeList(Schema):
    pledges: list[OwnerPledge]
    next_cursor: str | None


class Backer(Schema):
    name: str
    amount: int | None
    pledged_at: str


class BackerList(Schema):
    backers: list[Backer]
    next_cursor: str | None


class ErrorDetail(Schema):
    code: str
    message: str
    details: list[dict] | None = None


class ErrorBody(Schema):
    error: ErrorDetail


class OrganizerPayouts(Schema):
    status: Literal["none", "onboarding", "enabled"]
    account_id: str | None
    available: bool = Field(
        description="Whether this platform pays organizers out (PayoutsEnabled); "
        "onboarding leads nowhere when false."
    )


class OrganizerOut(Schema):
    id: str
    payouts: OrganizerPayouts


class StartPayouts(Strict):
    return_url: Annotated[
        str,
        Field(min_length=8, max_length=2048, pattern=r"^https?://\S+$", description=ONE_LINE_DOC),
        ONE_LINE,
    ]


class PayoutLink(Schema):
    url: str = Field(description="Stripe Connect's onboarding page for the organizer's account.")
