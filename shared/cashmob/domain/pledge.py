"""Pledges: a backer's promise, and what Stripe holds for it."""

from __future__ import annotations

from dataclasses import field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from ..records import record
from .events import (
    DomainEvent,
    PledgeActionRequired,
    PledgeActivated,
    PledgeCancelled,
    PledgeCollected,
    PledgeFailed,
    PledgeLatePaymentRefunded,
    PledgeReleased,
    PledgeReminder,
)
from .money import Money
from .refunds import NO_REFUNDS, Refunds
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


@record
class Backer:
    email: str | None  # None once erased (API.md `…/erase`)
    display_name: str | None = None
    anonymous: bool = False
    hide_amount: bool = False
    message: str | None = None

    @property
    def public_name(self) -> str:
        if self.anonymous or not self.display_name:
            return "Anonymous"
        return self.display_name

    @property
    def erased(self) -> bool:
        return self.email is None and self.display_name is None and self.message is None

    def erase(self) -> Backer:
        """The backer with their personal data (email, name, message) gone;
        how they chose to show the pledge stays."""
        return replace(self, email=None, display_name=None, message=None)


@record
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


@record
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
    # The backer's condition (API.md): counted only if at least this many
    # backers pledge in all; None: unconditional (domain.conditions).
    min_backers: int | None = None
    # What settlement charges (a `fixed_price` fair share), recorded before
    # Stripe is asked; None: the amount.
    share: int | None = None
    # Collected money given back, and the refund in flight (domain.refunds).
    refunds: Refunds = NO_REFUNDS
    revision: int | None = None  # storage revision, for optimistic concurrency
    # What the transitions that made this value recorded, for the use case to
    # publish once the store has written it. Storage ignores it; a pledge
    # read from storage has none.
    events: tuple[DomainEvent, ...] = field(default=(), compare=False, repr=False)

    @property
    def counted(self) -> bool:
        return self.status in COUNTED

    @property
    def refunded_amount(self) -> int:
        """What was given back of the collected money (API.md `refunded_amount`)."""
        return self.refunds.refunded

    @property
    def to_charge(self) -> int:
        """What settlement charges or captures: the fair share, or the amount."""
        return self.amount.amount if self.share is None else self.share

    @property
    def charged(self) -> int:
        """What the pledge's collection took (API.md `charged`); 0 until then."""
        collected = self.status in (PledgeStatus.COLLECTED, PledgeStatus.REFUNDED)
        return self.to_charge if collected else 0

    # ---------------------------------------------------------------- transitions

    def moved_to(self, status: PledgeStatus, **changes: Any) -> Pledge:
        """The pledge in `status` (checked against the table), recording the
        event integrators hear about that status, if any."""
        PLEDGE_TRANSITIONS.check(self.status, status)
        after = replace(self, status=status, **changes)
        money = after._money()
        match status:
            case PledgeStatus.ACTIVE:
                return after.recording(PledgeActivated(**money))
            case PledgeStatus.COLLECTED:
                return after.recording(PledgeCollected(**money, charged=after.to_charge))
            case PledgeStatus.RELEASED:
                return after.recording(PledgeReleased(**money))
            case PledgeStatus.FAILED:
                if not after.failure_reason:
                    raise ValueError("a failed pledge needs its failure_reason")
                return after.recording(PledgeFailed(**money, reason=after.failure_reason))
            case PledgeStatus.CANCELLED:
                return after.recording(PledgeCancelled(after.campaign_id, after.id))
        return after

    def collected_by(self, intent_id: str) -> Pledge:
        """`intent_id` took the pledge's money: collected."""
        payment = replace(self.payment, charge_intent_id=intent_id, intent_open=False)
        return self.moved_to(PledgeStatus.COLLECTED, payment=payment, next_reminder_at=None)

    def failed(self, reason: str, **changes: Any) -> Pledge:
        """Never collected: `reason` says why (docs/events.md, PledgeFailed)."""
        return self.moved_to(
            PledgeStatus.FAILED, failure_reason=reason, next_reminder_at=None, **changes
        )

    def needs_backer(
        self,
        *,
        intent_id: str,
        client_secret: str | None,
        decline_code: str | None,
        now: datetime,
        grace_period: timedelta,
        reminder_interval: timedelta,
    ) -> Pledge:
        """A settlement charge the backer must finish: a grace period, with
        reminders. (The worker and the webhook both reach this; whichever
        writes first publishes PledgeActionRequired.)"""
        grace_until = now + grace_period
        after = self.moved_to(
            PledgeStatus.ACTION_REQUIRED,
            payment=replace(
                self.payment,
                charge_intent_id=intent_id,
                charge_client_secret=client_secret or self.payment.charge_client_secret,
            ),
            grace_until=grace_until,
            next_reminder_at=min(now + reminder_interval, grace_until),
        )
        return after.recording(
            PledgeActionRequired(**after._money(), decline_code=decline_code, until=grace_until)
        )

    def reminded(self, now: datetime, reminder_interval: timedelta) -> Pledge:
        """One reminder of the grace period; the next one is due an interval later."""
        assert self.status is PledgeStatus.ACTION_REQUIRED and self.grace_until is not None
        after = replace(self, next_reminder_at=min(now + reminder_interval, self.grace_until))
        return after.recording(PledgeReminder(**self._money(), until=self.grace_until))

    def refunded_late(self, intent_id: str) -> Pledge:
        """`intent_id` took money for the finished pledge and was given back."""
        after = replace(self, late_refunds=(*self.late_refunds, intent_id))
        return after.recording(PledgeLatePaymentRefunded(**self._money(), intent_id=intent_id))

    # ---------------------------------------------------------------- events

    def recording(self, *events: DomainEvent) -> Pledge:
        return replace(self, events=(*self.events, *events))

    def without_events(self) -> Pledge:
        return replace(self, events=())

    def _money(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "pledge_id": self.id,
            "amount": self.amount.amount,
            "currency": self.amount.currency,
        }

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
        """The secret the backer needs while they still have to act: to confirm
        the card (pending), or to finish a charge that needs them."""
        if self.status is PledgeStatus.PENDING:
            return self.payment.client_secret
        if self.status is not PledgeStatus.ACTION_REQUIRED:
            return None
        return self.payment.charge_client_secret or self.payment.client_secret
