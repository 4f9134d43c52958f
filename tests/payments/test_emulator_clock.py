"""Stripe's behaviours on the emulator's clock, and its money rules: 24 h
idempotency keys, stored executed-500s (and what is not stored), holds that
lapse after 7 days, minimum amounts in the charge's and the account's
currency, and Refunds. stripe-python is called directly."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest
import stripe

from cashmob_local import cli
from cashmob_local.stripe_emulator import StripeEmulator
from cashmob_local.stripe_emulator.idempotency import KEY_LIFETIME_SECONDS
from cashmob_local.stripe_emulator.payment_intents import HOLD_LIFETIME_SECONDS
from tests.payments.conftest import client_for
from tests.payments.test_emulator_contract import shape_problems
from tests.servers import serving


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def emulator(clock):
    emulator = StripeEmulator(now=clock, seed=5, delivery_workers=1)
    with serving(emulator) as url:
        emulator.url = url
        yield emulator
    emulator.stop()


@pytest.fixture
def v1(emulator):
    return client_for(emulator.url).v1


def _post_json(url: str, body: dict | None = None, method: str = "POST") -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=None if body is None else json.dumps(body).encode(), method=method
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


HOLD = {"amount": 1500, "currency": "gbp", "capture_method": "manual"}


def _hold(v1, pm: str = "pm_card_visa") -> stripe.PaymentIntent:
    return v1.payment_intents.create(params={**HOLD, "payment_method": pm, "confirm": True})


# ---------------------------------------------------------------- idempotency keys


def test_a_key_is_replayed_for_24_hours_then_executes_afresh(v1, emulator, clock):
    options = {"idempotency_key": "pledge:plg_k:customer"}
    first = v1.customers.create(params={"email": "a@b.org"}, options=options)
    clock.advance(KEY_LIFETIME_SECONDS - 1)
    assert v1.customers.create(params={"email": "a@b.org"}, options=options).id == first.id
    assert len(emulator.customers) == 1
    clock.advance(1)  # 24 h after the key's first use (replays do not extend it)
    again = v1.customers.create(params={"email": "a@b.org"}, options=options)
    assert again.id != first.id
    assert len(emulator.customers) == 2
    # Once expired, a key may even carry other parameters.
    clock.advance(KEY_LIFETIME_SECONDS)
    v1.customers.create(params={"email": "other@b.org"}, options=options)
    assert len(emulator.customers) == 3


# ---------------------------------------------------------------- what is stored under a key


def test_an_executed_500_is_stored_and_replayed(v1, emulator, clock):
    rule = emulator.fail_next("500_executed", path_regex=r"^/v1/payment_intents$", method="POST")
    assert rule == {
        "mode": "500_executed",
        "path_regex": r"^/v1/payment_intents$",
        "method": "POST",
        "count": 1,
    }
    options = {"idempotency_key": "pledge:plg_e:charge:1"}
    params = {"amount": 1000, "currency": "gbp", "payment_method": "pm_card_visa", "confirm": True}
    with pytest.raises(stripe.APIError) as raised:
        v1.payment_intents.create(params=params, options=options)
    assert raised.value.http_status == 500
    assert raised.value.json_body["error"]["type"] == "api_error"
    # It executed: the money moved and the events went out.
    [intent] = emulator.payment_intents.values()
    assert intent["status"] == "succeeded"
    assert {"payment_intent.succeeded", "charge.succeeded"} <= {e["type"] for e in emulator.events}
    events = len(emulator.events)
    with pytest.raises(stripe.APIError) as replayed:
        v1.payment_intents.create(params=params, options=options)
    assert replayed.value.http_status == 500
    headers = {k.lower(): v for k, v in replayed.value.headers.items()}
    assert headers.get("idempotent-replayed") == "true"
    assert len(emulator.payment_intents) == 1 and len(emulator.events) == events
    # The product's way out: look the intent up, never create a second charge blindly.
    found = v1.payment_intents.list(params={"limit": 10}).data
    assert [i.id for i in found] == [intent["id"]]
    # After 24 h the key is forgotten like any other.
    clock.advance(KEY_LIFETIME_SECONDS)
    v1.payment_intents.create(params=params, options=options)
    assert len(emulator.payment_intents) == 2


def test_the_random_share_of_executed_500s_is_stored_too(v1, emulator):
    emulator.faults.update({"share_500_executed": 1.0})
    options = {"idempotency_key": "pledge:plg_r:customer"}
    for _ in range(2):
        with pytest.raises(stripe.APIError):
            v1.customers.create(params={}, options=options)
    emulator.faults.update({"share_500_executed": 0.0})
    with pytest.raises(stripe.APIError):  # still the stored 500
        v1.customers.create(params={}, options=options)
    assert len(emulator.customers) == 1


@pytest.mark.parametrize("mode", ["429", "500"])
def test_a_failure_before_execution_is_not_stored(v1, emulator, mode):
    emulator.fail_next(mode, path_regex="/v1/customers")
    options = {"idempotency_key": f"pledge:plg_{mode}:customer"}
    error = stripe.RateLimitError if mode == "429" else stripe.APIError
    with pytest.raises(error) as raised:
        v1.customers.create(params={"email": "a@b.org"}, options=options)
    assert raised.value.http_status == int(mode)
    assert emulator.customers == {}
    customer = v1.customers.create(params={"email": "a@b.org"}, options=options)
    assert list(emulator.customers) == [customer.id]


def test_a_validation_error_is_not_stored(v1, emulator):
    options = {"idempotency_key": "pledge:plg_v:hold"}
    with pytest.raises(stripe.InvalidRequestError) as raised:
        v1.payment_intents.create(params={**HOLD, "amount": "lots"}, options=options)
    assert raised.value.code == "parameter_invalid_integer"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        v1.payment_intents.create(params={**HOLD, "amount": 10}, options=options)
    assert raised.value.code == "amount_too_small"
    intent = v1.payment_intents.create(params=HOLD, options=options)
    assert list(emulator.payment_intents) == [intent.id]


def test_forced_failures_match_method_path_and_count(v1, emulator):
    emulator.fail_next("429", path_regex="^/v1/customers$", method="POST", count=2)
    v1.payment_intents.create(params=HOLD)  # another path: untouched
    for _ in range(2):
        with pytest.raises(stripe.RateLimitError):
            v1.customers.create(params={})
    v1.customers.create(params={})  # spent
    assert emulator.forced.pending() == []


def test_forced_failures_over_http(v1, emulator):
    url = emulator.url + "/_emulator/fail_next"
    status, body = _post_json(url, {"mode": "500", "path_regex": "payment_intents", "count": 1})
    assert status == 200 and body["pending"][0]["mode"] == "500"
    with pytest.raises(stripe.APIError):
        v1.payment_intents.create(params=HOLD)
    assert _post_json(url, None, "GET") == (200, {"pending": []})
    assert _post_json(url, {"mode": "teapot"})[0] == 400
    assert _post_json(url, {"mode": "429", "count": 0})[0] == 400
    assert _post_json(url, {"mode": "429", "path_regex": "("})[0] == 400
    _post_json(url, {"mode": "429"})
    assert _post_json(url, None, "DELETE") == (200, {"pending": []})
    v1.customers.create(params={})


# ---------------------------------------------------------------- holds lapse after 7 days


def test_an_uncaptured_hold_is_cancelled_after_7_days(v1, emulator, clock, stripe_fixtures):
    hold = _hold(v1)
    captured = _hold(v1)
    v1.payment_intents.capture(captured.id)
    assert hold.status == "requires_capture"
    clock.advance(HOLD_LIFETIME_SECONDS - 1)
    assert v1.payment_intents.retrieve(hold.id).status == "requires_capture"
    clock.advance(1)
    lapsed = v1.payment_intents.retrieve(hold.id)  # evaluated on any request
    assert lapsed.status == "canceled"
    assert lapsed.cancellation_reason == "automatic"
    assert lapsed.amount_capturable == 0
    assert lapsed.canceled_at == int(clock())
    [event] = [e for e in emulator.events if e["type"] == "payment_intent.canceled"]
    assert event["data"]["object"]["id"] == hold.id
    assert event["data"]["object"]["cancellation_reason"] == "automatic"
    [expired] = [e for e in emulator.events if e["type"] == "charge.expired"]
    assert expired["data"]["object"]["id"] == hold.latest_charge
    assert shape_problems(expired["data"]["object"], stripe_fixtures["charge"]) == []
    assert v1.payment_intents.retrieve(captured.id).status == "succeeded"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        v1.payment_intents.capture(hold.id)
    assert raised.value.code == "payment_intent_unexpected_state"


def test_expire_due_runs_without_any_api_request(v1, emulator, clock):
    hold = _hold(v1)
    clock.advance(HOLD_LIFETIME_SECONDS)
    assert emulator.expire_due() == 1
    assert emulator.payment_intents[hold.id]["status"] == "canceled"
    assert emulator.events[-1]["type"] == "payment_intent.canceled"
    assert emulator.expire_due() == 0  # once
    assert _post_json(emulator.url + "/_emulator/expire") == (200, {"cancelled": 0})


def test_the_clock_starts_at_authorisation_not_creation(v1, emulator, clock):
    intent = v1.payment_intents.create(params=HOLD)
    clock.advance(5 * 24 * 3600)
    v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    clock.advance(HOLD_LIFETIME_SECONDS - 1)
    assert v1.payment_intents.retrieve(intent.id).status == "requires_capture"
    cancelled = _hold(v1)
    v1.payment_intents.cancel(cancelled.id)
    clock.advance(HOLD_LIFETIME_SECONDS)
    assert v1.payment_intents.retrieve(cancelled.id).cancellation_reason == (
        "requested_by_customer"
    )


def test_the_local_stack_tick_expires_holds(monkeypatch):
    from cashmob_local.stack import Stack

    calls = []
    stack = Stack.__new__(Stack)
    stack.emulator = SimpleNamespace(expire_due=lambda: calls.append("expire") or 0)
    monkeypatch.setattr(stack, "invoke", lambda f, e: calls.append(f) or {})
    stack.scheduled("SettlementFunction", {"source": "cashmob.local.tick"})
    assert calls == ["expire", "SettlementFunction"]


# ---------------------------------------------------------------- minimum amounts


@pytest.mark.parametrize(
    ("account", "currency", "amount", "message"),
    [
        ("gbp", "gbp", 29, "Amount must be at least £0.30 gbp"),
        ("gbp", "gbp", 30, None),
        ("gbp", "usd", 49, "Amount must be at least $0.50 usd"),
        ("gbp", "usd", 50, None),  # about £0.40
        ("gbp", "eur", 50, None),
        ("gbp", "jpy", 49, "Amount must be at least ¥50 jpy"),
        (
            "gbp",
            "jpy",
            50,
            "Amount must convert to at least 30 pence. ¥50 converts to approximately £0.26.",
        ),
        ("gbp", "jpy", 60, None),  # about £0.32
        (
            "gbp",
            "dkk",
            250,
            "Amount must convert to at least 30 pence. DKK 2.50 converts to approximately £0.29.",
        ),
        ("gbp", "dkk", 300, None),
        (
            "usd",
            "gbp",
            30,
            "Amount must convert to at least 50 cents. £0.30 converts to approximately $0.38.",
        ),
        ("usd", "gbp", 40, None),
        (
            "usd",
            "dkk",
            250,
            "Amount must convert to at least 50 cents. DKK 2.50 converts to approximately $0.36.",
        ),
        ("usd", "mxn", 999, "Amount must be at least MX$10.00 mxn"),
        ("usd", "mxn", 1000, None),
        ("usd", "krw", 700, None),
        ("jpy", "usd", 50, None),  # ¥75
    ],
)
def test_minimum_amounts(account, currency, amount, message):
    emulator = StripeEmulator(account_currency=account, delivery_workers=1)
    with serving(emulator) as url:
        v1 = client_for(url).v1
        params = {"amount": amount, "currency": currency}
        if message is None:
            assert v1.payment_intents.create(params=params).amount == amount
        else:
            with pytest.raises(stripe.InvalidRequestError) as raised:
                v1.payment_intents.create(params=params)
            error = raised.value
            assert (error.http_status, error.code, error.param) == (
                400,
                "amount_too_small",
                "amount",
            )
            assert error.user_message == message
            assert emulator.payment_intents == {}
    emulator.stop()


def test_a_capture_below_the_minimum_is_refused(v1, emulator):
    hold = _hold(v1)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        v1.payment_intents.capture(hold.id, params={"amount_to_capture": 20})
    assert (raised.value.code, raised.value.param) == ("amount_too_small", "amount_to_capture")
    assert v1.payment_intents.capture(hold.id, params={"amount_to_capture": 30}).status == (
        "succeeded"
    )


def test_an_update_below_the_minimum_is_refused(v1):
    intent = v1.payment_intents.create(params={"amount": 1000, "currency": "gbp"})
    with pytest.raises(stripe.InvalidRequestError) as raised:
        v1.payment_intents.update(intent.id, params={"amount": 10})
    assert raised.value.code == "amount_too_small"
    assert v1.payment_intents.update(intent.id, params={"amount": 500}).amount == 500


def test_the_account_currency_flag():
    args = cli.parser().parse_args(["stripe-emulator", "--account-currency", "usd"])
    assert args.account_currency == "usd"
    assert cli.parser().parse_args(["stripe-emulator"]).account_currency == "gbp"
    local = cli.parser().parse_args(["local", "--stripe-account-currency", "eur"])
    assert local.stripe_account_currency == "eur"
    with pytest.raises(ValueError):
        StripeEmulator(account_currency="xyz", delivery_workers=1)


# ---------------------------------------------------------------- refunds


def _paid(v1, amount: int = 1200) -> stripe.PaymentIntent:
    return v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )


def test_refunds_retrieve_and_list_with_events(v1, emulator, stripe_fixtures):
    paid, other = _paid(v1), _paid(v1, 900)
    first = v1.refunds.create(params={"payment_intent": paid.id, "amount": 200})
    second = v1.refunds.create(params={"payment_intent": paid.id, "amount": 300})
    third = v1.refunds.create(params={"charge": other.latest_charge})
    got = v1.refunds.retrieve(first.id)
    assert (got.id, got.amount, got.payment_intent, got.charge) == (
        first.id,
        200,
        paid.id,
        paid.latest_charge,
    )
    assert shape_problems(json.loads(str(got)), stripe_fixtures["refund"]) == []
    by_intent = v1.refunds.list(params={"payment_intent": paid.id})
    assert [r.id for r in by_intent.data] == [second.id, first.id]  # newest first
    by_charge = v1.refunds.list(params={"charge": other.latest_charge})
    assert [r.id for r in by_charge.data] == [third.id]
    page = v1.refunds.list(params={"limit": 1})
    assert page.has_more and page.data[0].id == third.id
    assert [r.id for r in page.auto_paging_iter()] == [third.id, second.id, first.id]
    assert [r.id for r in v1.refunds.list(params={"ending_before": first.id}).data] == [
        third.id,
        second.id,
    ]
    with pytest.raises(stripe.InvalidRequestError) as raised:
        v1.refunds.retrieve("re_missing")
    assert raised.value.http_status == 404
    created = [e for e in emulator.events if e["type"] == "refund.created"]
    assert [e["data"]["object"]["id"] for e in created] == [first.id, second.id, third.id]
    refunded = [e["data"]["object"] for e in emulator.events if e["type"] == "charge.refunded"]
    assert [(c["amount_refunded"], c["refunded"]) for c in refunded] == [
        (200, False),
        (500, False),
        (900, True),
    ]
    charge = v1.charges.retrieve(paid.latest_charge)
    assert [r.id for r in charge.refunds.data] == [second.id, first.id]


def test_refund_limits(v1):
    paid = _paid(v1, 1000)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        v1.refunds.create(params={"payment_intent": paid.id, "amount": 1001})
    assert raised.value.param == "amount"
    v1.refunds.create(params={"payment_intent": paid.id})
    with pytest.raises(stripe.InvalidRequestError) as raised:
        v1.refunds.create(params={"payment_intent": paid.id})
    assert raised.value.code == "charge_already_refunded"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        v1.refunds.create(params={})
    assert raised.value.code == "parameter_missing"


def test_an_uncaptured_hold_cannot_be_refunded(v1, emulator):
    hold = _hold(v1)
    for params in ({"payment_intent": hold.id}, {"charge": hold.latest_charge}):
        with pytest.raises(stripe.InvalidRequestError) as raised:
            v1.refunds.create(params=params)
        assert raised.value.http_status == 400
        assert raised.value.code == "charge_not_refundable"
    assert emulator.refunds == {}
    assert v1.payment_intents.retrieve(hold.id).status == "requires_capture"
