"""The settle worker handles a batch's pages, decisions and completion checks
before its pledges (each of which waits for a paced Stripe call), each group
in the order received; an invalid message fails in its turn, alone."""

from __future__ import annotations

import sys

import pytest

from cashmob import container
from cashmob.domain import Outcome
from cashmob.domain.messages import (
    CheckCompletion,
    DecideOutcome,
    SendPage,
    SettlePledge,
    encode,
)
from cashmob.service import settlement
from cashmob_local import template
from tests.events import FakeContext
from tests.service.test_settlement_timing import world as world  # the fixture

settle_worker = template.load_handler("SettleWorkerFunction")
worker_module = sys.modules["cashmob_function_SettleWorkerFunction"]


def _record(i: int, body: str) -> dict:
    return {
        "messageId": f"m{i}",
        "receiptHandle": f"r{i}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:settlement",
        "awsRegion": "us-east-1",
    }


def _pledge(n: int) -> SettlePledge:
    return SettlePledge("cmp_1", f"plg_{n}", Outcome.SUCCEEDED)


BATCH = [
    _pledge(1),
    _pledge(2),
    SendPage("cmp_1", "cursor", 123),
    _pledge(3),
    CheckCompletion("cmp_1", 2),
    DecideOutcome("cmp_2"),
    _pledge(4),
]


def test_pages_decisions_and_checks_go_first_each_group_in_order():
    event = {"Records": [_record(i, encode(m)) for i, m in enumerate(BATCH)]}
    ordered = worker_module.prompt_first(event)
    assert [r["messageId"] for r in ordered["Records"]] == [
        "m2",  # the page
        "m4",  # the check
        "m5",  # the decision
        "m0",
        "m1",
        "m3",
        "m6",
    ]
    assert [r["messageId"] for r in event["Records"]] == [f"m{i}" for i in range(7)]


def test_an_invalid_body_is_not_put_first():
    event = {"Records": [_record(0, "not json"), _record(1, encode(SendPage("cmp_1")))]}
    assert [r["messageId"] for r in worker_module.prompt_first(event)["Records"]] == ["m1", "m0"]
    assert not settlement.prompt('{"type": "Nope"}')


def test_the_worker_handles_the_page_before_the_pledges_and_reports_failures_alone(
    world, monkeypatch: pytest.MonkeyPatch
):
    handled = []

    def handle(svc, message):
        handled.append(message)
        if message == _pledge(3):
            raise RuntimeError("Stripe is down")

    monkeypatch.setattr(settlement, "handle", handle)
    container.use(world.svc)
    try:
        event = {"Records": [_record(i, encode(m)) for i, m in enumerate(BATCH)]}
        response = settle_worker(event, FakeContext())
    finally:
        container.use(None)
    assert handled == [BATCH[2], BATCH[4], BATCH[5], BATCH[0], BATCH[1], BATCH[3], BATCH[6]]
    assert response == {"batchItemFailures": [{"itemIdentifier": "m3"}]}
