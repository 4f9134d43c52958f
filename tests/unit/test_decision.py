"""The decision at the deadline with conditions and fair shares
(`domain.settlement.decided`, `admitted`, `share_of`, `action_for`), and the
share plan's storage form: pure, property-tested where it matters."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from cashmob.domain import Action, FundingModel, Money, Outcome, PaymentFlow, PledgeStatus
from cashmob.domain.conditions import Backing, counted
from cashmob.domain.fair_share import fair_shares, plan_shares
from cashmob.domain.settlement import action_for, admitted, decided, share_of
from cashmob.store.share_plans import plan_of, plan_text
from tests.unit.factories import campaign, pledge

backings = st.lists(
    st.tuples(
        st.integers(min_value=30, max_value=50_000),
        st.one_of(st.none(), st.integers(min_value=1, max_value=12)),
    ),
    max_size=25,
).map(lambda xs: [Backing(f"plg_{i:03}", a, n) for i, (a, n) in enumerate(xs)])


@given(backings, st.integers(min_value=100, max_value=200_000), st.sampled_from(list(FundingModel)))
def test_the_decision_counts_the_fixpoint_set_and_shares_over_it(active, goal, model):
    c = campaign(goal=Money(goal, "gbp"), funding_model=model)
    decision = decided(c, iter(active), minimum=30)
    inside = [b for b in active if b.pledge_id in counted(active)]
    assert decision.tally.backers == len(inside) == decision.crowd
    assert decision.tally.amount == sum(b.amount for b in inside)
    if decision.share_plan is None:
        assert model is not FundingModel.FIXED_PRICE or decision.outcome is not Outcome.SUCCEEDED
        return
    assert model is FundingModel.FIXED_PRICE and decision.outcome is Outcome.SUCCEEDED
    expected = fair_shares([(b.pledge_id, b.amount) for b in inside], goal, minimum=30)
    decided_campaign = decision.applied_to(c)
    charges = {}
    for b in inside:
        p = replace(
            pledge(id=b.pledge_id), amount=Money(b.amount, "gbp"), min_backers=b.min_backers
        )
        charges[b.pledge_id] = share_of(decided_campaign, p)
    assert charges == expected
    if decision.share_plan.exact:
        assert sum(charges.values()) == goal
    # and a pledge outside the set gets no share
    for b in active:
        if b.pledge_id not in charges:
            p = replace(
                pledge(id=b.pledge_id), amount=Money(b.amount, "gbp"), min_backers=b.min_backers
            )
            assert share_of(decided_campaign, p) is None


@given(
    backings, st.integers(min_value=1, max_value=200_000), st.integers(min_value=0, max_value=60)
)
def test_a_share_plan_reads_back_as_it_was_written(active, goal, minimum):
    amounts = [(b.pledge_id, b.amount) for b in active]
    plan = plan_shares(amounts, goal, minimum=minimum)
    again = plan_of(plan_text(plan))
    assert again == plan
    assert all(again.charge(p, a) == plan.charge(p, a) for p, a in amounts)


def test_a_condition_the_crowd_does_not_meet_is_released_never_charged():
    p = pledge(status=PledgeStatus.ACTIVE)
    conditional = replace(p, min_backers=5)
    assert admitted(p, None) and admitted(p, 0)
    assert admitted(conditional, 5) and not admitted(conditional, 4)
    assert not admitted(conditional, None)  # an unknown crowd charges no condition
    assert action_for(Outcome.SUCCEEDED, conditional, crowd=5) is Action.CHARGE
    assert action_for(Outcome.SUCCEEDED, conditional, crowd=4) is Action.RELEASE
    held = replace(conditional, payment=replace(conditional.payment, flow=PaymentFlow.HOLD))
    assert action_for(Outcome.SUCCEEDED, held, crowd=9) is Action.CAPTURE
    assert action_for(Outcome.FAILED, conditional, crowd=9) is Action.RELEASE


def test_the_charge_follows_the_share_and_shows_once_collected():
    p = replace(pledge(status=PledgeStatus.ACTIVE), amount=Money(1000, "gbp"))
    assert (p.to_charge, p.charged) == (1000, 0)
    shared = replace(p, share=770)
    assert (shared.to_charge, shared.charged) == (770, 0)
    collected = shared.collected_by("pi_1")
    assert collected.charged == 770
    (event,) = collected.events
    assert (event.amount, event.charged) == (1000, 770)
