"""Payouts to organizers (Stripe Connect): the platform fee, the payout's and
the organizer's onboarding state machines. Pure.

The fee is `platform_fee(net, bps)` = net x bps / 10 000 rounded half up
(to the nearest minor unit, halves up), in integer arithmetic: `(net x bps +
5 000) // 10 000`. It is taken on what the campaign keeps (collected -
refunded): money given back to backers carries no fee. The organizer
receives the rest, so `amount + fee == collected - refunded` always.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from ..records import record
from .errors import ValidationFailed
from .states import TransitionTable

BASIS_POINTS = 10_000  # 100 %


def platform_fee(net: int, fee_bps: int) -> int:
    """`net` x `fee_bps` / 10 000, rounded half up, in whole minor units."""
    if net < 0 or not 0 <= fee_bps <= BASIS_POINTS:
        raise ValueError("the fee is of a non-negative amount, at 0 to 10 000 basis points")
    return (net * fee_bps + BASIS_POINTS // 2) // BASIS_POINTS


@record
class PayoutAmounts:
    collected: int
    refunded: int
    fee: int
    amount: int  # what the organizer receives


def payout_for(collected: int, refunded: int, fee_bps: int) -> PayoutAmounts:
    """What a campaign that collected `collected` and gave back `refunded`
    (minor units) pays its organizer, at a platform fee of `fee_bps`."""
    if collected < 0 or not 0 <= refunded <= collected:
        raise ValueError("refunded must be between 0 and what was collected")
    net = collected - refunded
    fee = platform_fee(net, fee_bps)
    return PayoutAmounts(collected, refunded, fee, net - fee)


# ---------------------------------------------------------------- payout


class PayoutStatus(StrEnum):
    NOT_READY = "not_ready"  # due, but the organizer's account is not enabled yet
    PENDING = "pending"  # the transfer is being made (its amount is fixed)
    PAID = "paid"  # the transfer exists
    REVERSED = "reversed"  # the campaign was refunded: the transfer (if any) reversed


_S = PayoutStatus
PAYOUT_TRANSITIONS = TransitionTable[PayoutStatus](
    "payout",
    {
        _S.NOT_READY: frozenset({_S.PENDING, _S.REVERSED}),
        _S.PENDING: frozenset({_S.PAID, _S.REVERSED}),
        _S.PAID: frozenset({_S.REVERSED}),
    },
)


@record
class Payout:
    """A succeeded campaign's one payout to its organizer."""

    campaign_id: str
    organizer: str
    currency: str
    status: PayoutStatus
    amounts: PayoutAmounts
    created_at: datetime
    account_id: str | None = None
    transfer_id: str | None = None
    reversal_ids: tuple[str, ...] = ()
    revision: int | None = None

    def moved_to(self, status: PayoutStatus, **changes: Any) -> Payout:
        PAYOUT_TRANSITIONS.check(self.status, status)
        return replace(self, status=status, **changes)


def payout_json(payout: Payout | None) -> dict[str, Any] | None:
    """API.md's campaign `payout` (None: no payout yet, or payouts are off)."""
    if payout is None:
        return None
    return {
        "status": payout.status.value,
        "amount": payout.amounts.amount,
        "fee": payout.amounts.fee,
        "transfer_id": payout.transfer_id,
    }


# ---------------------------------------------------------------- organizer


class OnboardingStatus(StrEnum):
    NONE = "none"  # no connected account yet
    ONBOARDING = "onboarding"  # account made, Stripe's onboarding not finished
    ENABLED = "enabled"  # Stripe says it can receive transfers


_O = OnboardingStatus
ONBOARDING_TRANSITIONS = TransitionTable[OnboardingStatus](
    "organizer",
    {_O.NONE: frozenset({_O.ONBOARDING}), _O.ONBOARDING: frozenset({_O.ENABLED})},
)


@record
class Organizer:
    id: str  # the JWT `sub`
    status: OnboardingStatus = OnboardingStatus.NONE
    account_id: str | None = None
    # Campaigns whose payout waits for this account to be enabled.
    waiting: frozenset[str] = frozenset()
    revision: int | None = None

    def moved_to(self, status: OnboardingStatus, **changes: Any) -> Organizer:
        ONBOARDING_TRANSITIONS.check(self.status, status)
        return replace(self, status=status, **changes)


def organizer_json(organizer: Organizer, *, available: bool) -> dict[str, Any]:
    """`GET /organizers/me`. `available` (beyond API.md's fields): whether
    this platform pays organizers out at all (`PayoutsEnabled`), so a page
    offers onboarding only where it leads somewhere."""
    return {
        "id": organizer.id,
        "payouts": {
            "status": organizer.status.value,
            "account_id": organizer.account_id,
            "available": available,
        },
    }


def account_enabled(account: dict[str, Any]) -> bool:
    """Whether a Stripe account (as Stripe shows it) can receive a payout:
    onboarding submitted, payouts enabled, the transfers capability active."""
    capabilities = account.get("capabilities", {})
    if not isinstance(capabilities, dict):  # signed, but not an account we know
        return False
    return (
        account.get("details_submitted") is True
        and account.get("payouts_enabled") is True
        and capabilities.get("transfers", "active") == "active"
    )


def check_return_url(url: str) -> str:
    """Stripe sends the organizer back here (https, or http for a local stack)."""
    if not url.startswith(("https://", "http://")) or len(url) > 2048:
        raise ValidationFailed(
            "return_url must be an http(s) URL.", details=[{"field": "return_url"}]
        )
    return url
