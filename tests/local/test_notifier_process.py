"""The notifier's pollers in a process of their own (`cashmob_local.
notifier_process`): it keeps the stack's movable clock, a crash of it shows,
and it ends with the stack."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cashmob_local import notifier_process
from cashmob_local.driver import local_stack, stripe_client
from cashmob_local.notifier_process import PushedClock, SharedClock
from tests.e2e.test_local_stack import confirm, new_campaign

_keys = itertools.count()


# ---------------------------------------------------------------- the clocks


def test_each_move_reaches_the_listeners_in_order_before_advance_returns():
    clock = SharedClock()
    heard: list[timedelta] = []
    clock.on_move.append(heard.append)
    clock.advance(60)
    assert heard == [timedelta(seconds=60)]  # taken before advance returned
    clock.advance(0.25)
    assert heard == [timedelta(seconds=60), timedelta(seconds=60.25)]
    assert clock.offset == timedelta(seconds=60.25)
    # The offset the listener got is the one the clock keeps
    assert abs(clock.now() - (datetime.now(UTC) + clock.offset)) < timedelta(seconds=1)


def test_concurrent_moves_reach_a_listener_one_at_a_time_and_growing():
    clock = SharedClock()
    heard: list[timedelta] = []
    inside = threading.Semaphore(1)

    def slow_listener(offset: timedelta) -> None:
        assert inside.acquire(blocking=False), "two moves at once"
        time.sleep(0.01)
        heard.append(offset)
        inside.release()

    clock.on_move.append(slow_listener)
    threads = [threading.Thread(target=clock.advance, args=(1,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert heard == [timedelta(seconds=n) for n in range(1, 9)]


def test_the_childs_clock_only_moves_forward():
    clock = PushedClock(5_000_000)
    assert abs(clock.now() - datetime.now(UTC) - timedelta(seconds=5)) < timedelta(seconds=1)
    clock.move_to(2_000_000)  # late, out of order: ignored
    assert clock.offset == timedelta(seconds=5)
    clock.move_to(3_600_000_000)
    assert clock.offset == timedelta(hours=1)


def test_the_opt_out_switch(monkeypatch):
    monkeypatch.delenv("CASHMOB_LOCAL_NOTIFIER_PROCESS", raising=False)
    assert notifier_process.in_own_process()
    monkeypatch.setenv("CASHMOB_LOCAL_NOTIFIER_PROCESS", "0")
    assert not notifier_process.in_own_process()


# ---------------------------------------------------------------- the child alone


def bare_child(logged: list[str]) -> notifier_process.NotifierProcess:
    """The child with nothing to poll: its lifetime and protocol only."""
    child = notifier_process.start({}, [], timedelta(), log=logged.append)
    child.wait_ready(timeout=60)
    return child


def test_a_clock_move_returns_once_the_child_has_taken_it():
    child = bare_child([])
    try:
        child.move_clock(timedelta(seconds=30))
        child.move_clock(timedelta(days=3))
        assert child._acked == 2  # both acknowledged when move_clock returned
    finally:
        child.stop()


def test_the_child_ends_when_the_stack_lets_go_and_that_is_no_crash():
    logged: list[str] = []
    child = bare_child(logged)
    child.stop()
    assert child.ended == 0 and child.status()["running"] is False
    assert logged == []  # a stop is not reported as a crash


def test_a_child_that_dies_is_reported_and_a_move_does_not_wait_for_it():
    logged: list[str] = []
    child = bare_child(logged)
    os.kill(child.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while child.ended is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child.status() == {"pid": child.pid, "running": False, "exit_code": -signal.SIGKILL}
    assert len(logged) == 1 and "notifier process" in logged[0] and "-9" in logged[0]
    started = time.monotonic()
    child.move_clock(timedelta(hours=1))  # nothing to wait for
    assert time.monotonic() - started < 1
    child.stop()


# ---------------------------------------------------------------- in the stack


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _receipt_to(api, to: str) -> dict:
    def found() -> list[dict]:
        return [m for m in api.ok("GET", "/_local/mail")["messages"] if m["to"] == to]

    api.wait(lambda: len(found()) == 1, timeout=60)
    return found()[0]


def _pledge(api, campaign, email):
    status, answer = api.call(
        "POST",
        f"/campaigns/{campaign['id']}/pledges",
        {"amount": 700, "currency": "gbp", "email": email},
        {"Idempotency-Key": f"notifier-process-{next(_keys)}"},
    )
    assert status == 201, answer
    return answer


def _at(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@pytest.mark.e2e
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_in_the_stack_emails_carry_the_stacks_clock_across_a_move_and_a_crash_shows():
    with local_stack(env={"CASHMOB_LOCAL_NOTIFIER_PROCESS": "1"}) as running:
        api, stripe_v1 = running.api, stripe_client(running.stripe_url, retries=0)
        shown = api.status()["notifier_process"]
        child = shown["pid"]
        assert shown["running"] and _parent_of(child) == running.process.pid

        campaign = new_campaign(api, hours=30 * 24)
        confirm(stripe_v1, _pledge(api, campaign, "before@example.org"))
        before = _at(_receipt_to(api, "before@example.org")["sent_at"])
        assert abs(before - _at(api.now())) < timedelta(minutes=1)

        # The clock moves between two emails: the second carries the moved time
        moved = _at(api.advance(3 * 86400))
        confirm(stripe_v1, _pledge(api, campaign, "after@example.org"))
        after = _at(_receipt_to(api, "after@example.org")["sent_at"])
        assert moved <= after < moved + timedelta(minutes=1)
        assert after - before >= timedelta(days=3)

        # A crash of the child is visible: in the status and in the stack's log
        os.kill(child, signal.SIGKILL)
        api.wait(lambda: not api.status()["notifier_process"]["running"], timeout=10)
        assert api.status()["notifier_process"]["exit_code"] == -signal.SIGKILL
        assert f"notifier process (pid {child}) ended with exit code -9" in running.log()
    assert running.process.returncode == 0


@pytest.mark.e2e
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_stopping_the_stack_leaves_no_notifier_process_behind():
    with local_stack() as running:
        child = running.api.status()["notifier_process"]["pid"]
        assert _alive(child)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has ended, only not been reaped yet


def test_a_reported_call_keeps_what_the_benchmarks_count_and_no_more():
    from cashmob_local.bench.counting import CallCounter
    from cashmob_local.notifier_process import _call_line

    key = {"event_id": {"S": "email:plg_1:receipt"}}
    transact = {
        "TransactItems": [
            {
                "Put": {
                    "TableName": "ProcessedEvents",
                    "Item": {**key, "to": {"S": "ada@example.org"}},
                }
            },
            {"ConditionCheck": {"TableName": "Pledges", "Key": {"pledge_id": {"S": "p"}}}},
        ]
    }
    line = _call_line("dynamodb", "TransactWriteItems", transact)
    assert "ada@example.org" not in line  # keys only: no address leaves the child
    word, _, rest = line.strip().partition(" ")
    assert word == "call"
    counter = CallCounter()
    counter.record(*json.loads(rest))
    assert counter.calls == {("dynamodb", "TransactWriteItems"): 1}
    assert counter.kind_writes == {"email log": 1}  # the condition check writes nothing
    assert _call_line("sqs", "ReceiveMessage", {"QueueUrl": "q"}) == (
        'call ["sqs", "ReceiveMessage", {}]\n'
    )
