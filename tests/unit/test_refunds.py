"""Refund arithmetic and transitions (domain.refunds): pure, exhaustive."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cashmob.domain import CampaignStatus, Outcome, PledgeStatus, Settlement
from cashmob.domain.errors import ConcurrentUpdate, InvalidTransition, ValidationFailed
from cashmob.domain.events import CampaignRefunded, PledgeRefunded
from cashmob.domain.messages import (
    CheckRefundCompletion,
    InvalidMessage,
    RefundPledge,
    SendRefundPage,
    decode,
    encode,
)
from cashmob.domain.refunds import (
    NotRefundable,
    RefundCheck,
    RefundStep,
    confirmed,
    recorded,
    refund_check,
    refund_finished,
    refund_sent,
    refund_started,
    refund_step,
    refundable,
    refunded_by_stripe,
    retried,
)
from cashmob.domain.schedule import CompletionStep, completion_step
from cashmob.service.settlement import HANDLERS
from tests.unit.factories import NOW, campaign, pledge

REASON = "the newspaper refused the ad"


def collected(amount=1000, share=None):
    p = pledge(status=PledgeStatus.COLLECTED, share=share)
    return replace(p, amount=replace(p.amount, amount=amount))


# ---------------------------------------------------------------- one pledge


def test_a_full_refund_is_recorded_before_stripe_then_confirmed():
    # Given a collected pledge, When its refund is recorded,
    # Then the key number, amount and target are set and nothing counts yet.
    p = recorded(collected(), None, REASON)
    assert (p.refunds.number, p.refunds.pending, p.refunds.target) == (1, 1000, 1000)
    assert p.refunds.refunded == 0 and p.status is PledgeStatus.COLLECTED and not p.events
    # When Stripe made it: refunded in full, one event.
    done = confirmed(p)
    assert done.status is PledgeStatus.REFUNDED and done.refunded_amount == 1000
    assert not done.refunds.in_flight
    assert done.events == (
        PledgeRefunded("cmp_test", "plg_test", 1000, "gbp", 1000, True, "cashmob"),
    )


def test_a_partial_refund_keeps_the_pledge_collected_and_the_next_key_differs():
    p = confirmed(recorded(collected(), 300, REASON)).without_events()
    assert p.status is PledgeStatus.COLLECTED and p.refunded_amount == 300
    assert refundable(p) == 700
    rest = recorded(p, None, "and the rest")
    assert (rest.refunds.number, rest.refunds.pending, rest.refunds.target) == (2, 700, 1000)
    done = confirmed(rest)
    assert done.status is PledgeStatus.REFUNDED
    assert done.events[-1] == PledgeRefunded(
        "cmp_test", "plg_test", 700, "gbp", 1000, True, "cashmob"
    )


def test_never_more_than_what_was_charged_a_fair_share():
    p = collected(amount=1000, share=770)
    assert refundable(p) == 770
    with pytest.raises(NotRefundable):
        recorded(p, 771, REASON)
    assert confirmed(recorded(p, None, REASON)).refunded_amount == 770


@pytest.mark.parametrize("status", [s for s in PledgeStatus if s is not PledgeStatus.COLLECTED])
def test_only_a_collected_pledge_is_refunded(status):
    with pytest.raises(NotRefundable):
        recorded(pledge(status=status), None, REASON)


@pytest.mark.parametrize("amount", [0, -1, True])
def test_a_bad_amount_is_refused(amount):
    with pytest.raises(ValidationFailed):
        recorded(collected(), amount, REASON)


def test_an_amount_beyond_what_is_left_is_a_conflict():
    p = confirmed(recorded(collected(), 600, REASON)).without_events()
    with pytest.raises(NotRefundable):
        recorded(p, 401, REASON)


def test_one_refund_at_a_time():
    with pytest.raises(ConcurrentUpdate):
        recorded(recorded(collected(), 100, REASON), 100, REASON)


def test_a_5xx_moves_the_same_refund_to_a_new_key_that_looks_up_first():
    p = retried(recorded(collected(), 250, REASON))
    assert (p.refunds.number, p.refunds.pending, p.refunds.target, p.refunds.retry) == (
        2,
        250,
        250,
        True,
    )
    assert confirmed(p).refunded_amount == 250 and not confirmed(p).refunds.retry


@given(st.lists(st.integers(min_value=1, max_value=1500), max_size=8), st.integers(300, 5000))
def test_refunds_add_up_and_never_exceed_the_charge(amounts, charge):
    # Whatever the organizer asks, in whatever order: the total given back is
    # the sum of what was accepted, never more than the charge, and the
    # pledge is refunded exactly when all of it is back.
    p = collected(amount=charge)
    accepted = refunds = 0
    for amount in amounts:
        try:
            p = recorded(p, amount, REASON)
        except NotRefundable:
            assert amount > charge - accepted
            continue
        refunds += 1
        assert p.refunds.number == refunds  # each refund its own key
        p = confirmed(p).without_events()
        accepted += amount
        assert p.refunded_amount == accepted <= charge
    assert (p.status is PledgeStatus.REFUNDED) == (accepted == charge)


# ---------------------------------------------------------------- Stripe's dashboard


def test_stripes_total_is_the_truth_and_only_grows():
    p = collected()
    part = refunded_by_stripe(p, 400)
    assert part is not None and part.refunded_amount == 400
    assert part.status is PledgeStatus.COLLECTED
    assert part.events == (
        PledgeRefunded("cmp_test", "plg_test", 400, "gbp", 400, False, "stripe"),
    )
    part = part.without_events()
    assert refunded_by_stripe(part, 400) is None  # a duplicate
    assert refunded_by_stripe(part, 100) is None  # an older event, late
    full = refunded_by_stripe(part, 1000)
    assert full is not None and full.status is PledgeStatus.REFUNDED
    assert full.events[-1].amount == 600 and full.events[-1].full
    assert refunded_by_stripe(full.without_events(), 1000) is None


def test_a_refund_of_ours_in_flight_is_left_for_the_worker_to_confirm():
    p = recorded(collected(), 300, REASON)
    assert refunded_by_stripe(p, 300) is None
    # More than ours: someone refunded in the dashboard too.
    both = refunded_by_stripe(p, 500)
    assert both is not None and both.refunded_amount == 500 and both.refunds.in_flight
    # Our confirmation then adds nothing: the total already holds it.
    assert confirmed(both.without_events()).refunded_amount == 500
    assert not confirmed(both.without_events()).events


def test_nothing_but_a_collected_or_refunded_pledge_hears_refunds():
    assert refunded_by_stripe(pledge(status=PledgeStatus.ACTIVE), 1000) is None


# ---------------------------------------------------------------- a campaign


def succeeded():
    s = Settlement(Outcome.SUCCEEDED, 2000, 2, 0, 0, 0, NOW)
    return campaign(status=CampaignStatus.SUCCEEDED, outcome=Outcome.SUCCEEDED, settlement=s)


@pytest.mark.parametrize("status", [s for s in CampaignStatus if s is not CampaignStatus.SUCCEEDED])
def test_only_a_succeeded_campaign_starts_refunding(status):
    with pytest.raises(InvalidTransition):
        refund_started(campaign(status=status), REASON, NOW)


def test_a_campaign_refund_runs_then_ends_refunded_with_its_total_and_event():
    c = refund_started(succeeded(), REASON, NOW)
    assert c.status is CampaignStatus.REFUNDING and c.refund.reason == REASON
    assert c.next_check_at is not None
    assert refund_check(c, NOW) is RefundCheck.WAIT_FOR_FAN_OUT
    assert refund_check(c, NOW + timedelta(hours=1)) is RefundCheck.RESTART_FAN_OUT
    c = refund_sent(c, NOW + timedelta(seconds=5))
    assert refund_check(c, NOW + timedelta(hours=1)) is RefundCheck.COUNT
    done = refund_finished(c, 2000)
    assert done.status is CampaignStatus.REFUNDED and done.settlement.refunded == 2000
    assert done.next_check_at is None
    assert done.events[-1] == CampaignRefunded("cmp_test", refunded=2000)
    assert refund_check(done, NOW) is RefundCheck.NOTHING


def test_the_step_for_each_pledge():
    assert refund_step(collected()) is RefundStep.RECORD
    assert refund_step(recorded(collected(), 10, REASON)) is RefundStep.SEND
    assert refund_step(pledge(status=PledgeStatus.ACTION_REQUIRED)) is RefundStep.CLOSE
    assert refund_step(confirmed(recorded(collected(), None, REASON))) is RefundStep.NONE
    for status in (PledgeStatus.FAILED, PledgeStatus.RELEASED, PledgeStatus.EXPIRED):
        assert refund_step(pledge(status=status)) is RefundStep.NONE


# ---------------------------------------------------------------- the queue's messages


@pytest.mark.parametrize(
    "message",
    [
        SendRefundPage("cmp_1"),
        SendRefundPage("cmp_1", "eyJjdXJzb3IiOjF9"),
        RefundPledge("cmp_1", "plg_1"),
        CheckRefundCompletion("cmp_1"),
        CheckRefundCompletion("cmp_1", 4),
    ],
    ids=repr,
)
def test_refund_messages_round_trip_and_each_has_one_handler(message):
    assert decode(encode(message)) == message
    assert json.loads(encode(message))["type"] == type(message).__name__
    assert HANDLERS[type(message)] is not None


@pytest.mark.parametrize(
    "body",
    [
        '{"type": "RefundPledge", "campaign_id": "c"}',
        '{"type": "RefundPledge", "campaign_id": "c", "pledge_id": "p", "amount": 5}',
        '{"type": "CheckRefundCompletion", "campaign_id": "c", "round": -1}',
        '{"type": "SendRefundPage", "campaign_id": "c", "cursor": ""}',
    ],
)
def test_a_malformed_refund_message_is_invalid(body):
    with pytest.raises(InvalidMessage):
        decode(body)


def test_settlements_completion_leaves_a_refunding_campaign_to_the_refund():
    # A settlement check still in flight must not rewrite the totals (and so
    # settlement.refunded) of a campaign being refunded, or refunded.
    c = refund_started(succeeded(), REASON, NOW)
    c = replace(c, fanned_out_at=NOW)
    assert completion_step(c, NOW) is CompletionStep.NOTHING
    done = refund_finished(refund_sent(c, NOW), 2000)
    assert completion_step(replace(done, next_check_at=NOW), NOW) is CompletionStep.NOTHING
