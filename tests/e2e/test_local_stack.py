"""`cashmob local` as a newcomer starts it: a subprocess on free ports, driven
only over HTTP and through stripe-python against its Stripe emulator."""

from __future__ import annotations

import contextlib
import itertools
import json
import urllib.request
from collections import Counter
from datetime import datetime, timedelta

import pytest
import stripe

pytestmark = pytest.mark.e2e
_keys = itertools.count()


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _now(api) -> datetime:
    return datetime.strptime(api.now(), "%Y-%m-%dT%H:%M:%SZ")


def new_campaign(api, *, hours=2.0, goal=5000, currency="gbp", **extra):
    body = {
        "title": "Full-page ad on AGM day",
        "goal": {"amount": goal, "currency": currency},
        "deadline": _iso(_now(api) + timedelta(hours=hours)),
        **extra,
    }
    return api.ok("POST", "/campaigns", body, api.organizer("alice"))


def pledge(api, campaign, amount, *, key=None, **extra):
    body = {
        "amount": amount,
        "currency": campaign["goal"]["currency"],
        "email": "ada@example.org",
        **extra,
    }
    key = key or f"key-{next(_keys)}"
    status, answer = api.call(
        "POST", f"/campaigns/{campaign['id']}/pledges", body, {"Idempotency-Key": key}
    )
    assert status == 201, answer
    return answer


def confirm(stripe_v1, created, pm="pm_card_visa"):
    payment = created["payment"]
    service = stripe_v1.setup_intents if payment["flow"] == "setup" else stripe_v1.payment_intents
    # A declined card raises; the pledge then stays pending.
    with contextlib.suppress(stripe.CardError):
        service.confirm(payment["intent_id"], params={"payment_method": pm})


def pledge_status(api, created):
    p = created["pledge"]
    return api.ok(
        "GET",
        f"/campaigns/{p['campaign_id']}/pledges/{p['id']}",
        headers={"X-Pledge-Token": created["pledge_token"]},
    )


def succeeded_intents(stripe_v1, campaign_id) -> Counter:
    """pledge id -> PaymentIntents that took money, as Stripe (the emulator) sees it."""
    found = Counter()
    for intent in stripe_v1.payment_intents.list(params={"limit": 100}).auto_paging_iter():
        meta = intent.metadata.to_dict() if intent.metadata else {}
        if meta.get("campaign_id") == campaign_id and intent.status == "succeeded":
            found[meta["pledge_id"]] += 1
    return found


def past_deadline(api, campaign):
    deadline = datetime.strptime(campaign["deadline"], "%Y-%m-%dT%H:%M:%SZ")
    api.advance((deadline - _now(api)).total_seconds() + 120)
    return api.settle(campaign["id"])


# ---------------------------------------------------------------- campaigns end to end


def test_hold_flow_campaign_succeeds_and_collects_each_pledge_once(api, stripe_v1):
    campaign = new_campaign(api, hours=2, goal=3000)
    pledges = [pledge(api, campaign, 1000) for _ in range(4)]
    assert {p["payment"]["flow"] for p in pledges} == {"hold"}
    for p in pledges:
        confirm(stripe_v1, p)
    api.wait(api.quiet)
    progress = api.ok("GET", f"/campaigns/{campaign['id']}")["pledged"]
    assert (progress["amount"], progress["backers"]) == (4000, 4)
    final = past_deadline(api, campaign)
    assert final["status"] == "succeeded"
    assert final["settlement"]["outcome"] == "succeeded"
    assert final["settlement"]["collected"] == 4000 and final["settlement"]["released"] == 0
    assert {pledge_status(api, p)["status"] for p in pledges} == {"collected"}
    charges = succeeded_intents(stripe_v1, campaign["id"])
    assert sorted(charges) == sorted(p["pledge"]["id"] for p in pledges)
    assert set(charges.values()) == {1}


def test_setup_flow_campaign_reaches_its_deadline_through_the_clock(api, stripe_v1):
    campaign = new_campaign(api, hours=30 * 24, goal=2000)
    pledges = [pledge(api, campaign, 1500), pledge(api, campaign, 700), pledge(api, campaign, 900)]
    assert {p["payment"]["flow"] for p in pledges} == {"setup"}
    for p in pledges[:2]:
        confirm(stripe_v1, p)
    api.wait(api.quiet)
    final = past_deadline(api, campaign)
    assert final["status"] == "succeeded"
    assert (final["settlement"]["collected"], final["settlement"]["released"]) == (2200, 0)
    assert [pledge_status(api, p)["status"] for p in pledges] == [
        "collected",
        "collected",
        "expired",
    ]
    charges = succeeded_intents(stripe_v1, campaign["id"])
    assert charges == Counter({pledges[0]["pledge"]["id"]: 1, pledges[1]["pledge"]["id"]: 1})


def test_a_missed_goal_charges_nobody_and_releases_holds(api, stripe_v1):
    campaign = new_campaign(api, hours=1, goal=100_000)
    pledges = [pledge(api, campaign, 2000) for _ in range(3)]
    for p in pledges:
        confirm(stripe_v1, p)
    api.wait(api.quiet)
    final = past_deadline(api, campaign)
    assert final["status"] == "failed"
    assert final["settlement"]["collected"] == 0 and final["settlement"]["released"] == 6000
    assert {pledge_status(api, p)["status"] for p in pledges} == {"released"}
    assert succeeded_intents(stripe_v1, campaign["id"]) == Counter()
    for p in pledges:
        assert stripe_v1.payment_intents.retrieve(p["payment"]["intent_id"]).status == "canceled"


def test_keep_what_you_raise_collects_below_the_goal(api, stripe_v1):
    campaign = new_campaign(api, hours=1, goal=100_000, funding_model="keep_what_you_raise")
    pledges = [pledge(api, campaign, 500), pledge(api, campaign, 800)]
    for p in pledges:
        confirm(stripe_v1, p)
    api.wait(api.quiet)
    final = past_deadline(api, campaign)
    assert final["status"] == "succeeded" and final["settlement"]["collected"] == 1300
    assert set(succeeded_intents(stripe_v1, campaign["id"]).values()) == {1}


def test_min_backers_must_be_reached_too(api, stripe_v1):
    campaign = new_campaign(api, hours=1, goal=1000, min_backers=3)
    pledges = [pledge(api, campaign, 5000), pledge(api, campaign, 5000)]
    for p in pledges:
        confirm(stripe_v1, p)
    api.wait(api.quiet)
    final = past_deadline(api, campaign)
    assert final["status"] == "failed" and final["settlement"]["collected"] == 0
    assert succeeded_intents(stripe_v1, campaign["id"]) == Counter()


def test_a_declined_card_needs_the_backer_who_can_finish_the_payment(api, stripe_v1):
    campaign = new_campaign(api, hours=10 * 24, goal=1000)
    good, bad = pledge(api, campaign, 1000), pledge(api, campaign, 600)
    confirm(stripe_v1, good)
    confirm(stripe_v1, bad, "pm_card_chargeCustomerFail")  # saves, then declines charges
    api.wait(api.quiet)
    final = past_deadline(api, campaign)
    assert final["status"] == "succeeded"
    assert final["settlement"]["pending_action"] == 600
    waiting = pledge_status(api, bad)
    assert waiting["status"] == "action_required"
    secret = waiting["payment"]["client_secret"]
    intent_id = secret.split("_secret_")[0]
    # The backer finishes with another card (Stripe.js would use the client secret).
    stripe_v1.payment_intents.confirm(intent_id, params={"payment_method": "pm_card_visa"})
    api.wait(lambda: pledge_status(api, bad)["status"] == "collected")
    assert set(succeeded_intents(stripe_v1, campaign["id"]).values()) == {1}
    assert len(succeeded_intents(stripe_v1, campaign["id"])) == 2


def test_a_cancelled_pledge_is_never_charged(api, stripe_v1):
    campaign = new_campaign(api, hours=1, goal=500)
    keep, drop = pledge(api, campaign, 700), pledge(api, campaign, 900)
    for p in (keep, drop):
        confirm(stripe_v1, p)
    api.wait(api.quiet)
    p = drop["pledge"]
    cancelled = api.ok(
        "DELETE",
        f"/campaigns/{p['campaign_id']}/pledges/{p['id']}",
        headers={"X-Pledge-Token": drop["pledge_token"]},
    )
    assert cancelled["status"] == "cancelled"
    api.wait(api.quiet)
    assert stripe_v1.payment_intents.retrieve(drop["payment"]["intent_id"]).status == "canceled"
    final = past_deadline(api, campaign)
    assert final["settlement"]["collected"] == 700
    assert succeeded_intents(stripe_v1, campaign["id"]) == Counter({keep["pledge"]["id"]: 1})


def test_pledge_replay_and_conflict(api):
    campaign = new_campaign(api, hours=5)
    first = pledge(api, campaign, 1000, key="same-key")
    body = {"amount": 1000, "currency": "gbp", "email": "ada@example.org"}
    path = f"/campaigns/{campaign['id']}/pledges"
    status, again = api.call("POST", path, body, {"Idempotency-Key": "same-key"})
    assert status == 200 and again == first
    status, other = api.call(
        "POST", path, {**body, "amount": 2000}, {"Idempotency-Key": "same-key"}
    )
    assert status == 409 and other["error"]["code"] == "idempotency_key_reused"


def test_a_forged_webhook_is_refused(api):
    event = {"id": "evt_forged", "type": "setup_intent.succeeded", "data": {"object": {}}}
    status, body = api.call(
        "POST",
        "/webhooks/stripe",
        event,
        {"Stripe-Signature": "t=1,v1=" + "0" * 64},
    )
    assert status == 400 and body["error"]["code"] == "bad_request"


# ---------------------------------------------------------------- the stack itself


def test_the_local_authorizer_protects_organizer_routes(api):
    body = {
        "title": "x",
        "goal": {"amount": 5000, "currency": "eur"},
        "deadline": "2027-06-01T12:00:00Z",
    }
    assert api.call("POST", "/campaigns", body)[0] == 401
    assert (
        api.call("POST", "/campaigns", body, {"Authorization": "Bearer forged.token.value"})[0]
        == 401
    )


def test_the_readme_curl_lines_work_as_typed(api):
    """curl -d sends form content type; the local routes read JSON regardless."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, minted = api.call("POST", "/_local/token", raw=b'{"sub":"alice"}', headers=form)
    assert status == 200 and minted["token"].count(".") == 2
    status, moved = api.call("POST", "/_local/clock", raw=b'{"advance_seconds":1}', headers=form)
    assert status == 200 and moved["now"].endswith("Z")


def test_the_clock_only_moves_forward(api):
    before = api.now()
    assert api.advance(60) > before
    assert api.call("POST", "/_local/clock", {"advance_seconds": -1})[0] == 422


def test_swagger_ui_and_the_openapi_document_are_served(api):
    with urllib.request.urlopen(f"{api.base}/docs", timeout=10) as response:
        page = response.read().decode()
    assert response.headers["Content-Type"].startswith("text/html")
    assert "SwaggerUIBundle" in page and "/campaigns/{campaign_id}/pledges" in page
    status, spec = api.call("GET", "/openapi.json")
    assert status == 200 and "/campaigns" in spec["paths"]
    assert json.dumps(spec)
