"""Conditional pledges, "I will if N others will": properties of the fixpoint."""

from dataclasses import replace
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cashmob.domain.conditions import (
    Backing,
    Bucket,
    Crowd,
    buckets_of,
    counted,
    crowd_from_buckets,
    crowd_of,
)

# The heavier properties check correctness, not speed: no per-example
# deadline, so a loaded machine cannot make them flaky.
unhurried = settings(deadline=None)


def thresholds(top):
    return st.one_of(st.none(), st.integers(1, top))


@st.composite
def crowds(draw, *, max_size=30, top=None):
    """Active pledges with ids p0, p1, ...; thresholds around the crowd's size."""
    size = draw(st.integers(0, max_size))
    top = top or max(size + 2, 2)
    return [
        Backing(f"p{i}", draw(st.integers(1, 10_000)), draw(thresholds(top))) for i in range(size)
    ]


def consistent(group):
    return all(p.min_backers is None or p.min_backers <= len(group) for p in group)


def ids(group):
    return frozenset(p.pledge_id for p in group)


# ------------------------------------------------------------- the fixpoint


@unhurried
@given(crowds(max_size=10))
def test_the_counted_set_is_the_one_largest_consistent_set(pledges):
    """Brute force over every set that holds the unconditional pledges."""
    unconditional = [p for p in pledges if p.min_backers is None]
    conditional = [p for p in pledges if p.min_backers is not None]
    candidates = [
        unconditional + list(chosen)
        for k in range(len(conditional) + 1)
        for chosen in combinations(conditional, k)
    ]
    valid = [ids(group) for group in candidates if consistent(group)]
    largest = max(len(group) for group in valid)  # the unconditional set alone is valid
    assert [group for group in valid if len(group) == largest] == [counted(pledges)]


@given(crowds())
def test_the_counted_set_is_consistent_and_holds_every_unconditional_pledge(pledges):
    inside = counted(pledges)
    assert {p.pledge_id for p in pledges if p.min_backers is None} <= inside
    assert consistent([p for p in pledges if p.pledge_id in inside])


@given(crowds())
def test_a_pledge_counts_exactly_when_its_threshold_is_met_by_the_counted_crowd(pledges):
    crowd = crowd_of(pledges)
    inside = counted(pledges)
    assert crowd.backers == len(inside)
    for p in pledges:
        assert crowd.admits(p.min_backers) == (p.pledge_id in inside)


@given(crowds(), st.randoms(use_true_random=False))
def test_the_order_of_the_pledges_does_not_matter(pledges, random):
    shuffled = list(pledges)
    random.shuffle(shuffled)
    assert counted(shuffled) == counted(pledges)
    assert crowd_of(shuffled) == crowd_of(pledges)


@given(crowds(), st.integers(1, 10_000), thresholds(32))
def test_a_new_pledge_never_takes_anyone_out(pledges, amount, min_backers):
    """Monotone: `pledged` only grows as the crowd grows."""
    more = [*pledges, Backing("new", amount, min_backers)]
    assert counted(pledges) <= counted(more)
    before, after = crowd_of(pledges), crowd_of(more)
    assert after.amount >= before.amount
    assert after.backers >= before.backers


@given(crowds(), st.data())
def test_an_easier_condition_never_takes_anyone_out(pledges, data):
    """Monotone in the thresholds: lowering one, or dropping it, only adds."""
    conditional = [i for i, p in enumerate(pledges) if p.min_backers is not None]
    if not conditional:
        return
    i = data.draw(st.sampled_from(conditional))
    easier = data.draw(thresholds(pledges[i].min_backers))
    changed = list(pledges)
    changed[i] = replace(pledges[i], min_backers=easier)
    assert counted(pledges) <= counted(changed)


@given(crowds())
def test_pledged_never_exceeds_pledged_if_conditions_met(pledges):
    crowd = crowd_of(pledges)
    assert crowd.all_amount == sum(p.amount for p in pledges)
    assert crowd.all_backers == len(pledges)
    assert 0 <= crowd.amount <= crowd.all_amount
    if all(p.min_backers is None for p in pledges):
        assert (crowd.amount, crowd.backers) == (crowd.all_amount, crowd.all_backers)


def test_conditional_pledges_carry_each_other_over_the_line():
    """Nobody pledged unconditionally, yet "if 2 pledge" twice is two backers."""
    pledges = [Backing("a", 500, 2), Backing("b", 700, 2)]
    assert counted(pledges) == {"a", "b"}
    assert crowd_of(pledges) == Crowd(2, 1_200, 2, 1_200)


def test_a_threshold_out_of_reach_is_left_out_and_does_not_block_the_others():
    pledges = [
        *(Backing(f"u{i}", 1_000) for i in range(3)),
        Backing("c5a", 1_000, 5),
        Backing("c5b", 1_000, 5),
        Backing("c6", 1_000, 6),
        Backing("c10", 1_000, 10),
    ]
    assert counted(pledges) == {"u0", "u1", "u2", "c5a", "c5b", "c6"}
    assert crowd_of(pledges) == Crowd(6, 6_000, 7, 7_000)


def test_a_crowd_can_jump_past_a_threshold_it_does_not_meet_on_the_way():
    """With thresholds 1, 3, 3 the first two alone are not consistent, all three are."""
    pledges = [Backing("a", 100, 1), Backing("b", 100, 3), Backing("c", 100, 3)]
    assert counted(pledges) == {"a", "b", "c"}


# ------------------------------------------------------------- the sharded counters


@st.composite
def sharded_counters(draw, pledges, shards=4):
    """The counter items of `pledges`: one per (threshold, shard), each pledge
    added to one, in a random order, untouched (zero) items included."""
    items = {}
    for p in pledges:
        key = (p.min_backers or 0, draw(st.integers(0, shards - 1)))
        amount, backers = items.get(key, (0, 0))
        items[key] = (amount + p.amount, backers + 1)
    for key in draw(st.lists(st.tuples(st.integers(0, 40), st.integers(0, shards - 1)))):
        items.setdefault(key, (0, 0))
    buckets = [Bucket(n, amount, backers) for (n, _), (amount, backers) in items.items()]
    return draw(st.permutations(buckets))


@unhurried
@given(st.data())
def test_the_counters_per_threshold_give_exactly_the_per_pledge_progress(data):
    pledges = data.draw(crowds(max_size=40))
    assert crowd_from_buckets(data.draw(sharded_counters(pledges))) == crowd_of(pledges)
    assert crowd_from_buckets(buckets_of(pledges)) == crowd_of(pledges)


@given(crowds())
def test_the_buckets_are_one_per_threshold_and_sum_to_everything(pledges):
    buckets = buckets_of(pledges)
    assert [b.min_backers for b in buckets] == sorted({p.min_backers or 0 for p in pledges})
    assert sum(b.backers for b in buckets) == len(pledges)
    assert sum(b.amount for b in buckets) == sum(p.amount for p in pledges)


def test_counters_that_sum_below_zero_are_refused():
    with pytest.raises(ValueError, match="below zero"):
        crowd_from_buckets([Bucket(3, 500, 1), Bucket(3, -1_000, -2)])


# ------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "pledges",
    [
        [Backing("a", 100), Backing("a", 200)],
        [Backing("a", 0)],
        [Backing("a", 100, 0)],
        [Backing("a", 100, -3)],
        [Backing("a", 100, True)],
        [Backing("a", 100.0)],
    ],
)
def test_bad_pledges_are_refused(pledges):
    with pytest.raises(ValueError):
        counted(pledges)
