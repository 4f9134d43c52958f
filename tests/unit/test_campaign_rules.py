from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cashmob.domain import (
    Action,
    CampaignStatus,
    FundingModel,
    Money,
    Outcome,
    PaymentFlow,
    PledgeStatus,
    Tally,
    action_for,
    choose_flow,
    decide,
    new_campaign,
)
from cashmob.domain.errors import CampaignClosed, ValidationFailed

from .factories import NOW, campaign, pledge


def make(**overrides):
    values = dict(
        id="cmp_1",
        organizer="alice",
        title="t",
        description="",
        goal_amount=10_000,
        goal_currency="gbp",
        deadline=NOW + timedelta(days=3),
        now=NOW,
    )
    values.update(overrides)
    return new_campaign(**values)


def test_new_campaign_defaults():
    c = make()
    assert c.status is CampaignStatus.LIVE
    assert c.min_pledge == Money(30, "gbp")  # Stripe's minimum charge for GBP
    assert c.funding_model is FundingModel.ALL_OR_NOTHING
    assert c.next_check_at == c.deadline


@pytest.mark.parametrize(
    "overrides",
    [
        {"deadline": NOW - timedelta(seconds=1)},
        {"deadline": NOW + timedelta(days=400)},
        {"goal_currency": "xyz"},
        {"goal_amount": 29},  # below Stripe's GBP minimum
        {"min_pledge_amount": 20_000},  # above the goal
        {"min_pledge_amount": 500, "min_pledge_currency": "usd"},
        {"min_backers": -1},
    ],
)
def test_new_campaign_refuses_invalid_input(overrides):
    with pytest.raises(ValidationFailed):
        make(**overrides)


def test_pledges_are_checked_against_the_campaign():
    c = campaign()
    c.check_pledge(Money(300, "gbp"), NOW)
    with pytest.raises(ValidationFailed):
        c.check_pledge(Money(299, "gbp"), NOW)
    with pytest.raises(ValidationFailed):
        c.check_pledge(Money(1000, "usd"), NOW)
    with pytest.raises(CampaignClosed):
        c.check_pledge(Money(1000, "gbp"), c.deadline)
    with pytest.raises(CampaignClosed):
        campaign(status=CampaignStatus.SETTLING).check_pledge(Money(1000, "gbp"), NOW)


@given(
    goal=st.integers(50, 10**7),
    min_backers=st.integers(0, 50),
    amounts=st.lists(st.integers(50, 10**6), max_size=60),
)
def test_all_or_nothing_succeeds_iff_amount_and_backers_both_reached(goal, min_backers, amounts):
    c = campaign(goal=Money(goal, "gbp"), min_backers=min_backers)
    tally = Tally()
    for amount in amounts:
        tally = tally.plus(amount)
    expected = sum(amounts) >= goal and len(amounts) >= min_backers
    assert (decide(c, tally) is Outcome.SUCCEEDED) == expected


@given(amounts=st.lists(st.integers(50, 10**6), max_size=20))
def test_keep_what_you_raise_collects_whatever_is_active(amounts):
    c = campaign(funding_model=FundingModel.KEEP_WHAT_YOU_RAISE, goal=Money(10**9, "gbp"))
    tally = Tally(sum(amounts), len(amounts))
    assert decide(c, tally) is (Outcome.SUCCEEDED if amounts else Outcome.FAILED)


def test_a_cancelled_campaign_releases_whatever_it_raised():
    c = campaign(status=CampaignStatus.CANCELLED)
    assert decide(c, Tally(10**6, 100)) is Outcome.CANCELLED


@pytest.mark.parametrize(
    ("until_deadline", "flow"),
    [
        (timedelta(hours=1), PaymentFlow.HOLD),
        (timedelta(days=5, hours=23), PaymentFlow.HOLD),
        (timedelta(days=6), PaymentFlow.SETUP),
        (timedelta(days=30), PaymentFlow.SETUP),
    ],
)
def test_flow_is_hold_only_when_the_deadline_is_within_six_days(until_deadline, flow):
    assert choose_flow(deadline=NOW + until_deadline, now=NOW) is flow


@pytest.mark.parametrize(
    ("outcome", "status", "flow", "intent_open", "action"),
    [
        (Outcome.SUCCEEDED, PledgeStatus.ACTIVE, PaymentFlow.SETUP, True, Action.CHARGE),
        (Outcome.SUCCEEDED, PledgeStatus.ACTIVE, PaymentFlow.HOLD, True, Action.CAPTURE),
        (Outcome.FAILED, PledgeStatus.ACTIVE, PaymentFlow.HOLD, True, Action.RELEASE),
        (Outcome.CANCELLED, PledgeStatus.ACTIVE, PaymentFlow.SETUP, True, Action.RELEASE),
        (Outcome.SUCCEEDED, PledgeStatus.PENDING, PaymentFlow.SETUP, True, Action.EXPIRE),
        (Outcome.FAILED, PledgeStatus.PENDING, PaymentFlow.HOLD, True, Action.EXPIRE),
        (Outcome.CANCELLED, PledgeStatus.PENDING, PaymentFlow.HOLD, True, Action.RELEASE),
        (Outcome.FAILED, PledgeStatus.RELEASED, PaymentFlow.HOLD, True, Action.CANCEL_INTENT),
        (Outcome.FAILED, PledgeStatus.RELEASED, PaymentFlow.HOLD, False, Action.NONE),
        (Outcome.SUCCEEDED, PledgeStatus.COLLECTED, PaymentFlow.SETUP, False, Action.NONE),
        (Outcome.SUCCEEDED, PledgeStatus.ACTION_REQUIRED, PaymentFlow.SETUP, False, Action.NONE),
    ],
)
def test_settlement_action_per_pledge(outcome, status, flow, intent_open, action):
    p = pledge(status=status, flow=flow)
    p = replace(p, payment=replace(p.payment, intent_open=intent_open))
    assert action_for(outcome, p) is action
