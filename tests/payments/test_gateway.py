"""The Stripe payments gateway against the emulator: deterministic idempotency
keys, the error mapping, and the look-up that guards charges older than
Stripe's idempotency memory."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cashmob.config import Settings
from cashmob.domain import Money, PaymentFlow, PledgeStatus
from cashmob.domain.errors import PaymentProviderError, PaymentProviderUnavailable
from cashmob.payments import ChargeStatus
from cashmob.payments.stripe_gateway import StripeGateway
from cashmob.secrets import Secrets
from tests.unit.factories import pledge as make_pledge


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


def test_a_declined_charge_is_flagged_for_the_backer(gateway, client):
    pledge = _saved(gateway, client, "pm_card_chargeCustomerFail")
    result = gateway.charge(pledge, attempt=1, look_up_first=False)
    gateway.flag_needs_backer(pledge, result.intent_id)
    gateway.flag_needs_backer(pledge, result.intent_id)  # a redelivery: same key, same answer
    meta = client.payment_intents.retrieve(result.intent_id).metadata.to_dict()
    assert meta["needs_backer"] == "true" and meta["pledge_id"] == "plg_a"


def test_look_up_first_finds_a_charge_stripe_no_longer_remembers(gateway, client, emulator):
    pledge = _saved(gateway, client, "pm_card_visa")
    made = gateway.charge(pledge, attempt=1, look_up_first=False)
    emulator._idempotent.clear()  # 24 h later: Stripe forgot the key
    found = gateway.charge(pledge, attempt=1, look_up_first=True)
    assert found.intent_id == made.intent_id and found.status is ChargeStatus.SUCCEEDED
    # Even a later attempt finds the money already collected.
    assert gateway.charge(pledge, attempt=2, look_up_first=True).intent_id == made.intent_id
    assert emulator.succeeded_charges()["plg_a"] == 1


def test_capture_replays_and_survives_a_forgotten_key(gateway, client, emulator):
    pledge = _held(gateway, client)
    assert gateway.capture(pledge).status is ChargeStatus.SUCCEEDED
    emulator._idempotent.clear()
    assert gateway.capture(pledge).status is ChargeStatus.SUCCEEDED
    assert emulator.succeeded_charges()["plg_h"] == 1


def test_capturing_a_cancelled_hold_reports_it_gone(gateway, client):
    pledge = _held(gateway, client)
    gateway.cancel(pledge)
    assert gateway.capture(pledge).status is ChargeStatus.CANCELED
    gateway.cancel(pledge)  # cancelling again is harmless


def test_cancel_of_a_saved_card_is_harmless(gateway, client):
    pledge = _saved(gateway, client, "pm_card_visa")
    gateway.cancel(pledge)  # a succeeded SetupIntent cannot be cancelled: nothing is held


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


def test_invalid_requests_are_our_bug(gateway):
    pledge = make_pledge(status=PledgeStatus.ACTIVE, flow=PaymentFlow.HOLD)
    with pytest.raises(PaymentProviderError):
        gateway.capture(replace(pledge, payment=replace(pledge.payment, intent_id="pi_missing")))
