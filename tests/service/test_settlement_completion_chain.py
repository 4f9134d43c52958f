"""A chain of completion checks reads a campaign about once: each check
resumes after the leading pages an earlier check found settled, with their
totals, and the campaign ends with the totals a full count gives. The
sweep's own check (no cursor) still reads everything."""

from __future__ import annotations

import pytest

from cashmob.domain import CampaignStatus, PledgeStatus
from cashmob.domain.messages import (
    CheckCompletion,
    DecideOutcome,
    InvalidMessage,
    SendPage,
    SettlePledge,
    decode,
    encode,
)
from cashmob.domain.schedule import CHECK_INTERVAL
from cashmob.domain.settlement import Totals
from cashmob.service import settlement
from cashmob.service.settlement import completion
from tests.service.test_settlement_timing import World
from tests.service.test_settlement_timing import world as world  # the fixture

A, P = PledgeStatus.ACTIVE, PledgeStatus.PENDING
READ = 20  # pledges per read of a completion check, in these tests


class ReadCounting:
    """Counts the pledges completion checks read, page by page."""

    def __init__(self, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
        self.read = 0
        store = world.store
        listing = store.pledges

        def pledges(campaign_id, *, limit, after, statuses=None):
            page = listing(campaign_id, limit=limit, after=after, statuses=statuses)
            if statuses is None:  # a completion check's read (fan-out reads open work only)
                self.read += len(page.items)
            return page

        monkeypatch.setattr(store, "pledges", pledges)
        monkeypatch.setattr(completion, "COUNT_PAGE", READ)


def settle(world: World, how_many: int | None = None) -> None:
    """The workers get through the first `how_many` pledge messages queued."""
    todo = [s for s in world.queue.sent if isinstance(s.message, SettlePledge)]
    for s in todo[:how_many]:
        world.queue.sent.remove(s)
        settlement.handle(world.svc, s.message)


def checks(world: World) -> list[CheckCompletion]:
    found = [s.message for s in world.queue.sent if isinstance(s.message, CheckCompletion)]
    world.queue.sent = [s for s in world.queue.sent if not isinstance(s.message, CheckCompletion)]
    return found


def full_count(world: World, campaign_id: str) -> Totals:
    totals = Totals()
    for pledge in world.store.all_pledges(campaign_id):
        totals = totals.plus(pledge)
    return totals


def test_a_check_resumes_after_the_pages_found_settled(world, monkeypatch):
    reads = ReadCounting(world, monkeypatch)
    statuses = ([A] * 9 + [P]) * 10  # 100 pledges: 90 to collect, 10 to expire
    c = world.seed(statuses, goal=1000)
    world.lock()
    world.run((DecideOutcome, SendPage))
    [first] = checks(world)
    assert first.done_cursor is None and first.done is None
    settle(world, 50)  # the first 50 are settled: two reads of 20 and part of the third

    settlement.handle(world.svc, first)
    assert reads.read == 100  # the first check reads it all
    [second] = checks(world)
    assert second.done_cursor is not None
    assert Totals.of_counts(second.done).collected.backers == 36  # 40 read, 4 to expire
    assert world.store.get_campaign(c.id).status is CampaignStatus.SETTLING

    settle(world)
    reads.read = 0
    settlement.handle(world.svc, second)
    assert reads.read == 60  # only what follows the 40 found settled
    done = world.store.get_campaign(c.id)
    assert done.status is CampaignStatus.SUCCEEDED
    exact = full_count(world, c.id)
    assert done.settlement.collected == exact.collected.amount
    assert done.settlement.collected_backers == exact.collected.backers == 90
    assert done.settlement.released == exact.released
    assert checks(world) == []
    assert sum(world.stripe.taken().values()) == 90


def test_the_cursor_stays_before_the_first_pledge_still_waiting(world, monkeypatch):
    """A straggler early in the campaign keeps every later check reading from it."""
    reads = ReadCounting(world, monkeypatch)
    c = world.seed([A] * 60, goal=1000)
    world.lock()
    world.run((DecideOutcome, SendPage))
    [first] = checks(world)
    queued = [s for s in world.queue.sent if isinstance(s.message, SettlePledge)]
    straggler = next(s for s in queued if s.message.pledge_id == "plg_0025")
    world.queue.sent.remove(straggler)
    settle(world)  # all but plg_0025 (its message is late)
    settlement.handle(world.svc, first)
    [second] = checks(world)
    assert Totals.of_counts(second.done).collected.backers == 20  # the first read only
    world.queue.sent.append(straggler)
    settle(world)
    reads.read = 0
    settlement.handle(world.svc, second)
    assert reads.read == 40
    done = world.store.get_campaign(c.id)
    assert done.status is CampaignStatus.SUCCEEDED
    assert done.settlement.collected_backers == 60


def test_the_sweeps_check_reads_everything(world, monkeypatch):
    reads = ReadCounting(world, monkeypatch)
    c = world.seed([A] * 45, goal=1000)
    world.lock()
    world.run((DecideOutcome, SendPage))
    checks(world)
    settle(world)
    # A sweep interval after the last page (before it, the chain finishes the
    # campaign: test_settlement_count_ahead.py).
    world.clock.advance(CHECK_INTERVAL.total_seconds())
    settlement.handle(world.svc, CheckCompletion(c.id))
    assert reads.read == 45
    assert world.store.get_campaign(c.id).settlement.collected_backers == 45


def test_a_checks_progress_travels_in_its_message():
    check = CheckCompletion("cmp_1", 3, done_cursor="abc", done=(1000, 1, 0, 300, 0, 1000))
    assert decode(encode(check)) == check
    assert "done" not in encode(CheckCompletion("cmp_1", 3))  # as the release before it wrote
    for bad in ("[1, 2]", "[1, 2, 3, 4, 5, -6]", "[1, 2, 3, 4, 5, true]", '"x"'):
        body = f'{{"type": "CheckCompletion", "campaign_id": "c", "done": {bad}}}'
        with pytest.raises(InvalidMessage, match="totals"):
            decode(body)
