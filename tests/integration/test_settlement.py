"""Settlement with a gateway fake: the sweep, the queue, the worker, completion."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import boto3
import pytest

from cashmob.domain import CampaignStatus, FundingModel, PaymentFlow, PledgeStatus
from cashmob.domain.messages import (
    DecideOutcome,
    InvalidMessage,
    RefundLatePayment,
    SettlePledge,
    decode,
)
from cashmob.domain.schedule import STALLED_FAN_OUT
from cashmob.service import settlement
from cashmob.views import pledge_json
from tests.events import FakeContext
from tests.fakes import FakeEvents, Intent
from tests.integration.settling import (
    drain,
    seed,
    settle,
    sqs_record,
    statuses,
    sweep_handler,
    to_grace_end,
    worker_handler,
)
from tests.unit.factories import NOW, campaign, pledge


@pytest.mark.parametrize("flow", list(PaymentFlow))
def test_successful_campaign_collects_every_active_pledge_once(
    services, settings, store, clock, gateway, flow
):
    c = seed(store, statuses=[PledgeStatus.ACTIVE] * 6 + [PledgeStatus.PENDING] * 2, flow=flow)
    settle(services, settings, clock)
    done = store.get_campaign(c.id)
    assert done.status is CampaignStatus.SUCCEEDED
    assert statuses(store, c.id) == ["collected"] * 6 + ["expired"] * 2
    assert all(n == 1 for n in gateway.charges.values()) and len(gateway.charges) == 6
    assert done.settlement.collected == 6000 and done.settlement.collected_backers == 6
    assert done.settlement.released == 0 and done.next_check_at is None


def test_missed_goal_charges_nobody(services, settings, store, clock, gateway):
    c = seed(store, goal=100_000, statuses=[PledgeStatus.ACTIVE] * 4, flow=PaymentFlow.HOLD)
    settle(services, settings, clock)
    done = store.get_campaign(c.id)
    assert done.status is CampaignStatus.FAILED
    assert statuses(store, c.id) == ["released"] * 4
    assert not gateway.charges
    assert sorted(k for name, k in gateway.calls if name == "cancel") == [
        f"plg_{i:03}" for i in range(4)
    ]
    assert done.settlement.released == 4000 and done.settlement.collected == 0


def test_min_backers_is_respected(services, settings, store, clock, gateway):
    c = seed(store, goal=1000, min_backers=5, statuses=[PledgeStatus.ACTIVE] * 4)
    settle(services, settings, clock)
    assert store.get_campaign(c.id).status is CampaignStatus.FAILED
    assert not gateway.charges


def test_keep_what_you_raise_collects_below_the_goal(services, settings, store, clock, gateway):
    c = seed(
        store,
        goal=10**6,
        model=FundingModel.KEEP_WHAT_YOU_RAISE,
        statuses=[PledgeStatus.ACTIVE] * 3,
    )
    settle(services, settings, clock)
    assert store.get_campaign(c.id).status is CampaignStatus.SUCCEEDED
    assert statuses(store, c.id) == ["collected"] * 3


def test_declined_charge_needs_the_backer_and_fails_after_grace(
    services, settings, store, clock, gateway
):
    c = seed(store, goal=1000, statuses=[PledgeStatus.ACTIVE] * 3)
    gateway.declines.add("plg_001")
    settle(services, settings, clock)
    done = store.get_campaign(c.id)
    assert done.status is CampaignStatus.SUCCEEDED  # stays succeeded
    assert done.settlement.pending_action == 1000
    stuck = store.get_pledge(c.id, "plg_001")
    assert stuck.status is PledgeStatus.ACTION_REQUIRED and stuck.client_secret_for_backer
    for _ in range(4):  # reminders every 48 h, then the last attempt at 7 days
        clock.advance(48 * 3600)
        sweep_handler({}, FakeContext())
        drain(settings)
    assert store.get_pledge(c.id, "plg_001").status is PledgeStatus.FAILED
    clock.advance(120)
    sweep_handler({}, FakeContext())
    drain(settings)
    done = store.get_campaign(c.id)
    assert done.status is CampaignStatus.SUCCEEDED
    assert done.settlement.failed == 1000 and done.settlement.pending_action == 0
    assert done.settlement.collected == 2000


def test_two_sweeps_lock_each_campaign_once(services, settings, store, clock, gateway):
    c = seed(store, statuses=[PledgeStatus.ACTIVE] * 6)
    clock.advance(2 * 3600)
    first = sweep_handler({}, FakeContext())
    second = sweep_handler({}, FakeContext())
    assert first["locked"] == 1 and second["locked"] == 0
    drain(settings)
    assert all(n == 1 for n in gateway.charges.values()) and len(gateway.charges) == 6
    assert store.get_campaign(c.id).status is CampaignStatus.SETTLING


def test_two_concurrent_sweeps_that_both_read_live_lock_once(
    services, settings, store, clock, gateway, monkeypatch
):
    """Both sweeps read the campaign as live before either writes; the
    conditional live -> settling write lets exactly one through."""
    import threading

    c = seed(store, statuses=[PledgeStatus.ACTIVE] * 6)
    clock.advance(2 * 3600)
    both_read = threading.Barrier(2, timeout=10)
    read = store.get_campaign

    def read_then_wait(campaign_id):
        campaign = read(campaign_id)
        both_read.wait()
        return campaign

    monkeypatch.setattr(store, "get_campaign", read_then_wait)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(settlement.sweep(services)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r["locked"] for r in results) == [0, 1]
    monkeypatch.setattr(store, "get_campaign", read)
    drain(settings)
    assert all(n == 1 for n in gateway.charges.values()) and len(gateway.charges) == 6
    assert store.get_campaign(c.id).status is CampaignStatus.SETTLING


def test_lost_pledge_messages_are_sent_again_after_fan_out(
    services, settings, store, clock, gateway
):
    """Pledge messages that vanish (say, parked in the DLQ and purged) are
    re-sent by the completion check once every page has gone out."""
    c = seed(store, statuses=[PledgeStatus.ACTIVE] * 6)
    clock.advance(2 * 3600)
    sweep_handler({}, FakeContext())
    sqs = boto3.client("sqs")
    lost = 0
    for _ in range(20):  # run decide and page, but drop every pledge message
        got = sqs.receive_message(QueueUrl=settings.settlement_queue_url, MaxNumberOfMessages=10)
        for m in got.get("Messages", []):
            kind = json.loads(m["Body"])["type"]
            if kind in ("DecideOutcome", "SendPage"):
                worker_handler({"Records": [sqs_record(m)]}, FakeContext())
            lost += kind == "SettlePledge"
            sqs.delete_message(
                QueueUrl=settings.settlement_queue_url, ReceiptHandle=m["ReceiptHandle"]
            )
    assert lost == 6 and not gateway.charges
    assert store.get_campaign(c.id).fanned_out_at is not None
    clock.advance(6 * 60)  # past STRAGGLER_AFTER
    settle(services, settings, clock)
    assert statuses(store, c.id) == ["collected"] * 6
    assert all(n == 1 for n in gateway.charges.values())


def test_a_lost_fan_out_starts_over(services, settings, store, clock, gateway):
    """The page chain vanishes (a page message parked in the DLQ): after
    STALLED_FAN_OUT the completion check sends the first page again."""
    c = seed(store, statuses=[PledgeStatus.ACTIVE] * 6)
    clock.advance(2 * 3600)
    sweep_handler({}, FakeContext())
    sqs = boto3.client("sqs")
    for _ in range(10):  # decide runs; its page message is lost
        got = sqs.receive_message(QueueUrl=settings.settlement_queue_url, MaxNumberOfMessages=10)
        for m in got.get("Messages", []):
            if json.loads(m["Body"])["type"] == "DecideOutcome":
                worker_handler({"Records": [sqs_record(m)]}, FakeContext())
            sqs.delete_message(
                QueueUrl=settings.settlement_queue_url, ReceiptHandle=m["ReceiptHandle"]
            )
    assert store.get_campaign(c.id).outcome is not None and not gateway.charges
    clock.advance(120)  # the sweep's check, well within the stall window: nothing happens
    sweep_handler({}, FakeContext())
    drain(settings)
    assert not gateway.charges
    clock.advance(STALLED_FAN_OUT.total_seconds())
    settle(services, settings, clock)
    assert statuses(store, c.id) == ["collected"] * 6
    assert all(n == 1 for n in gateway.charges.values())


def test_redelivered_messages_never_charge_twice(services, settings, store, clock, gateway):
    c = seed(store, statuses=[PledgeStatus.ACTIVE] * 5)
    clock.advance(2 * 3600)
    sweep_handler({}, FakeContext())
    drain(settings)
    # Every pledge message again, as SQS may redeliver any of them.
    for i in range(5):
        services.queue.send(SettlePledge(c.id, f"plg_{i:03}"))
    services.queue.send(DecideOutcome(c.id))
    drain(settings)
    assert all(n == 1 for n in gateway.charges.values()) and len(gateway.charges) == 5


def test_transient_stripe_failures_are_retried_by_the_queue(
    services, settings, store, clock, gateway
):
    c = seed(store, statuses=[PledgeStatus.ACTIVE] * 5)
    gateway.unavailable = 3
    settle(services, settings, clock)
    assert statuses(store, c.id) == ["collected"] * 5
    assert all(n == 1 for n in gateway.charges.values())


def test_organizer_cancel_releases_every_pledge(services, settings, store, clock, gateway):
    c = seed(
        store, statuses=[PledgeStatus.ACTIVE] * 3 + [PledgeStatus.PENDING], flow=PaymentFlow.HOLD
    )
    from cashmob.service import campaigns

    campaigns.cancel(services, c.id, "alice")
    drain(settings)
    assert statuses(store, c.id) == ["released"] * 4
    assert not gateway.charges
    assert len([1 for name, _ in gateway.calls if name == "cancel"]) == 4
    assert store.progress(c.id).amount == 0


@pytest.mark.parametrize(
    "body",
    [
        '{"kind": "nonsense"}',
        '{"type": "SettlePledge", "campaign_id": "cmp_test"}',
        "not json",
        "[]",
    ],
    ids=["unknown_kind", "missing_field", "not_json", "not_an_object"],
)
def test_a_malformed_message_is_a_batch_failure_not_a_crash(services, settings, gateway, body):
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=settings.settlement_queue_url, MessageBody=body)
    m = sqs.receive_message(QueueUrl=settings.settlement_queue_url)["Messages"][0]
    record = sqs_record(m)
    result = worker_handler({"Records": [record]}, FakeContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": m["MessageId"]}]}
    assert m["Body"] == body
    with pytest.raises(InvalidMessage):
        decode(body)
    assert not gateway.calls


# ---------------------------------------------------------------- Stripe's own answers


@pytest.fixture(autouse=True)
def events(services):
    """Every test's events are checked against their schemas (FakeEvents)."""
    fake = FakeEvents()
    services.events = fake
    return fake


def dead_letters(aws) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=aws["queues"]["SettlementDeadLetterQueue"],
        AttributeNames=["ApproximateNumberOfMessages"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


@pytest.mark.parametrize("flow", list(PaymentFlow))
def test_a_refused_charge_fails_its_pledge_and_the_campaign_completes(
    services, settings, store, clock, gateway, events, aws, flow
):
    """Stripe refuses one pledge's charge for good (amount_too_small): that
    pledge ends failed with the reason, the others are collected, the
    campaign completes; nothing loops through the queue into the DLQ."""
    c = seed(store, goal=1000, statuses=[PledgeStatus.ACTIVE] * 3, flow=flow)
    gateway.refusals["plg_001"] = "amount_too_small"
    settle(services, settings, clock)
    done = store.get_campaign(c.id)
    assert done.status is CampaignStatus.SUCCEEDED and done.next_check_at is None
    refused = store.get_pledge(c.id, "plg_001")
    assert (refused.status, refused.failure_reason) == (PledgeStatus.FAILED, "amount_too_small")
    assert statuses(store, c.id) == ["collected", "collected", "failed"]
    assert done.settlement.failed == 1000 and done.settlement.collected == 2000
    assert [(e["pledge_id"], e["reason"]) for e in events.named("PledgeFailed")] == [
        ("plg_001", "amount_too_small")
    ]
    assert dead_letters(aws) == 0 and store.progress(c.id).backers == 2  # it stopped counting
    if flow is PaymentFlow.HOLD:  # the hold Stripe would not capture is released
        assert gateway.named("cancel") == ["plg_001"] and not refused.payment.intent_open
        assert gateway.intents["pi_plg_001"].status == "canceled"


@pytest.mark.parametrize(
    "answers",
    [[True], [False], [False, True], [False, False, False]],
    ids=["took_the_money", "did_nothing", "second_try_took_it", "three_5xx"],
)
def test_a_charge_answered_5xx_looks_up_and_never_charges_twice(
    services, settings, store, clock, gateway, answers
):
    """Stripe answers a charge 500 — after taking the money or not — and
    replays that 500 under the attempt's key. The worker records a new
    attempt, looks the pledge up first, and the pledge is charged once."""
    c = seed(store, goal=1000, statuses=[PledgeStatus.ACTIVE] * 2)
    gateway.outcome_unknown["plg_000"] = list(answers)
    settle(services, settings, clock)
    done = store.get_pledge(c.id, "plg_000")
    assert done.status is PledgeStatus.COLLECTED
    assert gateway.taken() == {"plg_000": 1, "plg_001": 1}
    tries = len(answers) + 1 if not any(answers) else answers.index(True) + 2
    mine = [k for k in gateway.named("charge") if k.startswith("plg_000:")]
    assert mine == [f"plg_000:{n}" for n in range(1, tries + 1)]
    # Every try after a 5xx looked Stripe up first, under a new attempt key.
    assert gateway.looked_up == [f"plg_000:{n}" for n in range(2, tries + 1)]
    assert done.payment.charge_attempt == tries
    (paid,) = [i for i in gateway.of("plg_000") if i.status == "succeeded"]
    assert done.payment.charge_intent_id == paid.id
    assert store.get_campaign(c.id).settlement.collected == 2000


def test_a_capture_answered_5xx_is_tried_again_under_a_new_key(
    services, settings, store, clock, gateway
):
    c = seed(store, goal=1000, statuses=[PledgeStatus.ACTIVE] * 2, flow=PaymentFlow.HOLD)
    gateway.outcome_unknown["plg_000"] = [True]
    settle(services, settings, clock)
    assert statuses(store, c.id) == ["collected"] * 2
    assert sorted(gateway.named("capture")) == ["plg_000", "plg_000:1", "plg_001"]
    assert gateway.taken() == {"plg_000": 1, "plg_001": 1}


def test_a_hold_stripe_cancelled_after_7_days_fails_with_hold_expired(
    services, settings, store, clock, gateway, events
):
    """The campaign collects, but Stripe cancelled one hold on its own
    (`cancellation_reason: automatic`): that money is gone, so the pledge is
    failed (hold_expired), not released."""
    c = seed(store, goal=1000, statuses=[PledgeStatus.ACTIVE] * 3, flow=PaymentFlow.HOLD)
    gateway.expired_holds.add("plg_002")
    settle(services, settings, clock)
    done = store.get_campaign(c.id)
    assert done.status is CampaignStatus.SUCCEEDED and done.next_check_at is None
    lapsed = store.get_pledge(c.id, "plg_002")
    assert (lapsed.status, lapsed.failure_reason) == (PledgeStatus.FAILED, "hold_expired")
    assert not lapsed.payment.intent_open and "plg_002" not in gateway.named("cancel")
    assert done.settlement.failed == 1000 and done.settlement.released == 0
    assert [e["reason"] for e in events.named("PledgeFailed")] == ["hold_expired"]


def test_a_pledge_stripe_never_saw_expires_without_calling_stripe(
    services, settings, store, clock, gateway
):
    """Recorded before its Stripe object existed (intent_id None): it never
    activated, so it expires, and there is nothing at Stripe to cancel."""
    c = seed(store, goal=1000, statuses=[PledgeStatus.ACTIVE])
    p = pledge(id="plg_unready", counter_shard=1)
    store.create_pledge(replace(p, payment=replace(p.payment, intent_id=None, client_secret=None)))
    settle(services, settings, clock)
    unready = store.get_pledge(c.id, "plg_unready")
    assert unready.status is PledgeStatus.EXPIRED and not unready.payment.intent_open
    assert "plg_unready" not in gateway.named("cancel")
    assert store.get_campaign(c.id).status is CampaignStatus.SUCCEEDED


# ---------------------------------------------------------------- the end of a grace period


def declined_at_the_deadline(services, settings, store, clock, gateway):
    c = seed(store, goal=1000, statuses=[PledgeStatus.ACTIVE] * 2)
    gateway.declines.add("plg_001")
    settle(services, settings, clock)
    stuck = store.get_pledge(c.id, "plg_001")
    assert stuck.status is PledgeStatus.ACTION_REQUIRED
    assert stuck.payment.charge_intent_id == "pi_charge_plg_001_1"
    return c


def test_the_end_of_a_grace_period_cancels_every_charge_the_backer_could_pay(
    services, settings, store, clock, gateway, events
):
    c = declined_at_the_deadline(services, settings, store, clock, gateway)
    to_grace_end(settings, clock)
    failed = store.get_pledge(c.id, "plg_001")
    assert (failed.status, failed.failure_reason) == (PledgeStatus.FAILED, "grace_period_ended")
    # The charge the backer was asked to finish, and the last attempt's own
    # declined charge, can no longer take money.
    assert gateway.named("cancel_payment") == ["pi_charge_plg_001_1", "pi_charge_plg_001_2"]
    assert {i.id: i.status for i in gateway.of("plg_001")} == {
        "pi_charge_plg_001_1": "canceled",
        "pi_charge_plg_001_2": "canceled",
    }
    assert [e["pledge_id"] for e in events.named("PledgeFailed")] == ["plg_001"]
    # Redelivered, the step does nothing more.
    services.queue.send(SettlePledge(c.id, "plg_001"))
    drain(settings)
    assert len(gateway.named("cancel_payment")) == 2 and len(gateway.named("charge")) == 3


def test_a_charge_paid_as_the_grace_period_ends_collects(
    services, settings, store, clock, gateway, events, monkeypatch
):
    """The backer pays between the last attempt and the cancel: the cancel
    reveals the payment, and the pledge is collected, not failed."""
    c = declined_at_the_deadline(services, settings, store, clock, gateway)
    cancel_payment = gateway.cancel_payment

    def paid_just_before(pledge, intent_id):
        if intent_id == "pi_charge_plg_001_1":
            gateway.pay(intent_id)
        return cancel_payment(pledge, intent_id)

    monkeypatch.setattr(gateway, "cancel_payment", paid_just_before)
    to_grace_end(settings, clock)
    done = store.get_pledge(c.id, "plg_001")
    assert done.status is PledgeStatus.COLLECTED
    assert done.payment.charge_intent_id == "pi_charge_plg_001_1"
    assert gateway.taken()["plg_001"] == 1 and not gateway.refunds
    assert "plg_001" in [e["pledge_id"] for e in events.named("PledgeCollected")]
    assert not events.named("PledgeFailed")


def test_two_payments_at_the_end_of_a_grace_period_keep_one(
    services, settings, store, clock, gateway, events, monkeypatch
):
    """The last attempt succeeds (the card works again) while the backer pays
    the charge they were sent: one collects the pledge, the other is refunded
    and shown on the pledge."""
    c = declined_at_the_deadline(services, settings, store, clock, gateway)
    gateway.declines.discard("plg_001")
    cancel_payment = gateway.cancel_payment

    def paid_just_before(pledge, intent_id):
        gateway.pay(intent_id)
        return cancel_payment(pledge, intent_id)

    monkeypatch.setattr(gateway, "cancel_payment", paid_just_before)
    to_grace_end(settings, clock)
    done = store.get_pledge(c.id, "plg_001")
    assert done.status is PledgeStatus.COLLECTED
    assert done.payment.charge_intent_id == "pi_charge_plg_001_2"
    assert gateway.refunds == {"pi_charge_plg_001_1": "re_pi_charge_plg_001_1"}
    assert done.late_refunds == ("pi_charge_plg_001_1",)
    assert [e["intent_id"] for e in events.named("PledgeLatePaymentRefunded")] == [
        "pi_charge_plg_001_1"
    ]


def test_a_5xx_on_the_last_attempt_is_tried_again_under_a_new_key(
    services, settings, store, clock, gateway
):
    c = declined_at_the_deadline(services, settings, store, clock, gateway)
    gateway.outcome_unknown["plg_001"] = [False]
    to_grace_end(settings, clock)
    failed = store.get_pledge(c.id, "plg_001")
    assert failed.status is PledgeStatus.FAILED
    assert gateway.named("charge")[-2:] == ["plg_001:2", "plg_001:3"]
    assert gateway.looked_up == ["plg_001:2", "plg_001:3"]
    assert all(i.status == "canceled" for i in gateway.of("plg_001"))
    assert gateway.taken()["plg_001"] == 0


# ---------------------------------------------------------------- late payments


def failed_with_a_paid_charge(store, gateway):
    """A failed setup-flow pledge whose charge Stripe reports paid anyway."""
    p = store.create_pledge(pledge(id="plg_late", campaign_id="cmp_test"))
    p = store.save_pledge(
        p, p.moved_to(PledgeStatus.ACTIVE, activated_at=NOW), open_campaign_at=NOW
    )
    p = store.save_pledge(
        p,
        p.moved_to(
            PledgeStatus.ACTION_REQUIRED,
            payment=replace(p.payment, charge_attempt=1, charge_intent_id="pi_late"),
            grace_until=NOW,
        ),
    )
    p = store.save_pledge(p, p.moved_to(PledgeStatus.FAILED, failure_reason="grace_period_ended"))
    gateway.intents["pi_late"] = Intent("pi_late", p.id, "succeeded", 1)
    return p


def test_a_late_payment_is_refunded_once_and_recorded(services, settings, store, gateway, events):
    store.create_campaign(campaign(deadline=NOW + timedelta(hours=1)))
    p = failed_with_a_paid_charge(store, gateway)
    for _ in range(2):  # SQS redelivers
        services.queue.send(RefundLatePayment(p.campaign_id, p.id, "pi_late"))
    drain(settings)
    after = store.get_pledge(p.campaign_id, p.id)
    assert (after.status, after.late_refunds) == (PledgeStatus.FAILED, ("pi_late",))
    assert gateway.named("refund") == ["pi_late"]
    assert events.named("PledgeLatePaymentRefunded") == [
        {
            "campaign_id": p.campaign_id,
            "pledge_id": p.id,
            "intent_id": "pi_late",
            "amount": 1000,
            "currency": "gbp",
        }
    ]
    assert pledge_json(after)["late_payments_refunded"] == ["pi_late"]
    assert pledge_json(after)["failure_reason"] == "grace_period_ended"


def test_a_collected_pledges_own_payment_is_never_refunded_as_late(
    services, settings, store, gateway
):
    store.create_campaign(campaign(deadline=NOW + timedelta(hours=1)))
    p = store.create_pledge(pledge(id="plg_kept"))
    p = store.save_pledge(
        p, p.moved_to(PledgeStatus.ACTIVE, activated_at=NOW), open_campaign_at=NOW
    )
    payment = replace(p.payment, charge_intent_id="pi_kept")
    p = store.save_pledge(p, p.moved_to(PledgeStatus.COLLECTED, payment=payment))
    settlement.handle(services, RefundLatePayment(p.campaign_id, p.id, "pi_kept"))
    assert not gateway.named("refund")
    assert store.get_pledge(p.campaign_id, p.id).late_refunds == ()
