"""Organizer and public campaign use cases (cashmob.service.campaigns) on fakes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cashmob.clock import to_rfc3339
from cashmob.domain import CampaignStatus, Outcome
from cashmob.domain.errors import (
    BadRequest,
    CampaignClosed,
    Forbidden,
    InvalidTransition,
    ValidationFailed,
)
from cashmob.service import campaigns
from tests.service.conftest import ORGANIZER, campaign_input


def test_a_new_campaign_is_stored_live_due_at_its_deadline_and_announced(world):
    # When
    answer = campaigns.create(world.svc, **campaign_input(world.clock, days=10))
    # Then
    assert answer["status"] == "live" and answer["organizer"] == ORGANIZER
    assert answer["pledged"] == {"amount": 0, "currency": "gbp", "backers": 0}
    stored = world.store.get_campaign(answer["id"])
    assert stored.status is CampaignStatus.LIVE
    deadline = world.clock.now() + timedelta(days=10)
    assert list(world.store.due_campaigns(deadline - timedelta(seconds=1))) == []
    assert list(world.store.due_campaigns(deadline)) == [answer["id"]]
    assert world.published() == 1


def test_an_invalid_campaign_is_neither_stored_nor_announced(world):
    with pytest.raises(ValidationFailed):
        campaigns.create(world.svc, **campaign_input(world.clock, days=-1))
    assert world.store.list_campaigns(status=None, limit=10, after=None).items == []
    assert world.published() == 0


def test_campaigns_are_listed_newest_first_a_signed_page_at_a_time(world):
    # Given three campaigns, a second apart
    ids = []
    for _ in range(3):
        ids.append(world.campaign())
        world.clock.advance(1)
    # When
    first = campaigns.listing(world.svc, status=CampaignStatus.LIVE, limit=2, cursor=None)
    second = campaigns.listing(
        world.svc, status=CampaignStatus.LIVE, limit=2, cursor=first["next_cursor"]
    )
    # Then
    assert [c["id"] for c in first["campaigns"] + second["campaigns"]] == ids[::-1]
    assert first["next_cursor"] and second["next_cursor"] is None
    with pytest.raises(BadRequest):  # a cursor is good for its own listing only
        campaigns.listing(world.svc, status=None, limit=2, cursor=first["next_cursor"])
    with pytest.raises(BadRequest):
        campaigns.listing(world.svc, status=CampaignStatus.LIVE, limit=2, cursor="made-up")


def test_a_campaign_shows_what_its_confirmed_pledges_add_up_to(world):
    cid = world.campaign()
    world.confirmed(cid, "k1", amount=1000)
    world.confirmed(cid, "k2", amount=2500)
    world.pledge(cid, "k3", amount=4000)  # never confirmed: does not count
    answer = campaigns.get(world.svc, cid)
    assert answer["pledged"] == {"amount": 3500, "currency": "gbp", "backers": 2}
    assert answer["percent_funded"] == 35


def test_the_organizer_cancels_a_live_campaign_and_its_pledges_are_released(world):
    # Given
    cid = world.campaign()
    world.confirmed(cid)
    announced = world.published()
    # When
    answer = campaigns.cancel(world.svc, cid, ORGANIZER)
    # Then
    assert answer["status"] == "cancelled"
    stored = world.store.get_campaign(cid)
    assert (stored.status, stored.outcome) == (CampaignStatus.CANCELLED, Outcome.CANCELLED)
    assert stored.locked_at == world.clock.now()
    assert [m.campaign_id for m in world.queue.messages] == [cid]  # settlement takes over
    assert world.published() > announced


def test_only_the_organizer_may_cancel(world):
    cid = world.campaign()
    with pytest.raises(Forbidden):
        campaigns.cancel(world.svc, cid, "mallory")
    assert world.store.get_campaign(cid).status is CampaignStatus.LIVE
    assert world.queue.sent == []


def test_a_campaign_past_its_deadline_is_settled_not_cancelled(world):
    cid = world.campaign(days=1)
    world.clock.advance(timedelta(days=1).total_seconds())
    with pytest.raises(CampaignClosed):
        campaigns.cancel(world.svc, cid, ORGANIZER)
    assert world.store.get_campaign(cid).status is CampaignStatus.LIVE


def test_a_cancelled_campaign_cannot_be_cancelled_again(world):
    cid = world.campaign()
    campaigns.cancel(world.svc, cid, ORGANIZER)
    with pytest.raises(InvalidTransition):
        campaigns.cancel(world.svc, cid, ORGANIZER)
    assert len(world.queue.sent) == 1


def test_the_organizer_sees_every_pledge_the_public_only_confirmed_backers(world):
    # Given a confirmed pledge and one never confirmed
    cid = world.campaign()
    world.confirmed(cid, "k1", display_name="Ada")
    world.pledge(cid, "k2", email="bob@example.org")
    # When
    owned = campaigns.owner_pledges(world.svc, cid, ORGANIZER, limit=10, cursor=None)
    public = campaigns.backers(world.svc, cid, limit=10, cursor=None)
    # Then
    assert sorted(p["email"] for p in owned["pledges"]) == ["ada@example.org", "bob@example.org"]
    pledged_at = to_rfc3339(world.clock.now())
    assert public["backers"] == [{"name": "Ada", "amount": 1000, "pledged_at": pledged_at}]
    with pytest.raises(Forbidden):
        campaigns.owner_pledges(world.svc, cid, "mallory", limit=10, cursor=None)
