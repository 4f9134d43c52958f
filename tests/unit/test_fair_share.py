"""Fair share of a `fixed_price` campaign (API.md "Fair share"): properties."""

from fractions import Fraction
from math import ceil, floor

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cashmob.domain.fair_share import fair_shares, plan_shares
from cashmob.domain.money import MAX_AMOUNT, settlement_minimum

# The heavier properties check correctness, not speed: no per-example
# deadline, so a loaded machine cannot make them flaky.
unhurried = settings(deadline=None)

# Short ids from a small alphabet: equal remainders and id tie-breaks happen.
ids = st.text(alphabet="abc012", min_size=1, max_size=3)
# Small amounts make equal remainders likely; large ones test exact integers.
amounts = st.one_of(st.integers(1, 300), st.integers(1, MAX_AMOUNT))
minimums = st.sampled_from([0, 1, 30, 50, 300, 700, 1000])


@st.composite
def collections(draw, *, overfunded=True, max_size=25):
    """(pledges as a list of (id, amount), goal)."""
    pledges = list(draw(st.dictionaries(ids, amounts, min_size=1, max_size=max_size)).items())
    total = sum(amount for _, amount in pledges)
    if overfunded:
        assume(total > 1)
        goal = draw(st.integers(1, total - 1))
    else:
        goal = draw(st.integers(total, total * 3))
    return pledges, goal


def floors(pledges, minimum):
    return sum(min(amount, minimum) for _, amount in pledges)


@st.composite
def with_minimum(draw, *, feasible=True, max_size=25):
    """(pledges, goal, minimum), overfunded; the floors fit in the goal or not."""
    pledges = list(draw(st.dictionaries(ids, amounts, min_size=1, max_size=max_size)).items())
    minimum = draw(minimums)
    total, needed = sum(amount for _, amount in pledges), floors(pledges, minimum)
    if feasible:
        assume(needed < total and total > 1)
        goal = draw(st.integers(max(needed, 1), total - 1))
    else:
        assume(min(needed, total) > 1)
        goal = draw(st.integers(1, min(needed, total) - 1))
    return pledges, goal, minimum


# ------------------------------------------------------------- without minimum


@given(collections())
def test_the_charges_add_up_to_the_goal_exactly(case):
    pledges, goal = case
    charges = fair_shares(pledges, goal)
    assert sum(charges.values()) == goal
    assert plan_shares(pledges, goal).charged_total == goal
    assert plan_shares(pledges, goal).exact


@given(collections(), minimums)
def test_nobody_pays_more_than_pledged_or_less_than_nothing(case, minimum):
    pledges, goal = case
    charges = fair_shares(pledges, goal, minimum=minimum)
    assert set(charges) == {pid for pid, _ in pledges}
    for pid, amount in pledges:
        assert type(charges[pid]) is int
        assert 0 <= charges[pid] <= amount


@given(collections())
def test_each_charge_is_the_floor_of_its_share_plus_at_most_one_unit(case):
    pledges, goal = case
    total = sum(amount for _, amount in pledges)
    charges = fair_shares(pledges, goal)
    for pid, amount in pledges:
        assert charges[pid] - amount * goal // total in (0, 1)


@given(collections())
def test_the_extra_units_go_to_the_largest_remainders_then_the_smallest_ids(case):
    pledges, goal = case
    total = sum(amount for _, amount in pledges)
    charges = fair_shares(pledges, goal)
    key = {pid: (-(amount * goal % total), pid) for pid, amount in pledges}
    extra = {pid for pid, amount in pledges if charges[pid] > amount * goal // total}
    rest = key.keys() - extra
    if extra and rest:
        assert max(key[pid] for pid in extra) < min(key[pid] for pid in rest)


@given(collections(overfunded=False), minimums)
def test_when_the_goal_is_not_exceeded_everyone_pays_their_amount(case, minimum):
    pledges, goal = case
    assert fair_shares(pledges, goal, minimum=minimum) == dict(pledges)
    assert plan_shares(pledges, goal, minimum=minimum).charged_total == sum(dict(pledges).values())


@given(collections(), minimums, st.randoms(use_true_random=False))
def test_the_order_of_the_pledges_does_not_matter(case, minimum, random):
    pledges, goal = case
    shuffled = list(pledges)
    random.shuffle(shuffled)
    assert fair_shares(shuffled, goal, minimum=minimum) == fair_shares(
        pledges, goal, minimum=minimum
    )
    assert plan_shares(shuffled, goal, minimum=minimum) == plan_shares(
        pledges, goal, minimum=minimum
    )


@unhurried
@given(collections(), minimums, st.data())
def test_a_pledge_seen_twice_counts_once(case, minimum, data):
    """A recount that reads a page twice (at-least-once paging) changes nothing."""
    pledges, goal = case
    again = data.draw(st.lists(st.sampled_from(pledges), min_size=1))
    position = data.draw(st.integers(0, len(pledges)))
    with_duplicates = pledges[:position] + again + pledges[position:]
    assert fair_shares(with_duplicates, goal, minimum=minimum) == fair_shares(
        pledges, goal, minimum=minimum
    )


def test_one_pledge_with_two_amounts_is_refused():
    with pytest.raises(ValueError, match="two amounts"):
        fair_shares([("plg_a", 1000), ("plg_b", 500), ("plg_a", 900)], 1000)


@given(collections(max_size=12), st.data())
def test_when_a_pledge_leaves_nobody_else_pays_more_than_one_unit_less(case, data):
    """Fewer pledges for the same price: each remaining share can only grow,
    up to the one unit that largest remainder moves around."""
    pledges, goal = case
    assume(len(pledges) > 1)
    leaving = data.draw(st.sampled_from(pledges))
    remaining = [p for p in pledges if p != leaving]
    assume(sum(amount for _, amount in remaining) > goal)
    before = fair_shares(pledges, goal)
    after = fair_shares(remaining, goal)
    for pid, _ in remaining:
        assert after[pid] >= before[pid] - 1


def test_the_ft_ad_overfunded_by_30_percent():
    """£26,000 pledged on a £20,000 ad: each pays 10/13 of their pledge."""
    bands = {"10": 1_000, "25": 2_500, "100": 10_000}
    pledges = [
        (f"plg_{band}_{i:04d}", amount) for band, amount in bands.items() for i in range(520)
    ]
    assert sum(a for _, a in pledges) == 7_020_000
    goal = 5_400_000  # 7,020,000 * 10/13
    charges = fair_shares(pledges, goal, minimum=settlement_minimum("gbp", "gbp"))
    assert sum(charges.values()) == goal
    # exact shares: 769 3/13, 1923 1/13, 7692 4/13; the floors are 320 units
    # short, and the £100 pledges have the largest remainder: the first 320
    # of them by id pay one unit more.
    assert {charges[pid] for pid, a in pledges if a == 1_000} == {769}
    assert {charges[pid] for pid, a in pledges if a == 2_500} == {1923}
    hundreds = sorted(pid for pid, a in pledges if a == 10_000)
    assert [charges[pid] for pid in hundreds] == [7693] * 320 + [7692] * 200


# ------------------------------------------------------------- the minimum rule


def reference(pledges, goal, minimum):
    """The minimum rule as the module docstring states it, in rounds and
    with fractions: set aside every share below its floor, share out the
    rest, repeat; then largest remainders."""
    amounts = dict(pledges)
    total = sum(amounts.values())
    if total <= goal:
        return dict(amounts)
    floor_of = {pid: min(amount, minimum) for pid, amount in amounts.items()}
    if sum(floor_of.values()) > goal:
        return floor_of
    aside: set[str] = set()
    while True:
        ratio = Fraction(goal - sum(floor_of[p] for p in aside)) / sum(
            a for p, a in amounts.items() if p not in aside
        )
        below = {p for p, a in amounts.items() if p not in aside and a * ratio < floor_of[p]}
        if not below:
            break
        aside |= below
    charges = {p: floor_of[p] for p in aside}
    exact = {p: a * ratio for p, a in amounts.items() if p not in aside}
    charges.update({p: floor(share) for p, share in exact.items()})
    short = goal - sum(charges.values())
    for p in sorted(exact, key=lambda p: (-(exact[p] - floor(exact[p])), p))[:short]:
        charges[p] += 1
    return charges


@unhurried
@given(collections(max_size=15), minimums)
def test_the_minimum_rule_matches_its_statement(case, minimum):
    pledges, goal = case
    assert fair_shares(pledges, goal, minimum=minimum) == reference(pledges, goal, minimum)


@given(with_minimum())
def test_with_a_minimum_the_charges_still_add_up_to_the_goal(case):
    pledges, goal, minimum = case
    charges = fair_shares(pledges, goal, minimum=minimum)
    assert sum(charges.values()) == goal
    assert plan_shares(pledges, goal, minimum=minimum).exact
    for pid, amount in pledges:
        assert min(amount, minimum) <= charges[pid] <= amount


@given(with_minimum())
def test_only_the_shares_below_the_minimum_are_raised_and_the_others_give_back(case):
    """Nobody pays more than their plain share rounded up, except a pledge
    whose plain share is below its floor, which pays exactly the floor."""
    pledges, goal, minimum = case
    total = sum(amount for _, amount in pledges)
    charges = fair_shares(pledges, goal, minimum=minimum)
    for pid, amount in pledges:
        share = Fraction(amount * goal, total)
        if charges[pid] > ceil(share):
            assert share < min(amount, minimum)
            assert charges[pid] == min(amount, minimum)


def test_a_tiny_share_is_raised_to_the_minimum_and_the_large_pledge_gives_back():
    charges = fair_shares([("big", 10_000), ("s1", 40), ("s2", 40)], 1_000, minimum=30)
    # plain shares: 992 / 4 / 4; 4p is below Stripe's 30p
    assert charges == {"big": 940, "s1": 30, "s2": 30}


def test_a_pledge_already_below_the_minimum_is_never_lowered():
    charges = fair_shares([("big", 10_000), ("old", 20)], 5_000, minimum=30)
    assert charges == {"big": 4_980, "old": 20}


@given(with_minimum(feasible=False))
def test_when_the_minimum_cannot_be_met_everyone_pays_it_and_the_plan_says_so(case):
    pledges, goal, minimum = case
    plan = plan_shares(pledges, goal, minimum=minimum)
    charges = fair_shares(pledges, goal, minimum=minimum)
    assert charges == {pid: min(amount, minimum) for pid, amount in pledges}
    assert plan.charged_total == floors(pledges, minimum) == sum(charges.values())
    assert not plan.exact


def test_ten_pounds_each_for_a_one_pound_thing():
    plan = plan_shares([(f"p{i}", 1_000) for i in range(10)], 100, minimum=30)
    assert {plan.charge(f"p{i}", 1_000) for i in range(10)} == {30}
    assert (plan.charged_total, plan.exact) == (300, False)


# ------------------------------------------------------------- one pledge at a time


@unhurried
@given(collections(), minimums, st.data())
def test_a_plan_made_from_pages_in_any_order_charges_each_pledge_alone(case, minimum, data):
    """Settlement builds the plan in the recount and charges each pledge in
    its own worker, from the plan and that pledge only."""
    pledges, goal = case
    pages = data.draw(st.permutations(pledges))
    plan = plan_shares(iter(pages), goal, minimum=minimum)
    charges = {pid: plan.charge(pid, amount) for pid, amount in reversed(pages)}
    assert charges == fair_shares(pledges, goal, minimum=minimum)
    assert sum(charges.values()) == plan.charged_total


@pytest.mark.parametrize(
    ("pledges", "goal", "minimum"),
    [
        ([("a", 0)], 10, 0),
        ([("a", -5)], 10, 0),
        ([("a", True)], 10, 0),
        ([("a", 10.0)], 10, 0),
        ([("a", 10)], 0, 0),
        ([("a", 10)], 10.0, 0),
        ([("a", 10)], 5, -1),
    ],
)
def test_bad_numbers_are_refused(pledges, goal, minimum):
    with pytest.raises(ValueError):
        plan_shares(pledges, goal, minimum=minimum)
