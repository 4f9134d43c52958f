"""The seed's story to its end (issue 15): ~200 backers fund the FT ad, the
campaign succeeds and collects, the organizer (onboarded with Stripe
Connect, on a `cashmob local --payouts`) is paid out, the newspaper refuses
the ad, the organizer refunds, every backer is refunded exactly once
(counted on the emulator), the payout's one transfer is reversed in full,
the campaign ends `refunded`, and reconciliation finds no drift."""

from __future__ import annotations

import pytest

from cashmob.domain.payout import platform_fee
from cashmob_local import refused
from cashmob_local.driver import local_stack, stripe_client

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def running():
    with local_stack("--payouts") as running:
        yield running


def test_the_newspaper_refused_the_ad(running):
    api, stripe_v1 = running.api, stripe_client(running.stripe_url, retries=0)
    api.timeout = max(api.timeout, 120.0)  # a tick runs the schedule inside the request
    result = refused.run(api, stripe_v1, running.stripe_url, backers=200, workers=6)
    assert result["settled"]["campaign"]["status"] == "succeeded"
    assert result["first_status"] == 202 and result["again_status"] == 200
    assert result["again_status_is"] == "refunded"
    assert refused.problems(result) == []
    charged = result["charged"]
    assert len(charged) >= 190  # every backer pays in this story
    assert result["statuses"] == {"refunded": len(charged)}
    assert all(result["refunded_amounts"][p] == charged[p] for p in charged)
    assert result["campaign"]["settlement"]["refunded"] == sum(charged.values())

    # The payout: paid once (one transfer to the organizer), then reversed in full.
    assert result["payouts"] is True
    paid, back = result["payout_paid"], result["payout_reversed"]
    collected = result["campaign"]["settlement"]["collected"]
    assert paid["status"] == "paid" and back["status"] == "reversed"
    assert paid["fee"] == platform_fee(collected, 500)  # 5 %, rounded half up
    assert paid["amount"] == collected - paid["fee"]
    assert [(t["id"], t["amount"], t["destination"]) for t in result["transfers_paid"]] == [
        (paid["transfer_id"], paid["amount"], result["account"])
    ]
    assert result["transfers_paid"][0]["amount_reversed"] == 0
    [transfer] = result["transfers_reversed"]
    assert transfer["id"] == paid["transfer_id"] == back["transfer_id"]
    assert transfer["amount_reversed"] == transfer["amount"] == paid["amount"]
    assert result["campaign"]["payout"]["status"] == "reversed"

    # Reconciliation of the campaign: nothing drifted.
    assert result["drift"] == [], result["reconciliation"]
    assert "no drift" in result["reconciliation"]

    table = refused.table(result)
    assert "| outcome | refunded |" in table
    assert "at most 1 per pledge" in table
    assert "paid → reversed" in table
    assert "| reconciliation | no drift |" in table
