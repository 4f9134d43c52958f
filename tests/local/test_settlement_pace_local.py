"""`cashmob local` told Stripe's limit paces settlement one below it: its
settle workers share one pacer (stack.settlement_budget), whose grants never
put more than limit - 1 calls in any second, so the emulator's own window at
the limit refuses none of them."""

from __future__ import annotations

import random

import pytest

from cashmob.pacing import RateLimiter
from cashmob_local import template
from cashmob_local.stack import settings_for, settlement_budget
from cashmob_local.stripe_emulator import faults


def test_the_settle_workers_get_the_whole_budget_in_one_pacer():
    refs = {name: name for name in template.table_definitions()}
    refs.update(template.parameter_defaults())
    refs["StripeRequestsPerSecond"] = settlement_budget(
        25, refs["StripeRequestsPerSecond"], emulated=False
    )
    refs["SettlementConcurrency"] = "1"  # what Stack.start gives every function here
    settings = settings_for("SettleWorkerFunction", refs)
    assert settings.stripe_requests_per_second == 24
    assert settings.settlement_concurrency == 1


def grants(rate: float) -> list[float]:
    """When a pacer at `rate` lets calls go: twelve workers asking at random
    moments for 30 simulated seconds."""
    clock = [1000.0]
    limiter = RateLimiter(rate, monotonic=lambda: clock[0], sleep=lambda _: None)
    rng = random.Random(5)
    moments = []
    while clock[0] < 1030.0:
        for _ in range(rng.randint(0, 12)):
            moments.append(clock[0] + limiter.acquire())  # the slot it waits for
        clock[0] += rng.choice([0.001, 0.02, 0.05, 0.3])
    return sorted(moments)


def refused_at(limit: int, moments: list[float], monkeypatch: pytest.MonkeyPatch) -> int:
    """How many of `moments` the emulator's window at `limit` answers 429."""
    now = [0.0]
    monkeypatch.setattr(faults.time, "monotonic", lambda: now[0])
    windows = faults.RateWindows()
    refused = 0
    for moment in moments:
        now[0] = moment
        refused += windows.throttled("POST /v1/payment_intents/*/capture", limit)
    return refused


def test_one_pacer_at_the_limit_less_one_is_never_refused_by_a_window_at_the_limit(monkeypatch):
    paced = grants(24)
    assert len(paced) > 600
    # any second (half open, as the emulator's window; 1e-9: float rounding of the slots)
    busiest = max(
        sum(1 for g in paced[i:] if g < start + 1.0 - 1e-9) for i, start in enumerate(paced)
    )
    assert busiest <= 24
    assert refused_at(25, paced, monkeypatch) == 0
    assert refused_at(25, grants(27), monkeypatch) > 0  # the window does refuse a faster pace


@pytest.mark.parametrize("limit, budget", [(25, "24"), (100, "99"), (1, "0.5")])
def test_the_budget_follows_a_limit_the_stack_is_told(limit, budget):
    assert settlement_budget(limit, "23", emulated=False) == budget
    assert settlement_budget(limit, "23", emulated=True) == budget
