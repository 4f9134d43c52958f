"""The gateway charges a `fixed_price` fair share (`Pledge.share`): a hold is
captured in part (`amount_to_capture`), a saved card is charged the share,
and a pledge without a share is charged its amount, as before."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cashmob.config import Settings
from cashmob.domain import Money, PaymentFlow, PledgeStatus
from cashmob.payments import ChargeStatus
from cashmob.payments.stripe_gateway import StripeGateway
from cashmob.secrets import Secrets
from tests.unit.factories import pledge as make_pledge


@pytest.fixture
def gateway(emulator):
    settings = Settings(stripe_secret_key="sk_test_local", stripe_api_base=emulator.url)
    return StripeGateway(settings, Secrets(settings))


def held(gateway, client, pledge_id, share=None):
    amount = Money(1500, "gbp")
    ref = gateway.start_hold(
        campaign_id="cmp_f", pledge_id=pledge_id, email="ada@example.org", amount=amount
    )
    client.payment_intents.confirm(ref.intent_id, params={"payment_method": "pm_card_visa"})
    p = make_pledge(
        id=pledge_id, campaign_id="cmp_f", status=PledgeStatus.ACTIVE, flow=PaymentFlow.HOLD
    )
    return replace(
        p, amount=amount, share=share, payment=replace(p.payment, intent_id=ref.intent_id)
    )


def saved(gateway, client, pledge_id, share=None):
    amount = Money(1500, "gbp")
    ref = gateway.start_setup(
        campaign_id="cmp_f", pledge_id=pledge_id, email="ada@example.org", amount=amount
    )
    client.setup_intents.confirm(ref.intent_id, params={"payment_method": "pm_card_visa"})
    p = make_pledge(id=pledge_id, campaign_id="cmp_f", status=PledgeStatus.ACTIVE)
    payment = replace(
        p.payment,
        intent_id=ref.intent_id,
        customer_id=ref.customer_id,
        payment_method="pm_card_visa",
        intent_open=False,
    )
    return replace(p, amount=amount, share=share, payment=payment)


def test_a_hold_is_captured_in_part_for_a_fair_share(gateway, client):
    p = held(gateway, client, "plg_h1", share=1154)
    result = gateway.capture(p, attempt=0)
    assert result.status is ChargeStatus.SUCCEEDED
    intent = client.payment_intents.retrieve(p.payment.intent_id)
    assert (intent.amount, intent.amount_received, intent.amount_capturable) == (1500, 1154, 0)
    # a retry under the same key answers the same, and takes nothing more
    assert gateway.capture(p, attempt=0).status is ChargeStatus.SUCCEEDED
    assert client.payment_intents.retrieve(p.payment.intent_id).amount_received == 1154


def test_a_hold_without_a_share_is_captured_whole(gateway, client):
    p = held(gateway, client, "plg_h2")
    assert gateway.capture(p, attempt=0).status is ChargeStatus.SUCCEEDED
    assert client.payment_intents.retrieve(p.payment.intent_id).amount_received == 1500


def test_a_saved_card_is_charged_the_share(gateway, client):
    p = saved(gateway, client, "plg_s1", share=999)
    result = gateway.charge(p, attempt=1, look_up_first=False)
    assert result.status is ChargeStatus.SUCCEEDED
    intent = client.payment_intents.retrieve(result.intent_id)
    assert (intent.amount, intent.amount_received) == (999, 999)
