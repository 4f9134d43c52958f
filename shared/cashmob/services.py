"""The dependencies a handler needs, built once per process and reused across
invocations. Tests and the local stack install their own with `use`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property

from .clock import Clock, SystemClock
from .config import Settings
from .messaging import EventPublisher, WorkQueue
from .payments import PaymentsGateway
from .secrets import Secrets
from .store import Store


@dataclass
class Services:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    payments_override: PaymentsGateway | None = None

    @cached_property
    def store(self) -> Store:
        return Store(self.settings)

    @cached_property
    def secrets(self) -> Secrets:
        return Secrets(self.settings)

    @cached_property
    def payments(self) -> PaymentsGateway:
        if self.payments_override is not None:
            return self.payments_override
        from .payments.stripe_gateway import StripeGateway  # deferred: stripe is a heavy import

        limiter = None
        if self.settings.stripe_requests_per_second:
            from .pacing import RateLimiter

            share = self.settings.stripe_requests_per_second / self.settings.settlement_concurrency
            limiter = RateLimiter(share)
        return StripeGateway(self.settings, self.secrets, limiter=limiter)

    @cached_property
    def queue(self) -> WorkQueue:
        return WorkQueue(self.settings.settlement_queue_url, self.settings.aws_region)

    @cached_property
    def events(self) -> EventPublisher:
        return EventPublisher(self.settings.event_bus_name, self.settings.aws_region)


_lock = threading.Lock()
_current: Services | None = None
_scoped: ContextVar[Services | None] = ContextVar("cashmob_services", default=None)


def current() -> Services:
    scoped = _scoped.get()
    if scoped is not None:
        return scoped
    global _current
    with _lock:
        if _current is None:
            _current = Services(Settings())
        return _current


def use(services: Services | None) -> None:
    """Installs `services` for every handler in this process (None: back to the default)."""
    global _current
    with _lock:
        _current = services


@contextmanager
def scoped(services: Services) -> Iterator[Services]:
    """Installs `services` for the current thread or task only: the local stack
    runs several functions, each with its own environment, in one process."""
    token = _scoped.set(services)
    try:
        yield services
    finally:
        _scoped.reset(token)
