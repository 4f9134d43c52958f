"""The Stripe payments gateway against the emulator: deterministic idempotency
keys, the error mapping, and the look-up that guards charges older than
Stripe's idempotency memory."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
import stripe

from cashmob.config import Settings
from cashmob.domain import Money, PaymentFlow, PledgeStatus
from cashmob.domain.errors import (
    ChargeOutcomeUnknown,
    PaymentProviderError,
    PaymentProviderUnavailable,
)
from cashmob.payments import ChargeStatus
from cashmob.payments.stripe_gateway import STRIPE_API_VERSION, StripeGateway
from cashmob.secrets import Secrets
from tests.unit.factories import pledge as make_pledge

REQUIREMENTS = Path(__file__).resolve().parents[2] / "shared" / "requirements.txt"


@pytest.fixture
def gateway(emulator):
    settings = Settings(
        stripe_secret_key="sk_test_local",
        stripe_api_base=emulator.url,
        stripe_max_network_retries=2,
    )
    return StripeGateway(settings, Secrets(settings))


def _saved(gateway, client, pm: str, pledge_id: str = "plg_a"):
    """A pledge whose card was saved with `pm` (as the webhook records it)."""
    ref = gateway.start_setup(
        campaign_id="cmp_a", pledge_id=pledge_id, email="ada@example.org", amount=Money(1000, "gbp")
    )
    client.setup_intents.confirm(ref.intent_id, params={"payment_method": pm})
    p = make_pledge(id=pledge_id, campaign_id="cmp_a", status=PledgeStatus.ACTIVE)
    return replace(
        p,
        payment=replace(
            p.payment,
            intent_id=ref.intent_id,
            client_secret=ref.client_secret,
            customer_id=ref.customer_id,
            payment_method=pm,
            intent_open=False,
        ),
    )


def _a_day_later(emulator):
    """Moves the emulator's clock past Stripe's 24 h idempotency memory."""
    emulator.now = lambda: time.time() + 25 * 3600


def _held(gateway, client, pledge_id: str = "plg_h", pm: str = "pm_card_visa"):
    ref = gateway.start_hold(
        campaign_id="cmp_a", pledge_id=pledge_id, email="ada@example.org", amount=Money(1500, "eur")
    )
    client.payment_intents.confirm(ref.intent_id, params={"payment_method": pm})
    p = make_pledge(
        id=pledge_id, campaign_id="cmp_a", status=PledgeStatus.ACTIVE, flow=PaymentFlow.HOLD
    )
    return replace(p, payment=replace(p.payment, intent_id=ref.intent_id))


def test_setup_creates_customer_and_off_session_setup_intent_once(gateway, client, emulator):
    args = dict(
        campaign_id="cmp_a", pledge_id="plg_a", email="a@example.org", amount=Money(1000, "gbp")
    )
    first = gateway.start_setup(**args)
    again = gateway.start_setup(**args)  # a retried pledge request
    assert again == first
    assert len(emulator.customers) == len(emulator.setup_intents) == 1
    intent = client.setup_intents.retrieve(first.intent_id)
    assert intent.usage == "off_session" and intent.customer == first.customer_id
    assert intent.metadata.to_dict() == {"campaign_id": "cmp_a", "pledge_id": "plg_a"}


def test_hold_is_a_manual_capture_payment_intent(gateway, client):
    ref = gateway.start_hold(
        campaign_id="cmp_a", pledge_id="plg_h", email="a@example.org", amount=Money(1500, "eur")
    )
    intent = client.payment_intents.retrieve(ref.intent_id)
    assert (intent.capture_method, intent.amount, intent.currency) == ("manual", 1500, "eur")
    assert intent.metadata["pledge_id"] == "plg_h"


def test_charge_collects_once_even_when_repeated(gateway, client, emulator):
    pledge = _saved(gateway, client, "pm_card_visa")
    first = gateway.charge(pledge, attempt=1, look_up_first=False)
    again = gateway.charge(pledge, attempt=1, look_up_first=False)
    assert first.status is ChargeStatus.SUCCEEDED and again.intent_id == first.intent_id
    assert emulator.succeeded_charges()["plg_a"] == 1


@pytest.mark.parametrize(
    ("pm", "code"),
    [
        ("pm_card_chargeCustomerFail", "card_declined"),
        ("pm_card_authenticationRequired", "authentication_required"),
    ],
)
def test_declines_need_the_backer(gateway, client, pm, code):
    pledge = _saved(gateway, client, pm)
    if pm == "pm_card_authenticationRequired":
        client.setup_intents.confirm(pledge.payment.intent_id)  # 3-D Secure passed at saving
    result = gateway.charge(pledge, attempt=1, look_up_first=False)
    assert result.status is ChargeStatus.NEEDS_BACKER
    assert result.decline_code == code
    assert result.client_secret.startswith(result.intent_id)


def test_a_declined_charge_left_unfinished_is_cancelled(gateway, client, emulator):
    pledge = _saved(gateway, client, "pm_card_chargeCustomerFail")
    declined = gateway.charge(pledge, attempt=1, look_up_first=False)
    first = gateway.cancel_payment(pledge, declined.intent_id)
    again = gateway.cancel_payment(pledge, declined.intent_id)  # a redelivery
    assert first.status is again.status is ChargeStatus.CANCELED
    assert client.payment_intents.retrieve(declined.intent_id).status == "canceled"
    with pytest.raises(stripe.InvalidRequestError):  # it can no longer take money
        client.payment_intents.confirm(
            declined.intent_id, params={"payment_method": "pm_card_visa"}
        )
    assert emulator.succeeded_charges()["plg_a"] == 0


def test_cancelling_a_payment_the_backer_just_made_reports_it_taken(gateway, client):
    pledge = _saved(gateway, client, "pm_card_chargeCustomerFail")
    declined = gateway.charge(pledge, attempt=1, look_up_first=False)
    client.payment_intents.confirm(declined.intent_id, params={"payment_method": "pm_card_visa"})
    assert gateway.cancel_payment(pledge, declined.intent_id).status is ChargeStatus.SUCCEEDED


def test_refund_gives_the_money_back_once(gateway, client, emulator):
    pledge = _saved(gateway, client, "pm_card_visa")
    paid = gateway.charge(pledge, attempt=1, look_up_first=False)
    first = gateway.refund(pledge, paid.intent_id)
    assert gateway.refund(pledge, paid.intent_id) == first  # a redelivery: the same refund
    charge = client.charges.retrieve(client.payment_intents.retrieve(paid.intent_id).latest_charge)
    assert (charge.refunded, charge.amount_refunded) == (True, 1000)
    assert len(emulator.refunds) == 1


def test_a_charge_stripe_refuses_for_good_is_refused_not_retried(gateway, client):
    pledge = _saved(gateway, client, "pm_card_visa")
    gone = replace(pledge, payment=replace(pledge.payment, customer_id="cus_deleted"))
    result = gateway.charge(gone, attempt=1, look_up_first=False)
    assert (result.status, result.reason) == (ChargeStatus.REFUSED, "resource_missing")


def test_a_charge_answered_500_is_an_unknown_outcome(gateway, client, emulator):
    pledge = _saved(gateway, client, "pm_card_visa")
    emulator.faults.update({"share_500": 1.0})
    with pytest.raises(ChargeOutcomeUnknown):
        gateway.charge(pledge, attempt=1, look_up_first=False)
    emulator.faults.update({"share_500": 0.0})
    # The next try looks up first and uses the next attempt's key.
    paid = gateway.charge(pledge, attempt=2, look_up_first=True)
    assert paid.status is ChargeStatus.SUCCEEDED
    assert emulator.succeeded_charges()["plg_a"] == 1


def test_the_api_version_is_the_one_the_sdk_was_generated_for():
    assert stripe.api_version == STRIPE_API_VERSION
    pins = [
        line.strip()
        for line in REQUIREMENTS.read_text().splitlines()
        if line.strip().startswith("stripe")
    ]
    assert pins == [f"stripe=={stripe.VERSION}"]


def test_every_request_uses_cards_only_through_allowed_payment_method_types(
    gateway, client, emulator
):
    setup = gateway.start_setup(
        campaign_id="cmp_a", pledge_id="plg_s", email="a@example.org", amount=Money(1000, "gbp")
    )
    hold = gateway.start_hold(
        campaign_id="cmp_a", pledge_id="plg_t", email="a@example.org", amount=Money(1000, "gbp")
    )
    for intent in (
        client.setup_intents.retrieve(setup.intent_id),
        client.payment_intents.retrieve(hold.intent_id),
    ):
        assert intent.payment_method_types == ["card"]


def test_look_up_first_finds_a_charge_stripe_no_longer_remembers(gateway, client, emulator):
    pledge = _saved(gateway, client, "pm_card_visa")
    made = gateway.charge(pledge, attempt=1, look_up_first=False)
    _a_day_later(emulator)  # Stripe forgot the key
    found = gateway.charge(pledge, attempt=1, look_up_first=True)
    assert found.intent_id == made.intent_id and found.status is ChargeStatus.SUCCEEDED
    # Even a later attempt finds the money already collected.
    assert gateway.charge(pledge, attempt=2, look_up_first=True).intent_id == made.intent_id
    assert emulator.succeeded_charges()["plg_a"] == 1


def test_capture_replays_and_survives_a_forgotten_key(gateway, client, emulator):
    pledge = _held(gateway, client)
    assert gateway.capture(pledge).status is ChargeStatus.SUCCEEDED
    _a_day_later(emulator)
    assert gateway.capture(pledge).status is ChargeStatus.SUCCEEDED
    assert emulator.succeeded_charges()["plg_h"] == 1


def test_capturing_a_cancelled_hold_reports_it_gone(gateway, client, emulator):
    pledge = _held(gateway, client)
    gateway.cancel(pledge)
    assert gateway.capture(pledge).status is ChargeStatus.CANCELED
    gateway.cancel(pledge)  # cancelling again is harmless
    intent = client.payment_intents.retrieve(pledge.payment.intent_id)
    assert (intent.status, intent.amount_received) == ("canceled", 0)
    assert emulator.succeeded_charges()["plg_h"] == 0
    # Only the capture met Stripe's "unexpected state": the second cancel, under
    # the first one's key, is answered with the first one's result.
    assert emulator.requests_summary()["refused_by_code"] == {"payment_intent_unexpected_state": 1}


def test_cancel_of_a_saved_card_is_harmless(gateway, client, emulator):
    pledge = _saved(gateway, client, "pm_card_visa")
    before = client.setup_intents.retrieve(pledge.payment.intent_id)
    gateway.cancel(pledge)  # a succeeded SetupIntent cannot be cancelled: nothing is held
    after = client.setup_intents.retrieve(pledge.payment.intent_id)
    assert (after.status, after.payment_method) == ("succeeded", before.payment_method)
    assert after.payment_method and not emulator.payment_intents
    assert emulator.requests_summary()["refused_by_code"] == {"setup_intent_unexpected_state": 1}
    # The card stays saved: the deadline's charge still collects.
    paid = gateway.charge(pledge, attempt=1, look_up_first=False)
    assert paid.status is ChargeStatus.SUCCEEDED
    assert emulator.succeeded_charges()["plg_a"] == 1


def test_rate_limits_are_retry_later(gateway, emulator):
    emulator.faults.update({"share_429": 1.0})
    with pytest.raises(PaymentProviderUnavailable):
        gateway.start_hold(
            campaign_id="cmp_a", pledge_id="plg_x", email="a@example.org", amount=Money(500, "usd")
        )


def test_server_errors_are_retried_by_the_client_then_retry_later(gateway, emulator):
    emulator.faults.update({"share_500": 1.0})
    with pytest.raises(PaymentProviderUnavailable):
        gateway.start_hold(
            campaign_id="cmp_a", pledge_id="plg_x", email="a@example.org", amount=Money(500, "usd")
        )
    posts = [r for r in emulator.request_log if r["path"] == "/v1/payment_intents"]
    assert len(posts) == 3  # max_network_retries=2, with the same idempotency key


def test_requests_stripe_rejects_are_our_bug(emulator):
    settings = Settings(stripe_secret_key="sk_test_wrong", stripe_api_base=emulator.url)
    with pytest.raises(PaymentProviderError):
        StripeGateway(settings, Secrets(settings)).start_hold(
            campaign_id="cmp_a", pledge_id="plg_x", email="a@example.org", amount=Money(500, "usd")
        )


def test_a_stripe_that_hangs_is_given_up_on_at_the_read_timeout(emulator):
    settings = Settings(
        stripe_secret_key="sk_test_local",
        stripe_api_base=emulator.url,
        stripe_max_network_retries=0,
        stripe_read_timeout_seconds=0.3,
    )
    emulator.faults.update({"latency_ms": 3000})
    started = time.monotonic()
    with pytest.raises(PaymentProviderUnavailable):
        StripeGateway(settings, Secrets(settings)).start_hold(
            campaign_id="cmp_a", pledge_id="plg_x", email="a@example.org", amount=Money(500, "usd")
        )
    assert time.monotonic() - started < 2.5  # not the emulator's 3 s


def test_a_charge_that_took_the_money_then_answered_500_is_found_not_repeated(
    gateway, client, emulator
):
    pledge = _saved(gateway, client, "pm_card_visa")
    emulator.fail_next("500_executed", path_regex=r"^/v1/payment_intents$", method="POST")
    with pytest.raises(ChargeOutcomeUnknown):
        gateway.charge(pledge, attempt=1, look_up_first=False)
    assert emulator.succeeded_charges()["plg_a"] == 1  # Stripe took the money
    with pytest.raises(ChargeOutcomeUnknown):  # and replays its 500 under that key
        gateway.charge(pledge, attempt=1, look_up_first=False)
    found = gateway.charge(pledge, attempt=2, look_up_first=True)
    assert found.status is ChargeStatus.SUCCEEDED
    assert emulator.succeeded_charges()["plg_a"] == 1


def test_every_request_the_gateway_makes_is_one_stripe_accepts(gateway, client, emulator):
    saved = _saved(gateway, client, "pm_card_visa", pledge_id="plg_s1")
    declined = _saved(gateway, client, "pm_card_chargeCustomerFail", pledge_id="plg_s2")
    held = _held(gateway, client)
    paid = gateway.charge(saved, attempt=1, look_up_first=True)
    needs = gateway.charge(declined, attempt=1, look_up_first=False)
    gateway.cancel_payment(declined, needs.intent_id)
    gateway.refund(saved, paid.intent_id, amount=100)
    gateway.refund(saved, paid.intent_id)
    gateway.capture(held)
    gateway.cancel(held)  # nothing is held any more: Stripe says so, and that is fine
    gateway.cancel(saved)
    summary = emulator.requests_summary()
    # Only the two cancels meet Stripe's "unexpected state"; no parameter is refused.
    assert summary["refused_by_code"] == {
        "payment_intent_unexpected_state": 1,
        "setup_intent_unexpected_state": 1,
    }
    assert summary["versions"] == {STRIPE_API_VERSION: summary["total"]}
