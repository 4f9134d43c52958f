"""The pledges table: `ports.PledgeRepository`. A pledge's write carries, in
one transaction, what must change with it: the progress counters, the check
that its campaign is still open, the record of the Stripe event that moved it
(so a redelivered event applies once)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from ..clock import epoch
from ..domain import PLEDGE_TRANSITIONS, CampaignStatus, Pledge, PledgeStatus
from ..domain.errors import CampaignClosed, ConcurrentUpdate, Conflict, NotFound
from ..ports import EventRecord, Page
from . import cursor
from .counter_keys import counter_key
from .mapping import event_item, pledge_item, pledge_of
from .models import DUE, Tables
from .writes import failed_conditions, save_if


class DuplicateEvent(Conflict):
    """The Stripe event was already applied (by an earlier delivery)."""

    code = "duplicate_event"


class PledgeTable(Tables):
    def create_pledge(self, pledge: Pledge) -> Pledge:
        item = pledge_item(self.models, pledge)
        save_if(
            item,
            self.models.Pledge.pledge_id.does_not_exist(),
            ConcurrentUpdate(f"Pledge {pledge.id} already exists."),
        )
        return replace(pledge, revision=item.version)

    def find_pledge(self, campaign_id: str, pledge_id: str) -> Pledge | None:
        try:
            item = self.models.Pledge.get(campaign_id, pledge_id, consistent_read=True)
        except DoesNotExist:
            return None
        return pledge_of(item)

    def get_pledge(self, campaign_id: str, pledge_id: str) -> Pledge:
        pledge = self.find_pledge(campaign_id, pledge_id)
        if pledge is None:
            raise NotFound(f"No pledge {pledge_id} in campaign {campaign_id}.")
        return pledge

    def pledges(
        self,
        campaign_id: str,
        *,
        limit: int,
        after: str | None,
        statuses: frozenset[PledgeStatus] | None = None,
    ) -> Page[Pledge]:
        Model = self.models.Pledge
        scope = f"pledges:{campaign_id}:{','.join(sorted(statuses or ()))}"
        condition = Model.status.is_in(*(s.value for s in statuses)) if statuses else None
        results = Model.query(
            campaign_id,
            filter_condition=condition,
            limit=limit,
            last_evaluated_key=cursor.decode(after, scope),
            consistent_read=True,
        )
        items = [pledge_of(item) for item in results]
        return Page(items, cursor.encode(results.last_evaluated_key, scope))

    def all_pledges(self, campaign_id: str) -> Iterator[Pledge]:
        """Every pledge of a campaign, page by page: never all in memory at once."""
        for item in self.models.Pledge.query(campaign_id, consistent_read=True, page_size=500):
            yield pledge_of(item)

    def due_pledges(self, now: datetime, *, limit: int = 100) -> Iterator[tuple[str, str]]:
        Model = self.models.Pledge
        for key in Model.due_index.query(DUE, Model.due_at <= epoch(now), limit=limit):
            yield key.campaign_id, key.pledge_id

    def save_pledge(
        self,
        before: Pledge,
        after: Pledge,
        *,
        open_campaign_at: datetime | None = None,
        event: EventRecord | None = None,
    ) -> Pledge:
        """Writes `after` only if the stored pledge is still exactly `before`.

        In the same transaction: moves the progress counters when the pledge
        starts or stops counting; with `open_campaign_at`, requires the
        campaign to be live with its deadline after that moment; with `event`
        (id, type, processed_at, expires_at), records a Stripe event as
        processed. Raises ConcurrentUpdate, CampaignClosed or DuplicateEvent.
        """
        if after.status is not before.status:
            PLEDGE_TRANSITIONS.check(before.status, after.status)
        delta = int(after.counted) - int(before.counted)
        item = pledge_item(self.models, replace(after, revision=before.revision))
        condition = self.models.Pledge.status == before.status.value
        changed = ConcurrentUpdate(f"Pledge {before.id} changed meanwhile.")
        if not delta and open_campaign_at is None and event is None:
            save_if(item, condition, changed)
            return replace(after, revision=item.version)

        # PynamoDB sends condition checks, then puts, then updates: the
        # cancellation reasons come back in that order.
        checks: list[str] = []
        puts = ["pledge"]
        updates: list[str] = []
        try:
            with TransactWrite(connection=self.connection) as tx:
                tx.save(item, condition=condition)
                if delta:
                    Counter = self.models.Counter
                    tx.update(
                        Counter(
                            after.campaign_id,
                            counter_key(after.min_backers, after.counter_shard),
                        ),
                        actions=[
                            Counter.amount.add(delta * after.amount.amount),
                            Counter.backers.add(delta),
                        ],
                    )
                    updates.append("counter")
                if open_campaign_at is not None:
                    Campaign = self.models.Campaign
                    tx.condition_check(
                        Campaign,
                        after.campaign_id,
                        condition=(Campaign.status == CampaignStatus.LIVE.value)
                        & (Campaign.deadline > epoch(open_campaign_at)),
                    )
                    checks.append("campaign")
                if event is not None:
                    ProcessedEvent = self.models.ProcessedEvent
                    tx.save(
                        event_item(self.models, *event),
                        condition=ProcessedEvent.event_id.does_not_exist(),
                    )
                    puts.append("event")
        except TransactWriteError as error:
            failed = failed_conditions(error, checks + puts + updates)
            if "event" in failed:
                raise DuplicateEvent(
                    f"Event {event and event[0]} was already processed."
                ) from error
            if "pledge" in failed:
                raise changed from error
            if "campaign" in failed:
                raise CampaignClosed(f"Campaign {after.campaign_id} is closed.") from error
            raise
        return replace(after, revision=item.version)
