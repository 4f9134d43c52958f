"""The store the use cases get (`ports.Store`): the campaign and pledge
repositories over one set of tables, and the one read that spans both."""

from __future__ import annotations

from ..domain import Campaign, Pledge
from ..domain.errors import ConcurrentUpdate, NotFound
from ..ports import Page
from .campaigns import CampaignTable
from .intake import IntakeTable
from .mapping import campaign_of, pledge_of
from .pledges import DuplicateEvent, PledgeTable

__all__ = ["DuplicateEvent", "Page", "Store"]

BATCH_GET_ROUNDS = 5


class Store(CampaignTable, PledgeTable, IntakeTable):
    def campaign_and_pledge(
        self, campaign_id: str, pledge_id: str
    ) -> tuple[Campaign, Pledge | None]:
        """Both in one BatchGetItem request (strongly consistent): what pledge
        creation needs before it calls Stripe."""
        Campaign_, Pledge_ = self.models.Campaign, self.models.Pledge
        request = {
            Campaign_.Meta.table_name: {
                "Keys": [{"campaign_id": {"S": campaign_id}}],
                "ConsistentRead": True,
            },
            Pledge_.Meta.table_name: {
                "Keys": [{"campaign_id": {"S": campaign_id}, "pledge_id": {"S": pledge_id}}],
                "ConsistentRead": True,
            },
        }
        found: dict[str, list[dict]] = {}
        for _ in range(BATCH_GET_ROUNDS):
            answer = self.connection.client.batch_get_item(RequestItems=request)
            for table, items in answer.get("Responses", {}).items():
                found.setdefault(table, []).extend(items)
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise ConcurrentUpdate("DynamoDB kept the keys unprocessed; try again.")
        campaigns = found.get(Campaign_.Meta.table_name, [])
        if not campaigns:
            raise NotFound(f"No campaign {campaign_id}.")
        pledges = found.get(Pledge_.Meta.table_name, [])
        pledge = pledge_of(Pledge_.from_raw_data(pledges[0])) if pledges else None
        return campaign_of(Campaign_.from_raw_data(campaigns[0])), pledge
