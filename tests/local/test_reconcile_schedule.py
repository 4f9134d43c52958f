"""The local stack's tick honours slow schedules: the daily reconciliation
runs once per day of the stack's (movable) clock, the sweep at every tick."""

from __future__ import annotations

import threading

from cashmob_local import runtime


def test_a_daily_schedule_runs_once_per_day_of_the_stacks_clock():
    now = [1_000_000.0]
    calls: list[str] = []
    ticker = runtime.Ticker(
        ["SettlementFunction", "ReconcileFunction"],
        3600,
        lambda function, event: calls.append(function) or {},
        threading.Event(),
        periods={"ReconcileFunction": 86400},
        now=lambda: now[0],
    )
    ticker.tick()
    assert calls == ["SettlementFunction"]  # a day after the stack started, not at once
    now[0] += 86399
    ticker.tick()
    assert calls.count("ReconcileFunction") == 0
    now[0] += 1
    ticker.tick()
    assert calls.count("ReconcileFunction") == 1
    ticker.tick()
    assert calls.count("ReconcileFunction") == 1  # not again the same day
    now[0] += 3 * 86400  # the clock jumped three days: one run, as a missed schedule
    ticker.tick()
    assert calls.count("ReconcileFunction") == 2
    assert calls.count("SettlementFunction") == 5


def test_rates_are_read_from_the_template_shape():
    functions = {
        "Sweep": {
            "Events": {
                "E": {"Type": "ScheduleV2", "Properties": {"ScheduleExpression": "rate(1 minute)"}}
            }
        },
        "Daily": {"Events": {"E": {"Type": "Schedule", "Properties": {"Schedule": "rate(1 day)"}}}},
        "Hourly": {
            "Events": {"E": {"Type": "Schedule", "Properties": {"Schedule": "rate(2 hours)"}}}
        },
        "Cron": {
            "Events": {"E": {"Type": "Schedule", "Properties": {"Schedule": "cron(0 4 * * ? *)"}}}
        },
    }
    assert runtime.periods(functions) == {"Daily": 86400, "Hourly": 7200}
