"""When settlement's steps happen: the sweep's lock and checks, the pace of
fan-out, the completion checks and the re-sending of lost work. Pure: the
service layer reads the clock and acts on these answers."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from enum import StrEnum

from .campaign import Campaign
from .states import CampaignStatus

# How often the sweep looks at a campaign being settled (the backstop).
CHECK_INTERVAL = timedelta(seconds=60)
# How long after its last page a settling campaign may wait for its pledge
# messages before the completion check sends the stragglers again; and how
# long fan-out may go without finishing before it is started over (a page
# message parked in the dead-letter queue).
STRAGGLER_AFTER = timedelta(minutes=5)
STALLED_FAN_OUT = timedelta(hours=2)
# After the last page is sent, completion is checked when the pledges still
# waiting should be settled at Stripe's pace (never sooner than a second
# from now, two for the first), then polled with a growing delay once the rounds stop being
# quick; past the last round the sweep's minute check is the backstop.
COMPLETE_FIRST_DELAY = 2  # the first check: at least this long after the last page
COMPLETE_QUICK_ROUNDS = 5
COMPLETE_MAX_DELAY = 60
COMPLETE_ROUNDS = 20
# SQS delays a message by at most 15 minutes.
MAX_QUEUE_DELAY = 900
# Stripe forgets idempotency keys after 24 h: look a charge up before retrying it.
STRIPE_KEY_MEMORY = timedelta(hours=23)


class SweepStep(StrEnum):
    NOTHING = "nothing"
    LOCK = "lock"  # the deadline passed: live -> settling, then decide
    DECIDE = "decide"  # locked, but its decision was lost (the sweep died after the write)
    COMPLETE = "complete"  # decided: check whether every pledge is settled


def sweep_step(campaign: Campaign, now: datetime) -> SweepStep:
    """What the sweep does with a campaign the store found due."""
    if campaign.status is CampaignStatus.LIVE:
        return SweepStep.LOCK if now >= campaign.deadline else SweepStep.NOTHING
    if campaign.next_check_at is None:
        return SweepStep.NOTHING
    return SweepStep.DECIDE if campaign.outcome is None else SweepStep.COMPLETE


def locked(campaign: Campaign, now: datetime) -> Campaign:
    """Settlement begins: no pledge counts from now on."""
    return campaign.moved_to(
        CampaignStatus.SETTLING, locked_at=now, next_check_at=now + CHECK_INTERVAL
    )


def page_delay(items: int, requests_per_second: float, *, first: bool = False) -> int:
    """Seconds before the next page of pledge messages goes out: the time
    Stripe's budget takes to settle this one, rounded down, so the queue
    holds about a page or two of work rather than the whole campaign (and
    stragglers are not mistaken for lost work). The first page's successor
    goes at once: the queue starts a page ahead of the workers and, the
    delays being rounded down, stays ahead, so it never runs dry while the
    workers' own pacer keeps Stripe's pace. No budget: at once."""
    if first or not requests_per_second:
        return 0
    return int(items / requests_per_second)


def completion_delay(round_: int, waiting: int, requests_per_second: float) -> int | None:
    """Seconds before completion check `round_` (1, 2, …), `waiting` pledges
    being still unsettled (after the last page: that page's): the time
    Stripe's budget needs to settle them, at least a second (the first
    check: two), so the campaign ends about when its last pledge does. Once the quick rounds are
    spent the checks back off (a straggler being retried should not cost a
    count of the campaign every second); None once every round is spent (the
    sweep keeps checking)."""
    if round_ > COMPLETE_ROUNDS:
        return None
    work = math.ceil(waiting / requests_per_second) if requests_per_second else 0
    backoff = min(2 ** max(round_ - COMPLETE_QUICK_ROUNDS, 0), COMPLETE_MAX_DELAY)
    least = COMPLETE_FIRST_DELAY if round_ == 1 else 1
    return min(max(work, backoff, least), MAX_QUEUE_DELAY)


def next_check_round(round_: int, waiting: int, requests_per_second: float) -> int:
    """The round of the check after check `round_` found `waiting` pledges
    unsettled. One that waits for more than a second of Stripe's work spends
    no round: the campaign is being worked through, not stuck (say, workers
    slower than the budget), and the quick rounds are kept for its end. The
    chain still ends: once the stragglers are due they are sent again and
    the sweep's checks take over."""
    work = math.ceil(waiting / requests_per_second) if requests_per_second else 0
    return round_ if work > 1 else round_ + 1


class CompletionStep(StrEnum):
    NOTHING = "nothing"  # undecided, or finished with nothing left to check
    WAIT_FOR_FAN_OUT = "wait_for_fan_out"  # pages are still going out
    RESTART_FAN_OUT = "restart_fan_out"  # the page chain was lost
    COUNT = "count"  # every page went out: count what is left


def completion_step(campaign: Campaign, now: datetime) -> CompletionStep:
    """Whether the campaign's pledges may be counted to complete it. While
    pages are going out there is nothing to count yet (counting would read
    the whole campaign every minute for nothing). A campaign being refunded
    is the refund's to finish (domain.refunds), not settlement's."""
    if campaign.status in (CampaignStatus.REFUNDING, CampaignStatus.REFUNDED):
        return CompletionStep.NOTHING
    if campaign.outcome is None or campaign.next_check_at is None:
        return CompletionStep.NOTHING
    if campaign.fanned_out_at is None:
        if campaign.locked_at and now - campaign.locked_at > STALLED_FAN_OUT:
            return CompletionStep.RESTART_FAN_OUT
        return CompletionStep.WAIT_FOR_FAN_OUT
    return CompletionStep.COUNT


def stragglers_due(campaign: Campaign, now: datetime) -> bool:
    """Pledges still waiting this long after the last page went out lost
    their message (say, parked in the dead-letter queue): send them again."""
    assert campaign.fanned_out_at is not None
    return now - campaign.fanned_out_at > STRAGGLER_AFTER
