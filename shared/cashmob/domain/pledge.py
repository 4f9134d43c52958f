"""Pledges: a backer's promise, and what Stripe holds for it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from .money import Money
from .states import COUNTED, PLEDGE_TRANSITIONS, PledgeStatus

# Card holds expire after 7 days (Visa merchant-initiated after ~5); a hold is
# only safe when the deadline is closer than this.
HOLD_WINDOW = timedelta(days=6)


class PaymentFlow(StrEnum):
    SETUP = "setup"  # card saved now, charged off-session at the deadline
    HOLD = "hold"  # funds held now (manual capture), captured at the deadline


def choose_flow(
    *, deadline: datetime, now: datetime, hold_window: timedelta = HOLD_WINDOW
) -> PaymentFlow:
    return PaymentFlow.HOLD if deadline - now < hold_window else PaymentFlow.SETUP


@dataclass(frozen=True, slots=True)
class Backer:
    email: str
    display_name: str | None = None
    anonymous: bool = False
    hide_amount: bool = False
    message: str | None = None

    @property
    def public_name(self) -> str:
        if self.anonymous or not self.display_name:
            return "Anonymous"
        return self.display_name


@dataclass(frozen=True, slots=True)
class Payment:
    """What Stripe holds for a pledge."""

    flow: PaymentFlow
    # seti_… (setup) or pi_… (hold); None until Stripe's object exists (the
    # pledge is recorded, and its key claimed, before Stripe is called).
    intent_id: str | None
    client_secret: str | None
    customer_id: str | None = None  # setup flow only
    payment_method: str | None = None  # the card saved or held, from Stripe's confirmation
    # The settlement charge (setup flow: an off-session PaymentIntent).
    charge_attempt: int = 0
    charge_intent_id: str | None = None
    charge_client_secret: str | None = None
    charge_recorded_at: datetime | None = None
    intent_open: bool = True  # a hold or a setup intent we may still need to cancel


@dataclass(frozen=True, slots=True)
class Pledge:
    id: str
    campaign_id: str
    amount: Money
    backer: Backer
    status: PledgeStatus
    created_at: datetime
    payment: Payment
    token_hash: str
    request_hash: str
    activated_at: datetime | None = None
    grace_until: datetime | None = None
    next_reminder_at: datetime | None = None
    counter_shard: int = 0
    failure_reason: str | None = None  # why a pledge ended `failed` (Stripe's code)
    # PaymentIntents that took money after the pledge was finished, refunded.
    late_refunds: tuple[str, ...] = ()
    revision: int | None = None  # storage revision, for optimistic concurrency

    @property
    def counted(self) -> bool:
        return self.status in COUNTED

    def moved_to(self, status: PledgeStatus, **changes: object) -> Pledge:
        PLEDGE_TRANSITIONS.check(self.status, status)
        return replace(self, status=status, **changes)  # type: ignore[arg-type]

    @property
    def ready(self) -> bool:
        """Stripe's object for the pledge exists."""
        return self.payment.intent_id is not None

    def payment_intent_ids(self) -> frozenset[str]:
        """Every PaymentIntent of ours that may take money for this pledge."""
        ids = {self.payment.charge_intent_id}
        if self.payment.flow is PaymentFlow.HOLD:
            ids.add(self.payment.intent_id)
        return frozenset(i for i in ids if i)

    @property
    def client_secret_for_backer(self) -> str | None:
        """The secret the backer needs to finish a charge that needs them."""
        if self.status is not PledgeStatus.ACTION_REQUIRED:
            return None
        return self.payment.charge_client_secret or self.payment.client_secret
