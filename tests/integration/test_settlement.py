"""Settlement with a gateway fake: the sweep, the queue, the worker, completion."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest

from cashmob.domain import CampaignStatus, FundingModel, Money, PaymentFlow, PledgeStatus
from cashmob.service import settlement
from tests.events import FakeContext
from tests.integration.settling import drain, sqs_record, sweep_handler, worker_handler
from tests.unit.factories import NOW, campaign, pledge


def seed(
    store,
    *,
    goal=5000,
    statuses,
    flow=PaymentFlow.SETUP,
    model=FundingModel.ALL_OR_NOTHING,
    min_backers=0,
):
    c = store.create_campaign(
        campaign(
            goal=Money(goal, "gbp"),
            funding_model=model,
            min_backers=min_backers,
            deadline=NOW + timedelta(hours=1),
            next_check_at=NOW + timedelta(hours=1),
        )
    )
    for i, status in enumerate(statuses):
        p = store.create_pledge(pledge(id=f"plg_{i:03}", flow=flow, counter_shard=i % 3))
        if status is not PledgeStatus.PENDING:
            store.save_pledge(
                p, p.moved_to(PledgeStatus.ACTIVE, activated_at=NOW), open_campaign_at=NOW
            )
    return c


def settle(services, settings, clock):
    clock.advance(2 * 3600)
    sweep_handler({}, FakeContext())
    drain(settings)
    clock.advance(120)
    sweep_handler({}, FakeContext())  # completion check
    drain(settings)


def statuses(store, campaign_id):
    return sorted(p.status.value for p in store.all_pledges(campaign_id))


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
            kind = json.loads(m["Body"])["kind"]
            if kind in ("decide", "page"):
                worker_handler({"Records": [sqs_record(m)]}, FakeContext())
            lost += kind == "pledge"
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
            if json.loads(m["Body"])["kind"] == "decide":
                worker_handler({"Records": [sqs_record(m)]}, FakeContext())
            sqs.delete_message(
                QueueUrl=settings.settlement_queue_url, ReceiptHandle=m["ReceiptHandle"]
            )
    assert store.get_campaign(c.id).outcome is not None and not gateway.charges
    clock.advance(120)  # the sweep's check, well within the stall window: nothing happens
    sweep_handler({}, FakeContext())
    drain(settings)
    assert not gateway.charges
    clock.advance(settlement.STALLED_FAN_OUT.total_seconds())
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
        services.queue.send({"kind": "pledge", "campaign_id": c.id, "pledge_id": f"plg_{i:03}"})
    services.queue.send({"kind": "decide", "campaign_id": c.id})
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


def test_a_malformed_message_is_a_batch_failure_not_a_crash(services, settings, gateway):
    services.queue.send({"kind": "nonsense"})
    sqs = boto3.client("sqs")
    m = sqs.receive_message(QueueUrl=settings.settlement_queue_url)["Messages"][0]
    record = sqs_record(m)
    result = worker_handler({"Records": [record]}, FakeContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": m["MessageId"]}]}
    assert json.loads(m["Body"]) == {"kind": "nonsense"}
    with pytest.raises(ValueError):
        settlement.handle(services, {"kind": "nonsense"})
