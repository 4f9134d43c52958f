"""When settlement's work goes out and when it is found finished, on the
in-memory adapters: the decision reads no more pledges than it needs, the
first page leaves with the decision and the second right behind it, and the
completion checks come when Stripe's budget should be through the work left
(so a campaign ends about when its last pledge does)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

import pytest

from cashmob.clock import FrozenClock
from cashmob.config import Settings
from cashmob.container import Services
from cashmob.domain import (
    CampaignStatus,
    FundingModel,
    Money,
    Outcome,
    PledgeStatus,
    decide,
)
from cashmob.domain.messages import CheckCompletion, DecideOutcome, SendPage, SettlePledge
from cashmob.service import settlement
from cashmob.service.settlement import recount
from tests.fakes import FakeEvents, FakeGateway
from tests.memory import MemoryQueue, MemoryStore
from tests.unit.factories import NOW, campaign, pledge

DEADLINE = NOW + timedelta(hours=1)
RATE = 25.0
PAGE = 50


class CountingStore(MemoryStore):
    """Counts the pledges a full listing hands out."""

    def __init__(self) -> None:
        super().__init__()
        self.listed = 0

    def all_pledges(self, campaign_id):
        for p in super().all_pledges(campaign_id):
            self.listed += 1
            yield p


@dataclass
class World:
    svc: Services
    store: CountingStore
    queue: MemoryQueue
    clock: FrozenClock
    stripe: FakeGateway

    def seed(self, statuses, *, goal=5000, model=FundingModel.ALL_OR_NOTHING, min_backers=0):
        c = self.store.create_campaign(
            campaign(
                goal=Money(goal, "gbp"),
                funding_model=model,
                min_backers=min_backers,
                deadline=DEADLINE,
                next_check_at=DEADLINE,
            )
        )
        for i, status in enumerate(statuses):
            p = self.store.create_pledge(pledge(id=f"plg_{i:04}", counter_shard=i % 3))
            if status is PledgeStatus.ACTIVE:
                active = p.moved_to(PledgeStatus.ACTIVE, activated_at=NOW)
                self.store.save_pledge(p, active, open_campaign_at=NOW)
        return c

    def lock(self) -> None:
        """The sweep at the deadline: the lock, and the decision queued."""
        self.clock.advance((DEADLINE - self.clock.now()).total_seconds())
        assert settlement.sweep(self.svc)["locked"] == 1
        self.store.listed = 0

    def run(self, kinds: tuple[type, ...]) -> list:
        """Handles the queued messages of `kinds` (in order) until none is left;
        returns the messages of other kinds, which stay queued."""
        while True:
            todo = [s for s in self.queue.sent if isinstance(s.message, kinds)]
            if not todo:
                return list(self.queue.sent)
            for s in todo:
                self.queue.sent.remove(s)
                settlement.handle(self.svc, s.message)


@pytest.fixture
def world() -> World:
    clock = FrozenClock(NOW)
    settings = Settings(
        stripe_secret_key="sk_test_unit",
        stripe_webhook_secret="whsec_unit",
        pledge_token_secret="pledge-token-secret-for-tests",
        settlement_delay_seconds=0,
        stripe_requests_per_second=RATE,
        page_size=PAGE,
    )
    store, queue, stripe = CountingStore(), MemoryQueue(), FakeGateway()
    svc = Services(
        settings, clock=clock, store=store, payments=stripe, queue=queue, events=FakeEvents()
    )
    return World(svc, store, queue, clock, stripe)


A, P = PledgeStatus.ACTIVE, PledgeStatus.PENDING


def test_a_reached_goal_is_decided_without_reading_the_rest_of_the_campaign(world):
    c = world.seed([P, A, A, P, A, A, A, A, A, A], goal=3000)
    world.lock()
    settlement.handle(world.svc, world.queue.sent.pop(0).message)
    assert world.store.get_campaign(c.id).outcome is Outcome.SUCCEEDED
    assert world.store.listed == 5  # up to the third active pledge, not the ten


def test_a_missed_goal_is_decided_by_counting_every_pledge(world):
    c = world.seed([A, P, A], goal=5000)
    world.lock()
    settlement.handle(world.svc, world.queue.sent.pop(0).message)
    assert world.store.get_campaign(c.id).outcome is Outcome.FAILED
    assert world.store.listed == 3


@pytest.mark.parametrize("goal", [0, 1000, 2500, 4000, 4001, 9000])
@pytest.mark.parametrize("min_backers", [0, 2, 5])
@pytest.mark.parametrize("model", list(FundingModel))
def test_stopping_early_decides_what_the_full_recount_decides(world, goal, min_backers, model):
    c = world.seed([A, P, A, A, P, A], goal=goal, model=model, min_backers=min_backers)
    exact = decide(replace(c, status=CampaignStatus.SETTLING), recount(world.svc, c.id))
    world.lock()
    settlement.handle(world.svc, world.queue.sent.pop(0).message)
    assert world.store.get_campaign(c.id).outcome is exact


def test_the_first_page_leaves_with_the_decision_and_the_second_right_behind_it(world):
    c = world.seed([A] * (3 * PAGE + 5), goal=1000)
    world.lock()
    settlement.handle(world.svc, world.queue.sent.pop(0).message)
    sent = world.queue.sent
    # The decision's own page: the next page at once, queued ahead of this
    # page's pledges (so it is not held behind them), then the pledges, then
    # the first completion check of the chain, when this page should be
    # settled (50 at 25/s).
    assert [type(s.message) for s in sent] == [SendPage] + [SettlePledge] * PAGE + [CheckCompletion]
    assert all(s.message.outcome is Outcome.SUCCEEDED for s in sent[1:-1])
    assert sent[0].delay_seconds == 0 and sent[0].message.cursor is not None
    assert (sent[-1].message, sent[-1].delay_seconds) == (CheckCompletion(c.id, 1), 2)
    assert world.store.get_campaign(c.id).fanned_out_at is None


def test_pages_after_the_second_go_out_at_stripes_pace_and_completion_when_work_should_end(
    world,
):
    c = world.seed([A] * (3 * PAGE + 5), goal=1000)
    world.lock()
    settlement.handle(world.svc, world.queue.sent.pop(0).message)
    delays = []
    while True:
        pages = [s for s in world.queue.sent if isinstance(s.message, SendPage)]
        if not pages:
            break
        world.queue.sent.remove(pages[0])
        delays.append(pages[0].delay_seconds)
        world.clock.advance(pages[0].delay_seconds)  # SQS delivers it after its delay
        settlement.handle(world.svc, pages[0].message)
    # page 1 (with the decision) -> page 2 at once -> pages 3, 4 each after
    # the 2 s Stripe's budget (25/s) takes to settle a page of 50
    assert delays == [0, 2, 2]
    settle_msgs = [s for s in world.queue.sent if isinstance(s.message, SettlePledge)]
    assert sorted(s.message.pledge_id for s in settle_msgs) == [
        f"plg_{i:04}" for i in range(3 * PAGE + 5)
    ]
    checks = [s for s in world.queue.sent if isinstance(s.message, CheckCompletion)]
    # One chain of completion checks, started by the first page (a page of 50
    # at 25 per second); the later pages, the last one too, start none.
    assert [(s.message.round, s.delay_seconds) for s in checks] == [(1, 2)]
    assert world.store.get_campaign(c.id).fanned_out_at == DEADLINE + timedelta(seconds=4)


def test_a_page_handled_late_sends_the_next_one_sooner_so_the_pages_keep_stripes_pace(world):
    world.seed([A] * (9 * PAGE), goal=1000)
    world.lock()
    settlement.handle(world.svc, world.queue.sent.pop(0).message)
    start = world.clock.now()

    def next_page():
        page = next(s for s in world.queue.sent if isinstance(s.message, SendPage))
        world.queue.sent.remove(page)
        return page

    arrivals = []
    for late in (0.0, 1.5, 0.7, 0.0, 9.0, 0.0):  # each hop's own latency, past its delay
        page = next_page()
        world.clock.advance(page.delay_seconds + late)
        arrivals.append((world.clock.now() - start).total_seconds())
        settlement.handle(world.svc, page.message)
    # Pages 2..7 are due at 0, 2, 4, 6, 8, 10 s (50 pledges at 25/s), sent
    # rounded down to whole seconds. Page 3, 1.5 s late, arrives at 3.5;
    # page 4 then leaves at once (0.5 s to its due time) and arrives 0.7 s
    # late, at 4.2; page 5 leaves after 1 s (1.8 rounded down): 5.2; page 6
    # after 2 s, then a 9 s stall: 16.2. Lateness does not add up, and past
    # a page behind the chain makes up one page, not all it owes: page 7 at
    # once, page 8 at once, then page 9 a page's time later (due 18.2).
    assert arrivals == [0.0, 3.5, 4.2, 5.2, 16.2, 16.2]
    page = next_page()
    assert page.delay_seconds == 0
    settlement.handle(world.svc, page.message)
    assert next_page().delay_seconds == 2


def test_a_completion_check_waits_for_what_is_left_at_stripes_pace(world):
    c = world.seed([A] * 120, goal=1000)
    world.lock()
    world.run((DecideOutcome, SendPage))  # the decision, every page
    pending = [s for s in world.queue.sent if isinstance(s.message, SettlePledge)]
    assert len(pending) == 120
    for s in pending[:70]:  # the workers got through 70; 50 are left
        world.queue.sent.remove(s)
        settlement.handle(world.svc, s.message)
    world.queue.sent = [s for s in world.queue.sent if not isinstance(s.message, CheckCompletion)]
    settlement.handle(world.svc, CheckCompletion(c.id, 1))
    checks = [s for s in world.queue.sent if isinstance(s.message, CheckCompletion)]
    # 50 / 25 per second; waiting for work spends no round of quick checks
    assert [(s.message.round, s.delay_seconds) for s in checks] == [(1, 2)]
    assert world.store.get_campaign(c.id).status is CampaignStatus.SETTLING
    world.run((SettlePledge,))
    world.queue.sent.clear()
    settlement.handle(world.svc, CheckCompletion(c.id, 1))
    done = world.store.get_campaign(c.id)
    assert done.status is CampaignStatus.SUCCEEDED and done.settlement.collected_backers == 120
    assert world.queue.sent == []  # nothing more to check
    assert sum(world.stripe.taken().values()) == 120


def test_a_one_page_campaign_is_checked_when_its_page_should_be_settled(world):
    world.seed([A] * 5, goal=1000)
    world.lock()
    world.run((DecideOutcome,))
    checks = [s for s in world.queue.sent if isinstance(s.message, CheckCompletion)]
    # 5 / 25 per second: less than the first check's two seconds
    assert [(s.message.round, s.delay_seconds) for s in checks] == [(1, 2)]
