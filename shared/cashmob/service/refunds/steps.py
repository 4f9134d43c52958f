"""A campaign's refund on the settlement queue, paced and crash-safe like
settlement: pages of collected pledges fan out one RefundPledge each (at
Stripe's pace: `schedule.page_delay`), completion checks follow, and the
sweep looks at a refunding campaign every CHECK_INTERVAL as the backstop."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from ...container import Services
from ...domain import Campaign, CampaignStatus
from ...domain.errors import ConcurrentUpdate
from ...domain.messages import CheckRefundCompletion, RefundPledge, SendRefundPage
from ...domain.refunds import (
    REFUND_WORK,
    RefundCheck,
    RefundStep,
    refund_check,
    refund_finished,
    refund_sent,
    refund_step,
    refund_stragglers_due,
)
from ...domain.schedule import CHECK_INTERVAL, completion_delay, next_check_round, page_delay
from ...observability import logger
from ..payouts import reverse_after_refund
from ..publishing import published
from .giving import close, give_back, record


def send_refund_page(svc: Services, message: SendRefundPage) -> None:
    campaign_id = message.campaign_id
    page_size = svc.settings.page_size
    page = svc.store.pledges(
        campaign_id, limit=page_size, after=message.cursor, statuses=REFUND_WORK
    )
    work = [RefundPledge(campaign_id, p.id) for p in page.items]
    if page.next_cursor:
        delay = page_delay(
            len(page.items), svc.settings.stripe_requests_per_second, first=message.cursor is None
        )
        # The next page goes first (see settlement's send_page): the queue
        # stays a page ahead of the workers. Refunding a pledge twice is a no-op.
        svc.queue.send(SendRefundPage(campaign_id, page.next_cursor), delay_seconds=delay)
        svc.queue.send_many(work)
        return
    campaign = svc.store.get_campaign(campaign_id)
    if (
        campaign.status is CampaignStatus.REFUNDING
        and campaign.refund is not None
        and campaign.refund.sent_at is None
    ):
        published(svc, svc.store.save_campaign(campaign, refund_sent(campaign, svc.clock.now())))
    queued = len(work) if message.cursor is None else max(len(work), page_size)
    check_later(svc, campaign_id, 1, waiting=queued)
    svc.queue.send_many(work)


def check_later(svc: Services, campaign_id: str, round_: int, *, waiting: int) -> None:
    delay = completion_delay(round_, waiting, svc.settings.stripe_requests_per_second)
    if delay is not None:  # else the sweep keeps checking every CHECK_INTERVAL
        svc.queue.send(CheckRefundCompletion(campaign_id, round_), delay_seconds=delay)


def refund_pledge(svc: Services, message: RefundPledge) -> None:
    """Finishes the pledge's refund in flight (a single refund's backstop, or
    a crash), then, while its campaign is refunding, gives back all that is left."""
    pledge = svc.store.get_pledge(message.campaign_id, message.pledge_id)
    if pledge.refunds.in_flight:
        pledge = give_back(svc, pledge)
    campaign = svc.store.get_campaign(message.campaign_id)
    if campaign.status is not CampaignStatus.REFUNDING or campaign.refund is None:
        return
    match refund_step(pledge):
        case RefundStep.RECORD:
            give_back(svc, record(svc, pledge, None, campaign.refund.reason))
        case RefundStep.CLOSE:
            close(svc, pledge, campaign.refund.reason)
        case _:
            pass


def check_refund_completion(svc: Services, message: CheckRefundCompletion) -> None:
    campaign = svc.store.get_campaign(message.campaign_id)
    now = svc.clock.now()
    if campaign.status is CampaignStatus.REFUNDED:
        reverse_payout(svc, campaign)  # a retry after the write: the reversal is idempotent
        return
    match refund_check(campaign, now):
        case RefundCheck.COUNT:
            pass
        case RefundCheck.RESTART_FAN_OUT:
            logger.warning(
                "refund fan-out stalled; starting it again", extra={"campaign_id": campaign.id}
            )
            svc.queue.send(SendRefundPage(campaign.id))
            return
        case _:
            return
    refunded = 0
    waiting: list[str] = []  # ids only: a campaign's pledges are never all held
    for pledge in svc.store.all_pledges(campaign.id):
        refunded += pledge.refunds.refunded
        if refund_step(pledge) is not RefundStep.NONE:
            waiting.append(pledge.id)
    if waiting:
        if refund_stragglers_due(campaign, now):
            svc.queue.send_many(RefundPledge(campaign.id, p) for p in waiting)
        elif message.round:
            rate = svc.settings.stripe_requests_per_second
            next_round = next_check_round(message.round, len(waiting), rate)
            check_later(svc, campaign.id, next_round, waiting=len(waiting))
        return
    done = published(svc, svc.store.save_campaign(campaign, refund_finished(campaign, refunded)))
    logger.info("campaign refunded", extra={"campaign_id": done.id, "refunded": refunded})
    reverse_payout(svc, done)


def reverse_payout(svc: Services, campaign: Campaign) -> None:
    """A campaign refunded after its payout takes the transfer back (payouts
    on: a no-op without a payout; idempotent, so a retried check may call it
    again)."""
    if svc.settings.payouts_enabled:
        reverse_after_refund(svc, campaign)


def sweep_refunding(svc: Services, campaign: Campaign, now: datetime) -> int:
    """The sweep's backstop for a refunding campaign it found due: look
    again in CHECK_INTERVAL, and check its refund now. 1 if it did."""
    later = replace(campaign, next_check_at=now + CHECK_INTERVAL)
    try:
        published(svc, svc.store.save_campaign(campaign, later))
    except ConcurrentUpdate:
        logger.info("campaign taken by another sweep", extra={"campaign_id": campaign.id})
        return 0
    svc.queue.send(CheckRefundCompletion(campaign.id))
    return 1
