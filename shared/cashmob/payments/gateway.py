"""What cashmob asks of a payment provider, in domain terms. The Stripe
implementation lives in `stripe_gateway`; tests may pass a fake."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from ..domain import Money, Pledge
from ..records import record


@record
class IntentRef:
    intent_id: str
    client_secret: str
    customer_id: str | None = None


class ChargeStatus(StrEnum):
    SUCCEEDED = "succeeded"  # money collected
    NEEDS_BACKER = "needs_backer"  # declined or authentication required
    CANCELED = "canceled"  # the intent is gone (e.g. a hold Stripe cancelled after 7 days)
    REFUSED = "refused"  # Stripe refuses this charge for good (e.g. amount_too_small)


@record
class ChargeResult:
    status: ChargeStatus
    intent_id: str | None
    client_secret: str | None = None
    decline_code: str | None = None
    reason: str | None = None  # REFUSED/CANCELED: Stripe's code or cancellation reason


class PaymentsGateway(Protocol):
    """Every POST carries a deterministic idempotency key derived from the pledge
    and the step. Transient failures raise PaymentProviderUnavailable (a charge
    whose outcome is unknown raises ChargeOutcomeUnknown: look up before trying
    again); requests Stripe rejects as invalid raise PaymentProviderError."""

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
        """Setup flow: an off-session, confirmed PaymentIntent on the saved card,
        under the key of `attempt`. `look_up_first`: any PaymentIntent of this
        pledge that already took money (or belongs to this attempt) is the answer."""
        ...

    def capture(self, pledge: Pledge, *, attempt: int = 0) -> ChargeResult:
        """Hold flow: capture the held funds (the intent's own state answers a
        capture that already happened or can no longer happen)."""
        ...

    def cancel(self, pledge: Pledge) -> None:
        """Release whatever Stripe still holds for the pledge (hold or setup intent)."""
        ...

    def cancel_payment(self, pledge: Pledge, intent_id: str) -> ChargeResult:
        """Cancels one PaymentIntent of the pledge so it can never take money
        (a charge the backer did not finish in time). SUCCEEDED if it had
        already taken the money, else CANCELED."""
        ...

    def refund(self, pledge: Pledge, intent_id: str, *, amount: int | None = None) -> str:
        """Gives back what `intent_id` took (all of it unless `amount`); the refund id.
        A payment already refunded in full answers with the existing refund."""
        ...

    def refund_pledge(self, pledge: Pledge, intent_id: str, *, look_up_first: bool) -> str:
        """The refund in flight of a collected pledge (`pledge.refunds`: its
        number keys the request, its amount, its target tags it, the
        organizer's reason rides in its metadata); the refund id.
        `look_up_first`: an earlier key of this refund met a 5xx, so a refund
        of Stripe's carrying its target is the answer. A 5xx raises
        ChargeOutcomeUnknown (the refund may have been made)."""
        ...

    def forget_backer(self, pledge: Pledge) -> None:
        """Erases the backer's personal data Stripe holds for the pledge (the
        Customer's email and name; a hold's receipt email). Amounts, intents
        and charges stay for the accounts."""
        ...
