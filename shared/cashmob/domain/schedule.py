"""When settlement's steps happen: the sweep's lock and checks, the pace of
fan-out, the completion checks and the re-sending of lost work. Pure: the
service layer reads the clock and acts on these answers."""

from __future__ import annotations

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
# After the last page is sent, completion is checked with a growing delay
# (seconds) until no pledge is left; the sweep's minute check is the backstop.
COMPLETE_FIRST_DELAY = 2
COMPLETE_MAX_DELAY = 60
COMPLETE_ROUNDS = 20
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


def page_delay(items: int, requests_per_second: float) -> int:
    """Seconds before the next page of pledge messages goes out: the time
    Stripe's budget takes to settle this one, so the queue holds about a page
    of work rather than the whole campaign (and stragglers are not mistaken
    for lost work). No budget: at once."""
    return int(items / requests_per_second) if requests_per_second else 0


def completion_delay(round_: int) -> int | None:
    """Seconds before completion check `round_` (1, 2, …) after the last
    page; None once the rounds are spent (the sweep keeps checking)."""
    if round_ > COMPLETE_ROUNDS:
        return None
    return min(COMPLETE_FIRST_DELAY * 2 ** (round_ - 1), COMPLETE_MAX_DELAY)


class CompletionStep(StrEnum):
    NOTHING = "nothing"  # undecided, or finished with nothing left to check
    WAIT_FOR_FAN_OUT = "wait_for_fan_out"  # pages are still going out
    RESTART_FAN_OUT = "restart_fan_out"  # the page chain was lost
    COUNT = "count"  # every page went out: count what is left


def completion_step(campaign: Campaign, now: datetime) -> CompletionStep:
    """Whether the campaign's pledges may be counted to complete it. While
    pages are going out there is nothing to count yet (counting would read
    the whole campaign every minute for nothing)."""
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
