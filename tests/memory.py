"""In-memory adapters of `cashmob.ports` for service-level tests: a store with
the DynamoDB store's semantics (conditional writes, all-or-nothing pledge
transactions, counters, cursors bound to their listing, due queries, times
kept to the second) and a work queue that records what was sent.
tests/integration/test_store_contract.py holds them to the real adapters."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import datetime
from typing import TypeVar

from cashmob.clock import epoch, from_epoch
from cashmob.domain import (
    CAMPAIGN_TRANSITIONS,
    PLEDGE_TRANSITIONS,
    Campaign,
    CampaignStatus,
    Pledge,
    PledgeStatus,
    Tally,
)
from cashmob.domain.conditions import Bucket, Crowd, crowd_from_buckets
from cashmob.domain.errors import CampaignClosed, ConcurrentUpdate, Conflict, NotFound
from cashmob.domain.messages import IntakeMessage, Message, decode, decode_intake, encode
from cashmob.ports import EventRecord, IntakeProgress, Page
from cashmob.store import DuplicateEvent, cursor
from cashmob.store.counter_keys import counter_key, threshold_of

T = TypeVar("T")
K = TypeVar("K")
E = TypeVar("E", Campaign, Pledge)
SQS_MAX_DELAY = 900


def _as_stored(value: T) -> T:
    """What a read gives back: every time in whole seconds, in UTC."""
    if isinstance(value, datetime):
        return from_epoch(epoch(value))
    if is_dataclass(value) and not isinstance(value, type):
        return replace(value, **{f.name: _as_stored(getattr(value, f.name)) for f in fields(value)})
    return value


def _stored(entity: E, *, revision: int) -> E:
    """`entity` as storage keeps it: its new revision, no events, times to the second."""
    return _as_stored(replace(entity, revision=revision, events=()))


def _page(
    items: list[T],
    sort_key: Callable[[T], K],
    *,
    limit: int,
    after: str | None,
    scope: str,
    reverse: bool = False,
) -> Page[T]:
    """One page of `items` in `sort_key` order; the cursor carries the last key."""
    ordered = sorted(items, key=sort_key, reverse=reverse)
    start = cursor.decode(after, scope)
    if start is not None:
        last = json.loads(start["last"]["S"])

        def beyond(item: T) -> bool:
            key = json.loads(json.dumps(sort_key(item), default=str))
            return key < last if reverse else key > last

        ordered = [item for item in ordered if beyond(item)]
    page, rest = ordered[:limit], ordered[limit:]
    next_key = None
    if rest:
        next_key = {"last": {"S": json.dumps(sort_key(page[-1]), default=str)}}
    return Page(page, cursor.encode(next_key, scope))


class MemoryStore:
    """`ports.Store` in a few dicts. Thread-safe: each write is atomic."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._campaigns: dict[str, Campaign] = {}
        self._pledges: dict[tuple[str, str], Pledge] = {}
        self._counters: dict[tuple[str, int], Tally] = {}
        self._processed: set[str] = set()  # Stripe event ids
        # Flash intake (store.intake): taken Stripe slots, tickets, the counter.
        self._slots: set[tuple[str, int]] = set()
        self._tickets: dict[tuple[str, str], int] = {}
        self._queued = 0
        self._served = 0
        self._intake_updated_at: int | None = None

    # ---------------------------------------------------------------- campaigns

    def create_campaign(self, campaign: Campaign) -> Campaign:
        with self._lock:
            if campaign.id in self._campaigns or campaign.revision is not None:
                raise Conflict(f"Campaign {campaign.id} already exists.")
            self._campaigns[campaign.id] = _stored(campaign, revision=1)
        return replace(campaign, revision=1)

    def get_campaign(self, campaign_id: str) -> Campaign:
        with self._lock:
            campaign = self._campaigns.get(campaign_id)
        if campaign is None:
            raise NotFound(f"No campaign {campaign_id}.")
        return campaign

    def save_campaign(self, before: Campaign, after: Campaign) -> Campaign:
        if after.status is not before.status:
            CAMPAIGN_TRANSITIONS.check(before.status, after.status)
        with self._lock:
            stored = self._campaigns.get(after.id)
            if not _unchanged(stored, before):
                raise ConcurrentUpdate(f"Campaign {before.id} changed meanwhile.")
            revision = (before.revision or 0) + 1
            self._campaigns[after.id] = _stored(after, revision=revision)
        return replace(after, revision=revision)

    def list_campaigns(
        self, *, status: CampaignStatus | None, limit: int, after: str | None
    ) -> Page[Campaign]:
        with self._lock:
            campaigns = list(self._campaigns.values())
        scope = f"campaigns:{status or '*'}"
        if status is None:  # a scan: in key order
            return _page(campaigns, lambda c: c.id, limit=limit, after=after, scope=scope)
        return _page(  # the status index: newest first
            [c for c in campaigns if c.status is status],
            lambda c: (epoch(c.created_at), c.id),
            limit=limit,
            after=after,
            scope=scope,
            reverse=True,
        )

    def due_campaigns(self, now: datetime, *, limit: int = 100) -> Iterator[str]:
        with self._lock:
            due = [
                (epoch(c.next_check_at), c.id)
                for c in self._campaigns.values()
                if c.next_check_at is not None and epoch(c.next_check_at) <= epoch(now)
            ]
        for _, campaign_id in sorted(due)[:limit]:
            yield campaign_id

    def crowd(self, campaign_id: str) -> Crowd:
        with self._lock:
            items = [(k, t) for (c, k), t in self._counters.items() if c == campaign_id]
        return crowd_from_buckets(Bucket(threshold_of(k), t.amount, t.backers) for k, t in items)

    def progress(self, campaign_id: str) -> Tally:
        crowd = self.crowd(campaign_id)
        return Tally(crowd.amount, crowd.backers)

    # ---------------------------------------------------------------- pledges

    def create_pledge(self, pledge: Pledge) -> Pledge:
        key = (pledge.campaign_id, pledge.id)
        with self._lock:
            if key in self._pledges or pledge.revision is not None:
                raise ConcurrentUpdate(f"Pledge {pledge.id} already exists.")
            self._pledges[key] = _stored(pledge, revision=1)
        return replace(pledge, revision=1)

    def find_pledge(self, campaign_id: str, pledge_id: str) -> Pledge | None:
        with self._lock:
            return self._pledges.get((campaign_id, pledge_id))

    def get_pledge(self, campaign_id: str, pledge_id: str) -> Pledge:
        pledge = self.find_pledge(campaign_id, pledge_id)
        if pledge is None:
            raise NotFound(f"No pledge {pledge_id} in campaign {campaign_id}.")
        return pledge

    def _of(self, campaign_id: str) -> list[Pledge]:
        with self._lock:
            return sorted(
                (p for (c, _), p in self._pledges.items() if c == campaign_id), key=lambda p: p.id
            )

    def pledges(
        self,
        campaign_id: str,
        *,
        limit: int,
        after: str | None,
        statuses: frozenset[PledgeStatus] | None = None,
    ) -> Page[Pledge]:
        chosen = [p for p in self._of(campaign_id) if not statuses or p.status in statuses]
        scope = f"pledges:{campaign_id}:{','.join(sorted(statuses or ()))}"
        return _page(chosen, lambda p: p.id, limit=limit, after=after, scope=scope)

    def all_pledges(self, campaign_id: str) -> Iterator[Pledge]:
        yield from self._of(campaign_id)

    def due_pledges(self, now: datetime, *, limit: int = 100) -> Iterator[tuple[str, str]]:
        with self._lock:
            due = [
                (epoch(p.next_reminder_at), p.campaign_id, p.id)
                for p in self._pledges.values()
                if p.status is PledgeStatus.ACTION_REQUIRED
                and p.next_reminder_at is not None
                and epoch(p.next_reminder_at) <= epoch(now)
            ]
        for _, campaign_id, pledge_id in sorted(due)[:limit]:
            yield campaign_id, pledge_id

    def save_pledge(
        self,
        before: Pledge,
        after: Pledge,
        *,
        open_campaign_at: datetime | None = None,
        event: EventRecord | None = None,
    ) -> Pledge:
        if after.status is not before.status:
            PLEDGE_TRANSITIONS.check(before.status, after.status)
        delta = int(after.counted) - int(before.counted)
        key = (after.campaign_id, after.id)
        with self._lock:  # all or nothing, as one DynamoDB transaction
            if event is not None and event[0] in self._processed:
                raise DuplicateEvent(f"Event {event[0]} was already processed.")
            if not _unchanged(self._pledges.get(key), before):
                raise ConcurrentUpdate(f"Pledge {before.id} changed meanwhile.")
            if open_campaign_at is not None and not self._open(after.campaign_id, open_campaign_at):
                raise CampaignClosed(f"Campaign {after.campaign_id} is closed.")
            revision = (before.revision or 0) + 1
            self._pledges[key] = _stored(after, revision=revision)
            if delta:
                shard = (after.campaign_id, counter_key(after.min_backers, after.counter_shard))
                tally = self._counters.get(shard, Tally())
                self._counters[shard] = Tally(
                    tally.amount + delta * after.amount.amount, tally.backers + delta
                )
            if event is not None:
                self._processed.add(event[0])
        return replace(after, revision=revision)

    def _open(self, campaign_id: str, at: datetime) -> bool:
        campaign = self._campaigns.get(campaign_id)
        return (
            campaign is not None
            and campaign.status is CampaignStatus.LIVE
            and epoch(campaign.deadline) > epoch(at)
        )

    def campaign_and_pledge(
        self, campaign_id: str, pledge_id: str
    ) -> tuple[Campaign, Pledge | None]:
        with self._lock:
            return self.get_campaign(campaign_id), self.find_pledge(campaign_id, pledge_id)

    def campaign_pledge_and_intake(
        self, campaign_id: str, pledge_id: str
    ) -> tuple[Campaign, Pledge | None, IntakeProgress]:
        with self._lock:
            campaign, pledge = self.campaign_and_pledge(campaign_id, pledge_id)
            return campaign, pledge, self.intake_progress()

    # ---------------------------------------------------------------- flash intake

    def claim_slot(self, endpoint: str, slot: int, expires_at: datetime) -> bool:
        with self._lock:
            if (endpoint, slot) in self._slots:
                return False
            self._slots.add((endpoint, slot))
            return True

    def taken_slots(self, endpoint: str, first: int, count: int) -> set[int]:
        with self._lock:
            return {s for s in range(first, first + count) if (endpoint, s) in self._slots}

    def take_ticket(
        self, campaign_id: str, pledge_id: str, now: datetime, *, unticketed: bool = False
    ) -> tuple[int, bool]:
        with self._lock:
            held = self._tickets.get((campaign_id, pledge_id))
            if held is not None:
                if unticketed:  # as DynamoDB: the counter moved before the put lost
                    self._queued += 1
                    self._intake_updated_at = epoch(now)
                return held, False
            self._queued += 1
            self._intake_updated_at = epoch(now)
            self._tickets[(campaign_id, pledge_id)] = self._queued
            return self._queued, True

    def ticket_of(self, campaign_id: str, pledge_id: str) -> int | None:
        with self._lock:
            return self._tickets.get((campaign_id, pledge_id))

    def intake_progress(self) -> IntakeProgress:
        with self._lock:
            return IntakeProgress(self._queued, self._served, self._intake_updated_at)

    def mark_served(self, ticket: int, now: datetime) -> None:
        with self._lock:
            if ticket > self._served:
                self._served = ticket
                self._intake_updated_at = epoch(now)


def _unchanged(stored: Campaign | Pledge | None, before: Campaign | Pledge) -> bool:
    """The write's condition: the stored item is the one `before` was read as."""
    return (
        stored is not None
        and stored.status is before.status
        and before.revision is not None
        and stored.revision == before.revision
    )


# ---------------------------------------------------------------- the work queue


@dataclass(frozen=True)
class Sent:
    message: Message
    delay_seconds: int = 0


@dataclass
class MemoryQueue:
    """`ports.WorkQueue` that keeps what was sent, in order, with its delay,
    each message as the worker would read it back (through its serialisation)."""

    sent: list[Sent] = field(default_factory=list)
    retried: list[tuple[str, int]] = field(default_factory=list)

    def send(self, message: Message, *, delay_seconds: int = 0) -> None:
        delay = min(max(delay_seconds, 0), SQS_MAX_DELAY)
        self.sent.append(Sent(decode(encode(message)), delay))

    def send_many(self, messages: Iterable[Message]) -> int:
        batch = [Sent(decode(encode(m))) for m in messages]
        self.sent.extend(batch)
        return len(batch)

    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None:
        self.retried.append((receipt_handle, delay_seconds))

    @property
    def messages(self) -> list[Message]:
        return [s.message for s in self.sent]


@dataclass
class MemoryIntakeQueue:
    """`ports.IntakeQueue` as SQS FIFO keeps it: messages in the order sent,
    a message whose deduplication id (the pledge id) is already waiting
    dropped, each as the worker would read it back. `drain` plays the worker."""

    waiting: list[IntakeMessage] = field(default_factory=list)
    sent: int = 0
    retried: list[tuple[str, int]] = field(default_factory=list)

    def send(self, message: IntakeMessage) -> None:
        self.sent += 1
        if any(m.pledge_id == message.pledge_id for m in self.waiting):
            return  # FIFO deduplication
        self.waiting.append(decode_intake(encode(message)))

    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None:
        self.retried.append((receipt_handle, delay_seconds))

    def drain(self, handle: Callable[[IntakeMessage], None]) -> list[IntakeMessage]:
        """Delivers every waiting message in order; one that raises stays at
        the head (as its FIFO group would) and the error propagates."""
        done = []
        while self.waiting:
            handle(self.waiting[0])
            done.append(self.waiting.pop(0))
        return done
