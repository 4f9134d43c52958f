"""What cashmob asks of a payment provider, in domain terms. The Stripe
implementation lives in `stripe_gateway`; tests may pass a fake."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from ..domain import Money, Pledge


@dataclass(frozen=True, slots=True)
class IntentRef:
    intent_id: str
    client_secret: str
    customer_id: str | None = None


# Metadata on a declined charge's PaymentIntent: its success is the backer's doing.
NEEDS_BACKER_FLAG = "needs_backer"


class ChargeStatus(StrEnum):
    SUCCEEDED = "succeeded"  # money collected
    NEEDS_BACKER = "needs_backer"  # declined or authentication required
    CANCELED = "canceled"  # the intent is gone (e.g. an expired hold)


@dataclass(frozen=True, slots=True)
class ChargeResult:
    status: ChargeStatus
    intent_id: str
    client_secret: str | None = None
    decline_code: str | None = None


class PaymentsGateway(Protocol):
    """Every POST carries a deterministic idempotency key derived from the pledge
    and the step. Transient failures raise PaymentProviderUnavailable; requests
    Stripe rejects as invalid raise PaymentProviderError."""

    def start_setup(
        self, *, campaign_id: str, pledge_id: str, email: str, amount: Money
    ) -> IntentRef:
        """A Customer and a SetupIntent (usage=off_session): the card is saved, not charged."""
        ...

    def start_hold(
        self, *, campaign_id: str, pledge_id: str, email: str, amount: Money
    ) -> IntentRef:
        """A PaymentIntent with capture_method=manual: the funds are held."""
        ...

    def charge(self, pledge: Pledge, *, attempt: int, look_up_first: bool) -> ChargeResult:
        """Setup flow: an off-session, confirmed PaymentIntent on the saved card."""
        ...

    def capture(self, pledge: Pledge) -> ChargeResult:
        """Hold flow: capture the held funds."""
        ...

    def cancel(self, pledge: Pledge) -> None:
        """Release whatever Stripe still holds for the pledge (hold or setup intent)."""
        ...

    def flag_needs_backer(self, pledge: Pledge, intent_id: str) -> None:
        """Marks a declined charge's PaymentIntent (metadata `needs_backer`) so
        that its eventual success, when the backer finishes it, is news to the
        webhook; every other success is the worker's own."""
        ...
