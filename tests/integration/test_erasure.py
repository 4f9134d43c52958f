"""Erasure against moto and the Stripe emulator through the real gateway: the
personal data leaves the DynamoDB item itself (not only the API's answers)
and the Stripe Customer; the amounts and Stripe references stay."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import timedelta

import boto3
import pytest
import stripe

from cashmob import tokens
from cashmob.domain import (
    Backer,
    CampaignStatus,
    Money,
    Outcome,
    PaymentFlow,
    PledgeStatus,
    Settlement,
)
from cashmob.service import erasure
from cashmob_local import template
from tests.events import FakeContext, http_event
from tests.unit.factories import campaign, pledge

logging.getLogger("werkzeug").setLevel(logging.ERROR)
api = template.load_handler("ApiFunction")
PERSONAL = {"email", "display_name", "message"}


def raw_item(campaign_id, pledge_id):
    return boto3.client("dynamodb").get_item(
        TableName="PledgesTable",
        Key={"campaign_id": {"S": campaign_id}, "pledge_id": {"S": pledge_id}},
        ConsistentRead=True,
    )["Item"]


def seeded(services, gateway, client, pid="plg_ada", cid="cmp_erase"):
    """A live campaign and an active setup-flow pledge with a real Stripe
    Customer; the pledge's token."""
    store, now = services.store, services.clock.now()
    store.create_campaign(campaign(id=cid, created_at=now, deadline=now + timedelta(days=10)))
    ref = gateway.start_setup(
        campaign_id=cid, pledge_id=pid, email=f"{pid}@example.org", amount=Money(1500, "gbp")
    )
    client.setup_intents.confirm(ref.intent_id, params={"payment_method": "pm_card_visa"})
    token = tokens.issue(services.settings.pledge_token_secret, pid)
    p = pledge(
        id=pid,
        campaign_id=cid,
        amount=Money(1500, "gbp"),
        backer=Backer(email=f"{pid}@example.org", display_name="Ada", message="Go on!"),
        token_hash=tokens.digest(token),
    )
    p = store.create_pledge(
        replace(
            p,
            payment=replace(
                p.payment,
                intent_id=ref.intent_id,
                client_secret=ref.client_secret,
                customer_id=ref.customer_id,
            ),
        )
    )
    store.save_pledge(p, p.moved_to(PledgeStatus.ACTIVE, activated_at=now), open_campaign_at=now)
    return token, ref.customer_id


def test_erasure_removes_the_data_from_the_item_and_the_stripe_customer(services, real_stripe):
    gateway, client = real_stripe
    token, customer = seeded(services, gateway, client)
    before = raw_item("cmp_erase", "plg_ada")
    assert set(before) >= PERSONAL
    assert client.customers.retrieve(customer).email == "plg_ada@example.org"

    response = api(
        http_event(
            "POST",
            "/campaigns/cmp_erase/pledges/plg_ada/erase",
            headers={"X-Pledge-Token": token},
        ),
        FakeContext(),
    )
    assert response["statusCode"] == 200, response
    body = json.loads(response["body"])
    assert (body["email"], body["display_name"], body["message"]) == (None, None, None)
    assert (body["amount"], body["status"]) == (1500, "active")

    after = raw_item("cmp_erase", "plg_ada")
    assert not PERSONAL & set(after)
    assert "plg_ada@example.org" not in json.dumps(after)
    kept = ("amount", "currency", "status", "intent_id", "customer_id", "token_hash")
    assert {k: after[k] for k in kept} == {k: before[k] for k in kept}
    # Stripe: the Customer keeps its id, metadata and card, loses the address
    stripe_customer = client.customers.retrieve(customer)
    assert stripe_customer.email is None
    assert stripe_customer.metadata.to_dict()["pledge_id"] == "plg_ada"


def test_the_retention_sweep_erases_what_is_due_in_dynamodb_and_stripe(
    services, real_stripe, clock
):
    gateway, client = real_stripe
    _, old_customer = seeded(services, gateway, client, "plg_old", "cmp_old")
    _, new_customer = seeded(services, gateway, client, "plg_new", "cmp_new")
    store = services.store
    for cid, days in (("cmp_old", 91), ("cmp_new", 60)):
        c = store.get_campaign(cid)
        locked = store.save_campaign(
            c, replace(c, status=CampaignStatus.SETTLING, next_check_at=None)
        )
        settled_at = clock.now() - timedelta(days=days)
        store.save_campaign(
            locked,
            replace(
                locked,
                status=CampaignStatus.SUCCEEDED,
                outcome=Outcome.SUCCEEDED,
                settlement=Settlement(Outcome.SUCCEEDED, 1500, 1, 0, 0, 0, settled_at),
            ),
        )
    assert erasure.retention_sweep(services) == {"erased": 1, "campaigns_erased": 1}
    assert not PERSONAL & set(raw_item("cmp_old", "plg_old"))
    assert set(raw_item("cmp_new", "plg_new")) >= PERSONAL
    assert client.customers.retrieve(old_customer).email is None
    assert client.customers.retrieve(new_customer).email == "plg_new@example.org"
    # 30 days on (and a new hour), the newer campaign's turn
    clock.advance(31 * 86400)
    assert erasure.retention_sweep(services) == {"erased": 1, "campaigns_erased": 1}
    assert not PERSONAL & set(raw_item("cmp_new", "plg_new"))
    assert client.customers.retrieve(new_customer).email is None
    assert erasure.retention_sweep(services) == {"erased": 0, "campaigns_erased": 0}


def test_the_emulator_lets_only_a_customers_email_be_unset(real_stripe):
    """Stripe unsets a Customer's email on "" (its changelog, 2013-08-12),
    though the generated types say `str`; other plain strings stay refused."""
    _, client = real_stripe
    customer = client.customers.create(params={"email": "a@example.org", "name": "Ada"})
    assert client.customers.update(customer.id, params={"email": ""}).email is None
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.customers.update(customer.id, params={"name": ""})
    assert refused.value.code == "parameter_invalid_empty"
    assert client.customers.retrieve(customer.id).name == "Ada"


def test_a_hold_loses_its_receipt_email(services, real_stripe):
    gateway, client = real_stripe
    now = services.clock.now()
    services.store.create_campaign(
        campaign(id="cmp_hold", created_at=now, deadline=now + timedelta(days=2))
    )
    ref = gateway.start_hold(
        campaign_id="cmp_hold",
        pledge_id="plg_hold",
        email="h@example.org",
        amount=Money(900, "gbp"),
    )
    client.payment_intents.confirm(ref.intent_id, params={"payment_method": "pm_card_visa"})
    p = pledge(id="plg_hold", campaign_id="cmp_hold", flow=PaymentFlow.HOLD)
    p = services.store.create_pledge(
        replace(p, payment=replace(p.payment, intent_id=ref.intent_id, customer_id=None))
    )
    assert client.payment_intents.retrieve(ref.intent_id).receipt_email == "h@example.org"
    erased = erasure.erase_pledge(services, p)
    assert erased.backer.erased
    intent = client.payment_intents.retrieve(ref.intent_id)
    assert intent.receipt_email is None
    assert (intent.amount, intent.status) == (900, "requires_capture")
