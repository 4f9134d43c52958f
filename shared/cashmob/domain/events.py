"""Domain events: what integrators hear on the event bus (docs/events.md).

A transition records its events on the entity it returns (`Campaign.events`,
`Pledge.events`, a field storage ignores); the use case publishes the events
of the entity the store returned once its conditional write succeeded, so an
event is published once, by whoever wins a race. `detail-type` is the class
name; `detail()` is the JSON object integrators receive: ids and amounts,
never an email or a name. Each detail-type's JSON Schema is in
`event_schemas.json`, next to this module.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any

from ..records import record

SCHEMA_FILE = Path(__file__).with_name("event_schemas.json")


@record
class DomainEvent:
    @property
    def detail_type(self) -> str:
        return type(self).__name__

    def detail(self) -> dict[str, Any]:
        """The event's fields as JSON values (times as ISO 8601)."""
        detail: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            detail[f.name] = value.isoformat() if isinstance(value, datetime) else value
        return detail


# ---------------------------------------------------------------- campaigns


@record
class CampaignCreated(DomainEvent):
    campaign_id: str
    organizer: str  # the organizer's id (the token's subject), not a name


@record
class CampaignCancelled(DomainEvent):
    campaign_id: str


@record
class CampaignSettled(DomainEvent):
    """Settlement finished: what the campaign collected."""

    campaign_id: str
    collected: int  # minor units of the campaign's currency
    backers: int  # pledges collected


@record
class CampaignSucceeded(CampaignSettled):
    pass


@record
class CampaignFailed(CampaignSettled):
    pass


# ---------------------------------------------------------------- pledges


@record
class PledgeCancelled(DomainEvent):
    campaign_id: str
    pledge_id: str


@record
class PledgeEvent(DomainEvent):
    """A pledge's money moved (or will not): its ids and amount."""

    campaign_id: str
    pledge_id: str
    amount: int  # minor units
    currency: str


@record
class PledgeActivated(PledgeEvent):
    """The backer's card is saved or the funds held: the pledge counts."""


@record
class PledgeCollected(PledgeEvent):
    # What was taken: the amount, or less (a `fixed_price` fair share).
    charged: int


@record
class PledgeReleased(PledgeEvent):
    pass


@record
class PledgeActionRequired(PledgeEvent):
    decline_code: str | None  # Stripe's, when it gave one
    until: datetime  # the end of the grace period


@record
class PledgeReminder(PledgeEvent):
    until: datetime


@record
class PledgeFailed(PledgeEvent):
    # Stripe's refusal code, hold_expired, payment_canceled, grace_period_ended
    # or campaign_refunded (domain.refunds).
    reason: str


@record
class PledgeLatePaymentRefunded(PledgeEvent):
    intent_id: str  # the PaymentIntent whose money was given back


@record
class PledgeRefunded(PledgeEvent):
    """Collected money given back (`amount`: this refund, minor units)."""

    refunded: int  # the pledge's total refunded so far
    full: bool  # all of what was charged is back: the pledge is `refunded`
    source: str  # "cashmob" (the organizer's refund) or "stripe" (Stripe's dashboard)


@record
class CampaignRefunded(DomainEvent):
    """Every collected pledge of the campaign was given back."""

    campaign_id: str
    refunded: int  # minor units of the campaign's currency, in all


# ---------------------------------------------------------------- payments


@record
class PaymentDisputed(DomainEvent):
    """Stripe's dispute, relayed: each field as Stripe sent it, or None when
    it was missing or not of its type."""

    id: str | None
    charge: str | None
    payment_intent: str | None
    amount: int | None
    currency: str | None
    reason: str | None


# ---------------------------------------------------------------- payouts


@record
class CampaignPaidOut(DomainEvent):
    """The campaign's one payout went to its organizer (Stripe Connect)."""

    campaign_id: str
    amount: int  # what the organizer received, minor units
    fee: int  # the platform fee kept, minor units
    currency: str
    transfer_id: str | None  # Stripe's Transfer (None: nothing was left to send)


@record
class CampaignPayoutReversed(DomainEvent):
    """The campaign was refunded: its payout was taken back (or never went out)."""

    campaign_id: str
    amount: int  # what the payout had sent, minor units (0 if it never went out)
    transfer_id: str | None


EVENT_TYPES: dict[str, type[DomainEvent]] = {
    cls.__name__: cls
    for cls in (
        CampaignCreated,
        CampaignCancelled,
        CampaignSucceeded,
        CampaignFailed,
        PledgeCancelled,
        PledgeActivated,
        PledgeCollected,
        PledgeReleased,
        PledgeActionRequired,
        PledgeReminder,
        PledgeFailed,
        PledgeLatePaymentRefunded,
        PledgeRefunded,
        CampaignRefunded,
        PaymentDisputed,
        CampaignPaidOut,
        CampaignPayoutReversed,
    )
}
