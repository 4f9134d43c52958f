"""The dependencies a handler needs, built once per process and reused across
invocations. Tests and the local stack install their own with `use`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from .clock import Clock, SystemClock
from .config import Settings
from .secrets import Secrets
from .store import Store

# The SQS and EventBridge adapters (cashmob.messaging, and the queue messages
# it encodes) are imported by the properties that build them: the notifier and
# the API's reads never send any.

if TYPE_CHECKING:
    from . import ports
    from .payments.connect import ConnectGateway
    from .service.budget import StripeBudget
    from .store.organizers import PayoutBook


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
        mailer: ports.Mailer | None = None,
        mail_log: ports.MailLog | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self._store = store
        self._payments = payments
        self._queue = queue
        self._intake = intake
        self._events = events
        self._budget = budget
        self._mailer = mailer
        self._mail_log = mail_log
        self._retention: ports.RetentionLog | None = None
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
            from .messaging import WorkQueue

            self._queue = WorkQueue(self.settings.settlement_queue_url, self.settings.aws_region)
        return self._queue

    @queue.setter
    def queue(self, queue: ports.WorkQueue) -> None:
        self._queue = queue

    @property
    def intake(self) -> ports.IntakeQueue:
        if self._intake is None:
            from .messaging import IntakeQueue

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
            from .messaging import EventPublisher

            self._events = EventPublisher(self.settings.event_bus_name, self.settings.aws_region)
        return self._events

    @events.setter
    def events(self, events: ports.EventPublisher) -> None:
        self._events = events

    @property
    def mailer(self) -> ports.Mailer:
        """SES, sending as the configured identity (the notifier's)."""
        if self._mailer is None:
            from .notify.ses import SesMailer
            from .pacing import share_of

            settings = self.settings
            limiter = share_of(settings.emails_per_second, settings.notifier_concurrency)
            self._mailer = SesMailer(settings.email_sender, settings.aws_region, limiter=limiter)
        return self._mailer

    @mailer.setter
    def mailer(self, mailer: ports.Mailer) -> None:
        self._mailer = mailer

    @property
    def mail_log(self) -> ports.MailLog:
        """Which emails went out, on the processed-events table."""
        if self._mail_log is None:
            from .store.mail import MailTable

            self._mail_log = MailTable(self.settings)
        return self._mail_log

    @mail_log.setter
    def mail_log(self, mail_log: ports.MailLog) -> None:
        self._mail_log = mail_log

    @property
    def retention(self) -> ports.RetentionLog:
        """The retention sweep's marks, on the processed-events table."""
        if self._retention is None:
            from .store.retention import RetentionTable

            self._retention = RetentionTable(self.settings)
        return self._retention

    @retention.setter
    def retention(self, retention: ports.RetentionLog) -> None:
        self._retention = retention

    @property
    def connect(self) -> ConnectGateway:
        """Stripe Connect (payouts) and reconciliation's reads (payments.connect)."""
        gateway = self.__dict__.get("_connect")
        if gateway is None:
            from .payments.connect import StripeConnect

            gateway = self._connect = StripeConnect(self.settings, self.secrets)
        return gateway

    @connect.setter
    def connect(self, gateway: ConnectGateway) -> None:
        self._connect = gateway

    @property
    def payout_book(self) -> PayoutBook:
        """Organizers' accounts and campaigns' payouts (store.organizers)."""
        book = self.__dict__.get("_payout_book")
        if book is None:
            from .store.organizers import PayoutBook

            book = self._payout_book = PayoutBook(self.settings)
        return book

    @payout_book.setter
    def payout_book(self, book: PayoutBook) -> None:
        self._payout_book = book

    def _stripe(self) -> ports.PaymentsGateway:
        from .pacing import share_of
        from .payments.stripe_gateway import StripeGateway  # deferred: stripe is a heavy import

        settings = self.settings
        limiter = share_of(settings.stripe_requests_per_second, settings.settlement_concurrency)
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
