"""Functions in processes of their own (`cashmob_local.function_process`):
the notifier's pollers keep the stack's movable clock, a crash of their
process shows, and it ends with the stack; the API's instances."""

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

from cashmob_local import function_process
from cashmob_local.driver import local_stack, stripe_client
from cashmob_local.function_process import PushedClock, SharedClock
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
    assert function_process.in_own_process()
    monkeypatch.setenv("CASHMOB_LOCAL_NOTIFIER_PROCESS", "0")
    assert not function_process.in_own_process()


# ---------------------------------------------------------------- the child alone


def bare_child(logged: list[str]) -> function_process.FunctionProcess:
    """The child with nothing to poll: its lifetime and protocol only."""
    child = function_process.start({}, [], timedelta(), log=logged.append)
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
    from cashmob_local.function_process import _call_line

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


# ---------------------------------------------------------------- API instances


class _Held:
    """A child stand-in: each invocation says it is inside, then waits to be let go."""

    def __init__(self, name: str, entered: threading.Semaphore) -> None:
        self.name, self.entered = name, entered
        self.release = threading.Event()

    def invoke(self, function, event):
        self.entered.release()
        assert self.release.wait(timeout=10)
        return {"by": self.name, "event": event}


def test_instances_run_invocations_side_by_side_one_per_child():
    entered = threading.Semaphore(0)
    a, b = _Held("a", entered), _Held("b", entered)
    instances = function_process.Instances([a, b])
    answers: list[dict] = []

    def invoke(n: int) -> threading.Thread:
        thread = threading.Thread(target=lambda: answers.append(instances.invoke("ApiFunction", n)))
        thread.start()
        return thread

    first, second = invoke(0), invoke(1)
    # Both are inside at once: neither waited for the other
    assert entered.acquire(timeout=10) and entered.acquire(timeout=10)
    # A third waits for an idle instance...
    third = invoke(2)
    assert not entered.acquire(timeout=0.3)
    # ...and takes the one freed first
    a.release.set()
    assert entered.acquire(timeout=10)
    b.release.set()
    for thread in (first, second, third):
        thread.join(timeout=10)
    assert sorted(x["event"] for x in answers) == [0, 1, 2]
    assert sorted(x["by"] for x in answers) == ["a", "a", "b"]


def test_a_child_serving_the_api_answers_and_reports_what_raised_there():
    from tests.events import http_event

    child = function_process.start(
        {}, [], timedelta(), serves=("ApiFunction",), name="API instance 1", log=[].append
    )
    child.wait_ready(timeout=60)
    try:
        with pytest.raises(function_process.InvocationFailed, match="KeyError: 'requestContext'"):
            child.invoke("ApiFunction", {"not": "an API Gateway event"})
        # It still serves: a request its validation refuses is answered in full
        answer = child.invoke("ApiFunction", http_event("POST", "/campaigns", body={}, sub="o"))
        assert answer["statusCode"] == 422
        assert json.loads(answer["body"])["error"]["code"] == "validation_failed"
    finally:
        child.stop()
    with pytest.raises(function_process.InvocationFailed, match="has ended"):
        child.invoke("ApiFunction", http_event("GET", "/campaigns"))


def test_an_invocation_in_hand_fails_when_its_child_dies():
    logged: list[str] = []
    child = function_process.start(
        {}, [], timedelta(), serves=("ApiFunction",), name="API instance 2", log=logged.append
    )
    child.wait_ready(timeout=60)
    os.kill(child.pid, signal.SIGSTOP)  # it takes the invocation, never answers
    failed: list[Exception] = []

    def invoke() -> None:
        try:
            child.invoke("ApiFunction", {"not": "answered"})
        except function_process.InvocationFailed as error:
            failed.append(error)

    thread = threading.Thread(target=invoke)
    try:
        thread.start()
        deadline = time.monotonic() + 10
        while not child._invoking.locked() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # the request is in the pipe; the invocation waits for its answer
        os.kill(child.pid, signal.SIGKILL)
        thread.join(timeout=10)
    finally:
        child.stop()
    assert not thread.is_alive()
    assert len(failed) == 1 and "ended during the invocation" in str(failed[0])
    assert "API instance 2" in logged[0] and "its requests fail" in logged[0]


@pytest.mark.e2e
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_in_the_stack_api_instances_serve_pledges_on_the_stacks_clock():
    with local_stack("--api-instances", "2") as running:
        api, stripe_v1 = running.api, stripe_client(running.stripe_url, retries=0)
        shown = api.status()["api_instances"]
        assert [s["running"] for s in shown] == [True, True]
        assert {_parent_of(s["pid"]) for s in shown} == {running.process.pid}

        campaign = new_campaign(api, hours=30 * 24)
        pledged = _pledge(api, campaign, "instance@example.org")
        confirm(stripe_v1, pledged)
        path = f"/campaigns/{campaign['id']}/pledges/{pledged['pledge']['id']}"
        token = {"X-Pledge-Token": pledged["pledge_token"]}
        api.wait(lambda: api.ok("GET", path, headers=token)["status"] == "active", timeout=30)

        # The instances read the stack's clock: past the moved "now", a
        # deadline an hour from the real now is refused as in the past.
        moved = _at(api.advance(2 * 86400))
        soon = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for _ in range(4):  # every instance, whichever takes the request
            status, answer = api.call(
                "POST",
                "/campaigns",
                {
                    "title": "Too late",
                    "goal": {"amount": 5000, "currency": "gbp"},
                    "deadline": soon,
                },
                api.organizer("late-organizer"),
            )
            assert status == 422, answer
        assert moved > _at(soon)

        os.kill(shown[0]["pid"], signal.SIGKILL)
        api.wait(lambda: not api.status()["api_instances"][0]["running"], timeout=10)
        assert f"API instance 1 (pid {shown[0]['pid']}) ended with exit code -9" in running.log()
    assert running.process.returncode == 0
