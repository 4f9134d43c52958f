"""The whole product against a strict Stripe: `cashmob local`'s emulator checks
every request against stripe-python's parameter types for the one API version
it speaks. Both flows, a decline, a backer's cancel and an organizer's cancel
play through with no request refused, all on the pinned Stripe-Version."""

from __future__ import annotations

import json
import urllib.request

import pytest

from cashmob.payments.stripe_gateway import STRIPE_API_VERSION
from tests.e2e.test_local_stack import confirm, new_campaign, past_deadline, pledge, pledge_status

pytestmark = pytest.mark.e2e


def _emulator(running, path, method="GET"):
    request = urllib.request.Request(running.stripe_url + path, method=method, data=None)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_both_flows_declines_and_cancels_make_no_request_stripe_refuses(running, api, stripe_v1):
    _emulator(running, "/_emulator/reset-log", "POST")
    hold = new_campaign(api, hours=2, goal=1000)
    setup = new_campaign(api, hours=30 * 24, goal=1000)
    cancelled = new_campaign(api, hours=30 * 24, goal=1000)
    held = [pledge(api, hold, 1000), pledge(api, hold, 800)]
    saved = [pledge(api, setup, 1200), pledge(api, setup, 900), pledge(api, setup, 700)]
    withdrawn = pledge(api, setup, 500)
    organizer_cancels = pledge(api, cancelled, 600)
    assert {p["payment"]["flow"] for p in held} == {"hold"}
    assert {p["payment"]["flow"] for p in [*saved, withdrawn]} == {"setup"}

    confirm(stripe_v1, held[0])
    confirm(stripe_v1, held[1], "pm_card_chargeDeclined")  # declined at the pledge
    confirm(stripe_v1, saved[0])
    confirm(stripe_v1, saved[1], "pm_card_chargeCustomerFail")  # declines at the deadline
    confirm(stripe_v1, saved[2])
    confirm(stripe_v1, withdrawn)
    confirm(stripe_v1, organizer_cancels)
    api.wait(api.quiet)
    p = withdrawn["pledge"]
    api.ok(
        "DELETE",
        f"/campaigns/{p['campaign_id']}/pledges/{p['id']}",
        headers={"X-Pledge-Token": withdrawn["pledge_token"]},
    )
    api.ok("POST", f"/campaigns/{cancelled['id']}/cancel", headers=api.organizer("alice"))
    api.wait(api.quiet)

    assert past_deadline(api, hold)["status"] == "succeeded"
    assert past_deadline(api, setup)["status"] == "succeeded"
    assert [pledge_status(api, p)["status"] for p in held] == ["collected", "expired"]
    assert [pledge_status(api, p)["status"] for p in saved] == [
        "collected",
        "action_required",
        "collected",
    ]
    assert pledge_status(api, withdrawn)["status"] == "cancelled"
    assert pledge_status(api, organizer_cancels)["status"] == "released"

    log = _emulator(running, "/_emulator/requests")
    assert log["total"] > 20  # the product really talked to it
    assert log["refused"] == 0, log
    assert log["versions"] == {STRIPE_API_VERSION: log["total"]}
