"""A pledge in and out: making one (and its payment), the backer's view, the
organizer's view of every pledge, and the organizer's refund of one."""

from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictInt

from ..domain import PledgeStatus
from ..domain.conditions import MAX_CONDITION
from .common import (
    LINES,
    LINES_DOC,
    ONE_LINE,
    ONE_LINE_DOC,
    Amount,
    Currency,
    RefundReason,
    Schema,
    Strict,
)


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
