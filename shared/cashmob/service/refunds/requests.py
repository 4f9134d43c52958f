"""The organizer's refunds (API.md): a whole campaign, queued; one pledge,
in full or in part, at once."""

from __future__ import annotations

from typing import Any

from ...container import Services
from ...domain import Campaign, CampaignStatus, Tally
from ...domain.errors import ConcurrentUpdate, Forbidden
from ...domain.messages import RefundPledge, SendRefundPage
from ...domain.refunds import MAX_REASON, NotRefundable, refund_started
from ...views import campaign_json, pledge_json
from ..publishing import published
from .giving import give_back, record

# A single refund's backstop: should the request die between recording the
# refund and recording Stripe's answer, the worker finishes it this much later
# (the request is done by then).
BACKSTOP_DELAY = 60
FINISHED = frozenset({CampaignStatus.REFUNDING, CampaignStatus.REFUNDED})


def _owned(svc: Services, campaign_id: str, organizer: str) -> Campaign:
    campaign = svc.store.get_campaign(campaign_id)
    if campaign.organizer != organizer:
        raise Forbidden("Only the campaign's organizer may do this.")
    return campaign


def _view(svc: Services, campaign: Campaign) -> dict[str, Any]:
    live = Tally() if campaign.settlement else svc.store.progress(campaign.id)
    return campaign_json(campaign, live)


def refund_campaign(
    svc: Services, campaign_id: str, organizer: str, reason: str
) -> tuple[dict[str, Any], int]:
    """succeeded -> refunding (202), then every collected pledge is refunded
    in full through the settlement queue. Asked again: 200 with the campaign
    as it is. Any other status: 409."""
    campaign = _owned(svc, campaign_id, organizer)
    if campaign.status in FINISHED:
        return _view(svc, campaign), 200
    after = refund_started(campaign, reason, svc.clock.now())  # 409 unless succeeded
    try:
        refunding = published(svc, svc.store.save_campaign(campaign, after))
    except ConcurrentUpdate:
        current = svc.store.get_campaign(campaign_id)
        if current.status in FINISHED:  # a concurrent request won
            return _view(svc, current), 200
        raise
    # Should this send be lost, the sweep's check starts the pages again.
    svc.queue.send(SendRefundPage(campaign_id))
    return _view(svc, refunding), 202


def refund_pledge(
    svc: Services,
    campaign_id: str,
    pledge_id: str,
    organizer: str,
    *,
    amount: int | None,
    reason: str,
) -> dict[str, Any]:
    """Gives back `amount` (None: all that is left) of one collected pledge of
    a succeeded campaign; 409 when it holds less, or its campaign is not
    `succeeded`. A refund of it still in flight (this request's retry, say)
    is finished first, and answers the request when it is the same refund."""
    campaign = _owned(svc, campaign_id, organizer)
    if campaign.status is not CampaignStatus.SUCCEEDED:
        raise NotRefundable(f"Campaign {campaign_id} is {campaign.status.value}.")
    pledge = svc.store.get_pledge(campaign_id, pledge_id)
    if pledge.refunds.in_flight:
        earlier = pledge.refunds
        pledge = give_back(svc, pledge)
        same_amount = amount == earlier.pending or (
            amount is None and earlier.target == pledge.to_charge
        )
        if same_amount and earlier.reason == reason[:MAX_REASON]:
            return pledge_json(pledge)
    # The backstop goes first: should the request die once the refund is
    # recorded (before Stripe, or before Stripe's answer is), the worker
    # finishes it with the same key. (Nothing in flight then: a no-op.)
    svc.queue.send(RefundPledge(campaign_id, pledge_id), delay_seconds=BACKSTOP_DELAY)
    pledge = record(svc, pledge, amount, reason)
    return pledge_json(give_back(svc, pledge))
