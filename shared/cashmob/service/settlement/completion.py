"""Completion: the campaign ends succeeded or failed once no pledge is left
to settle (a pledge in its grace period does not hold it back; its totals
are refreshed by later checks)."""

from __future__ import annotations

from datetime import datetime

from ...container import Services
from ...domain import Action, Campaign, action_for
from ...domain.messages import CheckCompletion, SettlePledge
from ...domain.schedule import (
    CHECK_INTERVAL,
    CompletionStep,
    completion_step,
    next_check_round,
    stragglers_due,
)
from ...domain.settlement import Totals, finished
from ...observability import logger
from ...records import record
from ..publishing import published
from .fan_out import check_later, fan_out, settle_message


def complete(svc: Services, message: CheckCompletion) -> None:
    campaign = svc.store.get_campaign(message.campaign_id)
    now = svc.clock.now()
    match completion_step(campaign, now):
        case CompletionStep.COUNT if not message.round and _chain_finishing(campaign, now):
            return
        case CompletionStep.COUNT:
            pass
        case CompletionStep.RESTART_FAN_OUT:
            logger.warning("fan-out stalled; starting it again", extra={"campaign_id": campaign.id})
            fan_out(svc, campaign.id)
            return
        case CompletionStep.WAIT_FOR_FAN_OUT if message.round:
            count_ahead(svc, campaign, message)
            return
        case _:
            return
    assert campaign.outcome is not None
    left = count_left(svc, campaign, message)
    waiting = left.waiting
    if waiting:
        if stragglers_due(campaign, now):
            svc.queue.send_many(waiting)
        elif message.round:
            rate = svc.settings.stripe_requests_per_second
            next_round = next_check_round(message.round, len(waiting), rate)
            check_later(
                svc,
                campaign.id,
                next_round,
                waiting=len(waiting),
                done_cursor=left.done_cursor,
                done=left.done.counts if left.done_cursor else None,
            )
        return
    totals = left.done
    done = published(svc, svc.store.save_campaign(campaign, finished(campaign, totals, now)))
    from ..payouts import after_completion  # with the first completion: a cold start's cost

    after_completion(svc, done)  # a payout, once no pledge is left in its grace period


def _chain_finishing(campaign: Campaign, now: datetime) -> bool:
    """Whether the chain of checks should still be finishing the campaign:
    the last page went out less than a sweep interval ago. The sweep's own
    check (which reads every pledge) then leaves it to the chain rather than
    read the whole campaign beside its last charges; it is the backstop for
    a chain that was lost, a minute later at most."""
    assert campaign.fanned_out_at is not None
    return now - campaign.fanned_out_at < CHECK_INTERVAL


def count_ahead(svc: Services, campaign: Campaign, message: CheckCompletion) -> None:
    """A check of the chain while pages are still going out: it cannot
    finish the campaign, but it reads on through the pledges settled since
    the check before it, as far as the first read with work left, and hands
    their totals to the next check, due when that work should be done. The
    pledges are read about once over the whole fan-out, a read at a time,
    rather than all at once after it, beside the last pledges' charges.
    Its next check spends no round (the quick rounds are for the chain's
    tail, once every page is out) and comes no sooner than a page's worth
    of the budget: the pledges settle no faster than the pages go out."""
    assert campaign.outcome is not None
    left = count_left(svc, campaign, message, ahead=True)
    check_later(
        svc,
        campaign.id,
        message.round,
        waiting=max(len(left.waiting), svc.settings.page_size),
        done_cursor=left.done_cursor,
        done=left.done.counts if left.done_cursor else None,
    )


# Pledges per read of a completion check: few, large reads (a local DynamoDB
# stand-in pays for each query by the size of the campaign, not the page).
COUNT_PAGE = 500


@record
class Left:
    """What a completion check found: `waiting`, the pledges still to settle;
    `done`, the totals of the leading pages with nothing to settle, which end
    at `done_cursor` (None: at the first pledge; with nothing waiting, `done`
    covers every pledge)."""

    waiting: list[SettlePledge]
    done: Totals
    done_cursor: str | None


def count_left(
    svc: Services, campaign: Campaign, message: CheckCompletion, *, ahead: bool = False
) -> Left:
    """Counts the campaign from where the check's chain found every pledge
    settled (`message.done_cursor`, with the totals up to there), page by
    page. A pledge that needs no more settlement stays so (its later moves,
    a grace period's end, are refreshed by the checks that follow a finish),
    so a chain of checks reads the campaign about once, however many checks
    its tail takes; a check without a cursor (the sweep's) reads it all.
    `ahead` (pages still going out): stops after the first read with work
    left, whose pledges are then all that `waiting` holds."""
    assert campaign.outcome is not None
    done = Totals.of_counts(message.done if message.done_cursor else None)
    done_cursor = message.done_cursor
    waiting: list[SettlePledge] = []  # small messages only: never the pledges themselves
    after = done_cursor
    while True:
        page = svc.store.pledges(campaign.id, limit=COUNT_PAGE, after=after)
        open_here = [
            settle_message(campaign, pledge)
            for pledge in page.items
            if action_for(campaign.outcome, pledge, crowd=campaign.crowd) is not Action.NONE
        ]
        if not waiting and not open_here:
            for pledge in page.items:
                done = done.plus(pledge)
            done_cursor = page.next_cursor
        waiting.extend(open_here)
        if page.next_cursor is None or (ahead and waiting):
            return Left(waiting, done, done_cursor)
        after = page.next_cursor
