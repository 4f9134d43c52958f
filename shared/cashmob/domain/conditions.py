"""Conditional pledges: "I will if N others will" (API.md, the pledge's `condition`).

A pledge with `condition: {"min_backers": N}` counts only if at least N
backers pledge in all, the backer included (N <= 1 is always met: it is the
same as no condition). Each pledge is one backer.

**At the deadline** the conditions are resolved as a fixpoint: the counted
pledges are the largest set S of active pledges that holds every unconditional
pledge and in which every conditional pledge has `N <= |S|`. Such a set is
unique: the union of two consistent sets is consistent (it is at least as big
as each), so the largest is the union of them all. It is found without
search: with the conditional thresholds sorted, N(1) <= N(2) <= ..., the
consistent sets that matter are the unconditional pledges plus the k lowest
thresholds, and that set is consistent exactly when `N(k) <= u + k` (u: the
unconditional count). The answer is the largest such k, which always takes a
whole run of equal thresholds. So S is "every pledge whose threshold is at
most |S|", and conditional pledges can carry each other over the line: two
pledges "if 2 pledge" with nobody else are both counted. The outcome is
decided on S; the pledges outside it are released.

**Before the deadline** the same resolution over the current active pledges
is the campaign's `pledged` (what would count if it closed now: unconditional
plus the conditions the current crowd already meets), and the sum of every
active pledge is `pledged_if_conditions_met`. Adding a pledge never takes
anyone out of S, so `pledged` only grows as the crowd does, and the value
shown is the value the deadline would decide on.

**Sharded counters without a hot item.** Progress is read from counter items
(DESIGN.md: N shards per campaign, summed on read, each pledge write
touching the pledge and one shard). Conditional amounts fit the same scheme
if a counter item is kept per (threshold, shard) instead of per shard: the
item key carries the pledge's `min_backers` (0 for an unconditional pledge)
beside the shard number, and the pledge write adds its amount and one backer
to that single item, exactly as today. A popular threshold ("if 500 pledge")
is still spread over all the shards, so no item is hotter than the shards
already are, and each update stays a top-level ADD on one item of the
transaction (a map of thresholds inside one item would need the nested map to
exist before it can be incremented). Reading the campaign queries its
counter items as now and groups them by threshold; `crowd_from_buckets`
computes the exact progress from those per-threshold sums, because the
resolution above depends only on how many pledges, and how much, sit at each
threshold. The number of items is the shards times the distinct thresholds
in use. At the deadline the settlement recounts the pledges themselves (the
decision never trusts a counter) and can fold them into the same buckets page
by page; each pledge's fate is then `Crowd.admits(its min_backers)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import field

from ..records import record

# The highest `min_backers` a pledge's condition may set (as a campaign's).
MAX_CONDITION = 1_000_000


@record
class Backing:
    """An active pledge as the conditions see it."""

    pledge_id: str
    amount: int
    min_backers: int | None = None  # None: unconditional


@record
class Bucket:
    """The pledges at one threshold (0: unconditional), summed: what the
    counter items of one `min_backers` value add up to."""

    min_backers: int
    amount: int
    backers: int


@record
class Crowd:
    """The conditions resolved over a set of active pledges.

    `backers` and `amount` are the largest consistent set's (the campaign's
    `pledged`); `all_backers` and `all_amount` count every pledge
    (`pledged_if_conditions_met`)."""

    backers: int
    amount: int
    all_backers: int
    all_amount: int
    # How many of all the pledges carry a condition (not part of the progress
    # itself: two crowds with the same sums compare equal).
    conditional: int = field(default=0, compare=False)

    def admits(self, min_backers: int | None) -> bool:
        """Whether a pledge with this condition is in the counted set."""
        return (min_backers or 0) <= self.backers


def counted(pledges: Iterable[Backing]) -> frozenset[str]:
    """The ids of the largest consistent set of `pledges` (see the module
    docstring), pledge by pledge."""
    unconditional: list[str] = []
    conditional: list[tuple[int, str]] = []
    for pledge in _checked(pledges):
        if pledge.min_backers is None:
            unconditional.append(pledge.pledge_id)
        else:
            conditional.append((pledge.min_backers, pledge.pledge_id))
    conditional.sort()
    u = len(unconditional)
    admitted = max(
        (k for k, (threshold, _) in enumerate(conditional, start=1) if threshold <= u + k),
        default=0,
    )
    return frozenset(unconditional).union(pid for _, pid in conditional[:admitted])


def crowd_of(pledges: Iterable[Backing]) -> Crowd:
    """The progress of a campaign from its active pledges, one by one."""
    pledges = list(_checked(pledges))
    ids = counted(pledges)
    inside = [p.amount for p in pledges if p.pledge_id in ids]
    return Crowd(
        len(inside),
        sum(inside),
        len(pledges),
        sum(p.amount for p in pledges),
        sum(p.min_backers is not None for p in pledges),
    )


def buckets_of(pledges: Iterable[Backing]) -> list[Bucket]:
    """The per-threshold sums of `pledges`, as the counter items would hold
    them once their shards are added up (thresholds ascending)."""
    sums: dict[int, tuple[int, int]] = {}
    for pledge in _checked(pledges):
        key = pledge.min_backers or 0
        amount, backers = sums.get(key, (0, 0))
        sums[key] = (amount + pledge.amount, backers + 1)
    return [Bucket(key, *sums[key]) for key in sorted(sums)]


def crowd_from_buckets(buckets: Iterable[Bucket]) -> Crowd:
    """The progress of a campaign from its counters' per-threshold sums, in
    any order, several per threshold (one per shard) allowed.

    The largest consistent set is "every pledge at a threshold <= t" for the
    largest threshold t with `t <= the number of pledges at thresholds <= t`
    (the per-pledge rule checked at the end of each run of equal thresholds,
    which is where its answer always lies)."""
    sums: dict[int, tuple[int, int]] = {}
    for bucket in buckets:
        if bucket.min_backers < 0:
            raise ValueError(f"min_backers cannot be negative: {bucket!r}")
        amount, backers = sums.get(bucket.min_backers, (0, 0))
        sums[bucket.min_backers] = (amount + bucket.amount, backers + bucket.backers)
    amount = backers = 0
    best = (0, 0)  # the empty set is always consistent
    for threshold in sorted(sums):
        step_amount, step_backers = sums[threshold]
        if step_amount < 0 or step_backers < 0:
            raise ValueError(f"counters at threshold {threshold} sum below zero")
        amount += step_amount
        backers += step_backers
        if threshold <= backers:
            best = (backers, amount)
    conditional = backers - sums.get(0, (0, 0))[1]
    return Crowd(best[0], best[1], backers, amount, conditional)


def _checked(pledges: Iterable[Backing]) -> Iterable[Backing]:
    seen: set[str] = set()
    for pledge in pledges:
        if pledge.pledge_id in seen:
            raise ValueError(f"pledge {pledge.pledge_id} appears twice")
        if type(pledge.amount) is not int or pledge.amount <= 0:
            raise ValueError(f"pledge {pledge.pledge_id}: amount must be a positive int")
        n = pledge.min_backers
        if n is not None and (type(n) is not int or n < 1):
            raise ValueError(f"pledge {pledge.pledge_id}: min_backers must be an int >= 1")
        seen.add(pledge.pledge_id)
        yield pledge
