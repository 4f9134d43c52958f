"""One transition table per entity; every state change is checked against it."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Generic, TypeVar

from ..records import record
from .errors import InvalidTransition


class CampaignStatus(StrEnum):
    LIVE = "live"
    SETTLING = "settling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REFUNDING = "refunding"  # the organizer is giving every collected pledge back
    REFUNDED = "refunded"


class PledgeStatus(StrEnum):
    PENDING = "pending"  # card not yet confirmed with Stripe
    ACTIVE = "active"  # card saved or funds held; counts toward the goal
    ACTION_REQUIRED = "action_required"  # charge needs the backer (grace period)
    COLLECTED = "collected"
    FAILED = "failed"  # grace period over, never collected
    RELEASED = "released"  # campaign failed or cancelled; nothing charged
    CANCELLED = "cancelled"  # by the backer
    EXPIRED = "expired"  # never confirmed before the deadline
    REFUNDED = "refunded"


S = TypeVar("S", bound=StrEnum)


@record
class TransitionTable(Generic[S]):
    entity: str
    allowed: Mapping[S, frozenset[S]]

    def can(self, current: S, target: S) -> bool:
        return target in self.allowed.get(current, frozenset())

    def check(self, current: S, target: S) -> None:
        if not self.can(current, target):
            raise InvalidTransition(self.entity, current.value, target.value)

    def sources(self, target: S) -> frozenset[S]:
        """Every state from which `target` may be reached (for conditional writes)."""
        return frozenset(s for s, targets in self.allowed.items() if target in targets)

    def terminal(self, state: S) -> bool:
        return not self.allowed.get(state)


_C = CampaignStatus
CAMPAIGN_TRANSITIONS = TransitionTable[CampaignStatus](
    "campaign",
    {
        _C.LIVE: frozenset({_C.SETTLING, _C.CANCELLED}),
        _C.SETTLING: frozenset({_C.SUCCEEDED, _C.FAILED}),
        _C.SUCCEEDED: frozenset({_C.REFUNDING}),
        _C.REFUNDING: frozenset({_C.REFUNDED}),
    },
)

_P = PledgeStatus
PLEDGE_TRANSITIONS = TransitionTable[PledgeStatus](
    "pledge",
    {
        _P.PENDING: frozenset({_P.ACTIVE, _P.CANCELLED, _P.EXPIRED, _P.RELEASED}),
        # FAILED: Stripe refused the charge for good, or the hold lapsed.
        _P.ACTIVE: frozenset(
            {_P.COLLECTED, _P.ACTION_REQUIRED, _P.RELEASED, _P.CANCELLED, _P.FAILED}
        ),
        _P.ACTION_REQUIRED: frozenset({_P.COLLECTED, _P.FAILED}),
        _P.COLLECTED: frozenset({_P.REFUNDED}),
    },
)

# Pledges whose amount counts toward the campaign's progress.
COUNTED = frozenset({_P.ACTIVE, _P.ACTION_REQUIRED, _P.COLLECTED})
# Pledges settlement is finished with (collected may still be refunded later).
SETTLED = frozenset({_P.COLLECTED, _P.FAILED, _P.RELEASED, _P.CANCELLED, _P.EXPIRED, _P.REFUNDED})
