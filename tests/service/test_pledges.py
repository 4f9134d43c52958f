"""Backer use cases (cashmob.service.pledges) on fakes: pledge, replay, look, cancel."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cashmob.domain import PaymentFlow, PledgeStatus, Tally
from cashmob.domain.errors import (
    CampaignClosed,
    Forbidden,
    IdempotencyKeyReused,
    NotFound,
    Unauthorized,
    ValidationFailed,
)
from cashmob.service import campaigns, intake, pledges
from tests.service.conftest import ORGANIZER


def test_a_pledge_is_recorded_pending_with_the_card_setup_stripe_made(world):
    cid = world.campaign(days=10)
    # When
    answer, status = world.pledge(cid)
    # Then
    pid = answer["pledge"]["id"]
    assert status == 201 and answer["pledge"]["status"] == "pending"
    assert answer["payment"]["status"] == "ready" and "ready_in" not in answer["payment"]
    assert answer["payment"]["flow"] == "setup" and answer["payment"]["client_secret"]
    assert answer["pledge_token"]
    stored = world.stored(cid, pid)
    assert stored.status is PledgeStatus.PENDING
    assert stored.payment.intent_id == answer["payment"]["intent_id"] == f"seti_{pid}"
    assert world.stripe.named("setup") == [pid]
    assert world.store.progress(cid) == Tally()  # counts once the backer confirms


def test_a_pledge_close_to_the_deadline_holds_the_funds(world):
    cid = world.campaign(days=3)
    answer, _ = world.pledge(cid)
    pid = answer["pledge"]["id"]
    assert answer["payment"]["flow"] == "hold"
    assert world.stored(cid, pid).payment.flow is PaymentFlow.HOLD
    assert world.stripe.named("hold") == [pid]


def test_the_same_key_and_body_replay_the_first_answer(world):
    cid = world.campaign()
    first, _ = world.pledge(cid, "key-1")
    # When
    again, status = world.pledge(cid, "key-1")
    # Then
    assert again == first and status == 200
    assert len(world.stripe.calls) == 1
    assert len(world.store.pledges(cid, limit=10, after=None).items) == 1


def test_the_same_key_with_another_body_is_refused(world):
    cid = world.campaign()
    first, _ = world.pledge(cid, "key-1", amount=1000)
    with pytest.raises(IdempotencyKeyReused):
        world.pledge(cid, "key-1", amount=5000)
    assert world.stored(cid, first["pledge"]["id"]).amount.amount == 1000
    assert len(world.stripe.calls) == 1


@pytest.mark.parametrize("closed_by", ["cancellation", "the deadline"])
def test_a_closed_campaign_takes_no_pledges(world, closed_by):
    cid = world.campaign(days=1)
    if closed_by == "cancellation":
        campaigns.cancel(world.svc, cid, ORGANIZER)
    else:
        world.clock.advance(timedelta(days=1).total_seconds())
    with pytest.raises(CampaignClosed):
        world.pledge(cid)
    assert world.store.pledges(cid, limit=10, after=None).items == []
    assert world.stripe.calls == []


def test_a_pledge_below_the_minimum_is_refused_before_stripe_hears_of_it(world):
    cid = world.campaign(min_pledge_amount=300)
    with pytest.raises(ValidationFailed) as refused:
        world.pledge(cid, amount=299)
    assert refused.value.details == [{"field": "amount", "minimum": 300}]
    assert world.store.pledges(cid, limit=10, after=None).items == []
    assert world.stripe.calls == []


def test_a_pledge_stripe_could_not_prepare_is_queued_and_a_retry_reads_it(world):
    cid = world.campaign()
    world.stripe.unavailable = 1
    # When Stripe is busy
    answer, status = world.pledge(cid, "key-1")
    # Then the pledge is recorded and queued: 202 preparing, never 503
    assert status == 202 and answer["payment"]["status"] == "preparing"
    (claimed,) = world.store.pledges(cid, limit=10, after=None).items
    assert claimed.status is PledgeStatus.PENDING and not claimed.ready
    assert [m.pledge_id for m in world.intake.waiting] == [claimed.id]
    with pytest.raises(IdempotencyKeyReused):
        world.pledge(cid, "key-1", amount=5000)
    # When the backer retries before the worker ran
    again, status = world.pledge(cid, "key-1")
    # Then the same pledge, still preparing, queued once
    assert status == 200 and again["pledge"]["id"] == claimed.id
    assert again["payment"]["status"] == "preparing"
    assert len(world.intake.waiting) == 1 and world.intake.sent == 2
    # When the intake worker runs, then a retry gets the payment
    world.intake.drain(lambda m: intake.handle(world.svc, m))
    ready, status = world.pledge(cid, "key-1")
    assert status == 200 and ready["payment"]["status"] == "ready"
    assert world.stored(cid, claimed.id).ready
    assert world.stripe.named("setup") == [claimed.id]


def test_the_backer_reads_their_pledge_with_its_token_only(world):
    cid = world.campaign()
    answer, _ = world.pledge(cid, "key-1")
    other, _ = world.pledge(cid, "key-2")
    pid, token = answer["pledge"]["id"], answer["pledge_token"]
    # When
    seen = pledges.get(world.svc, cid, pid, token)
    # Then
    assert seen["id"] == pid and seen["status"] == "pending"
    assert seen["payment"]["intent_id"] == f"seti_{pid}"
    with pytest.raises(Unauthorized):
        pledges.get(world.svc, cid, pid, None)
    with pytest.raises(Forbidden):
        pledges.get(world.svc, cid, pid, other["pledge_token"])
    with pytest.raises(NotFound):
        pledges.get(world.svc, cid, "plg_nope", token)


def test_the_backer_cancels_a_confirmed_pledge_and_the_card_is_released(world):
    # Given
    cid = world.campaign()
    pid, token = world.confirmed(cid)
    assert world.store.progress(cid) == Tally(1000, 1)
    announced = world.published()
    # When
    answer = pledges.cancel(world.svc, cid, pid, token)
    # Then
    assert answer["status"] == "cancelled"
    assert world.stored(cid, pid).status is PledgeStatus.CANCELLED
    assert world.store.progress(cid) == Tally()
    assert [(m.campaign_id, m.pledge_id) for m in world.queue.messages] == [(cid, pid)]
    assert world.published() > announced


def test_a_pledge_cannot_be_cancelled_once_the_deadline_passed(world):
    cid = world.campaign(days=1)
    pid, token = world.confirmed(cid)
    world.clock.advance(timedelta(days=1).total_seconds())
    with pytest.raises(CampaignClosed):
        pledges.cancel(world.svc, cid, pid, token)
    assert world.stored(cid, pid).status is PledgeStatus.ACTIVE
    assert world.store.progress(cid) == Tally(1000, 1)
    assert world.queue.sent == []


def test_cancelling_needs_the_pledges_own_token(world):
    cid = world.campaign()
    pid, _ = world.confirmed(cid, "key-1")
    _, other_token = world.confirmed(cid, "key-2")
    with pytest.raises(Forbidden):
        pledges.cancel(world.svc, cid, pid, other_token)
    assert world.stored(cid, pid).status is PledgeStatus.ACTIVE
