"""Flash intake (API.md) on fakes: the pledge-time Stripe budget, 202
preparing, the intake worker in arrival order, replays, Stripe busy, refusals,
and pledges still being prepared at the deadline."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from cashmob.domain import PaymentFlow, PledgeStatus
from cashmob.domain.errors import PaymentProviderUnavailable
from cashmob.domain.messages import PreparePledge
from cashmob.ids import derived_id
from cashmob.service import budget as budget_module
from cashmob.service import intake, pledges, settlement
from cashmob.service.budget import StripeBudget


def work(world) -> list[str]:
    """The intake worker over everything queued; the pledge ids it took, in order."""
    return [m.pledge_id for m in world.intake.drain(lambda m: intake.handle(world.svc, m))]


def settle(world, campaign_days: float) -> None:
    """The deadline passes; the sweep and the settlement worker run to the end."""
    world.clock.advance(timedelta(days=campaign_days, minutes=1).total_seconds())
    settlement.sweep(world.svc)
    done = 0
    while done < len(world.queue.sent) and done < 1000:
        settlement.handle(world.svc, world.queue.sent[done].message)
        done += 1


def test_with_the_budget_spent_a_pledge_is_recorded_and_answered_202_preparing(world):
    # Given a budget of 2 requests/s: the first pledge takes this slot
    world.budget(2)
    cid = world.campaign(days=10)
    first, status = world.pledge(cid, "k1")
    assert status == 201 and first["payment"]["status"] == "ready"
    # When a second backer pledges in the same slot
    answer, status = world.pledge(cid, "k2")
    # Then it is recorded, answered at once, and queued
    pid = answer["pledge"]["id"]
    assert status == 202 and answer["pledge"]["status"] == "pending"
    payment = answer["payment"]
    assert payment["status"] == "preparing"
    assert payment["intent_id"] is None and payment["client_secret"] is None
    assert payment["ready_in"] == math.ceil(1 / 2) + 1
    assert world.stored(cid, pid).status is PledgeStatus.PENDING
    assert [m.pledge_id for m in world.intake.waiting] == [pid]
    assert world.stripe.named("setup") == [first["pledge"]["id"]]


def test_the_worker_prepares_queued_pledges_in_arrival_order_and_get_turns_ready(world):
    world.budget(2)
    cid = world.campaign()
    world.pledge(cid, "k0")  # takes the slot
    answers = [world.pledge(cid, f"k{i}")[0] for i in range(1, 6)]
    ids = [a["pledge"]["id"] for a in answers]
    token = answers[2]["pledge_token"]
    seen = pledges.get(world.svc, cid, ids[2], token)
    assert seen["payment"]["status"] == "preparing" and seen["payment"]["client_secret"] is None
    # When the worker runs
    assert work(world) == ids
    # Then Stripe made them in arrival order, each after its slot started
    assert world.stripe.named("setup")[1:] == ids
    assert sum(world.wall.slept) >= (len(ids) - 1) / 2
    seen = pledges.get(world.svc, cid, ids[2], token)
    assert seen["payment"]["status"] == "ready"
    assert seen["payment"]["client_secret"] == f"seti_{ids[2]}_secret_x"
    assert "ready_in" not in seen["payment"]


def test_ready_in_counts_the_tickets_ahead_at_the_budgets_rate(world):
    world.budget(2)
    cid = world.campaign()
    world.pledge(cid, "k0")
    waits = [world.pledge(cid, f"k{i}")[0]["payment"]["ready_in"] for i in range(1, 8)]
    # ticket n of 7 waits for n tickets at 2/s, plus a second
    assert waits == [math.ceil(n / 2) + 1 for n in range(1, 8)]
    # When the worker has served three of them
    for message in world.intake.waiting[:3]:
        intake.handle(world.svc, message)
    del world.intake.waiting[:3]
    replay, status = world.pledge(cid, "k7")
    assert status == 200 and replay["pledge"]["id"] == world.intake.waiting[-1].pledge_id
    assert replay["payment"]["ready_in"] == math.ceil((7 - 3) / 2) + 1
    seen = pledges.get(world.svc, cid, replay["pledge"]["id"], replay["pledge_token"])
    assert seen["payment"]["ready_in"] == math.ceil((7 - 3) / 2) + 1


def test_a_newcomer_does_not_jump_the_queue_when_the_budget_is_free_again(world):
    world.budget(2)
    cid = world.campaign()
    world.pledge(cid, "k0")
    queued, _ = world.pledge(cid, "k1")
    # When the next slot has started (budget free) but the queue is not empty
    world.wall.now += 1
    late, status = world.pledge(cid, "k2")
    # Then the newcomer is queued behind, not served first
    assert status == 202
    assert work(world) == [queued["pledge"]["id"], late["pledge"]["id"]]
    # And once the queue is empty, pledges are ready at once again
    world.wall.now += 1
    _, status = world.pledge(cid, "k3")
    assert status == 201


def test_a_replay_returns_the_current_state_with_200(world):
    world.budget(2)
    cid = world.campaign()
    world.pledge(cid, "k0")
    first, status = world.pledge(cid, "k1")
    assert status == 202
    again, status = world.pledge(cid, "k1")
    assert status == 200 and again["payment"]["status"] == "preparing"
    assert len(world.intake.waiting) == 1
    work(world)
    ready, status = world.pledge(cid, "k1")
    assert status == 200 and ready["payment"]["status"] == "ready"
    assert ready["payment"]["client_secret"] == f"seti_{first['pledge']['id']}_secret_x"
    assert ready["pledge_token"] == first["pledge_token"]


class Crash(Exception):
    pass


def test_no_pledge_is_orphaned_by_a_crash_between_writing_and_queueing(world, monkeypatch):
    world.budget(2)
    cid = world.campaign()
    world.pledge(cid, "k0")

    def crash(*args, **kwargs):
        raise Crash("the function died")

    # Given the API dies after writing the pledge, before it is queued
    monkeypatch.setattr(world.intake, "send", crash)
    with pytest.raises(Crash):
        world.pledge(cid, "k1")
    (orphan,) = [p for p in world.store.all_pledges(cid) if not p.ready]
    assert world.intake.waiting == []
    monkeypatch.undo()
    # When the backer's client replays the request
    again, status = world.pledge(cid, "k1")
    # Then the pledge is queued (with the ticket it already had) and prepared
    assert status == 200 and again["payment"]["status"] == "preparing"
    assert [m.pledge_id for m in world.intake.waiting] == [orphan.id]
    assert work(world) == [orphan.id]
    assert world.stored(cid, orphan.id).ready


def test_stripe_busy_on_the_direct_path_is_202_not_503(world):
    world.budget(24)
    cid = world.campaign(days=3)  # a hold: one PaymentIntent
    world.stripe.unavailable = 1
    answer, status = world.pledge(cid)
    assert status == 202 and answer["payment"]["status"] == "preparing"
    assert work(world) == [answer["pledge"]["id"]]
    assert world.stripe.named("hold") == [answer["pledge"]["id"]]


def test_the_worker_retries_stripe_busy_without_losing_the_order_or_a_pledge(world):
    world.budget(2)
    cid = world.campaign()
    world.pledge(cid, "k0")
    ids = [world.pledge(cid, f"k{i}")[0]["pledge"]["id"] for i in range(1, 4)]
    # Stripe answers 429 to the next calls: more than one message's attempts
    world.stripe.unavailable = intake.STRIPE_ATTEMPTS
    with pytest.raises(PaymentProviderUnavailable):
        work(world)
    # The failed message stays at the head; nothing behind it ran
    assert [m.pledge_id for m in world.intake.waiting] == ids
    assert world.stripe.named("setup")[1:] == []
    # SQS delivers it again: all prepared, in order, once each
    assert work(world) == ids
    assert world.stripe.named("setup")[1:] == ids
    # A single 429 is retried on a fresh slot within the same delivery
    more = [world.pledge(cid, f"m{i}")[0]["pledge"]["id"] for i in range(2)]
    world.stripe.unavailable = 1
    assert work(world) == more
    assert all(world.stored(cid, p).ready for p in ids + more)


def test_a_pledge_stripe_refuses_for_good_reads_failed(world):
    world.budget(2)
    cid = world.campaign(days=3)
    world.pledge(cid, "k0")
    answer, status = world.pledge(cid, "k1")
    pid, token = answer["pledge"]["id"], answer["pledge_token"]
    world.stripe.start_refusals[pid] = "amount_too_small"
    # When the worker gets Stripe's refusal
    assert work(world) == [pid]
    # Then the payment reads failed, with the reason; the pledge is not ready
    seen = pledges.get(world.svc, cid, pid, token)
    assert seen["payment"]["status"] == "failed"
    assert seen["payment"]["error"]["code"] == "amount_too_small"
    assert seen["status"] == "pending" and not world.stored(cid, pid).ready
    replay, status = world.pledge(cid, "k1")
    assert status == 200 and replay["payment"]["status"] == "failed"
    assert world.intake.waiting == []


def test_a_refusal_on_the_direct_path_reads_failed_too(world):
    cid = world.campaign(days=3)
    world.stripe.start_refusals[derived_id("plg", cid, "k1")] = "amount_too_small"
    answer, status = world.pledge(cid, "k1")
    assert status == 201 and answer["payment"]["status"] == "failed"
    assert answer["payment"]["error"]["code"] == "amount_too_small"
    assert answer["payment"]["client_secret"] is None
    assert world.intake.waiting == []


def test_pledges_still_being_prepared_at_the_deadline_expire_with_nothing_sent_to_stripe(world):
    world.budget(2)
    cid = world.campaign(days=1)
    world.pledge(cid, "k0")
    waiting = [world.pledge(cid, f"k{i}")[0]["pledge"]["id"] for i in range(1, 3)]

    def heard_of_them():
        return [call for call in world.stripe.calls if call[1] in waiting]

    # When the deadline passes before the worker got to them
    settle(world, 1)
    # Then they expire like any unconfirmed pledge, and Stripe hears nothing of them
    assert all(world.stored(cid, p).status is PledgeStatus.EXPIRED for p in waiting)
    assert heard_of_them() == []
    # (the pledge that was ready expired too, its hold released)
    assert world.stripe.named("cancel") == [world.stripe.named("hold")[0]]
    # And their late messages do nothing but move the queue on
    assert work(world) == waiting
    assert heard_of_them() == []
    assert world.store.intake_progress().waiting == 0


def test_a_message_for_a_pledge_made_ready_meanwhile_does_nothing(world):
    world.budget(2)
    cid = world.campaign()
    world.pledge(cid, "k0")
    answer, _ = world.pledge(cid, "k1")
    pid = answer["pledge"]["id"]
    intake.handle(world.svc, PreparePledge(cid, pid, 2))
    calls = len(world.stripe.calls)
    assert work(world) == [pid]  # the queued copy
    assert len(world.stripe.calls) == calls


# ---------------------------------------------------------------- the budget itself


def test_the_api_takes_the_current_slot_or_one_starting_within_50_ms(world):
    budget = StripeBudget(world.store, 10, wall=world.wall.time, sleep=world.wall.sleep)
    world.wall.now = 1000.0  # slot 10000 starts now; the next in 100 ms
    assert budget.take_now(PaymentFlow.HOLD)
    assert not budget.take_now(PaymentFlow.HOLD)
    world.wall.now = 1000.06  # 40 ms before slot 10001
    assert budget.take_now(PaymentFlow.HOLD)
    assert world.wall.slept == [pytest.approx(0.04)]
    assert not budget.take_now(PaymentFlow.HOLD)


def test_the_setup_flow_needs_a_slot_for_both_its_endpoints(world):
    budget = StripeBudget(world.store, 10, wall=world.wall.time, sleep=world.wall.sleep)
    world.wall.now = 1000.0
    # Someone else has slot 10000 of the setup flow's endpoints
    assert world.store.claim_slot("customers+setup_intents", 10000, None)
    assert not budget.take_now(PaymentFlow.SETUP)
    # The hold flow's endpoint is another one: its slot 10000 is free
    assert budget.take_now(PaymentFlow.HOLD)
    # The worker walks forward to the first slot free for both endpoints
    waited = budget.take_next(PaymentFlow.SETUP)
    assert waited == pytest.approx(0.1)  # slot 10001
    # One item per slot taken, whatever the number of endpoints behind it
    assert world.store._slots == {
        ("customers+setup_intents", 10000),
        ("payment_intents", 10000),
        ("customers+setup_intents", 10001),
    }


def test_each_stripe_endpoint_is_paced_by_exactly_one_flows_slots():
    # A slot grants one request to each endpoint of its flow: that keeps each
    # endpoint at one request per slot only while no endpoint serves two flows
    named = [e for flow in PaymentFlow for e in budget_module.slot_key(flow).split("+")]
    assert sorted(named) == sorted({e for names in budget_module.ENDPOINTS.values() for e in names})
    assert len(named) == len(set(named))
    with pytest.raises(ValueError, match="shares Stripe endpoints"):
        budget_module._disjoint(
            {PaymentFlow.HOLD: ("payment_intents", "customers"), PaymentFlow.SETUP: ("customers",)}
        )


class CountingLedger:
    """The store as the budget sees it, counting its requests."""

    def __init__(self, store, *, racer_takes: tuple[str, int] | None = None) -> None:
        self.store, self.claims, self.reads = store, [], 0
        self.racer_takes = racer_takes  # a slot someone takes between our read and our put

    def claim_slot(self, key, slot, expires_at):
        self.claims.append(slot)
        return self.store.claim_slot(key, slot, expires_at)

    def taken_slots(self, key, first, count):
        self.reads += 1
        taken = self.store.taken_slots(key, first, count)
        if self.racer_takes is not None:
            assert self.store.claim_slot(*self.racer_takes, None)
            self.racer_takes = None
        return taken


def test_the_worker_reads_past_the_slots_taken_ahead_instead_of_trying_each(world):
    key = budget_module.slot_key(PaymentFlow.SETUP)
    for slot in range(10000, 10007):  # the other workers' slots, each waiting for its start
        assert world.store.claim_slot(key, slot, None)
    ledger = CountingLedger(world.store)
    budget = StripeBudget(ledger, 10, wall=world.wall.time, sleep=world.wall.sleep)
    world.wall.now = 1000.0
    assert budget.take_next(PaymentFlow.SETUP) == pytest.approx(0.7)  # slot 10007
    assert (ledger.reads, ledger.claims) == (1, [10007])


def test_the_worker_takes_the_next_free_slot_when_a_racer_wins_the_one_it_read_free(world):
    key = budget_module.slot_key(PaymentFlow.HOLD)
    assert world.store.claim_slot(key, 10000, None)
    ledger = CountingLedger(world.store, racer_takes=(key, 10001))
    budget = StripeBudget(ledger, 10, wall=world.wall.time, sleep=world.wall.sleep)
    world.wall.now = 1000.0
    assert budget.take_next(PaymentFlow.HOLD) == pytest.approx(0.2)  # slot 10002
    assert ledger.claims == [10001, 10002]
    # Far ahead: every slot read taken, the worker reads the next ones
    for slot in range(10003, 10003 + budget_module.READ_AHEAD + 2):
        assert world.store.claim_slot(key, slot, None)
    world.wall.now = 1000.0
    budget.take_next(PaymentFlow.HOLD)
    assert ledger.claims[-1] == 10003 + budget_module.READ_AHEAD + 2


def test_the_api_does_not_ask_again_for_the_slot_it_was_just_granted(world):
    ledger = CountingLedger(world.store)
    budget = StripeBudget(ledger, 24, wall=world.wall.time, sleep=world.wall.sleep)
    world.wall.now = 1000.0  # slot 24000 starts now
    assert budget.take_now(PaymentFlow.SETUP)
    world.wall.now = 1000.02  # still in slot 24000: known taken, the next starts in 21.7 ms
    assert budget.take_now(PaymentFlow.SETUP)
    assert ledger.claims == [24000, 24001]
    assert world.wall.now == pytest.approx(24001 / 24)  # it waited for its slot to start
    # Another instance took the next one: this one asks, and is told
    assert world.store.claim_slot(budget_module.slot_key(PaymentFlow.SETUP), 24002, None)
    assert not budget.take_now(PaymentFlow.SETUP)
    assert ledger.claims == [24000, 24001, 24002]


def test_an_unlimited_budget_takes_nothing(world):
    budget = StripeBudget(world.store, 0, wall=world.wall.time, sleep=world.wall.sleep)
    assert budget.take_now(PaymentFlow.SETUP) and budget.take_next(PaymentFlow.HOLD) == 0
    assert world.store._slots == set()
