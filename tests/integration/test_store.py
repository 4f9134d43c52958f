from dataclasses import replace
from datetime import timedelta

import pytest

from cashmob.domain import CampaignStatus, PledgeStatus
from cashmob.domain.errors import CampaignClosed, ConcurrentUpdate, InvalidTransition, NotFound
from cashmob.store import DuplicateEvent
from tests.unit.factories import NOW, campaign, pledge


def test_campaign_round_trip(store):
    saved = store.create_campaign(campaign())
    loaded = store.get_campaign("cmp_test")
    assert loaded == saved
    assert loaded.revision == 1


def test_unknown_campaign_is_not_found(store):
    with pytest.raises(NotFound):
        store.get_campaign("cmp_nope")


def test_campaign_transition_is_conditional_on_the_state_read(store):
    live = store.create_campaign(campaign())
    settling = store.save_campaign(live, live.moved_to(CampaignStatus.SETTLING))
    assert store.get_campaign(live.id).status is CampaignStatus.SETTLING
    # A second writer that read the live campaign loses: the lock is taken once.
    with pytest.raises(ConcurrentUpdate):
        store.save_campaign(live, live.moved_to(CampaignStatus.CANCELLED))
    with pytest.raises(InvalidTransition):
        store.save_campaign(settling, settling.moved_to(CampaignStatus.CANCELLED))


def test_due_campaigns_come_from_the_sparse_index(store):
    store.create_campaign(
        campaign(
            id="cmp_soon", deadline=NOW + timedelta(hours=1), next_check_at=NOW + timedelta(hours=1)
        )
    )
    store.create_campaign(
        campaign(
            id="cmp_late", deadline=NOW + timedelta(days=9), next_check_at=NOW + timedelta(days=9)
        )
    )
    done = campaign(id="cmp_done", status=CampaignStatus.SUCCEEDED, next_check_at=None)
    store.create_campaign(done)
    assert list(store.due_campaigns(NOW + timedelta(hours=2))) == ["cmp_soon"]
    assert sorted(store.due_campaigns(NOW + timedelta(days=30))) == ["cmp_late", "cmp_soon"]


def test_listing_by_status_pages_with_opaque_cursors(store):
    for i in range(5):
        store.create_campaign(campaign(id=f"cmp_{i}", created_at=NOW + timedelta(seconds=i)))
    first = store.list_campaigns(status=CampaignStatus.LIVE, limit=2, after=None)
    assert len(first.items) == 2 and first.next_cursor
    seen = [c.id for c in first.items]
    page = first
    while page.next_cursor:
        page = store.list_campaigns(status=CampaignStatus.LIVE, limit=2, after=page.next_cursor)
        seen += [c.id for c in page.items]
    assert sorted(seen) == [f"cmp_{i}" for i in range(5)]
    assert seen[0] == "cmp_4"  # newest first


def test_activation_moves_counters_in_the_same_transaction(store):
    store.create_campaign(campaign())
    p = store.create_pledge(pledge(counter_shard=3))
    active = store.save_pledge(
        p, p.moved_to(PledgeStatus.ACTIVE, activated_at=NOW), open_campaign_at=NOW
    )
    assert store.progress("cmp_test").amount == 1000
    assert store.progress("cmp_test").backers == 1
    # Replaying the same transition from the stale state fails and counts nothing.
    with pytest.raises(ConcurrentUpdate):
        store.save_pledge(p, p.moved_to(PledgeStatus.ACTIVE), open_campaign_at=NOW)
    assert store.progress("cmp_test").backers == 1
    store.save_pledge(active, active.moved_to(PledgeStatus.CANCELLED))
    assert store.progress("cmp_test").amount == 0
    assert store.progress("cmp_test").backers == 0


def test_activation_after_the_campaign_closed_writes_nothing(store):
    live = store.create_campaign(campaign())
    store.save_campaign(live, live.moved_to(CampaignStatus.SETTLING))
    p = store.create_pledge(pledge())
    with pytest.raises(CampaignClosed):
        store.save_pledge(p, p.moved_to(PledgeStatus.ACTIVE), open_campaign_at=NOW)
    assert store.get_pledge("cmp_test", p.id).status is PledgeStatus.PENDING
    assert store.progress("cmp_test").amount == 0


def test_activation_at_or_after_the_deadline_does_not_count(store):
    c = store.create_campaign(campaign())
    p = store.create_pledge(pledge())
    with pytest.raises(CampaignClosed):
        store.save_pledge(p, p.moved_to(PledgeStatus.ACTIVE), open_campaign_at=c.deadline)


def test_events_are_recorded_once_whichever_pledge_they_move(store):
    store.create_campaign(campaign())
    a = store.create_pledge(pledge(id="plg_a"))
    b = store.create_pledge(pledge(id="plg_b"))
    event = ("evt_1", "setup_intent.succeeded", NOW, NOW + timedelta(days=30))
    store.save_pledge(a, a.moved_to(PledgeStatus.ACTIVE), event=event)
    with pytest.raises(DuplicateEvent):
        store.save_pledge(b, b.moved_to(PledgeStatus.ACTIVE), event=event)
    assert store.get_pledge("cmp_test", "plg_b").status is PledgeStatus.PENDING


def test_event_and_transition_commit_together(store):
    store.create_campaign(campaign())
    p = store.create_pledge(pledge())
    event = ("evt_2", "setup_intent.succeeded", NOW, NOW + timedelta(days=30))
    active = store.save_pledge(
        p, p.moved_to(PledgeStatus.ACTIVE), open_campaign_at=NOW, event=event
    )
    with pytest.raises(DuplicateEvent):
        store.save_pledge(active, active.moved_to(PledgeStatus.COLLECTED), event=event)
    assert store.get_pledge("cmp_test", p.id).status is PledgeStatus.ACTIVE


def test_action_required_pledges_are_due_for_reminders(store):
    store.create_campaign(campaign())
    p = store.create_pledge(pledge(status=PledgeStatus.ACTIVE))
    store.save_pledge(
        p,
        p.moved_to(
            PledgeStatus.ACTION_REQUIRED,
            grace_until=NOW + timedelta(days=7),
            next_reminder_at=NOW + timedelta(days=2),
        ),
    )
    assert list(store.due_pledges(NOW + timedelta(days=1))) == []
    assert list(store.due_pledges(NOW + timedelta(days=2))) == [("cmp_test", p.id)]


def test_pages_of_pledges_and_status_filter(store):
    store.create_campaign(campaign())
    for i in range(7):
        status = PledgeStatus.ACTIVE if i % 2 else PledgeStatus.PENDING
        store.create_pledge(replace(pledge(id=f"plg_{i}"), status=status))
    active = store.pledges(
        "cmp_test", limit=10, after=None, statuses=frozenset({PledgeStatus.ACTIVE})
    )
    assert {p.id for p in active.items} == {"plg_1", "plg_3", "plg_5"}
    page = store.pledges("cmp_test", limit=3, after=None)
    assert len(page.items) == 3 and page.next_cursor
    rest = store.pledges("cmp_test", limit=10, after=page.next_cursor)
    assert len(rest.items) == 4
    assert sum(1 for _ in store.all_pledges("cmp_test")) == 7
