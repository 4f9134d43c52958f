"""Money stories where the settlement worker and Stripe's webhooks meet, with
the gateway fake: whatever order they write in, every payment Stripe takes
for a pledge is either what the pledge collected or given back, and shown."""

from __future__ import annotations

import pytest

from cashmob.domain import CampaignStatus, PaymentFlow, PledgeStatus
from cashmob.domain.messages import DecideOutcome
from cashmob.service import settlement
from cashmob.views import pledge_json
from tests.events import FakeContext
from tests.fakes import FakeEvents
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


@pytest.fixture(autouse=True)
def events(services):
    """Every test's events are checked against their schemas (FakeEvents)."""
    fake = FakeEvents()
    services.events = fake
    return fake


def test_the_webhook_recording_a_decline_first_does_not_lose_the_backers_payment(
    services, settings, store, clock, gateway, events, monkeypatch
):
    """Regression: `payment_intent.payment_failed` is applied before the
    worker records the decline (its write then loses the race, and its retry
    takes the grace path). The backer then pays: the pledge is collected at
    once. (The old code ignored that success as `settlement_owns_it`: only a
    flag the worker set on the intent made it the backer's.)"""
    c = seed(store, goal=1000, statuses=[PledgeStatus.ACTIVE] * 2)
    gateway.declines.add("plg_001")
    charge = gateway.charge
    outcomes = []

    def stripe_delivers_first(pledge, *, attempt, look_up_first):
        result = charge(pledge, attempt=attempt, look_up_first=look_up_first)
        if pledge.id == "plg_001" and not outcomes:
            failed = charge_obj(pledge, result.intent_id, "requires_payment_method", attempt)
            event = stripe_event("payment_intent.payment_failed", failed, services)
            outcomes.append(send_webhook(services, event)["outcome"])
        return result

    monkeypatch.setattr(gateway, "charge", stripe_delivers_first)
    settle(services, settings, clock)
    assert outcomes == ["active->action_required"]
    stuck = store.get_pledge(c.id, "plg_001")
    assert stuck.status is PledgeStatus.ACTION_REQUIRED
    assert [e["pledge_id"] for e in events.named("PledgeActionRequired")] == ["plg_001"]
    assert store.get_campaign(c.id).settlement.pending_action == 1000

    # The backer finishes the payment with Stripe.js.
    intent_id = stuck.payment.charge_intent_id
    gateway.pay(intent_id)
    paid = charge_obj(stuck, intent_id, "succeeded", 1)
    answer = send_webhook(services, stripe_event("payment_intent.succeeded", paid, services))
    assert answer["outcome"] == "action_required->collected"
    done = store.get_pledge(c.id, "plg_001")
    assert done.status is PledgeStatus.COLLECTED and done.payment.charge_intent_id == intent_id
    assert "plg_001" in [e["pledge_id"] for e in events.named("PledgeCollected")]
    clock.advance(120)
    sweep_handler({}, FakeContext())  # the check refreshes the totals
    drain(settings)
    campaign = store.get_campaign(c.id)
    assert campaign.settlement.collected == 2000 and campaign.settlement.pending_action == 0
    assert campaign.next_check_at is None
    assert gateway.taken() == {"plg_000": 1, "plg_001": 1} and not gateway.refunds


def test_a_payment_after_the_grace_period_is_refunded_and_shown(
    services, settings, store, clock, gateway, events
):
    """Money taken, never recorded (regression). A setup-flow pledge declines
    at the deadline; the grace period ends: the pledge is failed and the
    charge the backer was sent is cancelled at Stripe. Were that charge paid
    all the same (forced here), the success is refunded, recorded on the
    pledge and announced — never kept silently."""
    c = seed(store, goal=1000, statuses=[PledgeStatus.ACTIVE] * 2)
    gateway.declines.add("plg_001")
    settle(services, settings, clock)
    sent = store.get_pledge(c.id, "plg_001")
    assert sent.status is PledgeStatus.ACTION_REQUIRED
    intent_id = sent.payment.charge_intent_id
    to_grace_end(settings, clock)
    failed = store.get_pledge(c.id, "plg_001")
    assert (failed.status, failed.failure_reason) == (PledgeStatus.FAILED, "grace_period_ended")
    assert gateway.intents[intent_id].status == "canceled"  # it can no longer take money
    assert intent_id in gateway.named("cancel_payment")

    # Forced: Stripe took the money for that charge anyway.
    gateway.intents[intent_id].status = "succeeded"
    paid = charge_obj(failed, intent_id, "succeeded", 1)
    event = stripe_event("payment_intent.succeeded", paid, services)
    assert send_webhook(services, event)["outcome"] == "refund_late"
    assert send_webhook(services, event)["outcome"] == "refund_late"  # Stripe redelivers
    drain(settings)
    after = store.get_pledge(c.id, "plg_001")
    assert after.status is PledgeStatus.FAILED and after.late_refunds == (intent_id,)
    assert gateway.refunds == {intent_id: f"re_{intent_id}"}
    assert gateway.named("refund") == [intent_id]  # the redelivery found it recorded
    body = pledge_json(after)
    assert body["status"] == "failed" and body["late_payments_refunded"] == [intent_id]
    assert events.named("PledgeLatePaymentRefunded") == [
        {
            "campaign_id": c.id,
            "pledge_id": "plg_001",
            "intent_id": intent_id,
            "amount": 1000,
            "currency": "gbp",
        }
    ]
    # Stripe's own report of that refund moves nothing; nor does a third delivery.
    refunded = {
        "id": "ch_late",
        "object": "charge",
        "payment_intent": intent_id,
        "amount": 1000,
        "currency": "gbp",
        "refunded": True,
        "metadata": paid["metadata"],
    }
    assert (
        send_webhook(services, stripe_event("charge.refunded", refunded, services))["outcome"]
        == "no_change"
    )
    assert send_webhook(services, event)["outcome"] == "no_change"
    assert store.get_pledge(c.id, "plg_001").status is PledgeStatus.FAILED
    clock.advance(120)
    sweep_handler({}, FakeContext())  # the check refreshes the totals
    drain(settings)
    campaign = store.get_campaign(c.id)
    assert campaign.status is CampaignStatus.SUCCEEDED and campaign.settlement.failed == 1000
    assert campaign.next_check_at is None and gateway.named("refund") == [intent_id]


def test_a_hold_stripe_cancels_after_the_outcome_fails_whoever_hears_first(
    services, settings, store, clock, gateway, events
):
    """Stripe cancels a hold 7 days after authorisation. If its event reaches
    the webhook before the worker captures, the pledge ends as it would have
    through the worker: failed, hold_expired."""
    c = seed(store, goal=1000, statuses=[PledgeStatus.ACTIVE] * 2, flow=PaymentFlow.HOLD)
    clock.advance(2 * 3600)
    sweep_handler({}, FakeContext())
    # Decide only: the pledge messages wait.
    settlement.handle(services, DecideOutcome(c.id))
    p = store.get_pledge(c.id, "plg_001")
    gateway.expired_holds.add("plg_001")
    lapsed = {
        "id": p.payment.intent_id,
        "object": "payment_intent",
        "status": "canceled",
        "cancellation_reason": "automatic",
        "amount": 1000,
        "currency": "gbp",
        "metadata": {"campaign_id": c.id, "pledge_id": p.id},
    }
    answer = send_webhook(services, stripe_event("payment_intent.canceled", lapsed, services))
    assert answer["outcome"] == "active->failed"
    drain(settings)
    clock.advance(120)
    sweep_handler({}, FakeContext())
    drain(settings)
    after = store.get_pledge(c.id, "plg_001")
    assert (after.status, after.failure_reason) == (PledgeStatus.FAILED, "hold_expired")
    assert "plg_001" not in gateway.named("capture")
    assert store.get_campaign(c.id).status is CampaignStatus.SUCCEEDED
    assert [e["reason"] for e in events.named("PledgeFailed")] == ["hold_expired"]
