"""The chain of completion checks starts with the first page and, while the
pages are still going out, reads ahead through the pledges settled so far
(a read at a time, stopping at the first read with work left) without ever
finishing the campaign; once the last page is out, a check reads only what
follows them, and the campaign ends with the totals a full count gives. The
sweep's own check, which reads everything, leaves the first minute after the
last page to the chain."""

from __future__ import annotations

from cashmob.domain import CampaignStatus
from cashmob.domain.messages import CheckCompletion, DecideOutcome, SendPage, SettlePledge
from cashmob.domain.schedule import CHECK_INTERVAL, COMPLETE_ROUNDS
from cashmob.domain.settlement import Totals
from cashmob.service import settlement
from tests.service.test_settlement_completion_chain import (
    A,
    P,
    ReadCounting,
    checks,
    full_count,
    settle,
)
from tests.service.test_settlement_timing import PAGE
from tests.service.test_settlement_timing import world as world  # the fixture


def _next_page(world) -> None:
    page = next(s for s in world.queue.sent if isinstance(s.message, SendPage))
    world.queue.sent.remove(page)
    settlement.handle(world.svc, page.message)


def test_checks_read_ahead_while_pages_go_out_and_the_last_reads_only_the_rest(world, monkeypatch):
    reads = ReadCounting(world, monkeypatch)  # 20 pledges a read
    statuses = ([A] * 9 + [P]) * 15  # 150 pledges, 3 pages of 50: 135 to collect
    c = world.seed(statuses, goal=1000)
    world.lock()
    world.run((DecideOutcome,))  # the decision and the first page
    [first] = checks(world)
    assert first == CheckCompletion(c.id, 1)
    assert world.store.get_campaign(c.id).fanned_out_at is None

    settle(world, 50)  # the first page's pledges (the second page is queued, not handled)
    settlement.handle(world.svc, first)
    # Reads 1-2 are settled; read 3 holds pledges 50-59, not yet sent: it stops there.
    assert reads.read == 60
    [second] = checks(world)
    assert second.done_cursor is not None
    assert Totals.of_counts(second.done).collected.backers == 36  # 40 read, 4 to expire
    assert world.store.get_campaign(c.id).status is CampaignStatus.SETTLING
    assert not [s for s in world.queue.sent if isinstance(s.message, SettlePledge)]

    _next_page(world)  # page 2
    settle(world)
    reads.read = 0
    settlement.handle(world.svc, second)  # pages still going out: reads on, from pledge 40
    assert reads.read == 80  # 40-59, 60-79, 80-99 settled; 100-119 not sent yet
    [third] = checks(world)
    assert Totals.of_counts(third.done).collected.backers == 90

    _next_page(world)  # page 3, the last
    assert world.store.get_campaign(c.id).fanned_out_at is not None
    assert checks(world) == []  # the last page starts no second chain
    settle(world)
    reads.read = 0
    settlement.handle(world.svc, third)
    assert reads.read == 50  # only what follows the 100 found settled
    done = world.store.get_campaign(c.id)
    assert done.status is CampaignStatus.SUCCEEDED
    exact = full_count(world, c.id)
    assert done.settlement.collected == exact.collected.amount
    assert done.settlement.collected_backers == exact.collected.backers == 135
    assert done.settlement.released == exact.released
    assert checks(world) == []
    assert sum(world.stripe.taken().values()) == 135


def test_a_check_never_finishes_a_campaign_whose_pages_are_still_going_out(world, monkeypatch):
    reads = ReadCounting(world, monkeypatch)
    c = world.seed([A] * (2 * PAGE), goal=1000)
    world.lock()
    world.run((DecideOutcome,))
    [first] = checks(world)
    settle(world)  # the first page's pledges; the second page is still queued
    # The sweep's own check (round 0) waits for the pages, reading nothing.
    settlement.handle(world.svc, CheckCompletion(c.id))
    assert reads.read == 0 and checks(world) == []
    settlement.handle(world.svc, first)
    [(second, delay)] = [
        (s.message, s.delay_seconds)
        for s in world.queue.sent
        if isinstance(s.message, CheckCompletion)
    ]
    checks(world)
    assert world.store.get_campaign(c.id).status is CampaignStatus.SETTLING
    # The read stopped at 10 pledges not yet sent, 1 s of the budget: while
    # pages go out, the next check spends no quick round and comes no sooner
    # than a page's worth of the budget (50 at 25/s).
    assert (second.round, delay) == (1, 2)
    _next_page(world)
    settle(world)
    settlement.handle(world.svc, second)
    assert world.store.get_campaign(c.id).settlement.collected_backers == 2 * PAGE


def test_the_sweeps_check_leaves_the_first_minute_after_the_last_page_to_the_chain(
    world, monkeypatch
):
    """The sweep's check reads every pledge: in the minute after the last page
    it reads nothing (the chain is finishing the campaign beside its last
    charges); after that it is the backstop for a chain that was lost."""
    reads = ReadCounting(world, monkeypatch)
    c = world.seed([A] * 45, goal=1000)
    world.lock()
    world.run((DecideOutcome, SendPage))
    checks(world)  # the chain is lost
    settle(world)
    world.clock.advance(CHECK_INTERVAL.total_seconds() - 1)
    settlement.handle(world.svc, CheckCompletion(c.id))
    assert reads.read == 0
    assert world.store.get_campaign(c.id).status is CampaignStatus.SETTLING
    world.clock.advance(1)
    settlement.handle(world.svc, CheckCompletion(c.id))
    assert reads.read == 45
    assert world.store.get_campaign(c.id).settlement.collected_backers == 45


def test_checks_while_pages_go_out_spend_no_round_so_the_chain_outlives_a_long_fan_out(
    world, monkeypatch
):
    """A check that finds little left in its read spends a quick round once
    the pages are out; while they go out it must not, or a long fan-out
    would spend every round and end the chain before the campaign's tail."""
    ReadCounting(world, monkeypatch)
    c = world.seed([A] * (2 * PAGE), goal=1000)
    world.lock()
    world.run((DecideOutcome,))
    checks(world)
    settle(world)  # the first page; its read stops at the 10 pledges not yet sent
    settlement.handle(world.svc, CheckCompletion(c.id, COMPLETE_ROUNDS))
    [(check, delay)] = [
        (s.message, s.delay_seconds)
        for s in world.queue.sent
        if isinstance(s.message, CheckCompletion)
    ]
    assert (check.round, delay) == (COMPLETE_ROUNDS, 60)  # the round's own backoff
