"""The store the use cases get (`ports.Store`): the campaign and pledge
repositories over one set of tables, and the one read that spans both."""

from __future__ import annotations

from typing import Any

from ..domain import Campaign, Pledge
from ..domain.errors import ConcurrentUpdate, NotFound
from ..ports import IntakeProgress, Page
from .campaigns import CampaignTable
from .intake import QUEUE_KEY, IntakeTable, progress_of
from .mapping import campaign_of, pledge_of
from .pledges import DuplicateEvent, PledgeTable

__all__ = ["DuplicateEvent", "Page", "Store"]

BATCH_GET_ROUNDS = 5


class Store(CampaignTable, PledgeTable, IntakeTable):
    def campaign_and_pledge(
        self, campaign_id: str, pledge_id: str
    ) -> tuple[Campaign, Pledge | None]:
        """Both in one BatchGetItem request (strongly consistent): what the
        intake worker needs before it calls Stripe."""
        found = self._batch_get(self._pledge_keys(campaign_id, pledge_id))
        return self._campaign_and_pledge(found, campaign_id)

    def campaign_pledge_and_intake(
        self, campaign_id: str, pledge_id: str
    ) -> tuple[Campaign, Pledge | None, IntakeProgress]:
        """`campaign_and_pledge` and the intake queue's ticket counter, in the
        same BatchGetItem request (strongly consistent): pledge creation needs
        all three (a newcomer goes behind a backlog), and one request instead
        of two saves a read per pledge."""
        Intake = self.models.Intake
        request = self._pledge_keys(campaign_id, pledge_id)
        request[Intake.Meta.table_name] = {
            "Keys": [{"campaign_id": {"S": QUEUE_KEY}, "shard": {"N": "0"}}],
            "ConsistentRead": True,
        }
        found = self._batch_get(request)
        counters = found.get(Intake.Meta.table_name, [])
        progress = progress_of(Intake.from_raw_data(counters[0]) if counters else None)
        campaign, pledge = self._campaign_and_pledge(found, campaign_id)
        return campaign, pledge, progress

    def _pledge_keys(self, campaign_id: str, pledge_id: str) -> dict[str, Any]:
        return {
            self.models.Campaign.Meta.table_name: {
                "Keys": [{"campaign_id": {"S": campaign_id}}],
                "ConsistentRead": True,
            },
            self.models.Pledge.Meta.table_name: {
                "Keys": [{"campaign_id": {"S": campaign_id}, "pledge_id": {"S": pledge_id}}],
                "ConsistentRead": True,
            },
        }

    def _batch_get(self, request: dict[str, Any]) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {}
        for _ in range(BATCH_GET_ROUNDS):
            answer = self.connection.client.batch_get_item(RequestItems=request)
            for table, items in answer.get("Responses", {}).items():
                found.setdefault(table, []).extend(items)
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                return found
        raise ConcurrentUpdate("DynamoDB kept the keys unprocessed; try again.")

    def _campaign_and_pledge(
        self, found: dict[str, list[dict]], campaign_id: str
    ) -> tuple[Campaign, Pledge | None]:
        Campaign_, Pledge_ = self.models.Campaign, self.models.Pledge
        campaigns = found.get(Campaign_.Meta.table_name, [])
        if not campaigns:
            raise NotFound(f"No campaign {campaign_id}.")
        pledges = found.get(Pledge_.Meta.table_name, [])
        pledge = pledge_of(Pledge_.from_raw_data(pledges[0])) if pledges else None
        return campaign_of(Campaign_.from_raw_data(campaigns[0])), pledge
