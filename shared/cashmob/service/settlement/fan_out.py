"""The outcome and the fan-out: one SettlePledge message per open pledge,
page by page, then the completion checks."""

from __future__ import annotations

from dataclasses import replace

from ...container import Services
from ...domain import Campaign, CampaignStatus, Outcome, PledgeStatus, Tally, decide
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


def decided_by_recount(svc: Services, campaign: Campaign) -> tuple[Outcome, Tally]:
    """The outcome from an exact recount of the active pledges, which stops
    as soon as the outcome cannot change: no pledge becomes active after the
    lock, and more active pledges never undo a success, so the pledges not
    yet counted cannot matter (a big campaign's first captures do not wait
    for a read of all of it). A cancelled campaign needs no count."""
    tally = Tally()
    outcome = decide(campaign, tally)
    if outcome is not Outcome.FAILED:
        return outcome, tally
    for pledge in svc.store.all_pledges(campaign.id):
        if pledge.status is PledgeStatus.ACTIVE:
            tally = tally.plus(pledge.amount.amount)
            outcome = decide(campaign, tally)
            if outcome is Outcome.SUCCEEDED:
                break
    return outcome, tally


def decide_outcome(svc: Services, message: DecideOutcome) -> None:
    campaign = svc.store.get_campaign(message.campaign_id)
    if campaign.outcome is None:
        if campaign.status is not CampaignStatus.SETTLING:
            return
        outcome, tally = decided_by_recount(svc, campaign)
        campaign = published(
            svc, svc.store.save_campaign(campaign, replace(campaign, outcome=outcome))
        )
        logger.info(
            "outcome decided",
            extra={
                "campaign_id": campaign.id,
                "outcome": outcome.value,
                "backers_counted": tally.backers,
            },
        )
    # The first page goes out from here rather than through the queue: the
    # first charges start one queue hop sooner. Should this fail, the
    # message is retried and fans out again (settling a pledge is idempotent).
    send_page(svc, SendPage(campaign.id))


def fan_out(svc: Services, campaign_id: str) -> None:
    """Starts (or starts over) the page chain of a decided campaign."""
    svc.queue.send(SendPage(campaign_id))


def send_page(svc: Services, message: SendPage) -> None:
    campaign_id = message.campaign_id
    page_size = svc.settings.page_size
    page = svc.store.pledges(campaign_id, limit=page_size, after=message.cursor, statuses=OPEN_WORK)
    campaign = svc.store.get_campaign(campaign_id)
    # The outcome is fixed once decided: each message carries it, so settling
    # a pledge reads only the pledge.
    work = [SettlePledge(campaign_id, p.id, campaign.outcome) for p in page.items]
    if page.next_cursor:
        delay = page_delay(
            len(page.items),
            svc.settings.stripe_requests_per_second,
            first=message.cursor is None,
        )
        # The next page is queued before this page's pledges: a queue that
        # hands messages out about in the order sent would otherwise hold it
        # behind them, and the pages would go out at the workers' pace plus
        # the delay, the queue running dry in between. (Should sending the
        # pledges fail, the retry sends this page again and a second chain
        # follows it: settling a pledge twice is a no-op.)
        svc.queue.send(SendPage(campaign_id, page.next_cursor), delay_seconds=delay)
        svc.queue.send_many(work)
        return
    if campaign.fanned_out_at is None:
        # Stragglers are re-sent only once every page has gone out.
        done = replace(campaign, fanned_out_at=svc.clock.now())
        published(svc, svc.store.save_campaign(campaign, done))
    # The first check comes when the workers should be through the work
    # queued: this last page, and after a chain of pages at least the page
    # ahead of the workers (the last page may be short, or even empty).
    queued = len(work) if message.cursor is None else max(len(work), page_size)
    check_later(svc, campaign_id, 1, waiting=queued)
    svc.queue.send_many(work)


def check_later(svc: Services, campaign_id: str, round_: int, *, waiting: int) -> None:
    delay = completion_delay(round_, waiting, svc.settings.stripe_requests_per_second)
    if delay is not None:  # else the sweep keeps checking every CHECK_INTERVAL
        svc.queue.send(CheckCompletion(campaign_id, round_), delay_seconds=delay)
