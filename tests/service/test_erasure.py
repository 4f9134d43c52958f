"""Erasure and the retention sweep, and the notifier, on the in-memory adapters."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from cashmob.domain import CampaignStatus, Outcome, PledgeStatus, Settlement
from cashmob.domain.errors import Forbidden, Unauthorized
from cashmob.domain.events import PledgeActivated
from cashmob.notify import notifier
from cashmob.service import erasure, settlement

DAY = 86400


def ended(world, campaign_id, *, days_ago: float):
    """The campaign settled `days_ago` days before the clock's now."""
    c = world.store.get_campaign(campaign_id)
    settled_at = world.clock.now() - timedelta(days=days_ago)
    done = replace(
        c,
        status=CampaignStatus.SETTLING,
        deadline=settled_at - timedelta(minutes=5),
        next_check_at=None,
    )
    world.store.save_campaign(c, done)
    world.store.save_campaign(
        world.store.get_campaign(campaign_id),
        replace(
            done,
            status=CampaignStatus.SUCCEEDED,
            outcome=Outcome.SUCCEEDED,
            settlement=Settlement(Outcome.SUCCEEDED, 1000, 1, 0, 0, 0, settled_at),
            revision=world.store.get_campaign(campaign_id).revision,
        ),
    )


# ---------------------------------------------------------------- on request


def test_the_backer_erases_their_data_once_and_stripe_is_asked(world):
    cid = world.campaign()
    pid, token = world.confirmed(cid, display_name="Ada", message="Go!")
    answer = erasure.erase(world.svc, cid, pid, token)
    assert (answer["email"], answer["display_name"], answer["message"]) == (None, None, None)
    assert answer["amount"] == 1000 and answer["status"] == "active"
    assert erasure.erase(world.svc, cid, pid, token) == answer
    assert world.stripe.forgotten[pid] == 1  # again asks nothing more of Stripe
    stored = world.stored(cid, pid)
    assert stored.backer.erased and stored.backer.public_name == "Anonymous"
    assert stored.counted and world.store.progress(cid).amount == 1000


def test_erasure_needs_the_pledge_token(world):
    cid = world.campaign()
    pid, _ = world.confirmed(cid)
    with pytest.raises(Unauthorized):
        erasure.erase(world.svc, cid, pid, None)
    with pytest.raises(Forbidden):
        erasure.erase(world.svc, cid, pid, "not-the-token")
    assert world.stored(cid, pid).backer.email == "ada@example.org"
    assert world.stripe.forgotten[pid] == 0


# ---------------------------------------------------------------- retention


def test_the_sweep_erases_only_pledges_of_campaigns_past_their_retention(world):
    due, recent = world.campaign(), world.campaign()
    (due_pledge, _), (recent_pledge, _) = world.confirmed(due), world.confirmed(recent, "key-2")
    ended(world, due, days_ago=91)
    ended(world, recent, days_ago=89)
    live = world.campaign()
    live_pledge, _ = world.confirmed(live, "key-3")
    summary = settlement.sweep(world.svc)
    assert (summary["erased"], summary["campaigns_erased"]) == (1, 1)
    assert world.stored(due, due_pledge).backer.erased
    assert not world.stored(recent, recent_pledge).backer.erased
    assert not world.stored(live, live_pledge).backer.erased
    assert dict(world.stripe.forgotten) == {due_pledge: 1}


def test_the_sweep_pages_and_then_rests_until_the_next_hour(world):
    cid = world.campaign()
    pledges = [world.confirmed(cid, f"key-{i}")[0] for i in range(5)]
    ended(world, cid, days_ago=100)
    assert erasure.retention_sweep(world.svc, limit=2)["erased"] == 2
    assert erasure.retention_sweep(world.svc, limit=2)["erased"] == 2
    assert erasure.retention_sweep(world.svc, limit=2) == {"erased": 1, "campaigns_erased": 1}
    assert all(world.stored(cid, p).backer.erased for p in pledges)
    # Nothing is due any more: the rest of the hour costs one read
    other = world.campaign()
    late_pledge, _ = world.confirmed(other, "key-9")
    ended(world, other, days_ago=95)
    assert erasure.retention_sweep(world.svc) == {"erased": 0, "campaigns_erased": 0}
    world.clock.advance(3600)
    assert erasure.retention_sweep(world.svc)["erased"] == 1
    assert world.stored(other, late_pledge).backer.erased
    assert sum(world.stripe.forgotten.values()) == 6


# ---------------------------------------------------------------- the notifier


def test_a_receipt_goes_to_the_backer_once_and_not_after_erasure(world):
    world.svc.settings = world.svc.settings.model_copy(
        update={"email_enabled": True, "public_site_url": "https://site.example/"}
    )
    cid = world.campaign()
    pid, token = world.confirmed(cid, display_name="Ada")
    event = {
        "id": "evt-1",
        "detail-type": "PledgeActivated",
        "detail": PledgeActivated(cid, pid, 1000, "gbp").detail(),
    }
    assert notifier.handle(world.svc, event) == "receipt"
    assert notifier.handle(world.svc, event) == "already_sent"
    (email,) = world.svc.mailer.sent
    assert email.to == "ada@example.org" and "Hello Ada," in email.text
    assert f"https://site.example/pledge.html#c={cid}&p={pid}&t={token}" in email.text
    erasure.erase(world.svc, cid, pid, token)
    assert notifier.handle(world.svc, {**event, "id": "evt-2"}) == "erased"
    assert world.stored(cid, pid).status is PledgeStatus.ACTIVE
