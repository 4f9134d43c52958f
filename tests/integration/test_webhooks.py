"""The Stripe webhook handler: signatures (raw body, both skew directions),
nothing written on refusal, exactly-once activation, late confirmations,
settlement-time events, and any delivery order giving the same result."""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import replace
from datetime import timedelta

import boto3
import pytest
import stripe
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from cashmob.domain import CampaignStatus, PaymentFlow, PledgeStatus
from cashmob.service.settlement import recount
from cashmob_local import template
from tests.events import FakeContext, http_event
from tests.unit.factories import NOW, campaign, pledge

SECRET = "whsec_unit"
_ids = itertools.count()


@pytest.fixture
def webhook(services):
    handler = template.load_handler("StripeWebhookFunction")

    def send(event, *, secret=SECRET, timestamp=None, header=None, raw=None, base64_body=False):
        payload = raw if raw is not None else json.dumps(event)
        ts = int(services.clock.now().timestamp()) if timestamp is None else timestamp
        if header is None:
            header = stripe.WebhookSignature.generate_signature_header(payload, secret, ts)
        body = base64.b64encode(payload.encode()).decode() if base64_body else payload
        request = http_event(
            "POST",
            "/webhooks/stripe",
            raw_body=body,
            headers={"Stripe-Signature": header} if header else {},
            base64=base64_body,
        )
        return handler(request, FakeContext())

    return send


def stripe_event(event_type, obj, *, created=None):
    return {
        "id": f"evt_{next(_ids):06}",
        "object": "event",
        "type": event_type,
        "created": int((created or NOW).timestamp()),
        "data": {"object": obj},
    }


def intent_obj(p, *, status, object_name=None, payment_method="pm_card_visa", **extra):
    setup = p.payment.flow is PaymentFlow.SETUP
    return {
        "id": p.payment.intent_id,
        "object": object_name or ("setup_intent" if setup else "payment_intent"),
        "status": status,
        "payment_method": payment_method,
        "client_secret": p.payment.client_secret,
        "metadata": {"campaign_id": p.campaign_id, "pledge_id": p.id},
        **extra,
    }


def confirmation(p, created=None):
    if p.payment.flow is PaymentFlow.SETUP:
        return stripe_event(
            "setup_intent.succeeded", intent_obj(p, status="succeeded"), created=created
        )
    return stripe_event(
        "payment_intent.amount_capturable_updated",
        intent_obj(p, status="requires_capture"),
        created=created,
    )


def table_counts():
    dynamodb = boto3.client("dynamodb")
    return {
        name: dynamodb.scan(TableName=name, Select="COUNT")["Count"]
        for name in template.table_definitions()
    }


@pytest.fixture
def live(store):
    return store.create_campaign(campaign(deadline=NOW + timedelta(days=3)))


def new_pledge(store, i=0, flow=PaymentFlow.SETUP, campaign_id="cmp_test"):
    p = pledge(id=f"plg_{i:04}", campaign_id=campaign_id, flow=flow, counter_shard=i % 4)
    prefix = "seti" if flow is PaymentFlow.SETUP else "pi"
    return store.create_pledge(replace(p, payment=replace(p.payment, intent_id=f"{prefix}_{i:04}")))


# ---------------------------------------------------------------- verification


@pytest.mark.parametrize(
    "case",
    ["bad_signature", "wrong_secret", "stale", "future", "malformed", "missing", "not_json"],
)
def test_unverified_requests_are_400_and_write_nothing(webhook, store, live, clock, case):
    p = new_pledge(store)
    event = confirmation(p)
    before = table_counts()
    now = int(clock.now().timestamp())
    kwargs = {
        "bad_signature": dict(header=f"t={now},v1={'0' * 64}"),
        "wrong_secret": dict(secret="whsec_someone_else"),
        "stale": dict(timestamp=now - 301),
        "future": dict(timestamp=now + 301),
        "malformed": dict(header="v1=abc,t=notanumber"),
        "missing": dict(header=""),
        "not_json": dict(raw="this is not json"),
    }[case]
    response = webhook(event, **kwargs)
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["code"] == "bad_request"
    assert table_counts() == before
    assert store.get_pledge(p.campaign_id, p.id).status is PledgeStatus.PENDING


def test_skew_within_tolerance_is_accepted_both_ways(webhook, store, live, clock):
    now = int(clock.now().timestamp())
    for i, ts in enumerate((now - 299, now + 299)):
        p = new_pledge(store, i)
        assert webhook(confirmation(p), timestamp=ts)["statusCode"] == 200


def test_base64_bodies_are_verified_on_the_decoded_bytes(webhook, store, live):
    p = new_pledge(store)
    assert webhook(confirmation(p), base64_body=True)["statusCode"] == 200
    assert store.get_pledge(p.campaign_id, p.id).status is PledgeStatus.ACTIVE


def test_unknown_types_and_foreign_objects_are_acknowledged_and_ignored(webhook, store, live):
    before = table_counts()
    response = webhook(stripe_event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["outcome"] == "ignored"
    response = webhook(stripe_event("payment_intent.succeeded", {"id": "pi_x", "metadata": {}}))
    assert json.loads(response["body"])["outcome"] == "ignored"
    assert table_counts() == before


# ---------------------------------------------------------------- activation


def test_a_redelivery_racing_the_first_is_recognised_by_event_id(
    webhook, services, store, live, monkeypatch
):
    p = new_pledge(store)
    event = confirmation(p)
    assert json.loads(webhook(event)["body"])["outcome"] == "pending->active"
    # The second delivery read the pledge before the first one committed.
    monkeypatch.setattr(store, "find_pledge", lambda *_: p)
    assert json.loads(webhook(event)["body"])["outcome"] == "duplicate"
    assert store.progress(live.id).backers == 1


@pytest.mark.parametrize("flow", list(PaymentFlow))
def test_confirmation_activates_and_counts_exactly_once(webhook, store, live, flow):
    p = new_pledge(store, flow=flow)
    event = confirmation(p)
    outcomes = [json.loads(webhook(event)["body"])["outcome"] for _ in range(3)]
    assert outcomes == ["pending->active", "no_change", "no_change"]
    after = store.get_pledge(p.campaign_id, p.id)
    assert after.status is PledgeStatus.ACTIVE
    assert after.payment.payment_method == "pm_card_visa"
    assert after.payment.intent_open is (flow is PaymentFlow.HOLD)
    assert (store.progress(live.id).amount, store.progress(live.id).backers) == (1000, 1)


def test_a_late_hold_confirmation_is_released_and_its_hold_cancelled(
    webhook, store, services, settings, clock
):
    c = store.create_campaign(campaign(deadline=NOW + timedelta(hours=1)))
    p = new_pledge(store, flow=PaymentFlow.HOLD)
    clock.advance(2 * 3600)
    response = webhook(confirmation(p, created=clock.now()))
    assert json.loads(response["body"])["outcome"] == "pending->released"
    assert store.get_pledge(c.id, p.id).status is PledgeStatus.RELEASED
    assert store.progress(c.id).backers == 0
    messages = boto3.client("sqs").receive_message(
        QueueUrl=settings.settlement_queue_url, MaxNumberOfMessages=10
    )["Messages"]
    assert [json.loads(m["Body"]) for m in messages] == [
        {"kind": "pledge", "campaign_id": c.id, "pledge_id": p.id}
    ]


def test_a_confirmation_after_the_campaign_closed_does_not_count(webhook, store, live):
    store.save_campaign(live, live.moved_to(CampaignStatus.CANCELLED))
    p = new_pledge(store)
    assert json.loads(webhook(confirmation(p))["body"])["outcome"] == "pending->released"
    assert store.progress(live.id).backers == 0


def test_a_cancelled_pledge_is_not_revived_by_a_late_confirmation(webhook, store, live):
    p = new_pledge(store)
    store.save_pledge(p, p.moved_to(PledgeStatus.CANCELLED), open_campaign_at=NOW)
    assert json.loads(webhook(confirmation(p))["body"])["outcome"] == "no_change"
    assert store.get_pledge(p.campaign_id, p.id).status is PledgeStatus.CANCELLED


# ---------------------------------------------------------------- settlement-time events


def _active(store, i=0, flow=PaymentFlow.SETUP):
    p = new_pledge(store, i, flow=flow)
    return store.save_pledge(
        p, p.moved_to(PledgeStatus.ACTIVE, activated_at=NOW), open_campaign_at=NOW
    )


def test_a_failed_off_session_charge_needs_the_backer(webhook, store, live, settings):
    p = _active(store)
    charge = {
        "id": "pi_charge_1",
        "object": "payment_intent",
        "status": "requires_payment_method",
        "client_secret": "pi_charge_1_secret_x",
        "last_payment_error": {"code": "authentication_required"},
        "metadata": {"campaign_id": p.campaign_id, "pledge_id": p.id, "attempt": "1"},
    }
    webhook(stripe_event("payment_intent.payment_failed", charge))
    after = store.get_pledge(p.campaign_id, p.id)
    assert after.status is PledgeStatus.ACTION_REQUIRED
    assert after.client_secret_for_backer == "pi_charge_1_secret_x"
    assert after.grace_until == NOW + settings.grace_period
    # The backer finishes it (the worker flagged the declined intent); its success collects.
    flagged = {**charge, "metadata": {**charge["metadata"], "needs_backer": "true"}}
    webhook(stripe_event("payment_intent.succeeded", {**flagged, "status": "succeeded"}))
    assert store.get_pledge(p.campaign_id, p.id).status is PledgeStatus.COLLECTED
    assert store.progress(live.id).backers == 1


def test_successes_of_the_workers_own_charges_cost_nothing(webhook, store, live):
    p = _active(store)
    before = table_counts()
    charge = {
        "id": "pi_charge_2",
        "object": "payment_intent",
        "status": "succeeded",
        "metadata": {"campaign_id": p.campaign_id, "pledge_id": p.id, "attempt": "1"},
    }
    response = webhook(stripe_event("payment_intent.succeeded", charge))
    assert json.loads(response["body"])["outcome"] == "settlement_owns_it"
    assert table_counts() == before
    assert store.get_pledge(p.campaign_id, p.id).status is PledgeStatus.ACTIVE


def test_refund_and_dispute(webhook, store, live, aws):
    p = _active(store)
    collected = store.save_pledge(p, p.moved_to(PledgeStatus.COLLECTED))
    meta = {"campaign_id": p.campaign_id, "pledge_id": p.id}
    partial = {"id": "ch_1", "object": "charge", "refunded": False, "metadata": meta}
    assert (
        json.loads(webhook(stripe_event("charge.refunded", partial))["body"])["outcome"]
        == "no_change"
    )
    webhook(stripe_event("charge.refunded", {**partial, "refunded": True}))
    assert store.get_pledge(p.campaign_id, p.id).status is PledgeStatus.REFUNDED
    assert store.progress(live.id).backers == 0
    assert collected.revision is not None
    dispute = {
        "id": "dp_1",
        "object": "dispute",
        "charge": "ch_1",
        "amount": 1000,
        "currency": "gbp",
    }
    response = webhook(stripe_event("charge.dispute.created", dispute))
    assert json.loads(response["body"])["outcome"] == "published"


def test_a_cancelled_hold_stops_counting(webhook, store, live):
    p = _active(store, flow=PaymentFlow.HOLD)
    webhook(stripe_event("payment_intent.canceled", intent_obj(p, status="canceled")))
    after = store.get_pledge(p.campaign_id, p.id)
    assert (after.status, after.payment.intent_open) == (PledgeStatus.RELEASED, False)
    assert store.progress(live.id).backers == 0


# ---------------------------------------------------------------- any order, any duplicates


def lifecycle(p, story):
    """The events Stripe emits for one pledge, in Stripe's order."""
    events = []
    if story in ("declined_then_ok", "declined"):
        if p.payment.flow is PaymentFlow.SETUP:
            events.append(
                stripe_event(
                    "setup_intent.setup_failed", intent_obj(p, status="requires_payment_method")
                )
            )
        else:
            events.append(
                stripe_event(
                    "payment_intent.payment_failed", intent_obj(p, status="requires_payment_method")
                )
            )
    if story in ("ok", "declined_then_ok", "ok_then_cancelled"):
        events.append(confirmation(p))
    if story == "ok_then_cancelled" and p.payment.flow is PaymentFlow.HOLD:
        events.append(stripe_event("payment_intent.canceled", intent_obj(p, status="canceled")))
    return events


@hsettings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.data(),
    stories=st.lists(
        st.tuples(
            st.sampled_from(list(PaymentFlow)),
            st.sampled_from(["ok", "declined", "declined_then_ok", "ok_then_cancelled"]),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_any_delivery_order_gives_the_in_order_result(webhook, services, stories, data):
    store = services.store
    results = {}
    for run, shuffle in (("in_order", False), ("chaos", True)):
        c = store.create_campaign(
            campaign(id=f"cmp_{run}_{next(_ids)}", deadline=NOW + timedelta(days=3))
        )
        pledges = []
        for i, (flow, story) in enumerate(stories):
            pledges.append((new_pledge(store, i, flow, campaign_id=c.id), story))
        events = [e for p, story in pledges for e in lifecycle(p, story)]
        if shuffle:
            copies = data.draw(
                st.lists(st.integers(1, 3), min_size=len(events), max_size=len(events))
            )
            deliveries = [e for e, n in zip(events, copies, strict=True) for _ in range(n)]
            deliveries = data.draw(st.permutations(deliveries))
        else:
            deliveries = events
        for event in deliveries:
            assert webhook(event)["statusCode"] == 200
        results[run] = sorted((p.id, p.status.value) for p in store.all_pledges(c.id))
        progress = store.progress(c.id)
        exact = recount(services, c.id)
        assert (progress.amount, progress.backers) == (exact.amount, exact.backers)
    assert results["chaos"] == results["in_order"]
