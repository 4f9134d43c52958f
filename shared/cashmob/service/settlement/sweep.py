"""The sweep, fired by the schedule (at least once, maybe twice): locks the
campaigns past their deadline and schedules the follow-ups."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from ...container import Services
from ...domain import CampaignStatus
from ...domain.errors import ConcurrentUpdate
from ...domain.messages import CheckCompletion, DecideOutcome, SettlePledge
from ...domain.schedule import CHECK_INTERVAL, SweepStep, locked, sweep_step
from ...observability import logger
from ..publishing import published


def sweep(svc: Services) -> dict[str, int]:
    now = svc.clock.now()
    horizon = now - timedelta(seconds=svc.settings.settlement_delay_seconds)
    counts = {"locked": 0, "checked": 0, "pledges_due": 0}
    for campaign_id in list(svc.store.due_campaigns(horizon)):
        campaign = svc.store.get_campaign(campaign_id)
        if campaign.status is CampaignStatus.REFUNDING:  # the organizer's refund
            from ..refunds import sweep_refunding  # imported when needed: a cold start's cost

            counts["checked"] += sweep_refunding(svc, campaign, now)
            continue
        step = sweep_step(campaign, now)
        try:
            if step is SweepStep.LOCK:
                published(svc, svc.store.save_campaign(campaign, locked(campaign, now)))
                svc.queue.send(DecideOutcome(campaign_id))
                counts["locked"] += 1
            elif step is not SweepStep.NOTHING:
                later = replace(campaign, next_check_at=now + CHECK_INTERVAL)
                published(svc, svc.store.save_campaign(campaign, later))
                # DECIDE: the lock was taken but its decision was lost (the
                # sweep died after the write): decide again.
                svc.queue.send(
                    DecideOutcome(campaign_id)
                    if step is SweepStep.DECIDE
                    else CheckCompletion(campaign_id)
                )
                counts["checked"] += 1
        except ConcurrentUpdate:
            logger.info("campaign taken by another sweep", extra={"campaign_id": campaign_id})
    for campaign_id, pledge_id in list(svc.store.due_pledges(now)):
        svc.queue.send(SettlePledge(campaign_id, pledge_id))  # a reminder, or the grace's end
        counts["pledges_due"] += 1
    counts.update(_retention(svc))
    return counts


def _retention(svc: Services) -> dict[str, int]:
    """Personal data past its retention period is erased here, on the sweep's
    schedule (one schedule, one function to watch); a failure is logged and
    retried on the next sweep, never in settlement's way."""
    from ..erasure import retention_sweep

    try:
        return retention_sweep(svc)
    except Exception:
        logger.exception("retention sweep failed; the next sweep retries")
        return {}
