"""The pledge-time budget sends in a slot only while it lasts: a taker that
wakes from waiting for its slot after the slot has ended (its process was
busy) does not send then, with the next slots' requests (more than r + 1 in
one second: Stripe's 429). The worker takes a later slot; the API queues the
pledge."""

from __future__ import annotations

from datetime import datetime

from cashmob.domain import PaymentFlow
from cashmob.service.budget import StripeBudget, slot_key

RATE = 10.0  # slots of 100 ms


class Ledger:
    def __init__(self) -> None:
        self.slots: set[tuple[str, int]] = set()

    def claim_slot(self, endpoint: str, slot: int, expires_at: datetime) -> bool:
        if (endpoint, slot) in self.slots:
            return False
        self.slots.add((endpoint, slot))
        return True

    def taken_slots(self, endpoint: str, first: int, count: int) -> set[int]:
        return {s for s in range(first, first + count) if (endpoint, s) in self.slots}


class Wall:
    """Real time moved by the budget's sleeps; the first sleep overshoots."""

    def __init__(self, now: float, overshoot: float) -> None:
        self.now, self.overshoot = now, overshoot

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds + self.overshoot
        self.overshoot = 0.0


def test_a_worker_woken_after_its_slot_ended_takes_a_later_one():
    ledger = Ledger()
    wall = Wall(now=1000.05, overshoot=0.25)  # in slot 10000; slot 10001 starts at 1000.1
    budget = StripeBudget(ledger, RATE, wall=wall.time, sleep=wall.sleep)
    key = slot_key(PaymentFlow.HOLD)
    ledger.slots.add((key, 10000))  # the current slot is someone else's
    budget.take_next(PaymentFlow.HOLD)
    # Slot 10001 was granted, but the worker woke at 1000.35, in slot 10003:
    # it sends in that one (free, not ended), not in 10001.
    assert abs(wall.now - 1000.35) < 1e-9
    assert budget._granted[PaymentFlow.HOLD] == 10003
    assert (key, 10001) in ledger.slots  # given up: no one sends in it


def test_the_api_woken_after_the_next_slot_ended_queues_the_pledge():
    ledger = Ledger()
    wall = Wall(now=1000.07, overshoot=0.2)  # 30 ms before slot 10001
    budget = StripeBudget(ledger, RATE, wall=wall.time, sleep=wall.sleep)
    key = slot_key(PaymentFlow.HOLD)
    ledger.slots.add((key, 10000))
    assert budget.take_now(PaymentFlow.HOLD) is False  # woke at 1000.3: slot 10001 is over
    assert (key, 10001) in ledger.slots


def test_on_time_the_api_waits_for_the_next_slot_and_sends_in_it():
    ledger = Ledger()
    wall = Wall(now=1000.07, overshoot=0.0)
    budget = StripeBudget(ledger, RATE, wall=wall.time, sleep=wall.sleep)
    ledger.slots.add((slot_key(PaymentFlow.HOLD), 10000))
    assert budget.take_now(PaymentFlow.HOLD) is True
    assert abs(wall.now - 1000.1) < 1e-9
