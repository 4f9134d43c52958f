"""The pledge-time Stripe budget, shared by every API function and intake
worker (API.md "Flash intake").

Per Stripe endpoint, real time is cut into slots of 1/r seconds (r =
`stripe_intake_requests_per_second`); slot k starts at k/r seconds after the
epoch. A request to the endpoint needs a slot: taking one is a conditional put
in the counters table (`IntakeLedger.claim_slot`), so exactly one caller gets
each slot however many race for it. A request is sent once its slot has
started, and (in the API) before it ends, so any second holds at most r + 1
requests per endpoint: r = 24 keeps Stripe's 25/s per endpoint. A grant that
comes back from DynamoDB after its slot has ended is not used.

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

    @property
    def unlimited(self) -> bool:
        return self.rate <= 0

    def _slot(self, at: float) -> int:
        return math.floor(at * self.rate)

    def _start(self, slot: int) -> float:
        return slot / self.rate

    def _claim(self, endpoint: str, slot: int) -> bool:
        expires = datetime.fromtimestamp(self._start(slot) + SLOT_TTL_SECONDS, UTC)
        return self.ledger.claim_slot(endpoint, slot, expires)

    def _claim_all(self, flow: PaymentFlow, slot: int) -> bool:
        """The same slot on every endpoint of `flow` (its requests go out one
        after the other from the slot's start). A partial claim is wasted."""
        return all(self._claim(endpoint, slot) for endpoint in ENDPOINTS[flow])

    def _over(self, slot: int) -> bool:
        """The slot has ended: a grant that came back this late is not used."""
        return self._wall() >= self._start(slot + 1)

    def take_now(self, flow: PaymentFlow) -> bool:
        """The API's try: the current slot (or the next, if it starts within
        API_LEAD_SECONDS: waited for) on each endpoint of `flow`; False when
        the budget is spent."""
        if self.unlimited:
            return True
        now = self._wall()
        current = self._slot(now)
        if self._claim_all(flow, current) and not self._over(current):
            return True
        upcoming = current + 1
        if self._start(upcoming) - self._wall() > API_LEAD_SECONDS:
            return False
        if self._claim_all(flow, upcoming) and not self._over(upcoming):
            self._wait_until(self._start(upcoming))
            return True
        return False

    def take_next(self, flow: PaymentFlow) -> float:
        """The worker's: the first slot free on each endpoint of `flow`, then
        sleeps until it starts. Returns the seconds waited. Never a slot that
        has already ended (a request sent in it would be late, bunched with
        the next slots' requests)."""
        if self.unlimited:
            return 0.0
        began = self._wall()
        slot = self._slot(began)
        while True:
            slot = max(slot, self._slot(self._wall()))
            if self._claim_all(flow, slot) and not self._over(slot):
                break
            slot += 1
        self._wait_until(self._start(slot))
        return max(self._wall() - began, 0.0)

    def _wait_until(self, moment: float) -> None:
        delay = moment - self._wall()
        if delay > 0:
            self._sleep(delay)
