"""The emulator's side of the Stripe.js stand-in, over HTTP without a browser:
what a publishable key may do (retrieve and confirm one intent, with that
intent's client secret), what it sees, CORS, the 3-D Secure test page's
verdict, and the script at /v3/."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request

import pytest

from cashmob_local.driver import stripe_client
from cashmob_local.stripe_emulator import CARDS, StripeEmulator
from tests.servers import serving

logging.getLogger("werkzeug").setLevel(logging.ERROR)
PK = "pk_test_local"


@pytest.fixture
def emulator():
    emulator = StripeEmulator(seed=3)
    with serving(emulator) as url:
        emulator.url = url
        yield emulator
    emulator.stop()


@pytest.fixture
def v1(emulator):
    return stripe_client(emulator.url, retries=0)


def call(url: str, method: str = "GET", form: dict | None = None, headers: dict | None = None):
    data = urllib.parse.urlencode(form or {})
    if method == "GET" and form:
        url, data = f"{url}?{data}", ""
    request = urllib.request.Request(
        url, data=data.encode() if data else None, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


def as_json(answer):
    status, body, headers = answer
    return status, json.loads(body), headers


def test_a_publishable_key_confirms_its_setup_intent_with_the_client_secret(emulator, v1):
    intent = v1.setup_intents.create(
        params={"usage": "off_session", "metadata": {"pledge_id": "plg_1"}}
    )

    status, body, headers = as_json(
        call(
            f"{emulator.url}/v1/setup_intents/{intent.id}/confirm",
            "POST",
            {
                "payment_method": "pm_card_visa",
                "return_url": "https://example.org/back",
                "use_stripe_sdk": "true",
                "key": PK,
                "client_secret": intent.client_secret,
            },
        )
    )

    assert status == 200 and body["status"] == "succeeded"
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "metadata" not in body and "customer" not in body  # what a publishable key sees
    assert body["client_secret"] == intent.client_secret
    assert v1.setup_intents.retrieve(intent.id).status == "succeeded"
    assert emulator.events[-1]["type"] == "setup_intent.succeeded"


def test_a_publishable_key_retrieves_without_a_stripe_version_header(emulator, v1):
    intent = v1.payment_intents.create(
        params={"amount": 1000, "currency": "gbp", "capture_method": "manual"}
    )
    form = {"key": PK, "client_secret": intent.client_secret}

    status, body, _ = as_json(call(f"{emulator.url}/v1/payment_intents/{intent.id}", "GET", form))
    assert (status, body["status"], body["amount"]) == (200, "requires_payment_method", 1000)

    status, _, _ = call(
        f"{emulator.url}/v1/payment_intents/{intent.id}",
        "GET",
        form,
        {"Stripe-Version": "2020-08-27"},
    )
    assert status == 400  # a version it does not speak is still refused


@pytest.mark.parametrize("secret", [None, "wrong", "other"])
def test_another_or_no_client_secret_is_refused_and_changes_nothing(emulator, v1, secret):
    intent = v1.setup_intents.create(params={})
    other = v1.setup_intents.create(params={})
    form = {"payment_method": "pm_card_visa", "key": PK}
    if secret is not None:
        form["client_secret"] = other.client_secret if secret == "other" else secret

    status, body, _ = as_json(
        call(f"{emulator.url}/v1/setup_intents/{intent.id}/confirm", "POST", form)
    )

    assert status == 400 and body["error"]["param"] == "client_secret"
    assert v1.setup_intents.retrieve(intent.id).status == "requires_payment_method"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/customers"),
        ("GET", "/v1/payment_intents"),
        ("GET", "/v1/events"),
        ("POST", "/v1/refunds"),
    ],
)
def test_a_publishable_key_may_call_nothing_else(emulator, method, path):
    status, body, _ = as_json(call(f"{emulator.url}{path}", method, {"key": PK}))
    assert status == 401
    assert "publishable API key" in body["error"]["message"]


def test_the_secret_key_still_refuses_stripe_js_parameters(emulator, v1):
    intent = v1.setup_intents.create(params={})
    status, body, _ = as_json(
        call(
            f"{emulator.url}/v1/setup_intents/{intent.id}/confirm",
            "POST",
            {"payment_method": "pm_card_visa", "key": PK},
            {"Authorization": "Bearer sk_test_local", "Stripe-Version": emulator.api_version},
        )
    )
    assert status == 400 and body["error"]["code"] == "parameter_unknown"


def test_failing_3d_secure_needs_a_new_card(emulator, v1):
    intent = v1.setup_intents.create(params={})
    confirm = {
        "payment_method": "pm_card_authenticationRequired",
        "key": PK,
        "client_secret": intent.client_secret,
    }
    _, body, _ = as_json(
        call(f"{emulator.url}/v1/setup_intents/{intent.id}/confirm", "POST", confirm)
    )
    assert body["status"] == "requires_action"

    status, body, _ = as_json(
        call(
            f"{emulator.url}/v3/authenticate",
            "POST",
            {"key": PK, "client_secret": intent.client_secret, "outcome": "fail"},
        )
    )

    assert status == 200 and body["status"] == "requires_payment_method"
    assert body["last_setup_error"]["code"] == "setup_intent_authentication_failure"
    assert emulator.events[-1]["type"] == "setup_intent.setup_failed"
    again = {"payment_method": "pm_card_visa", "key": PK, "client_secret": intent.client_secret}
    _, body, _ = as_json(
        call(f"{emulator.url}/v1/setup_intents/{intent.id}/confirm", "POST", again)
    )
    assert body["status"] == "succeeded"


def test_passing_3d_secure_authorizes_the_hold(emulator, v1):
    intent = v1.payment_intents.create(
        params={"amount": 2500, "currency": "gbp", "capture_method": "manual"}
    )
    confirm = {
        "payment_method": "pm_card_authenticationRequired",
        "key": PK,
        "client_secret": intent.client_secret,
    }
    as_json(call(f"{emulator.url}/v1/payment_intents/{intent.id}/confirm", "POST", confirm))

    status, body, _ = as_json(
        call(
            f"{emulator.url}/v3/authenticate",
            "POST",
            {"key": PK, "client_secret": intent.client_secret, "outcome": "complete"},
        )
    )

    assert (status, body["status"]) == (200, "requires_capture")
    assert emulator.events[-1]["type"] == "payment_intent.amount_capturable_updated"
    # Only an intent waiting for authentication can be authenticated.
    status, body, _ = as_json(
        call(
            f"{emulator.url}/v3/authenticate",
            "POST",
            {"key": PK, "client_secret": intent.client_secret, "outcome": "complete"},
        )
    )
    assert status == 400 and body["error"]["code"] == "payment_intent_unexpected_state"


def test_v3_serves_the_script_with_every_test_card_and_answers_preflights(emulator):
    status, script, headers = call(f"{emulator.url}/v3/")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert "window.Stripe = Stripe" in script and "__CARDS__" not in script
    for payment_method in CARDS:
        assert f'"id": "{payment_method}"' in script

    status, _, headers = call(f"{emulator.url}/v1/setup_intents/seti_x/confirm", "OPTIONS")
    assert status == 204 and headers["Access-Control-Allow-Origin"] == "*"
