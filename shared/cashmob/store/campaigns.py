"""The campaigns table and the progress counters: `ports.CampaignRepository`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime

from pynamodb.exceptions import DoesNotExist

from ..clock import epoch
from ..domain import CAMPAIGN_TRANSITIONS, Campaign, CampaignStatus, Tally
from ..domain.conditions import Bucket, Crowd, crowd_from_buckets
from ..domain.errors import ConcurrentUpdate, Conflict, NotFound
from ..ports import Page
from . import cursor
from .counter_keys import threshold_of
from .mapping import campaign_item, campaign_of
from .models import DUE, Tables
from .writes import save_if


class CampaignTable(Tables):
    def create_campaign(self, campaign: Campaign) -> Campaign:
        item = campaign_item(self.models, campaign)
        save_if(
            item,
            self.models.Campaign.campaign_id.does_not_exist(),
            Conflict(f"Campaign {campaign.id} already exists."),
        )
        return replace(campaign, revision=item.version)

    def get_campaign(self, campaign_id: str) -> Campaign:
        try:
            return campaign_of(self.models.Campaign.get(campaign_id, consistent_read=True))
        except DoesNotExist:
            raise NotFound(f"No campaign {campaign_id}.") from None

    def save_campaign(self, before: Campaign, after: Campaign) -> Campaign:
        """Writes `after` only if the stored campaign is still exactly `before`."""
        if after.status is not before.status:
            CAMPAIGN_TRANSITIONS.check(before.status, after.status)
        item = campaign_item(self.models, replace(after, revision=before.revision))
        save_if(
            item,
            self.models.Campaign.status == before.status.value,
            ConcurrentUpdate(f"Campaign {before.id} changed meanwhile."),
        )
        return replace(after, revision=item.version)

    def list_campaigns(
        self, *, status: CampaignStatus | None, limit: int, after: str | None
    ) -> Page[Campaign]:
        Model = self.models.Campaign
        scope = f"campaigns:{status or '*'}"
        start = cursor.decode(after, scope)
        if status is None:
            results = Model.scan(limit=limit, last_evaluated_key=start)
        else:
            results = Model.status_index.query(
                status.value, limit=limit, last_evaluated_key=start, scan_index_forward=False
            )
        items = [campaign_of(item) for item in results]
        return Page(items, cursor.encode(results.last_evaluated_key, scope))

    def due_campaigns(self, now: datetime, *, limit: int = 100) -> Iterator[str]:
        """Ids of campaigns the scheduler must look at: deadline or check time passed."""
        Model = self.models.Campaign
        for key in Model.due_index.query(DUE, Model.due_at <= epoch(now), limit=limit):
            yield key.campaign_id

    def crowd(self, campaign_id: str) -> Crowd:
        """The campaign's progress from its counter items (one query, as
        before conditions): grouped by threshold, the conditions resolved
        (`domain.conditions.crowd_from_buckets`)."""
        buckets = [
            Bucket(threshold_of(item.shard), int(item.amount), int(item.backers))
            for item in self.models.Counter.query(campaign_id)
        ]
        return crowd_from_buckets(buckets)

    def progress(self, campaign_id: str) -> Tally:
        """What the counted pledges add up to: the unconditional ones and the
        conditional ones the current crowd already meets."""
        crowd = self.crowd(campaign_id)
        return Tally(crowd.amount, crowd.backers)
