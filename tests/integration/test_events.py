"""Domain events, path by path: each README-listed event is published by
every path that makes it happen (the API's use cases, the settlement worker,
the Stripe webhook), exactly once, with its detail and, where one exists, its
metric beside it. FakeEvents checks every detail against its JSON Schema.
The last tests put the real EventBridge adapter on moto's bus."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import boto3
import pytest

from cashmob import observability
from cashmob.domain import CampaignStatus, FundingModel, Outcome, PaymentFlow, PledgeStatus
from cashmob.domain.events import (
    CampaignCancelled,
    CampaignCreated,
    CampaignFailed,
    CampaignSucceeded,
    PaymentDisputed,
    PledgeActionRequired,
    PledgeCancelled,
    PledgeCollected,
    PledgeFailed,
    PledgeLatePaymentRefunded,
    PledgeReleased,
    PledgeReminder,
)
from cashmob.domain.schedule import CHECK_INTERVAL
from cashmob.messaging import EventPublisher
from cashmob.service import campaigns, pledges
from cashmob.service.publishing import METRICS
from tests.events import FakeContext
from tests.fakes import FakeEvents, Intent
from tests.integration.settling import (
    charge_obj,
    drain,
    seed,
    send_webhook,
    settle,
    stripe_event,
    sweep_handler,
    to_grace_end,
)
from tests.unit.factories import NOW, campaign, pledge

EVENT_METRICS = set(METRICS.values())


@pytest.fixture(autouse=True)
def events(services):
    fake = FakeEvents()
    services.events = fake
    return fake


@pytest.fixture(autouse=True)
def counted(monkeypatch):
    """The metrics the use cases add (name -> count), beside their events."""
    seen: Counter = Counter()
    add = observability.metrics.add_metric

    def spy(**metric):
        seen[metric["name"]] += metric["value"]
        return add(**metric)

    monkeypatch.setattr(observability.metrics, "add_metric", spy)
    return seen


def event_metrics(counted: Counter) -> dict[str, int]:
    return {name: n for name, n in counted.items() if name in EVENT_METRICS}


def money(pledge_id: str, campaign_id: str = "cmp_test", amount: int = 1000) -> dict:
    return {"campaign_id": campaign_id, "pledge_id": pledge_id, "amount": amount, "currency": "gbp"}


def hold_obj(p, status: str, **extra) -> dict:
    return {
        "id": p.payment.intent_id,
        "object": "payment_intent",
        "status": status,
        "amount": p.amount.amount,
        "amount_capturable": p.amount.amount if status == "requires_capture" else 0,
        "currency": p.amount.currency,
        "metadata": {"campaign_id": p.campaign_id, "pledge_id": p.id},
        **extra,
    }


def active(store, i: int, flow=PaymentFlow.SETUP, campaign_id="cmp_test"):
    """As the webhook leaves it: a hold stays open, a saved card holds nothing."""
    p = pledge(id=f"plg_{i:03}", campaign_id=campaign_id, flow=flow, counter_shard=i % 3)
    prefix = "seti" if flow is PaymentFlow.SETUP else "pi"
    held = flow is PaymentFlow.HOLD
    payment = replace(p.payment, intent_id=f"{prefix}_{p.id}", intent_open=held)
    p = store.create_pledge(replace(p, payment=payment))
    return store.save_pledge(
        p, p.moved_to(PledgeStatus.ACTIVE, activated_at=NOW), open_campaign_at=NOW
    )


# ---------------------------------------------------------------- the API's use cases


def create_campaign(services, clock) -> dict:
    return campaigns.create(
        services,
        organizer="alice",
        title="Ad",
        description="",
        goal_amount=5000,
        goal_currency="gbp",
        deadline=clock.now() + timedelta(days=3),
        funding_model=FundingModel.ALL_OR_NOTHING,
        min_backers=0,
        min_pledge_amount=None,
        min_pledge_currency=None,
    )


def test_creating_a_campaign_publishes_campaign_created(services, events, clock):
    body = create_campaign(services, clock)
    assert events.events == [CampaignCreated(body["id"], "alice")]
    assert events.published == [
        ("CampaignCreated", {"campaign_id": body["id"], "organizer": "alice"})
    ]


def test_a_backer_cancelling_publishes_pledge_cancelled(services, store, gateway, events, clock):
    store.create_campaign(campaign(deadline=NOW + timedelta(days=3)))
    body = {"amount": 1000, "currency": "gbp", "email": "ada@example.org"}
    made, _ = pledges.create(services, "cmp_test", "key-1", body)
    assert events.events == []  # a new pledge is no news
    pledge_id = made["pledge"]["id"]
    pledges.cancel(services, "cmp_test", pledge_id, made["pledge_token"])
    assert events.events == [PledgeCancelled("cmp_test", pledge_id)]
    with pytest.raises(Exception, match="cannot move"):  # a second cancel publishes nothing
        pledges.cancel(services, "cmp_test", pledge_id, made["pledge_token"])
    assert len(events.events) == 1


def test_cancelling_a_campaign_publishes_it_then_the_worker_releases_each_pledge(
    services, settings, store, gateway, events
):
    c = seed(
        store, statuses=[PledgeStatus.ACTIVE] * 2 + [PledgeStatus.PENDING], flow=PaymentFlow.HOLD
    )
    campaigns.cancel(services, c.id, "alice")
    assert events.events == [CampaignCancelled(c.id)]
    drain(settings)
    released = [PledgeReleased(**money(f"plg_{i:03}")) for i in range(3)]
    assert Counter(events.events[1:]) == Counter(released)
    sweep_handler({}, FakeContext())  # a cancelled campaign's completion announces nothing
    drain(settings)
    assert len(events.events) == 4


# ---------------------------------------------------------------- the settlement worker


@pytest.mark.parametrize("flow", list(PaymentFlow))
def test_a_campaign_that_collects_publishes_each_collection_then_its_success(
    services, settings, store, clock, gateway, events, counted, flow
):
    c = seed(
        store, goal=3000, statuses=[PledgeStatus.ACTIVE] * 3 + [PledgeStatus.PENDING], flow=flow
    )
    settle(services, settings, clock)
    collected = [PledgeCollected(**money(f"plg_{i:03}"), charged=1000) for i in range(3)]
    assert Counter(events.events[:-1]) == Counter(collected)  # the pending one expires silently
    assert events.events[-1] == CampaignSucceeded(c.id, collected=3000, backers=3)
    assert event_metrics(counted) == {"PledgesCollected": 3}
    settle(services, settings, clock)  # later checks and redeliveries: nothing new
    assert len(events.events) == 4


def test_a_campaign_that_misses_its_goal_publishes_each_release_then_its_failure(
    services, settings, store, clock, gateway, events, counted
):
    c = seed(store, goal=100_000, statuses=[])
    active(store, 0)  # nothing left at Stripe to cancel
    active(store, 1, flow=PaymentFlow.HOLD)
    settle(services, settings, clock)
    assert gateway.named("cancel") == ["plg_001"]
    released = [PledgeReleased(**money(f"plg_{i:03}")) for i in range(2)]
    assert Counter(events.events[:-1]) == Counter(released)
    assert events.events[-1] == CampaignFailed(c.id, collected=0, backers=0)
    assert events.published[-1] == (
        "CampaignFailed",
        {"campaign_id": c.id, "collected": 0, "backers": 0},
    )
    assert event_metrics(counted) == {}


@pytest.mark.parametrize("flow", list(PaymentFlow))
def test_a_charge_stripe_refuses_publishes_pledge_failed_with_its_code(
    services, settings, store, clock, gateway, events, counted, flow
):
    c = seed(store, goal=1000, statuses=[PledgeStatus.ACTIVE] * 2, flow=flow)
    gateway.refusals["plg_001"] = "amount_too_small"
    settle(services, settings, clock)
    assert Counter(events.events) == Counter(
        [
            PledgeCollected(**money("plg_000"), charged=1000),
            PledgeFailed(**money("plg_001"), reason="amount_too_small"),
            CampaignSucceeded(c.id, collected=1000, backers=1),
        ]
    )
    assert event_metrics(counted) == {"PledgesCollected": 1, "PledgesFailed": 1}


def test_a_hold_stripe_let_lapse_publishes_pledge_failed_hold_expired(
    services, settings, store, clock, gateway, events, counted
):
    c = seed(store, goal=1000, statuses=[PledgeStatus.ACTIVE] * 2, flow=PaymentFlow.HOLD)
    gateway.expired_holds.add("plg_000")
    settle(services, settings, clock)
    assert Counter(events.events) == Counter(
        [
            PledgeFailed(**money("plg_000"), reason="hold_expired"),
            PledgeCollected(**money("plg_001"), charged=1000),
            CampaignSucceeded(c.id, collected=1000, backers=1),
        ]
    )
    assert event_metrics(counted) == {"PledgesCollected": 1, "PledgesFailed": 1}


def declined(services, settings, store, clock, gateway, events):
    """plg_001's charge needs the backer at the deadline; plg_000 collects."""
    c = seed(store, goal=1000, statuses=[PledgeStatus.ACTIVE] * 2)
    gateway.declines.add("plg_001")
    settle(services, settings, clock)
    stuck = store.get_pledge(c.id, "plg_001")
    assert stuck.status is PledgeStatus.ACTION_REQUIRED
    until = stuck.grace_until
    assert until == NOW + timedelta(hours=2) + settings.grace_period
    assert Counter(events.events) == Counter(
        [
            PledgeCollected(**money("plg_000"), charged=1000),
            PledgeActionRequired(**money("plg_001"), decline_code="card_declined", until=until),
            CampaignSucceeded(c.id, collected=1000, backers=1),
        ]
    )
    detail = events.named("PledgeActionRequired")[0]
    assert detail == {
        **money("plg_001"),
        "decline_code": "card_declined",
        "until": until.isoformat(),
    }
    events.events.clear()
    return c, stuck


def test_a_grace_period_that_ends_unpaid_publishes_reminders_then_pledge_failed(
    services, settings, store, clock, gateway, events, counted
):
    c, stuck = declined(services, settings, store, clock, gateway, events)
    counted.clear()
    to_grace_end(settings, clock)
    reminder = PledgeReminder(**money("plg_001"), until=stuck.grace_until)
    failed = PledgeFailed(**money("plg_001"), reason="grace_period_ended")
    assert events.events == [reminder, reminder, reminder, failed]
    assert event_metrics(counted) == {"PledgesFailed": 1}
    clock.advance(CHECK_INTERVAL.total_seconds())
    sweep_handler({}, FakeContext())  # the totals are refreshed: the campaign ended already
    drain(settings)
    assert events.events == [reminder, reminder, reminder, failed]
    assert store.get_campaign(c.id).settlement.failed == 1000


def test_a_grace_period_the_backer_pays_at_its_end_publishes_pledge_collected(
    services, settings, store, clock, gateway, events, counted, monkeypatch
):
    _, stuck = declined(services, settings, store, clock, gateway, events)
    counted.clear()
    cancel_payment = gateway.cancel_payment

    def paid_just_before(p, intent_id):
        if intent_id == stuck.payment.charge_intent_id:
            gateway.pay(intent_id)
        return cancel_payment(p, intent_id)

    monkeypatch.setattr(gateway, "cancel_payment", paid_just_before)
    to_grace_end(settings, clock)
    assert events.events[-1] == PledgeCollected(**money("plg_001"), charged=1000)
    assert {type(e) for e in events.events[:-1]} == {PledgeReminder}
    assert event_metrics(counted) == {"PledgesCollected": 1}


def test_two_payments_at_the_end_of_a_grace_period_publish_the_collection_and_the_refund(
    services, settings, store, clock, gateway, events, counted, monkeypatch
):
    _, stuck = declined(services, settings, store, clock, gateway, events)
    counted.clear()
    gateway.declines.discard("plg_001")  # the last attempt succeeds
    cancel_payment = gateway.cancel_payment

    def paid_just_before(p, intent_id):
        gateway.pay(intent_id)
        return cancel_payment(p, intent_id)

    monkeypatch.setattr(gateway, "cancel_payment", paid_just_before)
    to_grace_end(settings, clock)
    last = [e for e in events.events if not isinstance(e, PledgeReminder)]
    assert last == [
        PledgeCollected(**money("plg_001"), charged=1000),
        PledgeLatePaymentRefunded(**money("plg_001"), intent_id=stuck.payment.charge_intent_id),
    ]
    assert event_metrics(counted) == {"PledgesCollected": 1, "LatePaymentsRefunded": 1}


# ---------------------------------------------------------------- the Stripe webhook


def charging(store, i: int = 0):
    """An active setup-flow pledge whose settlement charge the worker recorded."""
    p = active(store, i)
    payment = replace(p.payment, charge_attempt=1, charge_recorded_at=NOW)
    return store.save_pledge(p, replace(p, payment=payment))


@pytest.fixture
def live(store):
    return store.create_campaign(campaign(deadline=NOW + timedelta(days=3)))


def test_the_webhook_publishes_action_required_then_collected(
    services, settings, store, clock, live, events, counted
):
    p = charging(store)
    failed = charge_obj(p, "pi_charge_1", "requires_payment_method", code="authentication_required")
    answer = send_webhook(services, stripe_event("payment_intent.payment_failed", failed, services))
    assert answer["outcome"] == "active->action_required"
    until = NOW + settings.grace_period
    assert events.events == [
        PledgeActionRequired(**money(p.id), decline_code="authentication_required", until=until)
    ]
    paid = charge_obj(p, "pi_charge_1", "succeeded")
    answer = send_webhook(services, stripe_event("payment_intent.succeeded", paid, services))
    assert answer["outcome"] == "action_required->collected"
    assert events.events[1:] == [PledgeCollected(**money(p.id), charged=1000)]
    assert event_metrics(counted) == {"PledgesCollected": 1}
    # Stripe redelivers both, and sends another event for the same payment: nothing new.
    send_webhook(services, stripe_event("payment_intent.succeeded", paid, services))
    assert len(events.events) == 2


def test_a_race_between_two_deliveries_publishes_once(
    services, store, clock, live, events, monkeypatch
):
    """Two events for the same payment both read the pledge in its grace
    period; the second's write loses (conditional) and publishes nothing."""
    p = charging(store)
    failed = charge_obj(p, "pi_charge_1", "requires_payment_method")
    send_webhook(services, stripe_event("payment_intent.payment_failed", failed, services))
    waiting = store.get_pledge(p.campaign_id, p.id)
    paid = charge_obj(p, "pi_charge_1", "succeeded")
    send_webhook(services, stripe_event("payment_intent.succeeded", paid, services))
    find = store.find_pledge
    stale = iter([waiting])
    monkeypatch.setattr(store, "find_pledge", lambda *a: next(stale, None) or find(*a))
    answer = send_webhook(services, stripe_event("payment_intent.succeeded", paid, services))
    assert answer["outcome"] == "no_change"  # lost the write, read again
    assert [e.detail_type for e in events.events] == ["PledgeActionRequired", "PledgeCollected"]


def test_the_webhook_publishes_released_when_a_hold_is_cancelled_before_the_deadline(
    services, store, clock, live, events
):
    p = active(store, 0, flow=PaymentFlow.HOLD)
    lapsed = hold_obj(p, "canceled", cancellation_reason="automatic")
    send_webhook(services, stripe_event("payment_intent.canceled", lapsed, services))
    assert events.events == [PledgeReleased(**money(p.id))]


def test_the_webhook_publishes_released_for_a_pending_pledge_whose_setup_is_cancelled(
    services, store, clock, live, events
):
    p = pledge(id="plg_pending")
    p = store.create_pledge(replace(p, payment=replace(p.payment, intent_id="seti_pending")))
    cancelled = {
        "id": "seti_pending",
        "object": "setup_intent",
        "status": "canceled",
        "metadata": {"campaign_id": p.campaign_id, "pledge_id": p.id},
    }
    answer = send_webhook(services, stripe_event("setup_intent.canceled", cancelled, services))
    assert answer["outcome"] == "pending->released"
    assert events.events == [PledgeReleased(**money(p.id))]


def test_the_webhook_publishes_failed_hold_expired_once_the_campaign_collects(
    services, store, clock, live, events, counted
):
    p = active(store, 0, flow=PaymentFlow.HOLD)
    settling = store.save_campaign(live, live.moved_to(CampaignStatus.SETTLING))
    store.save_campaign(settling, replace(settling, outcome=Outcome.SUCCEEDED))
    lapsed = hold_obj(p, "canceled", cancellation_reason="automatic")
    answer = send_webhook(services, stripe_event("payment_intent.canceled", lapsed, services))
    assert answer["outcome"] == "active->failed"
    assert events.events == [PledgeFailed(**money(p.id), reason="hold_expired")]
    assert event_metrics(counted) == {"PledgesFailed": 1}


def test_the_webhook_publishes_released_for_a_confirmation_after_the_deadline(
    services, settings, store, clock, events
):
    store.create_campaign(campaign(deadline=NOW + timedelta(hours=1)))
    p = pledge(id="plg_late", flow=PaymentFlow.HOLD)
    p = store.create_pledge(replace(p, payment=replace(p.payment, intent_id="pi_late")))
    clock.advance(2 * 3600)
    held = hold_obj(p, "requires_capture")
    answer = send_webhook(
        services, stripe_event("payment_intent.amount_capturable_updated", held, services)
    )
    assert answer["outcome"] == "pending->released"
    assert events.events == [PledgeReleased(**money(p.id))]


def test_a_payment_for_a_finished_pledge_is_refunded_by_the_worker_and_published(
    services, settings, store, clock, gateway, live, events, counted
):
    p = charging(store)
    failed = charge_obj(p, "pi_charge_1", "requires_payment_method")
    send_webhook(services, stripe_event("payment_intent.payment_failed", failed, services))
    waiting = store.get_pledge(p.campaign_id, p.id)
    store.save_pledge(waiting, waiting.failed("grace_period_ended"))
    events.events.clear()
    gateway.intents["pi_charge_1"] = Intent("pi_charge_1", p.id, "succeeded", 1)
    paid = stripe_event(
        "payment_intent.succeeded", charge_obj(p, "pi_charge_1", "succeeded"), services
    )
    for _ in range(2):  # Stripe redelivers
        assert send_webhook(services, paid)["outcome"] == "refund_late"
    assert events.events == []  # the webhook only asks the worker
    drain(settings)
    assert events.events == [PledgeLatePaymentRefunded(**money(p.id), intent_id="pi_charge_1")]
    assert event_metrics(counted) == {"LatePaymentsRefunded": 1}


def test_a_dispute_is_published_as_stripe_sent_it(services, clock, events):
    dispute = {
        "id": "dp_1",
        "object": "dispute",
        "charge": "ch_1",
        "payment_intent": "pi_1",
        "amount": 1000,
        "currency": "gbp",
        "reason": "fraudulent",
        "evidence": {"customer_email_address": "ada@example.org"},
    }
    answer = send_webhook(services, stripe_event("charge.dispute.created", dispute, services))
    assert answer["outcome"] == "published"
    assert events.published == [
        (
            "PaymentDisputed",
            {
                "id": "dp_1",
                "charge": "ch_1",
                "payment_intent": "pi_1",
                "amount": 1000,
                "currency": "gbp",
                "reason": "fraudulent",
            },
        )
    ]
    odd = {"id": {"x": 1}, "amount": "lots", "reason": ["a"] * 10}
    send_webhook(services, stripe_event("charge.dispute.created", odd, services))
    assert events.events[-1] == PaymentDisputed(None, None, None, None, None, None)


# ---------------------------------------------------------------- the EventBridge adapter


@pytest.fixture
def bus_queue(aws):
    """An SQS queue that a rule on the bus fills with every cashmob event."""
    sqs, bridge = boto3.client("sqs"), boto3.client("events")
    url = sqs.create_queue(QueueName="integrator")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    bridge.put_rule(
        Name="everything",
        EventBusName=aws["bus"],
        EventPattern=json.dumps({"source": ["cashmob"]}),
    )
    bridge.put_targets(
        Rule="everything", EventBusName=aws["bus"], Targets=[{"Id": "q", "Arn": arn}]
    )

    def received() -> list[dict]:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        return [json.loads(m["Body"]) for m in got.get("Messages", [])]

    return received


def test_the_adapter_puts_source_detail_type_and_detail_on_the_bus(settings, bus_queue):
    publisher = EventPublisher(settings.event_bus_name, settings.aws_region)
    until = NOW + timedelta(days=7)
    publisher.publish(PledgeReminder(**money("plg_1"), until=until))
    publisher.publish_all([PledgeCancelled("cmp_test", f"plg_{i}") for i in range(12)])
    got = []
    for _ in range(5):
        got += bus_queue()
    assert len(got) == 13
    reminder = next(e for e in got if e["detail-type"] == "PledgeReminder")
    assert reminder["source"] == "cashmob"
    assert reminder["detail"] == {**money("plg_1"), "until": until.isoformat()}
    assert sorted(
        e["detail"]["pledge_id"] for e in got if e["detail-type"] == "PledgeCancelled"
    ) == sorted(f"plg_{i}" for i in range(12))


def test_a_use_case_reaches_the_bus_through_the_real_publisher(
    services, settings, clock, bus_queue
):
    services.events = EventPublisher(settings.event_bus_name, settings.aws_region)
    body = create_campaign(services, clock)
    got = bus_queue()
    assert [(e["source"], e["detail-type"], e["detail"]) for e in got] == [
        ("cashmob", "CampaignCreated", {"campaign_id": body["id"], "organizer": "alice"})
    ]
