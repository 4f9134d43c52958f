"""Pledge intake against moto (tables and queues from the template) and the
Stripe emulator (stripe-python, the real gateway): the Idempotency-Key is
claimed before Stripe is called, so the same key with other bodies is a 409
whatever Stripe saw, even all at once; a pledge Stripe would refuse after
conversion is refused at pledge time; and flash intake (API.md): 202
preparing with Retry-After when the budget is spent or Stripe is busy, the
intake worker (its handler, fed from the FIFO queue) in arrival order, GET
preparing -> ready, replays, and pledges still queued at the deadline."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import boto3
import pytest

from cashmob.clock import to_rfc3339
from cashmob.domain import PledgeStatus
from cashmob.domain.money import CURRENCIES, settlement_minimum
from cashmob.payments.stripe_gateway import StripeGateway
from cashmob.service import intake
from cashmob.service.budget import StripeBudget
from cashmob_local import runtime, template
from cashmob_local.stripe_emulator import StripeEmulator, StripeFailure
from cashmob_local.stripe_emulator import money as stripe_money
from tests.events import FakeContext
from tests.fakes import FakeWall
from tests.integration import settling
from tests.integration.test_api import assert_error, call, new_campaign
from tests.servers import serving
from tests.unit.factories import NOW

intake_worker = template.load_handler("IntakeWorkerFunction")


@pytest.fixture
def settings(settings, aws):
    """The conftest's settings with the intake queue of the template."""
    return settings.model_copy(update={"intake_queue_url": aws["queues"]["IntakeQueue"]})


@pytest.fixture
def wall():
    return FakeWall()


def budget(services, wall, rate):
    """The pledge-time budget at `rate` requests/s per endpoint, on moto's counters table."""
    services.settings = services.settings.model_copy(
        update={"stripe_intake_requests_per_second": rate}
    )
    services.budget = StripeBudget(services.store, rate, wall=wall.time, sleep=wall.sleep)


def _pledge(cid, key, amount=1000, email="ada@example.org", currency="gbp"):
    body = {"amount": amount, "currency": currency, "email": email}
    return call("POST", f"/campaigns/{cid}/pledges", body=body, headers={"Idempotency-Key": key})


def _get(cid, answer):
    return call(
        "GET",
        f"/campaigns/{cid}/pledges/{answer['pledge']['id']}",
        headers={"X-Pledge-Token": answer["pledge_token"]},
    )


def work(settings, *, failed=None, max_rounds=100):
    """The intake queue fed to the worker handler as Lambda's FIFO event source
    does: a batch of 1, deleted on success, visible again on failure. The
    pledge ids prepared, in order."""
    sqs = boto3.client("sqs")
    url = settings.intake_queue_url
    done = []
    for _ in range(max_rounds):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"])
        messages = got.get("Messages", [])
        if not messages:
            return done
        (message,) = messages
        record = runtime.sqs_record(message, "arn:aws:sqs:us-east-1:123456789012:IntakeQueue.fifo")
        result = intake_worker({"Records": [record]}, FakeContext())
        if result["batchItemFailures"]:
            if failed is not None:
                failed.append(json.loads(message["Body"])["pledge_id"])
            sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
            continue
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        done.append(json.loads(message["Body"])["pledge_id"])
    raise AssertionError("the intake queue never drained")


# ---------------------------------------------------------------- the key is claimed first


@pytest.fixture
def atomic_dynamodb(monkeypatch):
    """moto's in-process DynamoDB checks a condition and writes in two steps
    that threads can interleave, so two racing conditional PutItems could
    both succeed (seen about once in ten runs, before and after this test's
    code changed); DynamoDB applies each request atomically. One request at a
    time, as the local stack's `SerializedMoto` does."""
    from moto.dynamodb.responses import DynamoHandler

    stock, lock = DynamoHandler.call_action, threading.Lock()

    def call_action(self):
        with lock:
            return stock(self)

    monkeypatch.setattr(DynamoHandler, "call_action", call_action)


def test_one_key_with_twenty_bodies_at_once_is_one_201_and_nineteen_409(
    real_stripe, emulator, store, atomic_dynamodb
):
    cid = new_campaign()["id"]
    emulator.faults.update({"latency_ms": 30})  # Stripe takes a moment: the race is real
    start = threading.Barrier(20)

    def attempt(i):
        start.wait()
        return _pledge(cid, "same-key", amount=1000 + i)[:2]

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(attempt, range(20)))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] + [409] * 19, answers
    for status, body in answers:
        if status == 409:
            assert body["error"]["code"] == "idempotency_key_reused"
    (winner,) = [body for status, body in answers if status == 201]
    (stored,) = store.pledges(cid, limit=10, after=None).items
    assert stored.amount.amount == winner["pledge"]["amount"] and stored.ready
    assert len(emulator.setup_intents) == 1


def test_a_key_reused_with_another_body_after_stripe_failed_is_409(real_stripe, emulator, settings):
    cid = new_campaign()["id"]
    # The Customer is made, then the SetupIntent fails: Stripe has seen the key.
    emulator.fail_next("500", path_regex=r"^/v1/setup_intents$", method="POST", count=2)
    status, body, response = _pledge(cid, "k1")
    assert status == 202 and body["payment"]["status"] == "preparing"  # never a 503
    assert response["headers"]["Retry-After"] == str(body["payment"]["ready_in"])
    assert len(emulator.customers) == 1
    status, body, _ = _pledge(cid, "k1", email="someone.else@example.org")
    assert_error(status, body, 409, "idempotency_key_reused")
    # The intake worker completes it, with the same Stripe idempotency keys
    assert len(work(settings)) == 1
    status, body, _ = _pledge(cid, "k1")  # the first body, replayed: its current state
    assert status == 200 and body["payment"]["client_secret"]
    assert len(emulator.customers) == len(emulator.setup_intents) == 1


def test_a_pledge_below_the_account_currencys_minimum_is_refused_at_pledge_time(
    real_stripe, emulator, store
):
    # A hold (deadline within days) asks Stripe for a PaymentIntent at once.
    cid = new_campaign(days=3, goal={"amount": 10_000, "currency": "jpy"})["id"]
    least = settlement_minimum("jpy", "gbp")
    status, body, _ = _pledge(cid, "low", amount=least - 1, currency="jpy")
    assert_error(status, body, 422)
    assert body["error"]["details"][0]["minimum"] == least
    assert store.pledges(cid, limit=10, after=None).items == []
    assert emulator.payment_intents == {}
    status, body, _ = _pledge(cid, "enough", amount=least, currency="jpy")
    assert status == 201 and body["payment"]["flow"] == "hold"


def test_stripes_own_jpy_minimum_is_below_what_a_gbp_account_can_take(real_stripe, emulator):
    cid = new_campaign(days=3, goal={"amount": 10_000, "currency": "jpy"})["id"]
    status, body, _ = _pledge(cid, "fifty", amount=50, currency="jpy")
    assert_error(status, body, 422)  # Stripe would answer amount_too_small
    with pytest.raises(StripeFailure) as refused:
        stripe_money.check_amount(50, "jpy", "gbp")
    assert refused.value.body["error"]["code"] == "amount_too_small"


@pytest.mark.parametrize("account", ["gbp", "usd", "eur"])
@pytest.mark.parametrize("code", sorted(CURRENCIES))
def test_every_amount_the_product_accepts_clears_the_emulators_minimum(code, account):
    stripe_money.check_amount(settlement_minimum(code, account), code, account)


def test_a_campaigns_default_minimum_pledge_clears_the_account_currency(real_stripe):
    deadline = to_rfc3339(NOW + timedelta(days=30))
    status, body, _ = call(
        "POST",
        "/campaigns",
        body={"title": "Ad", "goal": {"amount": 10_000, "currency": "jpy"}, "deadline": deadline},
        sub="alice",
    )
    assert status == 201
    assert body["min_pledge"] == {"amount": settlement_minimum("jpy", "gbp"), "currency": "jpy"}


# ---------------------------------------------------------------- flash intake


def test_with_the_budget_spent_pledges_are_202_and_the_worker_makes_them_in_order(
    real_stripe, emulator, services, settings, wall
):
    budget(services, wall, 2)
    cid = new_campaign(days=3)["id"]  # holds: one PaymentIntent each
    status, first, _ = _pledge(cid, "k0")
    assert status == 201 and first["payment"]["status"] == "ready"
    # When four more backers pledge within the same slot
    answers = []
    for i in range(1, 5):
        status, body, response = _pledge(cid, f"k{i}")
        # Then each is recorded and answered at once: 202 preparing, Retry-After
        assert status == 202, body
        assert body["payment"]["status"] == "preparing"
        assert body["payment"]["intent_id"] is None and body["payment"]["client_secret"] is None
        assert body["payment"]["ready_in"] == -(-i // 2) + 1  # ceil(i / 2) + 1
        assert response["headers"]["Retry-After"] == str(body["payment"]["ready_in"])
        answers.append(body)
    status, seen, _ = _get(cid, answers[0])
    assert status == 200 and seen["payment"]["status"] == "preparing"
    assert seen["payment"]["ready_in"] == 2
    assert len(emulator.payment_intents) == 1
    # When the intake worker runs
    ids = [a["pledge"]["id"] for a in answers]
    assert work(settings) == ids
    # Then Stripe made them in arrival order, and GET gives each its client secret
    made = sorted(emulator.payment_intents.values(), key=lambda pi: pi["created"])
    assert [pi["metadata"]["pledge_id"] for pi in made][1:] == ids
    for answer in answers:
        status, seen, _ = _get(cid, answer)
        assert seen["payment"]["status"] == "ready" and seen["payment"]["client_secret"]
        assert seen["payment"]["intent_id"].startswith("pi_")
    # A replay returns the current state with 200
    status, replay, _ = _pledge(cid, "k2")
    assert status == 200 and replay["payment"]["status"] == "ready"
    assert services.store.intake_progress().waiting == 0


def test_stripe_429_on_the_direct_path_is_202_and_the_worker_retries_it(
    real_stripe, emulator, settings
):
    cid = new_campaign(days=3)["id"]
    emulator.fail_next("429", path_regex=r"^/v1/payment_intents$", method="POST", count=2)
    status, body, response = _pledge(cid, "k1")
    assert status == 202 and "Retry-After" in response["headers"]
    # The worker meets the second 429, retries on a fresh slot, and succeeds
    assert work(settings) == [body["pledge"]["id"]]
    status, seen, _ = _get(cid, body)
    assert seen["payment"]["status"] == "ready"
    assert len(emulator.payment_intents) == 1


def test_the_worker_keeps_a_failing_pledge_queued_until_stripe_answers(
    real_stripe, emulator, services, settings, wall
):
    budget(services, wall, 2)
    cid = new_campaign(days=3)["id"]
    _pledge(cid, "k0")
    answers = [_pledge(cid, f"k{i}")[1] for i in range(1, 3)]
    # Stripe fails more times than one delivery tries (each try: a request and
    # stripe-python's one network retry)
    tries = intake.STRIPE_ATTEMPTS * (services.settings.stripe_max_network_retries + 1)
    emulator.fail_next("500", path_regex=r"^/v1/payment_intents$", method="POST", count=tries + 2)
    failed: list[str] = []
    ids = [a["pledge"]["id"] for a in answers]
    assert work(settings, failed=failed) == ids  # none lost, in order
    assert failed == ids[:1]  # the first delivery failed and came back
    assert len(emulator.payment_intents) == 3
    assert emulator.forced.pending() == []  # every failure was met


@pytest.fixture
def chf_stripe(services):
    """The real gateway against an emulator whose account settles in CHF,
    while the product checks minimums against GBP: Stripe refuses some
    amounts the product accepted (as when an account's currency changes)."""
    emulator = StripeEmulator(seed=3, account_currency="chf")
    with serving(emulator) as url:
        services.settings = services.settings.model_copy(
            update={"stripe_api_base": url, "stripe_secret_key": "sk_test_local"}
        )
        services.payments = StripeGateway(services.settings, services.secrets)
        yield emulator
    emulator.stop()


def test_a_pledge_stripe_refuses_for_good_reads_failed(chf_stripe, services, settings, wall, store):
    budget(services, wall, 2)
    cid = new_campaign(days=3, goal={"amount": 10_000, "currency": "jpy"})["id"]
    amount = settlement_minimum("jpy", "gbp")
    assert amount < settlement_minimum("jpy", "chf")  # Stripe will refuse it
    status, refused_now, _ = _pledge(cid, "k0", amount=amount, currency="jpy")
    # Refused on the direct path: the answer says so at once
    assert status == 201 and refused_now["payment"]["status"] == "failed"
    assert refused_now["payment"]["error"]["code"] == "amount_too_small"
    # The slot is spent: the next two are queued, and one of them is refused
    status, fine, _ = _pledge(cid, "k1", amount=500, currency="jpy")
    assert status == 202
    status, body, _ = _pledge(cid, "k2", amount=amount, currency="jpy")
    assert status == 202
    # Refused in the worker: GET says failed, with Stripe's reason
    assert work(settings) == [fine["pledge"]["id"], body["pledge"]["id"]]
    status, seen, _ = _get(cid, body)
    assert seen["payment"]["status"] == "failed"
    assert seen["payment"]["error"]["code"] == "amount_too_small"
    assert seen["payment"]["client_secret"] is None
    assert store.get_pledge(cid, body["pledge"]["id"]).status is PledgeStatus.PENDING
    assert len(chf_stripe.payment_intents) == 1  # only the 500 yen one


def test_pledges_still_queued_at_the_deadline_expire_and_stripe_never_hears_of_them(
    real_stripe, emulator, services, settings, wall, store, clock
):
    budget(services, wall, 2)
    cid = new_campaign(days=1)["id"]
    _pledge(cid, "k0")
    queued = [_pledge(cid, f"k{i}")[1]["pledge"]["id"] for i in range(1, 3)]
    # When the deadline passes before the worker ran
    clock.advance(timedelta(days=1, minutes=1).total_seconds())
    settling.sweep_handler({}, FakeContext())
    settling.drain(settings)
    # Then they expired like any unconfirmed pledge
    assert [store.get_pledge(cid, p).status for p in queued] == [PledgeStatus.EXPIRED] * 2
    # And the worker's late messages make nothing at Stripe
    before = len(emulator.payment_intents)
    assert work(settings) == queued
    assert len(emulator.payment_intents) == before
    assert not any(
        pi["metadata"]["pledge_id"] in queued for pi in emulator.payment_intents.values()
    )
