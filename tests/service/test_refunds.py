"""Refund use cases over the in-memory adapters: one pledge's refunds and the
campaign's queue, with the keys Stripe sees and the backstop message."""

from __future__ import annotations

import pytest

from cashmob.domain import CampaignStatus, Outcome, PledgeStatus, Settlement
from cashmob.domain.errors import PaymentProviderUnavailable
from cashmob.domain.messages import CheckRefundCompletion, RefundPledge, SendRefundPage
from cashmob.domain.refunds import NotRefundable
from cashmob.service import refunds
from cashmob.service.settlement import handle
from tests.fakes import Intent
from tests.service.conftest import ORGANIZER

REASON = "the newspaper refused the ad"


def collected_campaign(world, amounts=(1000, 1500)):
    """A succeeded campaign whose pledges Stripe charged (the fake's intents)."""
    cid = world.campaign()
    ids = []
    for n, amount in enumerate(amounts):
        pid, _ = world.confirmed(cid, key=f"k{n}", amount=amount)
        p = world.stored(cid, pid)
        intent = f"pi_charge_{pid}"
        world.stripe.intents[intent] = Intent(intent, pid, "succeeded")
        world.store.save_pledge(p, p.collected_by(intent))
        ids.append(pid)
    c = world.store.get_campaign(cid)
    settling = world.store.save_campaign(
        c, c.moved_to(CampaignStatus.SETTLING, outcome=Outcome.SUCCEEDED)
    )
    settlement = Settlement(Outcome.SUCCEEDED, sum(amounts), len(amounts), 0, 0, 0, c.created_at)
    world.store.save_campaign(
        settling,
        settling.moved_to(CampaignStatus.SUCCEEDED, settlement=settlement, next_check_at=None),
    )
    return cid, ids


def work(world):
    """Plays the settlement worker until its queue is empty (delays ignored)."""
    while world.queue.sent:
        sent = world.queue.sent.pop(0)
        handle(world.svc, sent.message)


def test_a_partial_refund_then_the_rest_use_two_keys(world):
    cid, (p0, _) = collected_campaign(world)
    part = refunds.refund_pledge(world.svc, cid, p0, ORGANIZER, amount=300, reason="late")
    assert part["status"] == "collected" and part["refunded_amount"] == 300
    # The backstop went out before Stripe was asked, a minute later.
    assert [(s.message, s.delay_seconds) for s in world.queue.sent] == [
        (RefundPledge(cid, p0), refunds.requests.BACKSTOP_DELAY)
    ]
    rest = refunds.refund_pledge(world.svc, cid, p0, ORGANIZER, amount=None, reason="all")
    assert rest["status"] == "refunded" and rest["refunded_amount"] == 1000
    assert world.stripe.named("refund_pledge") == [
        f"pledge:{p0}:refund-1",
        f"pledge:{p0}:refund-2",
    ]
    assert world.stripe.refunded[p0] == 1000
    work(world)  # the backstops find nothing in flight: nothing more reaches Stripe
    assert len(world.stripe.named("refund_pledge")) == 2
    with pytest.raises(NotRefundable):
        refunds.refund_pledge(world.svc, cid, p0, ORGANIZER, amount=None, reason="again")


def test_a_refund_stripe_could_not_take_is_finished_by_its_backstop(world):
    cid, (p0, _) = collected_campaign(world)
    world.stripe.unavailable = 1
    with pytest.raises(PaymentProviderUnavailable):
        refunds.refund_pledge(world.svc, cid, p0, ORGANIZER, amount=250, reason="x")
    assert world.stored(cid, p0).refunds.in_flight
    work(world)  # the backstop: the same refund, the same key
    p = world.stored(cid, p0)
    assert not p.refunds.in_flight and p.refunded_amount == 250
    assert world.stripe.named("refund_pledge") == [f"pledge:{p0}:refund-1"]
    assert world.stripe.refunded[p0] == 250


def test_the_organizers_retry_of_a_refund_in_flight_is_that_refund(world):
    cid, (p0, _) = collected_campaign(world)
    world.stripe.unavailable = 1
    with pytest.raises(PaymentProviderUnavailable):
        refunds.refund_pledge(world.svc, cid, p0, ORGANIZER, amount=250, reason="x")
    again = refunds.refund_pledge(world.svc, cid, p0, ORGANIZER, amount=250, reason="x")
    assert again["refunded_amount"] == 250
    assert world.stripe.refunded[p0] == 250


def test_the_campaign_refund_runs_on_the_queue(world):
    cid, (p0, p1) = collected_campaign(world)
    answer, status = refunds.refund_campaign(world.svc, cid, ORGANIZER, REASON)
    assert status == 202 and answer["status"] == "refunding"
    assert world.queue.messages == [SendRefundPage(cid)]
    again, status = refunds.refund_campaign(world.svc, cid, ORGANIZER, "other")
    assert status == 200 and again == answer
    work(world)
    handle(world.svc, CheckRefundCompletion(cid))
    done = world.store.get_campaign(cid)
    assert done.status is CampaignStatus.REFUNDED and done.settlement.refunded == 2500
    assert {world.stored(cid, p).status for p in (p0, p1)} == {PledgeStatus.REFUNDED}
    assert dict(world.stripe.refunded) == {p0: 1000, p1: 1500}
    assert [e["refunded"] for e in world.events.named("CampaignRefunded")] == [2500]
