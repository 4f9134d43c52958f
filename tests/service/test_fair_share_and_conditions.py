"""Issue #16 on the in-memory adapters: conditional pledges ("I will if N
others will") and `fixed_price` fair shares, from the pledge to the charge.
Each test reads given / when / then."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cashmob.domain import CampaignStatus, FundingModel, PledgeStatus
from cashmob.domain.errors import IdempotencyKeyReused, ValidationFailed
from cashmob.domain.events import PledgeCollected
from cashmob.domain.fair_share import fair_shares
from cashmob.domain.messages import SettlePledge
from cashmob.service import campaigns, pledges, settlement
from cashmob.service.pledges import _request_hash


def settle(world, *, days: float = 11) -> None:
    """The deadline passes; the sweep and the settlement worker run to the end."""
    world.clock.advance(timedelta(days=days).total_seconds())
    settlement.sweep(world.svc)
    done = 0
    while done < len(world.queue.sent) and done < 5000:
        settlement.handle(world.svc, world.queue.sent[done].message)
        done += 1
    world.clock.advance(3600)  # the completion checks' delays
    settlement.sweep(world.svc)
    while done < len(world.queue.sent) and done < 5000:
        settlement.handle(world.svc, world.queue.sent[done].message)
        done += 1


def view(world, cid):
    return campaigns.get(world.svc, cid)


# ---------------------------------------------------------------- the condition on a pledge


def test_a_condition_is_stored_and_shown_and_part_of_the_idempotent_body(world):
    cid = world.campaign()
    answer, status = world.pledge(cid, "k1", condition={"min_backers": 500})
    assert status == 201
    assert answer["pledge"]["condition"] == {"min_backers": 500}
    assert answer["pledge"]["charged"] == 0
    pid = answer["pledge"]["id"]
    assert world.stored(cid, pid).min_backers == 500
    # the same key and body replay; another condition is another body
    again, status = world.pledge(cid, "k1", condition={"min_backers": 500})
    assert status == 200 and again["pledge"]["id"] == pid
    with pytest.raises(IdempotencyKeyReused):
        world.pledge(cid, "k1", condition={"min_backers": 501})
    with pytest.raises(IdempotencyKeyReused):
        world.pledge(cid, "k1")


def test_a_pledge_without_a_condition_hashes_as_before_conditions_existed(world):
    body = {"amount": 1000, "currency": "gbp", "email": "ada@example.org"}
    assert _request_hash({**body, "condition": None}) == _request_hash(body)
    assert _request_hash({**body, "condition": {"min_backers": 2}}) != _request_hash(body)


@pytest.mark.parametrize("bad", [0, -3, 1_000_001, "5", 2.5, None, True])
def test_a_bad_condition_is_refused_and_nothing_is_written(world, bad):
    cid = world.campaign()
    with pytest.raises(ValidationFailed):
        pledges.create(
            world.svc,
            cid,
            "k1",
            {
                "amount": 1000,
                "currency": "gbp",
                "email": "a@b.org",
                "condition": {"min_backers": bad},
            },
        )
    assert list(world.store.all_pledges(cid)) == []
    assert world.stripe.calls == []


# ---------------------------------------------------------------- progress


def test_progress_counts_a_condition_once_the_crowd_meets_it(world):
    cid = world.campaign()
    world.confirmed(cid, "u1", amount=1000)
    world.confirmed(cid, "c1", amount=2000, condition={"min_backers": 4})
    world.confirmed(cid, "c2", amount=3000, condition={"min_backers": 9})
    body = view(world, cid)
    assert body["pledged"] == {"amount": 1000, "currency": "gbp", "backers": 1}
    assert body["pledged_if_conditions_met"] == {"amount": 6000, "currency": "gbp", "backers": 3}
    assert body["percent_funded"] == 10  # of 10_000: only what counts now
    # one more backer: 3 would count, fewer than the first condition's 4
    world.confirmed(cid, "u2", amount=500)
    assert view(world, cid)["pledged"] == {"amount": 1500, "currency": "gbp", "backers": 2}
    # another: 4 in all with the first condition, which now counts (not the second)
    world.confirmed(cid, "u3", amount=500)
    body = view(world, cid)
    assert body["pledged"] == {"amount": 4000, "currency": "gbp", "backers": 4}
    assert body["pledged_if_conditions_met"] == {"amount": 7000, "currency": "gbp", "backers": 5}


def test_the_counters_keep_conditional_amounts_per_threshold_beside_the_shards(world):
    cid = world.campaign()
    for i in range(6):
        world.confirmed(cid, f"c{i}", amount=1000, condition={"min_backers": 6})
    keys = sorted(k for (c, k) in world.store._counters if c == cid)
    assert keys and all(k // 1000 == 6 for k in keys)  # threshold 6, shards below 1000
    assert view(world, cid)["pledged"]["backers"] == 6


# ---------------------------------------------------------------- conditional settlement


def test_a_campaign_tips_only_because_conditional_pledges_meet_each_other(world):
    cid = world.campaign(goal_amount=4000)
    u, _ = world.confirmed(cid, "u", amount=1000)
    met = [
        world.confirmed(cid, f"c{i}", amount=1000, condition={"min_backers": 4})[0]
        for i in range(3)
    ]
    out, _ = world.confirmed(cid, "far", amount=5000, condition={"min_backers": 50})
    settle(world)
    body = view(world, cid)
    assert body["status"] == "succeeded"
    assert body["settlement"]["collected"] == 4000
    assert body["settlement"]["released"] == 5000
    for pid in [u, *met]:
        assert world.stored(cid, pid).status is PledgeStatus.COLLECTED
    far = world.stored(cid, out)
    assert far.status is PledgeStatus.RELEASED and not far.payment.intent_open
    assert world.stripe.charges[out] == 0 and out not in world.stripe.amounts
    assert world.store.get_campaign(cid).crowd == 4


def test_without_the_crowd_the_conditions_fail_the_campaign_and_release_everyone(world):
    cid = world.campaign(goal_amount=3000)
    ids = [
        world.confirmed(cid, f"c{i}", amount=1000, condition={"min_backers": 4})[0]
        for i in range(3)
    ]
    settle(world)
    assert view(world, cid)["status"] == "failed"
    assert all(world.stored(cid, p).status is PledgeStatus.RELEASED for p in ids)
    assert sum(world.stripe.charges.values()) == 0


def test_keep_what_you_raise_releases_the_conditions_the_crowd_does_not_meet(world):
    cid = world.campaign(funding_model=FundingModel.KEEP_WHAT_YOU_RAISE)
    u, _ = world.confirmed(cid, "u", amount=1000)
    c, _ = world.confirmed(cid, "c", amount=1000, condition={"min_backers": 3})
    settle(world)
    assert world.stored(cid, u).status is PledgeStatus.COLLECTED
    assert world.stored(cid, c).status is PledgeStatus.RELEASED
    assert world.stripe.charges[c] == 0


# ---------------------------------------------------------------- fixed_price fair shares


def fixed_price_world(world, amounts_setup, amounts_hold, goal):
    """A fixed_price campaign with setup-flow pledges early and hold-flow
    pledges in its last days: their ids and amounts."""
    cid = world.campaign(days=10, goal_amount=goal, funding_model=FundingModel.FIXED_PRICE)
    made = {}
    for i, amount in enumerate(amounts_setup):
        pid, _ = world.confirmed(cid, f"s{i}", amount=amount)
        made[pid] = amount
    world.clock.advance(timedelta(days=6).total_seconds())
    for i, amount in enumerate(amounts_hold):
        pid, _ = world.confirmed(cid, f"h{i}", amount=amount)
        made[pid] = amount
    return cid, made


def test_an_overfunded_fixed_price_campaign_charges_fair_shares_that_add_up_to_the_price(world):
    goal = 10_000
    cid, made = fixed_price_world(world, [1000, 2500, 333, 700], [4100, 999, 1234, 2222], goal)
    flows = {world.stored(cid, p).payment.flow.value for p in made}
    assert flows == {"setup", "hold"}
    assert sum(made.values()) > goal
    settle(world, days=5)
    body = view(world, cid)
    assert body["status"] == "succeeded"
    assert body["settlement"]["collected"] == goal
    assert body["pledged"]["amount"] == sum(made.values())  # what was pledged stays shown
    expected = fair_shares(made.items(), goal, minimum=30)
    for pid, amount in made.items():
        p = world.stored(cid, pid)
        assert p.status is PledgeStatus.COLLECTED
        assert world.stripe.amounts[pid] == [expected[pid]]  # once, the share
        assert 0 < p.charged == expected[pid] <= amount
    assert sum(a for v in world.stripe.amounts.values() for a in v) == goal
    collected = [e for e in world.events.events if isinstance(e, PledgeCollected)]
    assert sorted(e.charged for e in collected) == sorted(expected.values())


def test_a_fixed_price_share_is_the_same_however_often_the_work_is_redelivered(world):
    goal = 5000
    cid, made = fixed_price_world(world, [1500, 1700, 1900], [2100, 800], goal)
    world.clock.advance(timedelta(days=5).total_seconds())
    settlement.sweep(world.svc)
    done = 0
    while done < len(world.queue.sent) and done < 5000:
        message = world.queue.sent[done].message
        settlement.handle(world.svc, message)
        if isinstance(message, SettlePledge):  # SQS delivers it twice more
            settlement.handle(world.svc, message)
            settlement.handle(world.svc, SettlePledge(cid, message.pledge_id))  # a bare one
        done += 1
    assert all(world.stripe.charges[p] == 1 for p in made)
    assert sum(world.stripe.amounts[p][0] for p in made) == goal


def test_a_fixed_price_campaign_that_is_not_overfunded_charges_the_amounts(world):
    cid, made = fixed_price_world(world, [3000, 3000], [4000], 10_000)
    settle(world, days=5)
    assert view(world, cid)["settlement"]["collected"] == 10_000
    assert all(world.stripe.amounts[p] == [a] for p, a in made.items())


def test_a_fixed_price_campaign_that_misses_its_price_charges_nothing(world):
    cid, made = fixed_price_world(world, [3000], [4000], 10_000)
    settle(world, days=5)
    assert view(world, cid)["status"] == "failed"
    assert world.stripe.amounts == {}
    assert all(world.stored(cid, p).status is PledgeStatus.RELEASED for p in made)


def test_fair_shares_and_conditions_together(world):
    # the shares are over the counted set only: the released condition pays nothing
    goal = 3000
    cid = world.campaign(days=10, goal_amount=goal, funding_model=FundingModel.FIXED_PRICE)
    a, _ = world.confirmed(cid, "a", amount=2000)
    b, _ = world.confirmed(cid, "b", amount=2000, condition={"min_backers": 2})
    c, _ = world.confirmed(cid, "c", amount=2000, condition={"min_backers": 4})
    settle(world)
    assert world.store.get_campaign(cid).status is CampaignStatus.SUCCEEDED
    assert world.stripe.amounts[a] == [1500] and world.stripe.amounts[b] == [1500]
    assert c not in world.stripe.amounts
    assert world.stored(cid, c).status is PledgeStatus.RELEASED
