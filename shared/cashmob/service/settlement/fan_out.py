"""The outcome and the fan-out: one SettlePledge message per open pledge,
page by page, then the completion checks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from ...container import Services
from ...domain import (
    Campaign,
    CampaignStatus,
    FundingModel,
    Outcome,
    Pledge,
    PledgeStatus,
    Tally,
    decide,
)
from ...domain.conditions import Backing, Bucket, crowd_from_buckets
from ...domain.messages import CheckCompletion, DecideOutcome, SendPage, SettlePledge
from ...domain.money import settlement_minimum
from ...domain.schedule import MAX_QUEUE_DELAY, completion_delay, page_delay
from ...domain.settlement import OPEN_WORK, Decision, decided, share_of
from ...observability import logger
from ..publishing import published


def _active(svc: Services, campaign_id: str) -> Iterator[Backing]:
    for pledge in svc.store.all_pledges(campaign_id):
        if pledge.status is PledgeStatus.ACTIVE:
            yield Backing(pledge.id, pledge.amount.amount, pledge.min_backers)


def recount(svc: Services, campaign_id: str) -> Tally:
    """Exact: the counted set of the active pledges (their conditions
    resolved, domain.conditions), streamed page by page."""
    sums: dict[int, tuple[int, int]] = {}
    for backing in _active(svc, campaign_id):
        key = backing.min_backers or 0
        amount, backers = sums.get(key, (0, 0))
        sums[key] = (amount + backing.amount, backers + 1)
    crowd = crowd_from_buckets(Bucket(key, *sums[key]) for key in sums)
    return Tally(crowd.amount, crowd.backers)


def decided_by_recount(svc: Services, campaign: Campaign) -> Decision:
    """The decision from an exact recount of the active pledges.

    When no active pledge carries a condition and the campaign is not
    `fixed_price`, the recount stops as soon as the outcome cannot change:
    no pledge becomes active after the lock, and more active pledges never
    undo a success, so the pledges not yet counted cannot matter (a big
    campaign's first captures do not wait for a read of all of it). The
    counters say whether any active pledge is conditional (they move in the
    pledge's own transaction); the recount also checks each pledge it reads.
    Otherwise every active pledge is counted: the conditions' fixpoint and
    the fair shares depend on all of them. A cancelled campaign needs no count."""
    if campaign.status is CampaignStatus.CANCELLED:
        return Decision(Outcome.CANCELLED, Tally())
    minimum = settlement_minimum(campaign.currency, svc.settings.stripe_account_currency)
    fixed = campaign.funding_model is FundingModel.FIXED_PRICE
    if not fixed and svc.store.crowd(campaign.id).conditional == 0:
        early = _stopping_early(svc, campaign)
        if early is not None:
            return early
    return decided(campaign, _active(svc, campaign.id), minimum=minimum)


def _stopping_early(svc: Services, campaign: Campaign) -> Decision | None:
    """The recount of a campaign without conditions, stopping at a success;
    None when it meets a conditional pledge after all."""
    tally = Tally()
    outcome = decide(campaign, tally)
    if outcome is not Outcome.FAILED:
        return Decision(outcome, tally)
    for pledge in svc.store.all_pledges(campaign.id):
        if pledge.status is PledgeStatus.ACTIVE:
            if pledge.min_backers is not None:
                return None
            tally = tally.plus(pledge.amount.amount)
            outcome = decide(campaign, tally)
            if outcome is Outcome.SUCCEEDED:
                return Decision(outcome, tally)  # the crowd is not needed: no conditions
    return Decision(outcome, tally, crowd=tally.backers)


def decide_outcome(svc: Services, message: DecideOutcome) -> None:
    campaign = svc.store.get_campaign(message.campaign_id)
    if campaign.outcome is None:
        if campaign.status is not CampaignStatus.SETTLING:
            return
        decision = decided_by_recount(svc, campaign)
        campaign = published(svc, svc.store.save_campaign(campaign, decision.applied_to(campaign)))
        plan = decision.share_plan
        logger.info(
            "outcome decided",
            extra={
                "campaign_id": campaign.id,
                "outcome": decision.outcome.value,
                "backers_counted": decision.tally.backers,
                "pledged_counted": decision.tally.amount,
                "fair_share_total": None if plan is None else plan.charged_total,
            },
        )
    # The first page goes out from here rather than through the queue: the
    # first charges start one queue hop sooner. Should this fail, the
    # message is retried and fans out again (settling a pledge is idempotent).
    send_page(svc, SendPage(campaign.id))


def settle_message(campaign: Campaign, pledge: Pledge) -> SettlePledge:
    """The SettlePledge of a decided campaign's pledge: with the outcome, the
    crowd and the pledge's fair share, so that settling it reads only the pledge."""
    return SettlePledge(
        campaign.id,
        pledge.id,
        campaign.outcome,
        crowd=campaign.crowd,
        share=share_of(campaign, pledge),
    )


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
    work = [settle_message(campaign, p) for p in page.items]
    if page.next_cursor:
        delay, due_ms = _next_page(svc, message, len(page.items))
        # The next page is queued before this page's pledges: a queue that
        # hands messages out about in the order sent would otherwise hold it
        # behind them, and the pages would go out at the workers' pace plus
        # the delay, the queue running dry in between. (Should sending the
        # pledges fail, the retry sends this page again and a second chain
        # follows it: settling a pledge twice is a no-op.)
        svc.queue.send(SendPage(campaign_id, page.next_cursor, due_ms), delay_seconds=delay)
        svc.queue.send_many(work)
        _first_check(svc, message, len(work))
        return
    if campaign.fanned_out_at is None:
        # Stragglers are re-sent only once every page has gone out.
        done = replace(campaign, fanned_out_at=svc.clock.now())
        published(svc, svc.store.save_campaign(campaign, done))
    svc.queue.send_many(work)
    _first_check(svc, message, len(work))


def _first_check(svc: Services, message: SendPage, queued: int) -> None:
    """The chain of completion checks starts with the first page, not the
    last: while the pages go out, its checks read on through the pledges
    settled so far (completion.count_ahead), so that once the last page is
    out a check reads what follows them, not the whole campaign while its
    last pledges are being charged. The first check comes when the workers
    should be through this page."""
    if message.cursor is None:
        check_later(svc, message.campaign_id, 1, waiting=queued)


def _next_page(svc: Services, message: SendPage, items: int) -> tuple[int, int | None]:
    """The next page's delay and due time. Each page is due `page_delay`'s
    time after the one before it, counted from when that one was due rather
    than from now: a page handled late (a queue hop, a busy worker) sends
    its successor that much sooner, so the pages keep Stripe's pace instead
    of falling behind it by every hop's latency (at most one page's worth is
    made up at once). A chain without due times (the first page, a restart,
    a page an older release sent) starts from now."""
    rate = svc.settings.stripe_requests_per_second
    first = message.cursor is None
    if not rate:
        return page_delay(items, rate, first=first), None
    now_ms = round(svc.clock.now().timestamp() * 1000)
    due_ms = now_ms if message.due_ms is None else message.due_ms
    step_ms = 0 if first else round(items / rate * 1000)
    # A chain far behind (a stall, a moved clock) catches up one page, not all of them.
    next_ms = max(due_ms + step_ms, now_ms - step_ms)
    # Rounded down to SQS's whole seconds: the page goes out at most a second early.
    delay = min(max((next_ms - now_ms) // 1000, 0), MAX_QUEUE_DELAY)
    return delay, next_ms


def check_later(
    svc: Services,
    campaign_id: str,
    round_: int,
    *,
    waiting: int,
    done_cursor: str | None = None,
    done: tuple[int, ...] | None = None,
) -> None:
    """The chain's next completion check, when the `waiting` pledges should
    be settled; it resumes after `done_cursor` with the totals `done`."""
    delay = completion_delay(round_, waiting, svc.settings.stripe_requests_per_second)
    if delay is not None:  # else the sweep keeps checking every CHECK_INTERVAL
        check = CheckCompletion(campaign_id, round_, done_cursor=done_cursor, done=done)
        svc.queue.send(check, delay_seconds=delay)
