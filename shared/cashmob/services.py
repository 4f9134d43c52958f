"""The dependencies a handler needs, built once per process and reused across
invocations. Tests and the local stack install their own with `use`."""

from __future__ import annotations

import threading
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

        return StripeGateway(self.settings, self.secrets)

    @cached_property
    def queue(self) -> WorkQueue:
        return WorkQueue(self.settings.settlement_queue_url, self.settings.aws_region)

    @cached_property
    def events(self) -> EventPublisher:
        return EventPublisher(self.settings.event_bus_name, self.settings.aws_region)


_lock = threading.Lock()
_current: Services | None = None


def current() -> Services:
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
