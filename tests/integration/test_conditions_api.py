"""Issue #16 through the API handler and the DynamoDB store (moto): the
pledge's `condition`, the campaign's `pledged_if_conditions_met`, the
`fixed_price` model, the counters per threshold and the persisted share plan."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cashmob.domain import FundingModel, PledgeStatus
from cashmob.domain.fair_share import plan_shares
from cashmob.store.counter_keys import counter_key
from tests.integration.test_api import assert_error, call, new_campaign, pledge
from tests.unit.factories import NOW


def activate(store, campaign_id, pledge_id):
    p = store.get_pledge(campaign_id, pledge_id)
    store.save_pledge(p, p.moved_to(PledgeStatus.ACTIVE, activated_at=NOW), open_campaign_at=NOW)


@pytest.mark.parametrize(
    "condition",
    [
        {"min_backers": 0},
        {"min_backers": -5},
        {"min_backers": 1_000_001},
        {"min_backers": "5"},
        {"min_backers": 2.5},
        {"min_backers": True},
        {},
        {"min_backers": 5, "max_backers": 9},
        5,
        "5",
    ],
)
def test_a_bad_condition_is_422_and_writes_nothing(gateway, store, condition):
    cid = new_campaign()["id"]
    status, body, _ = pledge(cid, condition=condition)
    assert_error(status, body, 422)
    assert store.pledges(cid, limit=10, after=None).items == []
    assert gateway.calls == []


def test_a_condition_is_stored_returned_and_replayed(gateway, store):
    cid = new_campaign()["id"]
    status, body, _ = pledge(cid, condition={"min_backers": 500})
    assert status == 201, body
    assert body["pledge"]["condition"] == {"min_backers": 500}
    assert body["pledge"]["charged"] == 0
    pid = body["pledge"]["id"]
    assert store.get_pledge(cid, pid).min_backers == 500
    status, again, _ = pledge(cid, condition={"min_backers": 500})
    assert status == 200 and again["pledge"]["id"] == pid
    status, other, _ = pledge(cid, condition={"min_backers": 3})
    assert_error(status, other, 409)
    status, plain, _ = pledge(cid, "key-2")
    assert status == 201 and plain["pledge"]["condition"] is None


def test_fixed_price_is_a_funding_model(gateway):
    campaign = new_campaign(funding_model="fixed_price")
    assert campaign["funding_model"] == "fixed_price"
    status, got, _ = call("GET", f"/campaigns/{campaign['id']}")
    assert status == 200 and got["funding_model"] == "fixed_price"


def test_the_campaign_shows_what_counts_now_and_what_would_if_conditions_are_met(gateway, store):
    cid = new_campaign()["id"]
    plans = [("u1", None, 1000), ("c1", 3, 2000), ("c2", 40, 4000)]
    for key, n, amount in plans:
        extra = {} if n is None else {"condition": {"min_backers": n}}
        _, body, _ = pledge(cid, key, amount=amount, **extra)
        activate(store, cid, body["pledge"]["id"])
    status, campaign, _ = call("GET", f"/campaigns/{cid}")
    assert status == 200
    # c1 needs 3 in all: u1, c1 and ... c2 is out of reach, so 2 < 3: only u1
    assert campaign["pledged"] == {"amount": 1000, "currency": "gbp", "backers": 1}
    assert campaign["pledged_if_conditions_met"] == {
        "amount": 7000,
        "currency": "gbp",
        "backers": 3,
    }
    _, body, _ = pledge(cid, "u2", amount=500)
    activate(store, cid, body["pledge"]["id"])
    _, campaign, _ = call("GET", f"/campaigns/{cid}")
    assert campaign["pledged"] == {"amount": 3500, "currency": "gbp", "backers": 3}
    assert campaign["percent_funded"] == 35


def test_counter_items_from_before_conditions_read_as_unconditional(services, store):
    cid = new_campaign()["id"]
    Counter = store.models.Counter
    Counter(cid, 3, amount=1500, backers=2).save()  # an old item: a bare shard key
    Counter(cid, counter_key(4, 3), amount=900, backers=1).save()  # "if 4 pledge"
    crowd = store.crowd(cid)
    assert (crowd.backers, crowd.amount) == (2, 1500)
    assert (crowd.all_backers, crowd.all_amount) == (3, 2400)
    Counter(cid, counter_key(None, 7), amount=100, backers=1).save()
    crowd = store.crowd(cid)
    assert (crowd.backers, crowd.amount) == (4, 2500)  # 4 in all: the condition is met


def test_the_share_plan_and_crowd_are_stored_with_the_campaign(services, store):
    cid = new_campaign(funding_model="fixed_price")["id"]
    campaign = store.get_campaign(cid)
    assert campaign.funding_model is FundingModel.FIXED_PRICE
    plan = plan_shares([("plg_a", 7000), ("plg_b", 5001), ("plg_c", 333)], 10_000, minimum=30)
    saved = store.save_campaign(campaign, replace(campaign, crowd=3, share_plan=plan))
    again = store.get_campaign(cid)
    assert again.share_plan == plan and again.crowd == 3
    assert again.revision == saved.revision
    assert (
        sum(plan.charge(p, a) for p, a in [("plg_a", 7000), ("plg_b", 5001), ("plg_c", 333)])
        == 10_000
    )


def test_the_badge_shows_what_is_pledged_on_conditions(gateway, store):
    cid = new_campaign(funding_model="fixed_price")["id"]
    for key, extra in (("u1", {}), ("c1", {"condition": {"min_backers": 40}})):
        _, body, _ = pledge(cid, key, amount=2500, **extra)
        activate(store, cid, body["pledge"]["id"])
    status, svg, _ = call("GET", f"/campaigns/{cid}/badge.svg")
    assert status == 200
    assert "£25.00 raised" in svg  # only the unconditional pledge counts now
    assert "+£25.00 on conditions" in svg
    assert "fixed price" in svg
