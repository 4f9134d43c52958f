"""The pledge-time Stripe budget, shared by every API function and intake
worker (API.md "Flash intake").

Real time is cut into slots of 1/r seconds (r =
`stripe_intake_requests_per_second`); slot k starts at k/r seconds after the
epoch. A pledge needs a slot of its flow: taking one is a conditional put in
the counters table (`IntakeLedger.claim_slot`, keyed by the flow's endpoints,
`slot_key`), so exactly one caller gets each slot however many race for it.
The slot grants one request to each endpoint of the flow (setup: one Customer
and one SetupIntent); no endpoint belongs to two flows (`ENDPOINTS`, checked
at import), so each endpoint still gets at most one request per slot: one
conditional put per pledge, not one per endpoint. The requests are sent once
the slot has started, and before it ends, so any second holds at
most r + 1 requests per endpoint: r = 24 keeps Stripe's 25/s per endpoint. A
grant that comes back from DynamoDB after its slot has ended is not used, nor
one whose taker wakes from waiting for it after it has ended (the worker takes
a later slot; the API queues the pledge).

The API takes the current slot, or the next one if it starts within
`API_LEAD_SECONDS` (and waits for it); if both are taken the budget is spent
and the pledge goes to the intake queue. The intake worker walks forward to
the first free slot and sleeps until it starts.

Pledge-time Stripe requests per flow (the minimum the flows allow):
- hold: 1, a PaymentIntent (capture_method=manual). No Customer: the held
  funds are captured from the intent itself.
- setup: 2, a Customer and a SetupIntent (usage=off_session). The Customer is
  needed: a card saved by a SetupIntent can be charged off-session at the
  deadline only if it is attached to a Customer.

Slots measure real time (time.time(), shared by every machine), not the
business clock: Stripe's limit is about real request rates.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

from ..domain import PaymentFlow
from ..ports import IntakeLedger

ENDPOINTS: dict[PaymentFlow, tuple[str, ...]] = {
    PaymentFlow.HOLD: ("payment_intents",),
    PaymentFlow.SETUP: ("customers", "setup_intents"),
}


def slot_key(flow: PaymentFlow) -> str:
    """The ledger's name for `flow`'s slots: its endpoints ("payment_intents",
    "customers+setup_intents"). A slot taken under it is taken on each of them."""
    return "+".join(ENDPOINTS[flow])


def _disjoint(endpoints: dict[PaymentFlow, tuple[str, ...]]) -> None:
    """One slot per flow keeps each endpoint's pace only while no endpoint
    serves two flows (two flows' slots k would both send to it)."""
    seen: set[str] = set()
    for flow, names in endpoints.items():
        shared = seen.intersection(names)
        if shared:
            raise ValueError(f"{flow.value} shares Stripe endpoints {sorted(shared)}: one slot key")
        seen.update(names)


_disjoint(ENDPOINTS)
# The worker reads this many slots ahead at once for a free one (the intake
# workers, up to IntakeMessageGroups of them, each hold one slot ahead).
READ_AHEAD = 16
# The API waits at most this long for a slot that has not started yet.
API_LEAD_SECONDS = 0.05
# A taken slot is kept this long (TTL): it matters only within its second.
SLOT_TTL_SECONDS = 300


class StripeBudget:
    def __init__(
        self,
        ledger: IntakeLedger,
        rate: float,
        *,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ledger = ledger
        self.rate = rate
        self._wall = wall
        self._sleep = sleep
        # The slot of each flow this budget (one function instance) was
        # granted last: taken, so the API's next try in it need not ask again.
        self._granted: dict[PaymentFlow, int] = {}

    @property
    def unlimited(self) -> bool:
        return self.rate <= 0

    def _slot(self, at: float) -> int:
        return math.floor(at * self.rate)

    def _start(self, slot: int) -> float:
        return slot / self.rate

    def _claim(self, flow: PaymentFlow, slot: int) -> bool:
        """Slot `slot` of `flow`, for each of its endpoints at once (its
        requests go out one after the other from the slot's start)."""
        expires = datetime.fromtimestamp(self._start(slot) + SLOT_TTL_SECONDS, UTC)
        won = self.ledger.claim_slot(slot_key(flow), slot, expires)
        if won:
            self._granted[flow] = slot
        return won

    def _over(self, slot: int) -> bool:
        """The slot has ended: a grant that came back this late is not used."""
        return self._wall() >= self._start(slot + 1)

    def take_now(self, flow: PaymentFlow) -> bool:
        """The API's try: the current slot of `flow` (or the next, if it
        starts within API_LEAD_SECONDS: waited for); False when the budget is
        spent."""
        if self.unlimited:
            return True
        now = self._wall()
        current = self._slot(now)
        # The slot this instance was granted last is known taken: straight to the next.
        mine = self._granted.get(flow) == current
        if not mine and self._claim(flow, current) and not self._over(current):
            return True
        upcoming = current + 1
        if self._start(upcoming) - self._wall() > API_LEAD_SECONDS:
            return False
        if self._claim(flow, upcoming) and not self._over(upcoming):
            self._wait_until(self._start(upcoming))
            # Woken after the slot ended (the process was busy): too late to send in it.
            return not self._over(upcoming)
        return False

    def take_next(self, flow: PaymentFlow) -> float:
        """The worker's: the first free slot of `flow`, then sleeps until it
        starts. Returns the seconds waited. Never a slot that has already
        ended (a request sent in it would be late, bunched with the next
        slots' requests). The slots ahead are read READ_AHEAD at a time and
        those already taken (by the other workers, waiting for theirs) are
        passed over: about one read and one conditional put per grant, not a
        failed put per slot taken."""
        if self.unlimited:
            return 0.0
        began = self._wall()
        slot = self._slot(began)
        while True:
            slot = max(slot, self._slot(self._wall()))
            taken = self.ledger.taken_slots(slot_key(flow), slot, READ_AHEAD)
            for candidate in range(slot, slot + READ_AHEAD):
                if candidate in taken or self._over(candidate):
                    continue
                # Free when read; a racer may still take it first (then: the next)
                if self._claim(flow, candidate) and not self._over(candidate):
                    self._wait_until(self._start(candidate))
                    if not self._over(candidate):
                        return max(self._wall() - began, 0.0)
                    # Woken after the slot ended (the process was busy): sent
                    # now, the request would go out with the next slots'
                    # (more than r + 1 in a second). A later slot instead.
                    break
            else:
                slot += READ_AHEAD

    def _wait_until(self, moment: float) -> None:
        delay = moment - self._wall()
        if delay > 0:
            self._sleep(delay)
