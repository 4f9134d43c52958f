"""Issue #16 on `cashmob local`, with Stripe's view (the emulator) checked:
a `fixed_price` campaign overfunded collects exactly its price in fair
shares, through holds captured in part and saved cards charged off-session;
conditional pledges tip a campaign by meeting each other, and the one the
crowd does not meet is released without a penny taken."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.e2e.test_local_stack import (
    _now,
    confirm,
    new_campaign,
    past_deadline,
    pledge,
    pledge_status,
)

pytestmark = pytest.mark.e2e


def intents_of(stripe_v1, campaign_id):
    """pledge id -> its PaymentIntents, as Stripe (the emulator) has them."""
    found: dict[str, list] = {}
    for intent in stripe_v1.payment_intents.list(params={"limit": 100}).auto_paging_iter():
        meta = intent.metadata.to_dict() if intent.metadata else {}
        if meta.get("campaign_id") == campaign_id:
            found.setdefault(meta["pledge_id"], []).append(intent)
    return found


def test_an_overfunded_fixed_price_campaign_collects_exactly_its_price(api, stripe_v1):
    goal = 10_000
    campaign = new_campaign(api, hours=30 * 24, goal=goal, funding_model="fixed_price")
    early = [pledge(api, campaign, a) for a in (1500, 2200, 999, 3100)]
    # five days before the deadline: the next backers' funds are held
    deadline = _now(api) + timedelta(days=30)
    api.advance((deadline - _now(api) - timedelta(days=5)).total_seconds())
    late = [pledge(api, campaign, a) for a in (2500, 1234, 777)]
    assert {p["payment"]["flow"] for p in early} == {"setup"}
    assert {p["payment"]["flow"] for p in late} == {"hold"}
    made = early + late
    for p in made:
        confirm(stripe_v1, p)
    api.wait(api.quiet)
    pledged = sum(p["pledge"]["amount"] for p in made)
    assert pledged == 12_310 > goal

    final = past_deadline(api, campaign)
    assert final["status"] == "succeeded"
    assert final["settlement"]["collected"] == goal
    assert final["pledged"]["amount"] == pledged

    intents = intents_of(stripe_v1, campaign["id"])
    taken = 0
    for p in made:
        pid, amount = p["pledge"]["id"], p["pledge"]["amount"]
        view = pledge_status(api, p)
        succeeded = [i for i in intents[pid] if i.status == "succeeded"]
        assert len(succeeded) == 1, pid
        received = succeeded[0].amount_received
        assert view["status"] == "collected" and view["charged"] == received
        assert 0 < received < amount  # each pays its share, less than pledged
        if p["payment"]["flow"] == "hold":
            hold = succeeded[0]
            assert hold.amount == amount and hold.amount_capturable == 0  # the rest released
        taken += received
    assert taken == goal  # Stripe took exactly the price


def test_conditional_pledges_tip_a_campaign_by_meeting_each_other(api, stripe_v1):
    campaign = new_campaign(api, hours=2, goal=4000)
    alone = pledge(api, campaign, 1000)
    together = [pledge(api, campaign, 1000, condition={"min_backers": 4}) for _ in range(3)]
    far = pledge(api, campaign, 5000, condition={"min_backers": 50})
    for p in [alone, *together, far]:
        confirm(stripe_v1, p)
    api.wait(api.quiet)
    live = api.ok("GET", f"/campaigns/{campaign['id']}")
    assert (live["pledged"]["amount"], live["pledged"]["backers"]) == (4000, 4)
    assert live["pledged_if_conditions_met"]["amount"] == 9000
    # without the conditional pledges the campaign would fail: 1000 of 4000
    final = past_deadline(api, campaign)
    assert final["status"] == "succeeded"
    assert final["settlement"]["collected"] == 4000
    assert final["settlement"]["released"] == 5000

    intents = intents_of(stripe_v1, campaign["id"])
    for p in [alone, *together]:
        (intent,) = intents[p["pledge"]["id"]]
        assert intent.status == "succeeded" and intent.amount_received == 1000
        assert pledge_status(api, p)["charged"] == 1000
    assert pledge_status(api, far)["status"] == "released"
    assert pledge_status(api, far)["charged"] == 0
    for intent in intents[far["pledge"]["id"]]:  # never charged: the hold cancelled
        assert intent.status == "canceled" and intent.amount_received == 0
