"""Refunds against the Stripe emulator through the real gateway: the routes
(auth, owner, 409, 422, 202, 200 again), the queue handlers, the webhook's
`charge.refunded`, and the campaign refund with the worker crashing at every
step boundary and Stripe answering 429s and 500s. The proof is Stripe's
side: the emulator's refunds, per pledge."""

from __future__ import annotations

import contextlib
import logging

import pytest

from cashmob.domain import CampaignStatus, PaymentFlow, PledgeStatus
from cashmob.service import refunds
from tests.events import FakeContext
from tests.fakes import FakeEvents
from tests.integration.settling import drain, send_webhook, sweep_handler
from tests.integration.test_api import assert_error, call
from tests.integration.test_settlement_stripe import (
    Boundaries,
    Crash,
    Crasher,
    seed_real,
    settle_until_final,
)

logging.getLogger("werkzeug").setLevel(logging.ERROR)

REASON = "the newspaper refused the ad"


@pytest.fixture(autouse=True)
def events(services):
    """Every test's events are checked against their schemas (FakeEvents)."""
    fake = FakeEvents()
    services.events = fake
    return fake


def succeeded(services, settings, clock, real_stripe, plan, *, run="r", goal=1000):
    gateway, client = real_stripe
    c = seed_real(services, gateway, client, plan, run=run, goal=goal)
    clock.advance(2 * 3600)
    final = settle_until_final(services, settings, clock, c.id)
    assert final.status is CampaignStatus.SUCCEEDED
    return final


def refund_until_final(services, settings, clock, campaign_id, rounds=40, step=400):
    for _ in range(rounds):
        with contextlib.suppress(Crash):  # the schedule fires again
            sweep_handler({}, FakeContext())
        drain(settings, max_rounds=500)
        c = services.store.get_campaign(campaign_id)
        if c.status is CampaignStatus.REFUNDED:
            return c
        clock.advance(step)
    raise AssertionError("the refund never finished")


def refunds_of(emulator, run):
    return {p: a for p, a in emulator.refunds_by_pledge().items() if p.startswith(f"plg_{run}_")}


THREE = [
    (PaymentFlow.SETUP, "pm_card_visa", 1000),
    (PaymentFlow.HOLD, "pm_card_visa", 1500),
    (PaymentFlow.SETUP, None),  # never confirmed: expired, nothing to refund
]


# ---------------------------------------------------------------- the campaign's route


def test_the_campaign_refund_route(aws, services, settings, clock, real_stripe, emulator, events):
    c = succeeded(services, settings, clock, real_stripe, THREE)
    path = f"/campaigns/{c.id}/refund"
    # Given a succeeded campaign: no token 401, someone else's 403, bad bodies 422.
    status, body, _ = call("POST", path, body={"reason": REASON})
    assert_error(status, body, 401)
    status, body, _ = call("POST", path, body={"reason": REASON}, sub="mallory")
    assert_error(status, body, 403, "forbidden")
    for bad in (
        {},
        {"reason": ""},
        {"reason": "   "},
        {"reason": "x" * 501},
        {"reason": 5},
        {"reason": "a\x00b"},
        {"reason": REASON, "amount": 5},
    ):
        status, body, _ = call("POST", path, body=bad, sub="alice")
        assert_error(status, body, 422)
    assert services.store.get_campaign(c.id).status is CampaignStatus.SUCCEEDED
    # When the organizer refunds: 202 refunding; asked again: 200, the same campaign.
    status, first, _ = call("POST", path, body={"reason": REASON}, sub="alice")
    assert status == 202 and first["status"] == "refunding", first
    status, again, _ = call("POST", path, body={"reason": "another reason"}, sub="alice")
    assert status == 200 and again == first
    assert services.store.get_campaign(c.id).refund.reason == REASON
    # Then the queue refunds every collected pledge once, in full.
    done = refund_until_final(services, settings, clock, c.id)
    assert done.settlement.refunded == 2500 and done.settlement.collected == 2500
    assert refunds_of(emulator, "r") == {"plg_r_0000": [1000], "plg_r_0001": [1500]}
    statuses = [services.store.get_pledge(c.id, f"plg_r_{i:04}").status for i in range(3)]
    assert statuses == [PledgeStatus.REFUNDED, PledgeStatus.REFUNDED, PledgeStatus.EXPIRED]
    status, view, _ = call("GET", f"/campaigns/{c.id}")
    assert view["status"] == "refunded" and view["settlement"]["refunded"] == 2500
    status, again, _ = call("POST", path, body={"reason": REASON}, sub="alice")
    assert status == 200 and again["status"] == "refunded"
    # The Stripe refunds carry Stripe's reason and ours in the metadata.
    refund = next(iter(emulator.refunds.values()))
    assert refund["reason"] == "requested_by_customer"
    assert refund["metadata"]["reason"] == REASON
    assert [e["refunded"] for e in events.named("CampaignRefunded")] == [2500]
    assert sorted(e["amount"] for e in events.named("PledgeRefunded")) == [1000, 1500]


def test_only_a_succeeded_campaign_is_refunded(aws, services, gateway):
    from tests.integration.test_api import new_campaign

    live = new_campaign()
    status, body, _ = call(
        "POST", f"/campaigns/{live['id']}/refund", body={"reason": REASON}, sub="alice"
    )
    assert_error(status, body, 409)
    status, body, _ = call("POST", "/campaigns/cmp_nope/refund", body={"reason": REASON}, sub="a")
    assert_error(status, body, 404)


# ---------------------------------------------------------------- one pledge


def test_one_pledge_in_part_then_in_full_then_the_campaign(
    aws, services, settings, clock, real_stripe, emulator, events
):
    c = succeeded(services, settings, clock, real_stripe, THREE, run="p")
    path = f"/campaigns/{c.id}/pledges/plg_p_0001/refund"
    status, body, _ = call("POST", path, body={"amount": 400, "reason": "late"}, sub="mallory")
    assert_error(status, body, 403, "forbidden")
    for bad in (
        {"amount": 0, "reason": "x"},
        {"amount": "4", "reason": "x"},
        {"amount": 400},
        {"amount": 1.5, "reason": "x"},
    ):
        status, body, _ = call("POST", path, body=bad, sub="alice")
        assert_error(status, body, 422)
    status, body, _ = call("POST", path, body={"amount": 1501, "reason": "x"}, sub="alice")
    assert_error(status, body, 409)
    # A partial refund keeps the pledge collected and says how much is back.
    status, part, _ = call("POST", path, body={"amount": 400, "reason": "late"}, sub="alice")
    assert status == 200, part
    assert part["status"] == "collected" and part["refunded_amount"] == 400
    status, body, _ = call("POST", path, body={"amount": 1101, "reason": "x"}, sub="alice")
    assert_error(status, body, 409)
    # Not collected: 409.
    status, body, _ = call(
        "POST", f"/campaigns/{c.id}/pledges/plg_p_0002/refund", body={"reason": "x"}, sub="alice"
    )
    assert_error(status, body, 409)
    # Then the organizer refunds the whole campaign: the rest goes back under
    # a key of its own (refund 2), never colliding with the first.
    status, _, _ = call("POST", f"/campaigns/{c.id}/refund", body={"reason": REASON}, sub="alice")
    assert status == 202
    done = refund_until_final(services, settings, clock, c.id)
    assert refunds_of(emulator, "p") == {"plg_p_0000": [1000], "plg_p_0001": [400, 1100]}
    assert done.settlement.refunded == 2500
    p1 = services.store.get_pledge(c.id, "plg_p_0001")
    assert p1.status is PledgeStatus.REFUNDED and p1.refunded_amount == 1500
    assert p1.refunds.number == 2  # keys refund-1 and refund-2: two refunds made, not one replayed
    # A single pledge of a refunded campaign: 409.
    status, body, _ = call("POST", path, body={"reason": "x"}, sub="alice")
    assert_error(status, body, 409)


def test_a_single_refund_that_dies_after_stripe_is_finished_by_the_worker(
    aws, services, settings, clock, real_stripe, emulator, monkeypatch
):
    # moto delays a message in wall-clock time: the backstop comes at once here.
    monkeypatch.setattr("cashmob.service.refunds.requests.BACKSTOP_DELAY", 0)
    c = succeeded(services, settings, clock, real_stripe, THREE[:1], run="s")
    crasher = Crasher()
    store = services.store
    services.store = Boundaries(store, crasher, {"save_pledge"})
    crasher.armed = 3  # before the write after Stripe made the refund: the request dies
    with pytest.raises(Crash):
        refunds.refund_pledge(services, c.id, "plg_s_0000", "alice", amount=300, reason="x")
    services.store = store
    assert store.get_pledge(c.id, "plg_s_0000").refunds.in_flight
    # The backstop message (sent before Stripe was asked) finishes it: the
    # same key, so Stripe answers with the refund it already made.
    clock.advance(120)
    drain(settings)
    p = store.get_pledge(c.id, "plg_s_0000")
    assert not p.refunds.in_flight and p.refunded_amount == 300
    assert refunds_of(emulator, "s") == {"plg_s_0000": [300]}


# ---------------------------------------------------------------- Stripe's dashboard


def _charge_refunded(emulator, intent_id):
    return [
        e
        for e in emulator.events
        if e["type"] == "charge.refunded" and e["data"]["object"]["payment_intent"] == intent_id
    ]


def test_dashboard_refunds_are_reflected_in_any_order_and_once(
    aws, services, settings, clock, real_stripe, emulator, events
):
    c = succeeded(services, settings, clock, real_stripe, THREE[:2], run="d")
    p = services.store.get_pledge(c.id, "plg_d_0001")  # the hold: 1500
    intent_id = p.payment.intent_id
    emulator.refund_behind_our_back(intent_id, 500)
    emulator.refund_behind_our_back(intent_id)  # the rest
    partial, full = _charge_refunded(emulator, intent_id)
    assert partial["data"]["object"]["amount_refunded"] == 500
    assert full["data"]["object"]["refunded"] is True
    # Out of order: the full one first; then the older partial; then duplicates.
    assert send_webhook(services, full)["outcome"] == "collected->refunded"
    assert send_webhook(services, partial)["outcome"] == "no_change"
    assert send_webhook(services, full)["outcome"] in ("no_change", "duplicate")
    after = services.store.get_pledge(c.id, "plg_d_0001")
    assert after.status is PledgeStatus.REFUNDED and after.refunded_amount == 1500
    assert [(e["amount"], e["full"], e["source"]) for e in events.named("PledgeRefunded")] == [
        (1500, True, "stripe")
    ]
    # A partial one alone keeps the pledge collected.
    q = services.store.get_pledge(c.id, "plg_d_0000")
    emulator.refund_behind_our_back(q.payment.charge_intent_id, 250)
    (only,) = _charge_refunded(emulator, q.payment.charge_intent_id)
    assert send_webhook(services, only)["outcome"] == "collected->collected"
    assert send_webhook(services, only)["outcome"] in ("no_change", "duplicate")
    q = services.store.get_pledge(c.id, "plg_d_0000")
    assert q.status is PledgeStatus.COLLECTED and q.refunded_amount == 250
    # The campaign refund then gives back only what is left.
    refunds.refund_campaign(services, c.id, "alice", REASON)
    done = refund_until_final(services, settings, clock, c.id)
    assert refunds_of(emulator, "d") == {"plg_d_0000": [250, 750], "plg_d_0001": [500, 1000]}
    assert done.settlement.refunded == 2500


# ---------------------------------------------------------------- crashes and faults


PLAN = [
    (PaymentFlow.SETUP, "pm_card_visa", 1000),
    (PaymentFlow.HOLD, "pm_card_visa", 700),
    (PaymentFlow.SETUP, None),  # expired: nothing to refund
]


def test_a_crash_at_any_step_boundary_never_refunds_twice(
    aws, services, settings, clock, real_stripe, emulator
):
    """For k = 1, 2, ...: a fresh succeeded campaign is refunded with the
    Lambda dying at the k-th boundary (before or after a Stripe call, a
    DynamoDB write or a queue send, in the request or the worker); the
    organizer asks again if their request died before it was recorded, and
    the schedule and SQS redeliver. It ends when k passes the last boundary."""
    crasher = Crasher()
    store, payments, queue = services.store, services.payments, services.queue
    for k in range(1, 200):
        run = f"k{k}"
        services.store, services.payments, services.queue = store, payments, queue
        c = succeeded(services, settings, clock, real_stripe, PLAN, run=run)
        services.payments = Boundaries(payments, crasher, {"refund_pledge", "cancel_payment"})
        services.store = Boundaries(store, crasher, {"save_pledge", "save_campaign"})
        services.queue = Boundaries(queue, crasher, {"send", "send_many"})
        crasher.count, crasher.points, crasher.armed = 0, [], k
        for _ in range(3):  # the organizer retries a request that died
            with contextlib.suppress(Crash):
                refunds.refund_campaign(services, c.id, "alice", REASON)
            if store.get_campaign(c.id).status is not CampaignStatus.SUCCEEDED:
                break
        final = refund_until_final(services, settings, clock, c.id)
        where = (
            f"crash at boundary {k}: {crasher.points[k - 1] if k <= len(crasher.points) else '-'}"
        )
        assert final.settlement.refunded == 1700, where
        assert refunds_of(emulator, run) == {
            f"plg_{run}_0000": [1000],
            f"plg_{run}_0001": [700],
        }, where
        if crasher.armed is not None:  # k was past the last boundary: all were tried
            break
    else:
        raise AssertionError("the boundaries never ran out")
    services.store, services.payments, services.queue = store, payments, queue
    stripe_points = [p for p in crasher.points if p.split()[1] == "refund_pledge"]
    assert k > 15 and len(stripe_points) >= 4, crasher.points


@pytest.mark.parametrize("n", [80, pytest.param(600, marks=pytest.mark.slow)])
def test_refunding_through_429s_and_500s_refunds_each_pledge_once(
    aws, services, settings, clock, real_stripe, emulator, n
):
    """10% of Stripe calls answer 429 and 5% answer 500, during the refund."""
    plan = [
        (PaymentFlow.SETUP if i % 2 else PaymentFlow.HOLD, "pm_card_visa", 500 + i)
        for i in range(n)
    ]
    c = succeeded(services, settings, clock, real_stripe, plan, run="big", goal=n * 300)
    emulator.faults.update({"share_429": 0.10, "share_500": 0.05})
    log_before = len(emulator.request_log)
    refunds.refund_campaign(services, c.id, "alice", REASON)
    final = refund_until_final(services, settings, clock, c.id, rounds=80)
    expected = {f"plg_big_{i:04}": [500 + i] for i in range(n)}
    assert refunds_of(emulator, "big") == expected
    assert final.settlement.refunded == sum(500 + i for i in range(n))
    assert {p.status for p in services.store.all_pledges(c.id)} == {PledgeStatus.REFUNDED}
    during = emulator.request_log[log_before:]
    throttled = sum(1 for r in during if r["status"] == 429)
    failed = sum(1 for r in during if r["status"] == 500)
    assert throttled > n // 40 and failed > n // 80  # the faults really happened


def test_a_refund_stripe_made_but_answered_500_is_found_not_made_again(
    aws, services, settings, clock, real_stripe, emulator
):
    # Stripe executes the refund, then answers 500 and replays that 500 under
    # the key: the worker records the same refund under a new key, which
    # looks Stripe up first and finds it by its tag.
    c = succeeded(services, settings, clock, real_stripe, THREE[:2], run="x")
    emulator.fail_next("500_executed", path_regex=r"^/v1/refunds$", method="POST", count=1)
    refunds.refund_campaign(services, c.id, "alice", REASON)
    done = refund_until_final(services, settings, clock, c.id)
    assert refunds_of(emulator, "x") == {"plg_x_0000": [1000], "plg_x_0001": [1500]}
    assert done.settlement.refunded == 2500
    numbers = sorted(p.refunds.number for p in services.store.all_pledges(c.id))
    assert numbers == [1, 2]  # the one that met the 500 moved to a second key


def test_a_charge_the_backer_had_not_finished_is_cancelled_not_refunded(
    aws, services, settings, clock, real_stripe, emulator, events
):
    plan = [
        (PaymentFlow.SETUP, "pm_card_visa", 1000),
        (PaymentFlow.SETUP, "pm_card_chargeCustomerFail", 800),  # action_required
    ]
    gateway, client = real_stripe
    c = seed_real(services, gateway, client, plan, run="a")
    clock.advance(2 * 3600)
    for _ in range(10):  # settles, the second pledge in its grace period
        sweep_handler({}, FakeContext())
        drain(settings)
        if services.store.get_campaign(c.id).status is CampaignStatus.SUCCEEDED:
            break
        clock.advance(120)
    waiting = services.store.get_pledge(c.id, "plg_a_0001")
    assert waiting.status is PledgeStatus.ACTION_REQUIRED
    refunds.refund_campaign(services, c.id, "alice", REASON)
    done = refund_until_final(services, settings, clock, c.id)
    assert refunds_of(emulator, "a") == {"plg_a_0000": [1000]}
    closed = services.store.get_pledge(c.id, "plg_a_0001")
    assert closed.status is PledgeStatus.FAILED and closed.failure_reason == "campaign_refunded"
    intent = emulator.payment_intents[waiting.payment.charge_intent_id]
    assert intent["status"] == "canceled"  # it can never take money now
    assert done.settlement.refunded == 1000
