"""Fault injection for the chaos suite: the settlement worker dies at random
step boundaries (before or after each Stripe call and DynamoDB write), as a
Lambda can. Enabled only by CASHMOB_LOCAL_WORKER_CRASH_RATE; never deployed."""

from __future__ import annotations

import random
import threading
from typing import Any

from cashmob.container import Services

STRIPE_STEPS = frozenset({"charge", "capture", "cancel"})
STORE_WRITES = frozenset({"save_pledge", "save_campaign"})


class InjectedCrash(RuntimeError):
    """The Lambda died here (injected)."""


class _Boundaries:
    def __init__(self, target: Any, methods: frozenset[str], maybe_crash: Any) -> None:
        self._target, self._methods, self._maybe_crash = target, methods, maybe_crash

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if name not in self._methods:
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self._maybe_crash(f"before {name}")
            result = attr(*args, **kwargs)
            self._maybe_crash(f"after {name}")
            return result

        return call


def install(services: Services, rate: float, seed: int | None = None) -> None:
    """Wraps the worker's payments gateway and store with random crashes."""
    rng = random.Random(seed)
    lock = threading.Lock()

    def maybe_crash(point: str) -> None:
        with lock:
            hit = rng.random() < rate
        if hit:
            raise InjectedCrash(point)

    payments, store = services.payments, services.store
    services.payments = _Boundaries(payments, STRIPE_STEPS, maybe_crash)
    services.store = _Boundaries(store, STORE_WRITES, maybe_crash)
