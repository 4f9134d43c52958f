"""What the use cases ask of the world: small Protocols, one per kind of side
effect. Production wires DynamoDB (`cashmob.store`), Stripe
(`cashmob.payments`), SQS and EventBridge (`cashmob.messaging`) behind them;
the service-level tests wire in-memory fakes (tests/memory.py, tests/fakes.py)
that tests/integration/test_store_contract.py holds to the same contract."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from .clock import Clock
from .records import record

# The ports only name these types: importing them here would load the whole
# domain, the email templates and the gateway's types at every cold start,
# whatever the function (the adapters and use cases import what they use).
if TYPE_CHECKING:
    from .domain import Campaign, CampaignStatus, Pledge, PledgeStatus, Tally
    from .domain.conditions import Crowd
    from .domain.events import DomainEvent
    from .domain.messages import IntakeMessage, Message
    from .notify.emails import Email
    from .payments.gateway import PaymentsGateway

__all__ = [
    "CampaignRepository",
    "Clock",
    "EventPublisher",
    "EventRecord",
    "IntakeLedger",
    "IntakeProgress",
    "IntakeQueue",
    "MailLog",
    "Mailer",
    "Page",
    "PaymentsGateway",
    "PledgeRepository",
    "Store",
    "WorkQueue",
]


def __getattr__(name: str) -> Any:
    """`ports.PaymentsGateway`, the gateway's own port, imported on first use."""
    if name == "PaymentsGateway":
        from .payments.gateway import PaymentsGateway

        return PaymentsGateway
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


T = TypeVar("T")

# A Stripe event applied once: (event id, type, processed at, forget after).
EventRecord = tuple[str, str, datetime, datetime]


@record
class Page(Generic[T]):
    """One page of a listing; `next_cursor` resumes it (None: nothing after).
    Cursors are opaque and bound to the listing that made them."""

    items: list[T]
    next_cursor: str | None


class CampaignRepository(Protocol):
    """Campaigns and their progress. Every write is conditional: it raises
    ConcurrentUpdate when the stored campaign is no longer the one read. A
    write returns what it wrote with its new revision and the events its
    transition recorded (for the use case to publish); a read has no events."""

    def create_campaign(self, campaign: Campaign) -> Campaign:
        """Stores a new campaign (revision 1); Conflict if its id exists."""
        ...

    def get_campaign(self, campaign_id: str) -> Campaign:
        """NotFound for an unknown id."""
        ...

    def save_campaign(self, before: Campaign, after: Campaign) -> Campaign:
        """Writes `after` only if the stored campaign is still `before` (status and
        revision); InvalidTransition for a move the table forbids."""
        ...

    def list_campaigns(
        self, *, status: CampaignStatus | None, limit: int, after: str | None
    ) -> Page[Campaign]:
        """With a status, newest first; BadRequest for a cursor of another listing."""
        ...

    def due_campaigns(self, now: datetime, *, limit: int = 100) -> Iterator[str]:
        """Ids of campaigns whose `next_check_at` is at or before `now`, soonest first."""
        ...

    def progress(self, campaign_id: str) -> Tally:
        """What the counted pledges add up to (moved by `save_pledge`): the
        unconditional ones and the conditions the current crowd meets."""
        ...

    def crowd(self, campaign_id: str) -> Crowd:
        """The counters' progress with the conditions resolved: what counts
        now, and every active pledge (`domain.conditions.Crowd`)."""
        ...


class PledgeRepository(Protocol):
    """Pledges, with the same conditional writes (and events) as campaigns."""

    def create_pledge(self, pledge: Pledge) -> Pledge:
        """ConcurrentUpdate if a pledge with its id exists (the key was claimed)."""
        ...

    def find_pledge(self, campaign_id: str, pledge_id: str) -> Pledge | None: ...

    def get_pledge(self, campaign_id: str, pledge_id: str) -> Pledge:
        """NotFound for an unknown pledge."""
        ...

    def pledges(
        self,
        campaign_id: str,
        *,
        limit: int,
        after: str | None,
        statuses: frozenset[PledgeStatus] | None = None,
    ) -> Page[Pledge]:
        """A campaign's pledges in id order, optionally only those in `statuses`."""
        ...

    def all_pledges(self, campaign_id: str) -> Iterator[Pledge]: ...

    def due_pledges(self, now: datetime, *, limit: int = 100) -> Iterator[tuple[str, str]]:
        """(campaign id, pledge id) of action-required pledges whose reminder is due."""
        ...

    def save_pledge(
        self,
        before: Pledge,
        after: Pledge,
        *,
        open_campaign_at: datetime | None = None,
        event: EventRecord | None = None,
    ) -> Pledge:
        """Writes `after` only if the stored pledge is still `before`, and, all or
        nothing: moves the progress when the pledge starts or stops counting;
        with `open_campaign_at`, requires the campaign live with its deadline
        after that moment (else CampaignClosed); with `event`, records that
        Stripe event as processed (DuplicateEvent if any write already did, so
        a redelivered event changes nothing)."""
        ...


@record
class IntakeProgress:
    """The intake queue's ticket counter: tickets handed out, the highest one
    the workers finished, and when either last moved (epoch seconds)."""

    queued: int
    served: int
    updated_at: int | None

    @property
    def waiting(self) -> int:
        return max(self.queued - self.served, 0)


class IntakeLedger(Protocol):
    """Flash intake's shared state (`cashmob.store.intake`): Stripe request
    slots and the intake queue's tickets, correct under any concurrency."""

    def claim_slot(self, endpoint: str, slot: int, expires_at: datetime) -> bool:
        """Takes slot `slot` of the Stripe `endpoint`'s budget; False if
        another caller has it (exactly one caller ever gets a slot)."""
        ...

    def taken_slots(self, endpoint: str, first: int, count: int) -> set[int]:
        """Which of slots first .. first + count - 1 (count <= 100) of
        `endpoint` are taken, read together (strongly consistent)."""
        ...

    def take_ticket(
        self, campaign_id: str, pledge_id: str, now: datetime, *, unticketed: bool = False
    ) -> tuple[int, bool]:
        """The pledge's place in the intake queue and whether it is new: a
        pledge that has a ticket keeps it. `unticketed`: the caller has just
        seen the pledge without one, so none is read first; if it has one
        after all (a racing replay's), it keeps that one, and the counter has
        used up a number that is never served."""
        ...

    def ticket_of(self, campaign_id: str, pledge_id: str) -> int | None: ...

    def intake_progress(self) -> IntakeProgress: ...

    def mark_served(self, ticket: int, now: datetime) -> None:
        """`served` becomes `ticket` unless it is already higher."""
        ...


class Store(CampaignRepository, PledgeRepository, IntakeLedger, Protocol):
    """Both, and the one read that spans their tables."""

    def campaign_and_pledge(
        self, campaign_id: str, pledge_id: str
    ) -> tuple[Campaign, Pledge | None]:
        """The campaign (NotFound if none) and the pledge if it exists, read together."""
        ...

    def campaign_pledge_and_intake(
        self, campaign_id: str, pledge_id: str
    ) -> tuple[Campaign, Pledge | None, IntakeProgress]:
        """`campaign_and_pledge` and `intake_progress()`, read together (one
        request: pledge creation needs all three)."""
        ...


class WorkQueue(Protocol):
    """Settlement work (`cashmob.domain.messages`) for the worker, delivered at
    least once; a delayed message becomes visible `delay_seconds` later (at most 900)."""

    def send(self, message: Message, *, delay_seconds: int = 0) -> None: ...

    def send_many(self, messages: Iterable[Message]) -> int:
        """Sends them all (in batches); how many were sent."""
        ...

    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None:
        """Makes a received message visible again after `delay_seconds`."""
        ...


class IntakeQueue(Protocol):
    """Pledges whose Stripe object the intake worker makes, in ticket order
    (SQS FIFO: a pledge sent twice is delivered once within five minutes, and
    a worker that finds its pledge ready does nothing)."""

    def send(self, message: IntakeMessage) -> None: ...

    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None:
        """Makes a received message visible again after `delay_seconds`."""
        ...


class EventPublisher(Protocol):
    """Domain events (`cashmob.domain.events`) for integrators, on the bus."""

    def publish(self, event: DomainEvent) -> None: ...

    def publish_all(self, events: Iterable[DomainEvent]) -> None: ...


class Mailer(Protocol):
    """Sends one email to a backer (SES in a deployment: `cashmob.notify.ses`)."""

    def send(self, email: Email, *, sent_at: datetime) -> None: ...


class MailLog(Protocol):
    """Which emails went out (`cashmob.store.mail`), so that a redelivered
    event sends nothing twice. A key names one email (pledge, kind, and the
    event for kinds that repeat); it holds no personal data."""

    def claim(self, key: str, now: datetime, *, lease: timedelta) -> bool:
        """True if the caller may send the email `key`: nobody sent it, and
        nobody is sending it (a claim older than `lease` is abandoned)."""
        ...

    def sent(self, key: str, now: datetime) -> None:
        """The email `key` went out: no claim succeeds again."""
        ...

    def release(self, key: str) -> None:
        """Sending failed: the next delivery may try again."""
        ...


class RetentionLog(Protocol):
    """What the retention sweep has done (`cashmob.store.retention`): marks
    by key (a campaign erased, an hour with nothing due)."""

    def marked(self, key: str) -> bool: ...

    def mark(self, key: str, now: datetime, *, keep: timedelta | None = None) -> None:
        """Records `key` (forgotten after `keep`; None: kept)."""
        ...
