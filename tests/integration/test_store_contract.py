"""The contract of `cashmob.ports`, run against the real adapters (DynamoDB and
SQS in moto, tables and queues from template.yaml) and the in-memory fakes the
service tests use (tests/memory.py): what the use cases rely on, so a green
service test on the fakes means the same on the real thing."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import boto3
import pytest

from cashmob.domain import CampaignStatus, Money, Outcome, PledgeStatus, Settlement, Tally, messages
from cashmob.domain.errors import (
    BadRequest,
    CampaignClosed,
    ConcurrentUpdate,
    Conflict,
    InvalidTransition,
    NotFound,
)
from cashmob.messaging import WorkQueue
from cashmob.store import DuplicateEvent
from tests.memory import MemoryQueue, MemoryStore
from tests.unit.factories import NOW, campaign, pledge

LATER = NOW + timedelta(days=30)


@pytest.fixture(params=["dynamodb", "memory"])
def store(request):
    if request.param == "memory":
        return MemoryStore()
    return request.getfixturevalue("services").store


def _event(event_id: str) -> tuple:
    return (event_id, "setup_intent.succeeded", NOW, LATER)


def _walk(read, limit: int) -> list[list]:
    """Every page of a listing, following its cursors."""
    pages, after = [], None
    while True:
        page = read(limit=limit, after=after)
        assert len(page.items) <= limit
        pages.append(page.items)
        if not page.next_cursor:
            return pages
        after = page.next_cursor


def _active(store, **overrides):
    """A pledge the backer confirmed (the campaign exists)."""
    p = store.create_pledge(pledge(**overrides))
    return store.save_pledge(p, p.moved_to(PledgeStatus.ACTIVE, activated_at=NOW))


# ---------------------------------------------------------------- campaigns


def test_a_campaign_reads_back_as_written_to_the_second(store):
    written = campaign(created_at=NOW + timedelta(microseconds=250_000))
    saved = store.create_campaign(written)
    assert saved == replace(written, revision=1)
    assert store.get_campaign("cmp_test") == replace(written, created_at=NOW, revision=1)


def test_a_settled_campaign_reads_back_with_its_settlement(store):
    live = store.create_campaign(campaign())
    settling = store.save_campaign(live, live.moved_to(CampaignStatus.SETTLING, locked_at=NOW))
    done = settling.moved_to(
        CampaignStatus.SUCCEEDED,
        outcome=Outcome.SUCCEEDED,
        settlement=Settlement(Outcome.SUCCEEDED, 5000, 3, 0, 1000, 0, NOW),
        next_check_at=None,
    )
    saved = store.save_campaign(settling, done)
    assert store.get_campaign("cmp_test") == saved == replace(done, revision=3)


def test_a_campaign_id_is_taken_once(store):
    store.create_campaign(campaign())
    with pytest.raises(Conflict):
        store.create_campaign(campaign(title="another"))
    assert store.get_campaign("cmp_test").title == "Full-page ad"


def test_unknown_campaigns_and_pledges_are_not_found(store):
    with pytest.raises(NotFound):
        store.get_campaign("cmp_nope")
    with pytest.raises(NotFound):
        store.get_pledge("cmp_nope", "plg_nope")
    assert store.find_pledge("cmp_nope", "plg_nope") is None
    with pytest.raises(NotFound):
        store.campaign_and_pledge("cmp_nope", "plg_nope")


def test_a_save_needs_the_campaign_as_it_was_read(store):
    live = store.create_campaign(campaign())
    touched = store.save_campaign(live, replace(live, fanned_out_at=NOW))
    assert touched.revision == 2
    # Same status, older revision: someone wrote in between.
    with pytest.raises(ConcurrentUpdate):
        store.save_campaign(live, replace(live, title="stale"))
    # Two writers race for the lock: the second loses.
    store.save_campaign(touched, touched.moved_to(CampaignStatus.SETTLING))
    with pytest.raises(ConcurrentUpdate):
        store.save_campaign(touched, touched.moved_to(CampaignStatus.CANCELLED))
    stored = store.get_campaign("cmp_test")
    assert (stored.status, stored.title, stored.revision) == (
        CampaignStatus.SETTLING,
        live.title,
        3,
    )


def test_a_forbidden_transition_is_refused_before_the_write(store):
    live = store.create_campaign(campaign())
    with pytest.raises(InvalidTransition):
        store.save_campaign(live, replace(live, status=CampaignStatus.SUCCEEDED))
    assert store.get_campaign("cmp_test") == live


def test_campaigns_by_status_page_newest_first_each_once(store):
    for i in range(5):
        store.create_campaign(campaign(id=f"cmp_{i}", created_at=NOW + timedelta(seconds=i)))
    store.create_campaign(campaign(id="cmp_old", status=CampaignStatus.FAILED))

    def live(**page):
        return store.list_campaigns(status=CampaignStatus.LIVE, **page)

    pages = _walk(live, 2)
    assert [c.id for page in pages for c in page] == [f"cmp_{i}" for i in range(4, -1, -1)]
    assert len(pages[0]) == 2 and len(pages) >= 3


def test_all_campaigns_page_each_once(store):
    for i in range(5):
        store.create_campaign(campaign(id=f"cmp_{i}", status=CampaignStatus.SETTLING))
    pages = _walk(lambda **page: store.list_campaigns(status=None, **page), 2)
    assert sorted(c.id for page in pages for c in page) == [f"cmp_{i}" for i in range(5)]


def test_a_cursor_serves_only_the_listing_that_made_it(store):
    for i in range(3):
        store.create_campaign(campaign(id=f"cmp_{i}"))
    cursor = store.list_campaigns(status=CampaignStatus.LIVE, limit=1, after=None).next_cursor
    assert cursor
    with pytest.raises(BadRequest):
        store.list_campaigns(status=None, limit=1, after=cursor)
    with pytest.raises(BadRequest):
        store.pledges("cmp_0", limit=1, after=cursor)
    with pytest.raises(BadRequest):
        store.list_campaigns(status=CampaignStatus.LIVE, limit=1, after="not-a-cursor")


def test_due_campaigns_are_those_checked_at_or_before_now_soonest_first(store):
    for name, hours in [("cmp_b", 2), ("cmp_a", 1), ("cmp_c", 48)]:
        at = NOW + timedelta(hours=hours)
        store.create_campaign(campaign(id=name, deadline=at, next_check_at=at))
    store.create_campaign(campaign(id="cmp_none", status=CampaignStatus.SUCCEEDED))
    assert list(store.due_campaigns(NOW)) == []
    assert list(store.due_campaigns(NOW + timedelta(hours=1))) == ["cmp_a"]
    assert list(store.due_campaigns(NOW + timedelta(days=3))) == ["cmp_a", "cmp_b", "cmp_c"]
    assert list(store.due_campaigns(NOW + timedelta(days=3), limit=2)) == ["cmp_a", "cmp_b"]
    # Checked: no longer due.
    c = store.get_campaign("cmp_a")
    store.save_campaign(c, replace(c, next_check_at=None))
    assert list(store.due_campaigns(NOW + timedelta(hours=1))) == []


# ---------------------------------------------------------------- pledges


def test_a_pledge_reads_back_as_written_and_with_its_campaign(store):
    c = store.create_campaign(campaign())
    assert store.campaign_and_pledge("cmp_test", "plg_test") == (c, None)
    written = pledge(late_refunds=("pi_late",), created_at=NOW + timedelta(microseconds=9))
    saved = store.create_pledge(written)
    assert saved == replace(written, revision=1)
    expected = replace(written, created_at=NOW, revision=1)
    assert store.get_pledge("cmp_test", "plg_test") == expected
    assert store.campaign_and_pledge("cmp_test", "plg_test") == (c, expected)


def test_a_write_returns_the_events_its_transition_recorded_and_a_read_none(store):
    c = store.create_campaign(campaign())
    cancelled = store.save_campaign(c, c.moved_to(CampaignStatus.CANCELLED))
    assert [type(e).__name__ for e in cancelled.events] == ["CampaignCancelled"]
    assert store.get_campaign(c.id).events == ()
    p = store.create_pledge(pledge(status=PledgeStatus.ACTIVE))
    collected = store.save_pledge(p, p.collected_by("pi_1"))
    assert [type(e).__name__ for e in collected.events] == ["PledgeCollected"]
    assert store.get_pledge(p.campaign_id, p.id).events == ()
    assert next(store.all_pledges(p.campaign_id)).events == ()


def test_a_pledge_id_is_claimed_once(store):
    store.create_campaign(campaign())
    store.create_pledge(pledge())
    with pytest.raises(ConcurrentUpdate):
        store.create_pledge(pledge(request_hash="another body"))
    assert store.get_pledge("cmp_test", "plg_test").request_hash == "r"


def test_progress_follows_pledges_that_start_and_stop_counting(store):
    store.create_campaign(campaign())
    a = _active(store, id="plg_a", counter_shard=1)
    b = _active(store, id="plg_b", counter_shard=7, amount=Money(3000, "gbp"))
    assert store.progress("cmp_test") == Tally(4000, 2)
    # Both counted: nothing moves.
    b = store.save_pledge(b, b.moved_to(PledgeStatus.ACTION_REQUIRED, next_reminder_at=LATER))
    assert store.progress("cmp_test") == Tally(4000, 2)
    store.save_pledge(a, a.moved_to(PledgeStatus.CANCELLED))
    assert store.progress("cmp_test") == Tally(3000, 1)
    assert store.progress("cmp_other") == Tally(0, 0)


def test_a_stale_pledge_write_changes_nothing(store):
    store.create_campaign(campaign())
    p = store.create_pledge(pledge())
    active = store.save_pledge(p, p.moved_to(PledgeStatus.ACTIVE), open_campaign_at=NOW)
    with pytest.raises(ConcurrentUpdate):
        store.save_pledge(p, p.moved_to(PledgeStatus.ACTIVE), open_campaign_at=NOW)
    with pytest.raises(ConcurrentUpdate):
        store.save_pledge(p, replace(p, failure_reason="stale"))
    assert store.get_pledge("cmp_test", p.id) == replace(active, revision=2)
    assert store.progress("cmp_test") == Tally(1000, 1)


@pytest.mark.parametrize(
    "campaign_state",
    ["settling", "past the deadline", "no campaign"],
)
def test_a_pledge_starts_counting_only_while_its_campaign_is_open(store, campaign_state):
    live = store.create_campaign(campaign())
    at = NOW
    if campaign_state == "settling":
        store.save_campaign(live, live.moved_to(CampaignStatus.SETTLING))
    elif campaign_state == "past the deadline":
        at = live.deadline
    elsewhere = {"campaign_id": "cmp_x"} if campaign_state == "no campaign" else {}
    p = store.create_pledge(pledge(**elsewhere))
    with pytest.raises(CampaignClosed):
        store.save_pledge(p, p.moved_to(PledgeStatus.ACTIVE), open_campaign_at=at)
    assert store.get_pledge(p.campaign_id, p.id) == p
    assert store.progress(p.campaign_id) == Tally(0, 0)


def test_a_stripe_event_is_applied_once(store):
    store.create_campaign(campaign())
    p = store.create_pledge(pledge())
    active = store.save_pledge(
        p, p.moved_to(PledgeStatus.ACTIVE), open_campaign_at=NOW, event=_event("evt_1")
    )
    # Redelivered: the duplicate wins over the stale pledge, and nothing moves.
    with pytest.raises(DuplicateEvent):
        store.save_pledge(p, p.moved_to(PledgeStatus.ACTIVE), event=_event("evt_1"))
    with pytest.raises(DuplicateEvent):
        store.save_pledge(active, active.moved_to(PledgeStatus.CANCELLED), event=_event("evt_1"))
    with pytest.raises(DuplicateEvent):
        store.save_pledge(active, replace(active, failure_reason="x"), event=_event("evt_1"))
    # Whichever pledge it would move.
    other = store.create_pledge(pledge(id="plg_other"))
    with pytest.raises(DuplicateEvent):
        store.save_pledge(other, other.moved_to(PledgeStatus.ACTIVE), event=_event("evt_1"))
    assert store.get_pledge("cmp_test", p.id) == replace(active, revision=2)
    assert store.get_pledge("cmp_test", "plg_other").status is PledgeStatus.PENDING
    assert store.progress("cmp_test") == Tally(1000, 1)


def test_an_event_is_not_recorded_when_its_pledge_write_fails(store):
    store.create_campaign(campaign())
    p = store.create_pledge(pledge())
    current = store.save_pledge(p, replace(p, failure_reason="x"))
    with pytest.raises(ConcurrentUpdate):
        store.save_pledge(p, replace(p, failure_reason="y"), event=_event("evt_3"))
    with pytest.raises(CampaignClosed):
        store.save_pledge(
            current,
            current.moved_to(PledgeStatus.ACTIVE),
            open_campaign_at=LATER,
            event=_event("evt_3"),
        )
    # Still unrecorded: its first successful write applies it.
    store.save_pledge(current, replace(current, failure_reason="z"), event=_event("evt_3"))
    assert store.get_pledge("cmp_test", p.id).failure_reason == "z"


def test_pledges_page_in_id_order_each_once_optionally_by_status(store):
    store.create_campaign(campaign())
    store.create_campaign(campaign(id="cmp_other"))
    for i in range(7):
        status = PledgeStatus.ACTIVE if i % 2 else PledgeStatus.PENDING
        store.create_pledge(pledge(id=f"plg_{i}", status=status))
    store.create_pledge(pledge(id="plg_elsewhere", campaign_id="cmp_other"))

    everything = _walk(lambda **page: store.pledges("cmp_test", **page), 3)
    assert [p.id for page in everything for p in page] == [f"plg_{i}" for i in range(7)]
    assert len(everything[0]) == 3

    active = frozenset({PledgeStatus.ACTIVE})
    pages = _walk(lambda **page: store.pledges("cmp_test", statuses=active, **page), 2)
    assert [p.id for page in pages for p in page] == ["plg_1", "plg_3", "plg_5"]

    cursor = store.pledges("cmp_test", limit=2, after=None, statuses=active).next_cursor
    with pytest.raises(BadRequest):
        store.pledges("cmp_test", limit=2, after=cursor)
    with pytest.raises(BadRequest):
        store.pledges("cmp_other", limit=2, after=cursor, statuses=active)
    assert [p.id for p in store.all_pledges("cmp_test")] == [f"plg_{i}" for i in range(7)]


def test_action_required_pledges_are_due_when_their_reminder_is(store):
    store.create_campaign(campaign())
    a = _active(store, id="plg_a")
    b = _active(store, id="plg_b")
    _active(store, id="plg_c", next_reminder_at=NOW)  # active: never due
    a = store.save_pledge(
        a, a.moved_to(PledgeStatus.ACTION_REQUIRED, next_reminder_at=NOW + timedelta(days=2))
    )
    store.save_pledge(
        b, b.moved_to(PledgeStatus.ACTION_REQUIRED, next_reminder_at=NOW + timedelta(days=1))
    )
    assert list(store.due_pledges(NOW)) == []
    assert list(store.due_pledges(NOW + timedelta(days=1))) == [("cmp_test", "plg_b")]
    later = NOW + timedelta(days=3)
    assert list(store.due_pledges(later)) == [("cmp_test", "plg_b"), ("cmp_test", "plg_a")]
    assert list(store.due_pledges(later, limit=1)) == [("cmp_test", "plg_b")]
    # Collected: no longer due.
    store.save_pledge(a, a.moved_to(PledgeStatus.COLLECTED))
    assert list(store.due_pledges(later)) == [("cmp_test", "plg_b")]


# ---------------------------------------------------------------- the work queue


@pytest.fixture(params=["sqs", "memory"])
def queue(request):
    """A queue, and what the worker would read from it now."""
    if request.param == "memory":
        fake = MemoryQueue()
        return fake, lambda: [s.message for s in fake.sent if not s.delay_seconds]
    settings = request.getfixturevalue("settings")
    real = WorkQueue(settings.settlement_queue_url, settings.aws_region)
    sqs = boto3.client("sqs", region_name=settings.aws_region)

    def visible():
        seen = []
        while batch := sqs.receive_message(
            QueueUrl=real.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60
        ).get("Messages"):
            seen += [messages.decode(m["Body"]) for m in batch]
        return seen

    return real, visible


def test_the_queue_delivers_messages_as_sent_and_holds_delayed_ones_back(queue):
    q, visible = queue
    settle = messages.SettlePledge("cmp_1", "plg_1", Outcome.SUCCEEDED)
    q.send(settle)
    q.send(messages.CheckCompletion("cmp_1", round=1), delay_seconds=60)
    q.send(messages.SendPage("cmp_1", cursor=None), delay_seconds=-5)
    assert q.send_many(messages.SettlePledge("cmp_1", f"plg_{i:02}") for i in range(23)) == 23
    seen = visible()
    assert settle in seen and messages.SendPage("cmp_1") in seen
    assert not [m for m in seen if isinstance(m, messages.CheckCompletion)]
    assert len(seen) == 25
    with pytest.raises(TypeError):
        q.send({"kind": "pledge", "campaign_id": "cmp_1", "pledge_id": "plg_1"})
