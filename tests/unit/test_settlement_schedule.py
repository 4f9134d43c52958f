"""When settlement's steps happen: pure decisions on a campaign and the clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from cashmob.domain import Action, CampaignStatus, Outcome, PledgeStatus, Settlement, action_for
from cashmob.domain.events import CampaignFailed, CampaignSucceeded
from cashmob.domain.schedule import (
    CHECK_INTERVAL,
    COMPLETE_FIRST_DELAY,
    COMPLETE_MAX_DELAY,
    COMPLETE_QUICK_ROUNDS,
    COMPLETE_ROUNDS,
    MAX_QUEUE_DELAY,
    STALLED_FAN_OUT,
    STRAGGLER_AFTER,
    CompletionStep,
    SweepStep,
    completion_delay,
    completion_step,
    locked,
    next_check_round,
    page_delay,
    stragglers_due,
    sweep_step,
)
from cashmob.domain.settlement import Totals, finished
from tests.unit.factories import NOW, campaign, pledge

DEADLINE = NOW + timedelta(days=1)


def settling(**changes):
    c = locked(campaign(deadline=DEADLINE), DEADLINE)
    return replace(c, **changes)


def test_the_sweep_locks_a_live_campaign_only_once_its_deadline_passed():
    live = campaign(deadline=DEADLINE)
    assert sweep_step(live, DEADLINE - timedelta(seconds=1)) is SweepStep.NOTHING
    assert sweep_step(live, DEADLINE) is SweepStep.LOCK
    after = locked(live, DEADLINE)
    assert after.status is CampaignStatus.SETTLING and after.events == ()
    assert (after.locked_at, after.next_check_at) == (DEADLINE, DEADLINE + CHECK_INTERVAL)


def test_the_sweep_decides_again_a_lock_whose_decision_was_lost_else_checks_completion():
    assert sweep_step(settling(), DEADLINE) is SweepStep.DECIDE
    assert sweep_step(settling(outcome=Outcome.SUCCEEDED), DEADLINE) is SweepStep.COMPLETE
    assert sweep_step(settling(outcome=Outcome.FAILED, next_check_at=None), DEADLINE) is (
        SweepStep.NOTHING
    )


@pytest.mark.parametrize(
    ("items", "budget", "delay"), [(100, 0.0, 0), (100, 25.0, 4), (10, 25.0, 0), (0, 25.0, 0)]
)
def test_the_next_page_goes_out_at_the_pace_stripes_budget_settles_this_one(items, budget, delay):
    assert page_delay(items, budget) == delay


def test_the_second_page_goes_out_with_the_first_so_the_queue_starts_a_page_ahead():
    assert page_delay(100, 25.0, first=True) == 0
    assert page_delay(100, 23.0) == 4  # rounded down: the pages stay ahead of Stripe's pace


def test_the_first_completion_check_comes_when_the_last_page_should_be_settled():
    # 100 pledges at 25/s take 4 s; 101 take a started fifth second.
    assert completion_delay(1, 100, 25.0) == 4
    assert completion_delay(1, 101, 25.0) == 5
    # Never sooner than two seconds, even with nothing (or no budget) to wait for.
    assert completion_delay(1, 0, 25.0) == COMPLETE_FIRST_DELAY == 2
    assert completion_delay(1, 100, 0.0) == 2


def test_completion_checks_poll_quickly_then_back_off_then_leave_it_to_the_sweep():
    delays = [completion_delay(r, 1, 25.0) for r in range(1, COMPLETE_ROUNDS + 2)]
    assert delays[:COMPLETE_QUICK_ROUNDS] == [2] + [1] * (COMPLETE_QUICK_ROUNDS - 1)
    assert delays[COMPLETE_QUICK_ROUNDS : COMPLETE_QUICK_ROUNDS + 4] == [2, 4, 8, 16]
    assert max(d for d in delays if d is not None) == COMPLETE_MAX_DELAY
    assert delays[-1] is None and all(d is not None for d in delays[:-1])


def test_a_late_check_still_waits_for_the_work_left_within_what_sqs_can_delay():
    assert completion_delay(COMPLETE_ROUNDS, 250, 25.0) == COMPLETE_MAX_DELAY
    assert completion_delay(COMPLETE_ROUNDS, 5000, 25.0) == 200
    assert completion_delay(1, 10**6, 25.0) == MAX_QUEUE_DELAY


def test_a_check_that_waits_for_more_than_a_second_of_work_spends_no_round():
    assert next_check_round(3, 100, 25.0) == 3  # 4 s of work: still being worked through
    assert next_check_round(3, 26, 25.0) == 3
    assert next_check_round(3, 25, 25.0) == 4  # a second or less: the end, or stuck
    assert next_check_round(3, 0, 25.0) == 4
    assert next_check_round(3, 100, 0.0) == 4  # no budget, no estimate


def test_completion_counts_only_once_every_page_went_out_and_restarts_a_stalled_fan_out():
    assert completion_step(settling(), DEADLINE) is CompletionStep.NOTHING  # undecided
    decided = settling(outcome=Outcome.SUCCEEDED)
    assert completion_step(decided, DEADLINE) is CompletionStep.WAIT_FOR_FAN_OUT
    stalled = DEADLINE + STALLED_FAN_OUT + timedelta(seconds=1)
    assert completion_step(decided, stalled) is CompletionStep.RESTART_FAN_OUT
    fanned = replace(decided, fanned_out_at=DEADLINE)
    assert completion_step(fanned, stalled) is CompletionStep.COUNT
    assert completion_step(replace(fanned, next_check_at=None), stalled) is CompletionStep.NOTHING


def test_stragglers_are_sent_again_only_a_while_after_the_last_page():
    fanned = settling(outcome=Outcome.SUCCEEDED, fanned_out_at=DEADLINE)
    assert not stragglers_due(fanned, DEADLINE + STRAGGLER_AFTER)
    assert stragglers_due(fanned, DEADLINE + STRAGGLER_AFTER + timedelta(seconds=1))


@pytest.mark.parametrize("status", list(PledgeStatus))
@pytest.mark.parametrize("intent_open", [True, False])
def test_while_live_only_a_cancelled_or_late_pledge_leaves_something_to_release(
    status, intent_open
):
    p = pledge(status=status)
    p = replace(p, payment=replace(p.payment, intent_open=intent_open))
    finished_early = status in (PledgeStatus.CANCELLED, PledgeStatus.RELEASED)
    expected = Action.CANCEL_INTENT if finished_early and intent_open else Action.NONE
    assert action_for(None, p) is expected


def totals(*statuses):
    t = Totals()
    for status in statuses:
        t = t.plus(pledge(status=status))
    return t


def test_totals_sum_pledges_by_how_they_ended():
    t = totals(
        PledgeStatus.COLLECTED,
        PledgeStatus.COLLECTED,
        PledgeStatus.RELEASED,
        PledgeStatus.FAILED,
        PledgeStatus.ACTION_REQUIRED,
        PledgeStatus.EXPIRED,
    )
    assert (t.collected.amount, t.collected.backers) == (2000, 2)
    assert (t.released, t.failed, t.pending_action) == (1000, 1000, 1000)


def test_a_campaign_finishes_with_its_totals_and_its_event_once():
    decided = settling(outcome=Outcome.SUCCEEDED, fanned_out_at=DEADLINE)
    done = finished(decided, totals(PledgeStatus.COLLECTED), DEADLINE)
    assert done.status is CampaignStatus.SUCCEEDED and done.next_check_at is None
    assert done.settlement == Settlement(Outcome.SUCCEEDED, 1000, 1, 0, 0, 0, DEADLINE)
    assert done.events == (CampaignSucceeded(done.id, collected=1000, backers=1),)
    later = DEADLINE + timedelta(days=1)
    again = finished(done.without_events(), totals(PledgeStatus.COLLECTED), later)
    assert again.events == () and again.settlement.settled_at == DEADLINE


def test_a_pledge_in_its_grace_period_keeps_the_finished_campaign_checked():
    decided = settling(outcome=Outcome.FAILED, fanned_out_at=DEADLINE)
    done = finished(decided, totals(PledgeStatus.ACTION_REQUIRED), DEADLINE)
    assert done.status is CampaignStatus.FAILED
    assert done.next_check_at == DEADLINE + CHECK_INTERVAL
    assert done.events == (CampaignFailed(done.id, collected=0, backers=0),)


def test_a_cancelled_campaign_just_stops_being_checked():
    c = campaign().moved_to(CampaignStatus.CANCELLED, outcome=Outcome.CANCELLED)
    done = finished(c.without_events(), totals(PledgeStatus.RELEASED), NOW)
    assert done.status is CampaignStatus.CANCELLED and done.next_check_at is None
    assert done.settlement is None and done.events == ()
