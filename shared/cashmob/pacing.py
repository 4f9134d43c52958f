"""Pacing for calls to Stripe from settlement workers (and the same way for
reconciliation's Stripe reads and the notifiers' emails to SES).

Stripe allows about 25 requests per second per endpoint; settlement of a big
campaign would exceed that in a moment. Each worker process spaces its Stripe
requests evenly at its share of the budget (the budget divided by the queue's
MaximumConcurrency), so all workers together stay under it. This measures
elapsed time, not the business clock: it is about real request rates.

Each grant is a slot of 1/rate seconds, and a call goes out within its slot
or not at all: a thread that wakes after its slot has ended (the process was
busy elsewhere: a collection, another thread holding the interpreter) takes
a fresh slot instead. Sent late, the calls of the slots a stall held back
would go out together, and with the next second's own make more than the
limit in one second (Stripe's 429), as the budget's slots already forbid
(`service.budget`). So any second holds the calls of at most rate + 1 slots.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """At most `rate` acquisitions per second, evenly spaced, across threads;
    each returned within its slot (at most rate + 1 in any second)."""

    def __init__(
        self,
        rate: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._monotonic = monotonic
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()
        # Slots given up because their thread woke after they had ended.
        self.forfeited = 0

    def acquire(self) -> float:
        """Waits for the next slot; returns the seconds waited."""
        began = self._monotonic()
        while True:
            with self._lock:
                now = self._monotonic()
                slot = max(now, self._next)
                self._next = slot + self.interval
            wait = slot - now
            if wait > 0:
                self._sleep(wait)
            if self._monotonic() < slot + self.interval:
                return max(slot - began, 0.0)
            with self._lock:
                self.forfeited += 1


def share_of(rate: float, among: int = 1) -> RateLimiter | None:
    """The pacer of one of `among` processes that together stay under `rate`
    calls per second (each at rate / among); None where `rate` is 0, which
    means unpaced."""
    return RateLimiter(rate / among) if rate else None
