"""The progress counters' range key: one counter item per (threshold, shard).

`domain.conditions` explains why: a conditional pledge's amount goes to the
counter items of its `min_backers` (0: unconditional), spread over the same
shards as every pledge, so no item is hotter than a shard already is and each
pledge write still adds to one item. The key keeps the table's numeric range
key (template.yaml unchanged): `min_backers * SPAN + shard`. The shards are
fewer than SPAN (`config.counter_shards` <= 100), so the items written before
conditions existed, whose keys are bare shard numbers, read as threshold 0.
"""

from __future__ import annotations

SPAN = 1_000


def counter_key(min_backers: int | None, shard: int) -> int:
    if not 0 <= shard < SPAN:
        raise ValueError(f"counter shard {shard} out of range")
    return (min_backers or 0) * SPAN + shard


def threshold_of(key: int) -> int:
    """The `min_backers` a counter item sums (0: unconditional pledges)."""
    return int(key) // SPAN
