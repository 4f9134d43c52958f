"""The organizer's own account: its payouts and the onboarding link."""

from typing import Annotated, Literal

from pydantic import Field

from .common import ONE_LINE, ONE_LINE_DOC, Schema, Strict


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
