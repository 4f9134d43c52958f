"""The dependencies a handler needs, built once per process and reused across
invocations. Tests and the local stack install their own with `use`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from . import ports
from .clock import Clock, SystemClock
from .config import Settings
from .messaging import EventPublisher, IntakeQueue, WorkQueue
from .secrets import Secrets
from .store import Store

if TYPE_CHECKING:
    from .service.budget import StripeBudget


class Services:
    """Settings, the clock, and the adapters the use cases depend on, typed by
    their ports. Each adapter is built from the settings on first use (DynamoDB,
    Stripe, the two SQS queues, EventBridge), unless one is given, to the constructor or by
    assignment (tests, the local stack's chaos)."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        store: ports.Store | None = None,
        payments: ports.PaymentsGateway | None = None,
        queue: ports.WorkQueue | None = None,
        intake: ports.IntakeQueue | None = None,
        events: ports.EventPublisher | None = None,
        budget: StripeBudget | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self._store = store
        self._payments = payments
        self._queue = queue
        self._intake = intake
        self._events = events
        self._budget = budget
        self._secrets: Secrets | None = None

    @property
    def secrets(self) -> Secrets:
        if self._secrets is None:
            self._secrets = Secrets(self.settings)
        return self._secrets

    @property
    def store(self) -> ports.Store:
        if self._store is None:
            self._store = Store(self.settings)
        return self._store

    @store.setter
    def store(self, store: ports.Store) -> None:
        self._store = store

    @property
    def payments(self) -> ports.PaymentsGateway:
        if self._payments is None:
            self._payments = self._stripe()
        return self._payments

    @payments.setter
    def payments(self, gateway: ports.PaymentsGateway) -> None:
        self._payments = gateway

    @property
    def queue(self) -> ports.WorkQueue:
        if self._queue is None:
            self._queue = WorkQueue(self.settings.settlement_queue_url, self.settings.aws_region)
        return self._queue

    @queue.setter
    def queue(self, queue: ports.WorkQueue) -> None:
        self._queue = queue

    @property
    def intake(self) -> ports.IntakeQueue:
        if self._intake is None:
            self._intake = IntakeQueue(
                self.settings.intake_queue_url,
                self.settings.aws_region,
                groups=self.settings.intake_message_groups,
            )
        return self._intake

    @intake.setter
    def intake(self, intake: ports.IntakeQueue) -> None:
        self._intake = intake

    @property
    def budget(self) -> StripeBudget:
        """The pledge-time Stripe budget, on the store's counters."""
        if self._budget is None:
            from .service.budget import StripeBudget

            self._budget = StripeBudget(self.store, self.settings.stripe_intake_requests_per_second)
        return self._budget

    @budget.setter
    def budget(self, budget: StripeBudget) -> None:
        self._budget = budget

    @property
    def events(self) -> ports.EventPublisher:
        if self._events is None:
            self._events = EventPublisher(self.settings.event_bus_name, self.settings.aws_region)
        return self._events

    @events.setter
    def events(self, events: ports.EventPublisher) -> None:
        self._events = events

    def _stripe(self) -> ports.PaymentsGateway:
        from .payments.stripe_gateway import StripeGateway  # deferred: stripe is a heavy import

        limiter = None
        if self.settings.stripe_requests_per_second:
            from .pacing import RateLimiter

            share = self.settings.stripe_requests_per_second / self.settings.settlement_concurrency
            limiter = RateLimiter(share)
        return StripeGateway(self.settings, self.secrets, limiter=limiter)


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
