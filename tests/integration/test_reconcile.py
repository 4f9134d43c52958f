"""Reconciliation against the Stripe emulator: a clean run reports nothing;
drift planted directly in the emulator (a refund behind our back, a payment
for an expired pledge, an amount that differs, a transfer nobody recorded)
is found, each of its kind; `fix` repairs only what the webhook would have."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest

from cashmob.domain import PaymentFlow, PledgeStatus
from cashmob.service import payouts, reconcile
from cashmob.service.reconcile import (
    AMOUNT_MISMATCH,
    OURS_NOT_IN_STRIPE,
    PAID_IN_STRIPE_NOT_OURS,
    PAYOUT_MISMATCH,
    REFUND_MISMATCH,
)
from cashmob_local import template
from tests.events import FakeContext
from tests.fakes import FakeEvents
from tests.integration.settling import drain
from tests.integration.test_settlement_stripe import seed_real, settle_until_final

logging.getLogger("werkzeug").setLevel(logging.ERROR)

PLAN = [
    (PaymentFlow.HOLD, "pm_card_visa", 1000),  # 0: collected (captured hold)
    (PaymentFlow.SETUP, "pm_card_visa", 1200),  # 1: collected (off-session charge)
    (PaymentFlow.SETUP, None, 900),  # 2: never confirmed: expired
    (PaymentFlow.SETUP, "pm_card_visa", 800),  # 3: collected
    (PaymentFlow.HOLD, "pm_card_visa", 700),  # 4: collected
]


@pytest.fixture
def settled(aws, services, settings, clock, real_stripe, emulator):
    services.events = FakeEvents()
    gateway, client = real_stripe
    c = seed_real(services, gateway, client, PLAN, run="rc", goal=3000)
    clock.advance(2 * 3600)
    final = settle_until_final(services, settings, clock, c.id)
    statuses = [p.status for p in services.store.all_pledges(c.id)]
    assert statuses.count(PledgeStatus.COLLECTED) == 4
    assert statuses.count(PledgeStatus.EXPIRED) == 1
    return final


def _pledge(services, campaign, i):
    return services.store.get_pledge(campaign.id, f"plg_rc_{i:04}")


def test_a_clean_run_reports_nothing(services, settled, emulator):
    emulator.reset_log()
    report = reconcile.reconcile(services)
    assert report.clean, report.table()
    assert (report.campaigns, report.pledges) == (1, 5)
    assert set(report.counts.values()) == {0}
    assert "no drift" in report.table()
    assert reconcile.reconcile(services, since=settled.deadline).campaigns == 1
    assert reconcile.reconcile(services, since=settled.deadline + timedelta(days=1)).campaigns == 0
    # Only reads: nothing was written to Stripe.
    log = emulator.request_log
    assert log and not [r for r in log if r["method"] != "GET"]


def test_drift_planted_in_stripe_is_found_each_of_its_kind(
    services, settled, real_stripe, emulator
):
    _, client = real_stripe
    c = settled
    # 1. A refund made in Stripe's dashboard, behind our back (the webhook lost).
    refunded = _pledge(services, c, 1)
    client.refunds.create(
        params={"payment_intent": refunded.payment.charge_intent_id, "amount": 300}
    )
    # 2. A payment for the pledge that expired (never confirmed before the deadline).
    expired = _pledge(services, c, 2)
    assert expired.status is PledgeStatus.EXPIRED
    late = client.payment_intents.create(
        params={
            "amount": 900,
            "currency": "gbp",
            "customer": expired.payment.customer_id,
            "payment_method": "pm_card_visa",
            "confirm": True,
            "metadata": {"campaign_id": c.id, "pledge_id": expired.id},
        }
    )
    assert late.status == "succeeded"
    # 3. An amount that differs: Stripe's record of pledge 3's charge says 750.
    differs = _pledge(services, c, 3)
    emulator.payment_intents[differs.payment.charge_intent_id]["amount_received"] = 750
    # 4. A collected pledge whose payment Stripe has no trace of.
    gone = _pledge(services, c, 4)
    del emulator.payment_intents[gone.payment.intent_id]

    report = reconcile.reconcile(services, campaign_id=c.id)

    found = {(d.kind, d.pledge_id): d for d in report.drift}
    assert set(found) == {
        (REFUND_MISMATCH, refunded.id),
        (PAID_IN_STRIPE_NOT_OURS, expired.id),
        (AMOUNT_MISMATCH, differs.id),
        (OURS_NOT_IN_STRIPE, gone.id),
    }, report.table()
    assert report.counts == {
        PAID_IN_STRIPE_NOT_OURS: 1,
        OURS_NOT_IN_STRIPE: 1,
        AMOUNT_MISMATCH: 1,
        REFUND_MISMATCH: 1,
        PAYOUT_MISMATCH: 0,
    }
    assert found[(REFUND_MISMATCH, refunded.id)].stripe == "300 gbp refunded"
    assert found[(PAID_IN_STRIPE_NOT_OURS, expired.id)].stripe_id == late.id
    assert found[(AMOUNT_MISMATCH, differs.id)].ours == "800 gbp"
    assert found[(AMOUNT_MISMATCH, differs.id)].stripe == "750 gbp"
    table = report.table()
    assert all(pid in table for pid in (refunded.id, expired.id, differs.id, gone.id))
    body = json.loads(json.dumps(report.to_json()))
    assert body["counts"][REFUND_MISMATCH] == 1 and len(body["drift"]) == 4
    # Nothing was repaired: our records are as they were.
    assert _pledge(services, c, 1).refunded_amount == 0
    assert _pledge(services, c, 2).status is PledgeStatus.EXPIRED


def test_fix_applies_only_what_the_webhook_would_have(
    services, settings, settled, real_stripe, emulator
):
    _, client = real_stripe
    c = settled
    refunded = _pledge(services, c, 1)
    client.refunds.create(
        params={"payment_intent": refunded.payment.charge_intent_id, "amount": 300}
    )
    expired = _pledge(services, c, 2)
    client.payment_intents.create(
        params={
            "amount": 900,
            "currency": "gbp",
            "customer": expired.payment.customer_id,
            "payment_method": "pm_card_visa",
            "confirm": True,
            "metadata": {"campaign_id": c.id, "pledge_id": expired.id},
        }
    )
    differs = _pledge(services, c, 3)
    emulator.payment_intents[differs.payment.charge_intent_id]["amount_received"] = 750

    report = reconcile.reconcile(services, campaign_id=c.id, fix=True)

    fixed = {d.kind: d.fixed for d in report.drift}
    assert fixed[REFUND_MISMATCH].startswith("charge.refunded: collected->")
    assert _pledge(services, c, 1).refunded_amount == 300  # as charge.refunded records it
    # A payment on an intent that is not the pledge's: the webhook would not
    # touch it either (a person refunds it); nor is an amount ever "fixed".
    assert fixed[PAID_IN_STRIPE_NOT_OURS].startswith("not applied")
    assert fixed[AMOUNT_MISMATCH] is None
    drain(settings)
    again = reconcile.reconcile(services, campaign_id=c.id, fix=True)
    assert {d.kind for d in again.drift} == {PAID_IN_STRIPE_NOT_OURS, AMOUNT_MISMATCH}


def test_fix_collects_a_payment_whose_webhook_was_lost(
    services, settings, settled, real_stripe, emulator
):
    """A hold-flow pledge's own intent, captured in Stripe while we say it
    expired: `payment_intent.succeeded` replayed gives the money back, as the
    webhook would have (a finished pledge keeps no money)."""
    c = settled
    pledge = _pledge(services, c, 0)
    store = services.store
    # Our record lost the collection (say, restored from an older backup).
    from dataclasses import replace

    from tests.unit.factories import pledge as make_pledge

    ghost = make_pledge(id="plg_rc_ghost", campaign_id=c.id, flow=PaymentFlow.HOLD)
    ghost = store.create_pledge(
        replace(ghost, payment=replace(ghost.payment, intent_id=pledge.payment.intent_id))
    )
    store.save_pledge(ghost, ghost.moved_to(PledgeStatus.EXPIRED))
    emulator.payment_intents[pledge.payment.intent_id]["metadata"]["pledge_id"] = ghost.id
    report = reconcile.reconcile(services, campaign_id=c.id, fix=True)
    kinds = {(d.kind, d.pledge_id): d for d in report.drift}
    assert (
        kinds[(PAID_IN_STRIPE_NOT_OURS, ghost.id)].fixed == "payment_intent.succeeded: refund_late"
    )
    drain(settings)  # the worker refunds it
    assert emulator.payment_intents[pledge.payment.intent_id]["status"] == "succeeded"
    charge = emulator.charges[emulator.payment_intents[pledge.payment.intent_id]["latest_charge"]]
    assert charge["refunded"] is True


def test_the_daily_function_reports_counts(services, settled, emulator):
    handler = template.load_handler("ReconcileFunction")
    assert handler({}, FakeContext()) == {
        "campaigns": 1,
        "pledges": 5,
        PAID_IN_STRIPE_NOT_OURS: 0,
        OURS_NOT_IN_STRIPE: 0,
        AMOUNT_MISMATCH: 0,
        REFUND_MISMATCH: 0,
        PAYOUT_MISMATCH: 0,
    }


def test_payout_drift_is_found_and_a_missing_payout_is_sent(
    services, settings, settled, real_stripe, emulator
):
    _, client = real_stripe
    c = settled
    services.settings = services.settings.model_copy(update={"payouts_enabled": True})
    # Payouts were turned on after this campaign completed: its payout is due
    # and was never made.
    report = reconcile.reconcile(services, campaign_id=c.id)
    (due,) = report.drift
    assert (due.kind, due.ours, due.fixable) == (PAYOUT_MISMATCH, "due, no payout", True)
    payouts.start_onboarding(services, "alice", "https://example.org/payouts")
    account = services.payout_book.organizer("alice").account_id
    assert payouts.account_updated(services, emulator.complete_onboarding(account)) == "enabled"
    drain(settings)  # nothing was waiting: still no payout
    assert not emulator.transfers
    fixed = reconcile.reconcile(services, campaign_id=c.id, fix=True)
    assert fixed.drift[0].fixed == "PayOut sent"
    drain(settings)
    assert reconcile.reconcile(services, campaign_id=c.id).clean
    # Now a reversal made behind our back, in Stripe's dashboard.
    (transfer,) = emulator.transfers.values()
    client.transfers.reversals.create(transfer["id"], params={"amount": 100})
    (drift,) = reconcile.reconcile(services, campaign_id=c.id).drift
    assert drift.kind == PAYOUT_MISMATCH and drift.stripe_id == transfer["id"]
    assert drift.ours == f"paid {transfer['amount']} gbp"
    assert drift.stripe == f"1 transfers, {transfer['amount'] - 100} gbp kept by the organizer"
    assert not drift.fixable


def test_a_payment_on_an_intent_we_never_recorded_is_found_by_its_event(
    services, settled, real_stripe, emulator
):
    """A hold-flow pledge has no Customer to list payments by: Stripe's
    `payment_intent.succeeded` events name the pledge in their metadata."""
    _, client = real_stripe
    c = settled
    held = _pledge(services, c, 0)
    assert held.payment.flow is PaymentFlow.HOLD and held.payment.customer_id is None
    stray = client.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "gbp",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "metadata": {"campaign_id": c.id, "pledge_id": held.id},
        }
    )
    (drift,) = reconcile.reconcile(services, campaign_id=c.id).drift
    assert (drift.kind, drift.pledge_id, drift.stripe_id) == (
        PAID_IN_STRIPE_NOT_OURS,
        held.id,
        stray.id,
    )
    assert drift.ours == "collected" and drift.stripe == "succeeded, 1000 gbp kept"


def test_a_pledge_refunded_after_the_payout_is_payout_drift(
    services, settings, settled, real_stripe, emulator
):
    """The organizer was paid, then one backer got money back: the platform
    paid that refund, the organizer still holds it. Nothing repairs it by
    itself (a partial reversal is a person's decision): it is reported."""
    from cashmob.service.refunds.requests import refund_pledge

    c = settled
    services.settings = services.settings.model_copy(update={"payouts_enabled": True})
    payouts.start_onboarding(services, "alice", "https://example.org/payouts")
    account = services.payout_book.organizer("alice").account_id
    payouts.account_updated(services, emulator.complete_onboarding(account))
    reconcile.reconcile(services, campaign_id=c.id, fix=True)  # the due payout goes out
    drain(settings)
    assert reconcile.reconcile(services, campaign_id=c.id).clean
    (transfer,) = emulator.transfers.values()

    backer = _pledge(services, c, 3)
    refund_pledge(services, c.id, backer.id, c.organizer, amount=300, reason="a broken promise")
    drain(settings)
    assert services.store.get_pledge(c.id, backer.id).refunded_amount == 300
    (drift,) = reconcile.reconcile(services, campaign_id=c.id).drift
    assert (drift.kind, drift.stripe_id, drift.fixable) == (PAYOUT_MISMATCH, transfer["id"], False)
    assert drift.ours == f"paid {transfer['amount']} gbp, then 300 gbp refunded to backers"
    fixed = reconcile.reconcile(services, campaign_id=c.id, fix=True)
    assert fixed.drift[0].fixed is None and len(emulator.transfers) == 1
