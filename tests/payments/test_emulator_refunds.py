"""The emulator's refunds behind cashmob's back (a refund made in Stripe's
dashboard) and its per-pledge count, over its control paths: `charge.refunded`
carries what the webhook reads (fixtures3.json's Charge)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


def _json(url: str, body: dict | None = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _paid(client, pledge_id: str, amount: int = 1200):
    return client.payment_intents.create(
        params={
            "amount": amount,
            "currency": "gbp",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "metadata": {"campaign_id": "cmp_1", "pledge_id": pledge_id},
        }
    )


def test_a_dashboard_refund_emits_charge_refunded_and_is_counted(client, emulator, stripe_fixtures):
    intent = _paid(client, "plg_1")
    status, refund = _json(
        f"{emulator.url}/_emulator/refund", {"payment_intent": intent.id, "amount": 200}
    )
    assert status == 200 and refund["amount"] == 200 and refund["payment_intent"] == intent.id
    status, _ = _json(f"{emulator.url}/_emulator/refund", {"payment_intent": intent.id})
    assert status == 200
    assert _json(f"{emulator.url}/_emulator/refunds") == (200, {"plg_1": [200, 1000]})
    events = [e for e in emulator.events if e["type"] == "charge.refunded"]
    partial, full = (e["data"]["object"] for e in events)
    assert (partial["amount_refunded"], partial["refunded"]) == (200, False)
    assert (full["amount_refunded"], full["refunded"]) == (1200, True)
    assert full["metadata"] == {"campaign_id": "cmp_1", "pledge_id": "plg_1"}
    # The shape Stripe documents for a Charge (fixtures3.json): every field.
    assert set(stripe_fixtures["charge"]) <= set(full)
    # Nothing left: Stripe's own refusal.
    status, body = _json(f"{emulator.url}/_emulator/refund", {"payment_intent": intent.id})
    assert status == 400 and body["error"]["code"] == "charge_already_refunded"


def test_bad_control_requests_are_400(emulator):
    for body in ({}, {"payment_intent": 5}, {"payment_intent": "pi_1", "amount": 0}):
        status, _ = _json(f"{emulator.url}/_emulator/refund", body)
        assert status == 400
    status, body = _json(f"{emulator.url}/_emulator/refund", {"payment_intent": "pi_missing"})
    assert status == 404 and body["error"]["code"] == "resource_missing"
