"""Pledge intake against the Stripe emulator (stripe-python, the real gateway):
the Idempotency-Key is claimed before Stripe is called, so the same key with
other bodies is a 409 whatever Stripe saw, even all at once; and a pledge
Stripe would refuse after conversion is refused at pledge time."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from cashmob.clock import to_rfc3339
from cashmob.domain.money import CURRENCIES, settlement_minimum
from cashmob_local.stripe_emulator import StripeFailure
from cashmob_local.stripe_emulator import money as stripe_money
from tests.integration.test_api import assert_error, call, new_campaign
from tests.unit.factories import NOW


def _pledge(cid, key, amount=1000, email="ada@example.org", currency="gbp"):
    body = {"amount": amount, "currency": currency, "email": email}
    return call("POST", f"/campaigns/{cid}/pledges", body=body, headers={"Idempotency-Key": key})


def test_one_key_with_twenty_bodies_at_once_is_one_201_and_nineteen_409(
    real_stripe, emulator, store
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


def test_a_key_reused_with_another_body_after_stripe_failed_is_409(real_stripe, emulator):
    cid = new_campaign()["id"]
    # The Customer is made, then the SetupIntent fails: Stripe has seen the key.
    emulator.fail_next("500", path_regex=r"^/v1/setup_intents$", method="POST", count=2)
    status, body, _ = _pledge(cid, "k1")
    assert_error(status, body, 503)
    assert len(emulator.customers) == 1
    status, body, _ = _pledge(cid, "k1", email="someone.else@example.org")
    assert_error(status, body, 409, "idempotency_key_reused")
    status, body, _ = _pledge(cid, "k1")  # the first body, retried: it completes
    assert status == 201 and body["payment"]["client_secret"]
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
