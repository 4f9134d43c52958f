"""`cashmob local --payouts`, over HTTP only: an organizer onboards with
Stripe Connect (the emulator's onboarding, its `account.updated` delivered
as a webhook), the campaign succeeds and pays out once; `cashmob reconcile
--url` finds nothing, then finds a payment Stripe took behind our back; the
daily reconciliation runs once per day of the stack's clock."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest

from cashmob_local.driver import local_stack, stripe_client
from tests.e2e.test_local_stack import confirm, new_campaign, pledge

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def running():
    with local_stack("--payouts") as running:
        yield running


def _reconcile(running, *extra: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "cashmob_local.cli", "reconcile", "--url", running.api.base, *extra],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def test_onboard_succeed_pay_out_once_and_reconcile(running, tmp_path):
    api, stripe_v1 = running.api, stripe_client(running.stripe_url, retries=0)
    alice = api.organizer("alice")
    assert api.ok("GET", "/organizers/me", headers=alice)["payouts"]["status"] == "none"
    link = api.ok("POST", "/organizers/me/payouts", {"return_url": "https://x.org/done"}, alice)
    account = api.ok("GET", "/organizers/me", headers=alice)["payouts"]["account_id"]
    assert account in link["url"]
    request = urllib.request.Request(
        f"{running.stripe_url}/_emulator/accounts/{account}/complete_onboarding", method="POST"
    )
    with urllib.request.urlopen(request) as answer:
        assert json.loads(answer.read())["payouts_enabled"] is True
    api.wait(
        lambda: api.ok("GET", "/organizers/me", headers=alice)["payouts"]["status"] == "enabled"
    )

    campaign = new_campaign(api, goal=3000, hours=8 * 24)  # saved cards (setup flow)
    made = [pledge(api, campaign, amount) for amount in (1000, 1200, 1300)]
    for created in made:
        confirm(stripe_v1, created)
    api.wait(lambda: api.ok("GET", f"/campaigns/{campaign['id']}")["pledged"]["backers"] == 3)
    api.advance(9 * 86400)
    final = api.settle(campaign["id"])
    assert final["status"] == "succeeded"
    api.wait(api.quiet)
    payout = api.ok("GET", f"/campaigns/{campaign['id']}")["payout"]
    assert payout["status"] == "paid"
    assert (payout["amount"], payout["fee"]) == (3325, 175)  # 5 % of 3,500
    transfers = stripe_v1.transfers.list(params={"transfer_group": campaign["id"]}).data
    assert [(t.id, t.amount, t.destination) for t in transfers] == [
        (payout["transfer_id"], 3325, account)
    ]

    report_path = tmp_path / "report.json"
    status, output = _reconcile(running, "--json", str(report_path))
    assert status == 0, output
    assert "no drift" in output
    assert json.loads(report_path.read_text())["drift"] == []

    # Money taken in Stripe for one of this campaign's pledges, behind our
    # back, on the card the backer saved.
    some = made[0]["pledge"]
    customer = stripe_v1.setup_intents.retrieve(made[0]["payment"]["intent_id"]).customer
    stripe_v1.payment_intents.create(
        params={
            "amount": 500,
            "currency": "gbp",
            "customer": customer,
            "payment_method": "pm_card_visa",
            "confirm": True,
            "metadata": {"campaign_id": campaign["id"], "pledge_id": some["id"]},
        }
    )
    api.wait(api.quiet)
    status, output = _reconcile(running, "--campaign", campaign["id"])
    assert status == 1, output
    assert "paid_in_stripe_not_ours" in output and some["id"] in output
