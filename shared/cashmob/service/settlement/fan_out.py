"""The outcome and the fan-out: one SettlePledge message per open pledge,
page by page, then the completion checks."""

from __future__ import annotations

from dataclasses import replace

from ...container import Services
from ...domain import CampaignStatus, PledgeStatus, Tally, decide
from ...domain.messages import CheckCompletion, DecideOutcome, SendPage, SettlePledge
from ...domain.schedule import completion_delay, page_delay
from ...domain.settlement import OPEN_WORK
from ...observability import logger
from ..publishing import published


def recount(svc: Services, campaign_id: str) -> Tally:
    """Exact: the sum over active pledges, streamed page by page."""
    tally = Tally()
    for pledge in svc.store.all_pledges(campaign_id):
        if pledge.status is PledgeStatus.ACTIVE:
            tally = tally.plus(pledge.amount.amount)
    return tally


def decide_outcome(svc: Services, message: DecideOutcome) -> None:
    campaign = svc.store.get_campaign(message.campaign_id)
    if campaign.outcome is None:
        if campaign.status is not CampaignStatus.SETTLING:
            return
        tally = recount(svc, campaign.id)
        outcome = decide(campaign, tally)
        campaign = published(
            svc, svc.store.save_campaign(campaign, replace(campaign, outcome=outcome))
        )
        logger.info(
            "outcome decided",
            extra={"campaign_id": campaign.id, "outcome": outcome.value, "backers": tally.backers},
        )
    fan_out(svc, campaign.id)


def fan_out(svc: Services, campaign_id: str) -> None:
    """Starts (or starts over) the page chain of a decided campaign."""
    svc.queue.send(SendPage(campaign_id))


def send_page(svc: Services, message: SendPage) -> None:
    campaign_id = message.campaign_id
    page = svc.store.pledges(
        campaign_id, limit=svc.settings.page_size, after=message.cursor, statuses=OPEN_WORK
    )
    campaign = svc.store.get_campaign(campaign_id)
    # The outcome is fixed once decided: each message carries it, so settling
    # a pledge reads only the pledge.
    svc.queue.send_many(SettlePledge(campaign_id, p.id, campaign.outcome) for p in page.items)
    if page.next_cursor:
        delay = page_delay(len(page.items), svc.settings.stripe_requests_per_second)
        svc.queue.send(SendPage(campaign_id, page.next_cursor), delay_seconds=delay)
        return
    if campaign.fanned_out_at is None:
        # Stragglers are re-sent only once every page has gone out.
        done = replace(campaign, fanned_out_at=svc.clock.now())
        published(svc, svc.store.save_campaign(campaign, done))
    check_later(svc, campaign_id, 1)


def check_later(svc: Services, campaign_id: str, round_: int) -> None:
    delay = completion_delay(round_)
    if delay is not None:  # else the sweep keeps checking every CHECK_INTERVAL
        svc.queue.send(CheckCompletion(campaign_id, round_), delay_seconds=delay)
