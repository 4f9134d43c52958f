"""Pacing for calls to Stripe from settlement workers.

Stripe allows about 25 requests per second per endpoint; settlement of a big
campaign would exceed that in a moment. Each worker process spaces its Stripe
requests evenly at its share of the budget (the budget divided by the queue's
MaximumConcurrency), so all workers together stay under it. This measures
elapsed time, not the business clock: it is about real request rates.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """At most `rate` acquisitions per second, evenly spaced, across threads."""

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

    def acquire(self) -> float:
        """Waits for the next slot; returns the seconds waited."""
        with self._lock:
            now = self._monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return wait
