"""The local stack's stand-ins for AWS plumbing: the SQS event source (batch
semantics, partial failures, redelivery, the DLQ) and the schedule tick."""

from __future__ import annotations

import json
import threading
import time

import boto3
import pytest
from moto import mock_aws

from cashmob.pacing import RateLimiter
from cashmob_local import runtime, template


@pytest.fixture
def queues():
    with mock_aws():
        sqs = boto3.client("sqs")
        dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        work = sqs.create_queue(
            QueueName="work",
            Attributes={
                "VisibilityTimeout": "0",
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}
                ),
            },
        )["QueueUrl"]
        yield sqs, work, dlq


def poller(
    sqs, url, invoke, partial=True, *, batch_size=10, stop=None, name="test", wait_seconds=1
):
    """A poller of `url`; `wait_seconds` 1 by default, so empty polls end
    sooner (None: the stack's own long poll)."""
    return runtime.QueuePoller(
        sqs,
        function="Worker",
        queue_url=url,
        queue_arn="arn:aws:sqs:us-east-1:123456789012:work",
        batch_size=batch_size,
        partial=partial,
        invoke=invoke,
        stop=stop or threading.Event(),
        name=name,
        **({} if wait_seconds is None else {"wait_seconds": wait_seconds}),
    )


def count(sqs, url):
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


class FailingSqs:
    """An SQS whose receive fails: `stop` set first when `stopping`, as when
    the stack shuts moto down under a long poll."""

    def __init__(self, stop, *, stopping):
        self.stop, self.stopping, self.receives = stop, stopping, 0

    def receive_message(self, **_):
        self.receives += 1
        if self.stopping:
            self.stop.set()
        elif self.receives == 2:
            self.stop.set()  # ends the poller after one logged error
        raise ConnectionRefusedError("moto is gone")


@pytest.mark.parametrize("stopping", [True, False])
def test_a_poll_failing_because_the_stack_stops_is_not_an_error(monkeypatch, stopping):
    logged = []
    monkeypatch.setattr(runtime.logger, "exception", lambda message, **_: logged.append(message))
    stop = threading.Event()
    sqs = FailingSqs(stop, stopping=stopping)
    p = poller(sqs, "http://moto/queue", invoke=lambda *_: {}, stop=stop)
    p.start()
    p.join(10)
    assert not p.is_alive()
    assert logged == ([] if stopping else ["queue poller error"])
    assert sqs.receives == (1 if stopping else 2)


def test_successes_are_deleted_and_only_failures_come_back(queues):
    sqs, work, _ = queues
    for body in ("ok-1", "bad", "ok-2"):
        sqs.send_message(QueueUrl=work, MessageBody=body)
    seen = []

    def invoke(function, event):
        seen.extend(r["body"] for r in event["Records"])
        assert all(r["eventSource"] == "aws:sqs" for r in event["Records"])
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "bad"
            ]
        }

    p = poller(sqs, work, invoke)
    p.poll_once()
    assert sorted(seen) == ["bad", "ok-1", "ok-2"]
    p.poll_once()
    assert seen[-1] == "bad"  # redelivered alone


def test_poison_lands_in_the_dead_letter_queue_after_max_receives(queues):
    sqs, work, dlq = queues
    sqs.send_message(QueueUrl=work, MessageBody="poison")
    receives = []

    def invoke(function, event):
        receives.append(event["Records"][0]["attributes"]["ApproximateReceiveCount"])
        raise RuntimeError("worker crashed")

    p = poller(sqs, work, invoke)
    for _ in range(6):
        p.poll_once()
    assert receives == ["1", "2", "3"]
    assert count(sqs, work) == 0 and count(sqs, dlq) == 1


def test_an_idle_poller_long_polls_and_wakes_for_a_message(queues):
    sqs, work, _ = queues
    receives = []

    class Counting:
        def receive_message(self, **kwargs):
            receives.append(time.monotonic())
            return sqs.receive_message(**kwargs)

        def __getattr__(self, name):
            return getattr(sqs, name)

    got = threading.Event()
    stop = threading.Event()
    p = poller(
        Counting(),
        work,
        lambda function, event: got.set(),
        stop=stop,
        name="idle",
        wait_seconds=None,
    )
    assert p.wait_seconds >= 5
    p.start()
    try:
        time.sleep(2.5)
        assert len(receives) == 1  # one request waiting, not one a second
        sent = time.monotonic()
        sqs.send_message(QueueUrl=work, MessageBody="m")
        assert got.wait(2.0)
        assert time.monotonic() - sent < 1.0  # the waiting poll took it
    finally:
        stop.set()
        p.join(timeout=10)


def test_stopping_waits_for_a_batch_in_hand_not_for_a_long_poll(queues):
    sqs, _, _ = queues
    work = sqs.create_queue(QueueName="held")["QueueUrl"]  # a received message stays hidden
    stop = threading.Event()
    started, release, seen = threading.Event(), threading.Event(), []

    def invoke(function, event):
        seen.extend(r["body"] for r in event["Records"])
        started.set()
        release.wait(5)

    def make(name):
        return poller(sqs, work, invoke, batch_size=1, stop=stop, name=name, wait_seconds=None)

    busy, idle = make("busy"), make("idle")
    busy.start()
    sqs.send_message(QueueUrl=work, MessageBody="in hand")
    assert started.wait(3)
    idle.start()  # in a long poll from now on
    time.sleep(0.3)
    stop.set()
    threading.Timer(0.5, release.set).start()
    began = time.monotonic()
    runtime.finish_batches([idle, busy], seconds=4)
    waited = time.monotonic() - began
    assert not busy.is_alive()  # its batch was finished
    assert 0.4 < waited < 2.0  # the batch's time, not the idle poll's 5 s
    sqs.send_message(QueueUrl=work, MessageBody="after the stop")
    idle.join(timeout=7)
    assert not idle.is_alive() and seen == ["in hand"]  # received after the stop: not run


def test_the_template_declares_three_sqs_sources_and_one_schedule():
    functions = template.resources("AWS::Serverless::Function")
    sources = runtime.event_sources(functions)
    assert sorted((s["function"], s["queue"], s["partial"]) for s in sources) == [
        ("IntakeWorkerFunction", "IntakeQueue", True),
        ("NotifierFunction", "NotificationQueue", True),
        ("SettleWorkerFunction", "SettlementQueue", True),
    ]
    assert runtime.schedules(functions) == ["SettlementFunction", "ReconcileFunction"]
    # The daily reconciliation is slow: once per day of the stack's clock.
    assert runtime.periods(functions) == {"ReconcileFunction": 86400}


def test_the_limiter_spaces_calls_evenly():
    now = [0.0]
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(20, monotonic=lambda: now[0], sleep=sleep)
    for _ in range(41):
        limiter.acquire()
    assert now[0] == pytest.approx(2.0)  # 41 calls at 20/s span 2 s
    assert waits and all(w == pytest.approx(0.05) for w in waits)
    with pytest.raises(ValueError):
        RateLimiter(0)


def test_the_stage_throttles_like_the_templates_default_route_settings():
    from werkzeug.test import Client

    from cashmob_local.gateway import Gateway, JwtAuthorizer, Throttle, stage_throttle

    declared = stage_throttle()
    assert (declared.rate, declared.burst) == (200.0, 400.0)
    now = [0.0]
    gateway = Gateway(
        JwtAuthorizer(secret="k" * 32),
        invoke=lambda function, event: {"statusCode": 200, "body": "{}"},
        throttle=Throttle(rate=1, burst=2, monotonic=lambda: now[0]),
    )
    client = Client(gateway)
    assert [client.get("/campaigns").status_code for _ in range(3)] == [200, 200, 429]
    refused = client.get("/campaigns")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert refused.get_json() == {
        "error": {"code": "throttled", "message": "Too many requests; retry in a moment."}
    }
    now[0] += 1.0  # a second later one token is back
    assert client.get("/campaigns").status_code == 200
