"""Erasure of a backer's personal data (API.md `…/erase`): on request, and
automatically `PersonalDataRetentionDays` after the campaign ends (the
retention step of the settlement sweep).

The email, display name and message go (null; the public name becomes
"Anonymous"); amounts, statuses and Stripe references stay for the accounts.
Stripe is told first (the Customer's email, a hold's receipt email; keyed
`pledge:{id}:forget-…`), then the pledge is written with a conditional write:
a failure between the two leaves the pledge unerased, and the retry repeats
the same idempotent Stripe request. A pledge already erased is answered as
it is (again → 200)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from ..container import Services
from ..domain import Campaign, CampaignStatus, Pledge
from ..domain.errors import ConcurrentUpdate
from ..observability import logger, metrics
from ..views import pledge_json
from .pledges import _authorized
from .publishing import published

ERASE_ATTEMPTS = 3
# Campaigns that have ended: their pledges' personal data ages from then.
ENDED = frozenset({"succeeded", "failed", "cancelled", "refunded"})
# Pledges the retention step erases per sweep at most (each a Stripe request):
# the rest wait for the next minute's sweep.
SWEEP_LIMIT = 25
# How long an hour with nothing due is remembered.
IDLE_KEEP = timedelta(days=2)


def erase(svc: Services, campaign_id: str, pledge_id: str, token: str | None) -> dict[str, Any]:
    """The backer's request (X-Pledge-Token): the pledge as the organizer
    would see it, its personal data null."""
    pledge = _authorized(svc, campaign_id, pledge_id, token)
    return pledge_json(erase_pledge(svc, pledge), private=True)


def erase_pledge(svc: Services, pledge: Pledge) -> Pledge:
    """Erases `pledge`'s personal data, at Stripe and here; the pledge as written."""
    for attempt in range(ERASE_ATTEMPTS):
        if attempt:  # the pledge moved meanwhile (a webhook, settlement): read again
            pledge = svc.store.get_pledge(pledge.campaign_id, pledge.id)
        if pledge.backer.erased:
            return pledge
        svc.payments.forget_backer(pledge)
        after = replace(pledge, backer=pledge.backer.erase())
        try:
            written = published(svc, svc.store.save_pledge(pledge, after))  # (none recorded)
        except ConcurrentUpdate:
            if attempt == ERASE_ATTEMPTS - 1:
                raise
            continue
        metrics.add_metric(name="PersonalDataErased", unit="Count", value=1)
        logger.info("personal data erased", extra={"pledge_id": pledge.id})
        return written
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- retention


def ended_at(campaign: Campaign) -> datetime | None:
    """When the campaign ended (settled, or its deadline if cancelled); None
    while it is live or settling."""
    if campaign.status.value not in ENDED:
        return None
    if campaign.settlement is not None:
        return campaign.settlement.settled_at
    return campaign.deadline


def retention_sweep(svc: Services, *, limit: int = SWEEP_LIMIT) -> dict[str, int]:
    """Erases the personal data of pledges whose campaign ended more than
    `PersonalDataRetentionDays` ago, `limit` pledges at most, page by page.
    A campaign fully erased is marked and not read again; an hour in which
    nothing was due is marked too, so the minutely sweep costs one read until
    the next hour."""
    now = svc.clock.now()
    cutoff = now - timedelta(days=svc.settings.personal_data_retention_days)
    idle = f"idle:{now:%Y-%m-%dT%H}"
    counts = {"erased": 0, "campaigns_erased": 0}
    if svc.retention.marked(idle):
        return counts
    for status in (s for s in CampaignStatus if s.value in ENDED):
        after: str | None = None
        while True:
            page = svc.store.list_campaigns(status=status, limit=100, after=after)
            for campaign in page.items:
                end = ended_at(campaign)
                if end is None or end > cutoff or svc.retention.marked(f"done:{campaign.id}"):
                    continue
                for pledge in svc.store.all_pledges(campaign.id):
                    if pledge.backer.erased:
                        continue
                    if counts["erased"] >= limit:
                        return counts  # more is due: the next sweep goes on
                    erase_pledge(svc, pledge)
                    counts["erased"] += 1
                svc.retention.mark(f"done:{campaign.id}", now)
                counts["campaigns_erased"] += 1
            if not page.next_cursor:
                break
            after = page.next_cursor
    svc.retention.mark(idle, now, keep=IDLE_KEEP)
    return counts
