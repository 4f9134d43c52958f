"""What the use cases ask of the world: small Protocols, one per kind of side
effect. Production wires DynamoDB (`cashmob.store`), Stripe
(`cashmob.payments`), SQS and EventBridge (`cashmob.messaging`) behind them;
the service-level tests wire in-memory fakes (tests/memory.py, tests/fakes.py)
that tests/integration/test_store_contract.py holds to the same contract."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from .clock import Clock
from .domain import Campaign, CampaignStatus, Pledge, PledgeStatus, Tally
from .domain.events import DomainEvent
from .domain.messages import Message
from .payments.gateway import PaymentsGateway

__all__ = [
    "CampaignRepository",
    "Clock",
    "EventPublisher",
    "EventRecord",
    "Page",
    "PaymentsGateway",
    "PledgeRepository",
    "Store",
    "WorkQueue",
]

T = TypeVar("T")

# A Stripe event applied once: (event id, type, processed at, forget after).
EventRecord = tuple[str, str, datetime, datetime]


@dataclass(frozen=True)
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
        """What the counted pledges add up to (moved by `save_pledge`)."""
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


class Store(CampaignRepository, PledgeRepository, Protocol):
    """Both, and the one read that spans their tables."""

    def campaign_and_pledge(
        self, campaign_id: str, pledge_id: str
    ) -> tuple[Campaign, Pledge | None]:
        """The campaign (NotFound if none) and the pledge if it exists, read together."""
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


class EventPublisher(Protocol):
    """Domain events (`cashmob.domain.events`) for integrators, on the bus."""

    def publish(self, event: DomainEvent) -> None: ...

    def publish_all(self, events: Iterable[DomainEvent]) -> None: ...
