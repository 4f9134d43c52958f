"""Partial capture of a hold, as a `fixed_price` fair share uses it: Stripe
captures `amount_to_capture` (at most what is capturable), releases the
rest of the hold, and the PaymentIntent's `amount_received` says what it took."""

from __future__ import annotations

import pytest
import stripe

HOLD = {"amount": 1500, "currency": "gbp", "capture_method": "manual"}


def held(client) -> stripe.PaymentIntent:
    return client.payment_intents.create(
        params={**HOLD, "payment_method": "pm_card_visa", "confirm": True}
    )


def test_a_partial_capture_takes_the_share_and_releases_the_rest(client, emulator):
    hold = held(client)
    assert (hold.status, hold.amount_capturable) == ("requires_capture", 1500)
    captured = client.payment_intents.capture(hold.id, params={"amount_to_capture": 1154})
    assert captured.status == "succeeded"
    assert (captured.amount, captured.amount_received, captured.amount_capturable) == (
        1500,
        1154,
        0,
    )
    charge = client.charges.retrieve(captured.latest_charge)
    assert charge.captured and charge.amount_captured == 1154
    again = client.payment_intents.retrieve(hold.id)
    assert again.amount_received == 1154
    # nothing is left to capture
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.payment_intents.capture(hold.id, params={"amount_to_capture": 100})
    assert raised.value.code == "payment_intent_unexpected_state"


def test_capturing_more_than_is_capturable_is_refused(client, emulator):
    hold = held(client)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.payment_intents.capture(hold.id, params={"amount_to_capture": 1501})
    assert raised.value.http_status == 400 and raised.value.param == "amount_to_capture"
    still = client.payment_intents.retrieve(hold.id)
    assert (still.status, still.amount_capturable, still.amount_received) == (
        "requires_capture",
        1500,
        0,
    )


def test_a_capture_without_an_amount_takes_the_whole_hold(client, emulator):
    hold = held(client)
    assert client.payment_intents.capture(hold.id).amount_received == 1500
