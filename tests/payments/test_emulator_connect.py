"""Connect on the emulator, through stripe-python unchanged: Express accounts,
Account Links, onboarding (`account.updated`), Transfers and reversals, each
object shaped like Stripe's fixture and each request checked against
stripe-python's parameter types."""

from __future__ import annotations

import json
import urllib.request

import pytest
import stripe

from tests.payments.test_emulator_contract import as_json, shape_problems

EXPRESS_BY_CONTROLLER = {
    "controller": {
        "stripe_dashboard": {"type": "express"},
        "fees": {"payer": "application"},
        "losses": {"payments": "application"},
        "requirement_collection": "stripe",
    },
    "capabilities": {"transfers": {"requested": True}},
    "country": "GB",
}


def _onboard(emulator, account_id: str) -> dict:
    request = urllib.request.Request(
        f"{emulator.url}/_emulator/accounts/{account_id}/complete_onboarding",
        data=b"{}",
        method="POST",
    )
    with urllib.request.urlopen(request) as answer:
        return json.loads(answer.read())


def test_connect_objects_have_stripes_shape(client, emulator, stripe_fixtures):
    account = client.accounts.create(params={"type": "express", "country": "GB"})
    link = client.account_links.create(
        params={
            "account": account.id,
            "type": "account_onboarding",
            "refresh_url": "https://example.org/refresh",
            "return_url": "https://example.org/return",
        }
    )
    _onboard(emulator, account.id)
    transfer = client.transfers.create(
        params={
            "amount": 9500,
            "currency": "gbp",
            "destination": account.id,
            "transfer_group": "cmp_1",
            "metadata": {"campaign_id": "cmp_1"},
        }
    )
    reversal = client.transfers.reversals.create(transfer.id, params={"amount": 500})
    found = {
        "account": client.accounts.retrieve(account.id),
        "account_link": link,
        "transfer": client.transfers.retrieve(transfer.id),
        "transfer_reversal": reversal,
    }
    for name, obj in found.items():
        data = as_json(obj)
        assert data["object"] == stripe_fixtures[name]["object"]
        assert shape_problems(data, stripe_fixtures[name]) == [], name
    for event in emulator.events:
        inner = event["data"]["object"]
        assert shape_problems(inner, stripe_fixtures[inner["object"]]) == [], event["type"]


def test_express_account_onboarding_emits_account_updated(client, emulator):
    account = client.accounts.create(params=EXPRESS_BY_CONTROLLER)
    assert account.type == "express"
    assert (account.charges_enabled, account.payouts_enabled, account.details_submitted) == (
        False,
        False,
        False,
    )
    assert account.requirements.currently_due
    link = client.account_links.create(
        params={
            "account": account.id,
            "type": "account_onboarding",
            "refresh_url": "https://example.org/r",
            "return_url": "https://example.org/done",
        }
    )
    assert link.url.startswith("https://connect.stripe.com/") and account.id in link.url
    assert link.expires_at > link.created
    assert not [e for e in emulator.events if e["type"] == "account.updated"]

    _onboard(emulator, account.id)

    again = client.accounts.retrieve(account.id)
    assert (again.charges_enabled, again.payouts_enabled, again.details_submitted) == (
        True,
        True,
        True,
    )
    assert again.capabilities.transfers == "active"
    updated = [e for e in emulator.events if e["type"] == "account.updated"]
    assert len(updated) == 1
    assert updated[0]["account"] == account.id  # Connect events name the connected account
    assert updated[0]["data"]["object"]["charges_enabled"] is True


def test_onboarding_an_unknown_account_is_404(emulator):
    with pytest.raises(urllib.error.HTTPError) as refused:
        _onboard(emulator, "acct_nope")
    assert refused.value.code == 404


def test_account_requests_are_checked_against_stripes_types(client):
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.accounts.create(params={"type": "express", "organizer": "alice"})  # type: ignore[typeddict-unknown-key]
    assert unknown.value.code == "parameter_unknown"
    with pytest.raises(stripe.InvalidRequestError) as bad_type:
        client.accounts.create(params={"type": "platinum"})  # type: ignore[typeddict-item]
    assert "type" in str(bad_type.value)
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.account_links.create(params={"account": "acct_x"})  # type: ignore[typeddict-item]
    assert missing.value.code == "parameter_missing"
    with pytest.raises(stripe.InvalidRequestError) as standard:
        client.accounts.create(params={"type": "standard"})
    assert standard.value.param == "type"


def test_a_transfer_waits_for_the_transfers_capability(client, emulator):
    account = client.accounts.create(params={"type": "express"})
    params = {"amount": 1000, "currency": "gbp", "destination": account.id}
    with pytest.raises(stripe.InvalidRequestError) as early:
        client.transfers.create(params=params)  # type: ignore[arg-type]
    assert early.value.code == "insufficient_capabilities_for_transfer"
    with pytest.raises(stripe.InvalidRequestError) as nowhere:
        client.transfers.create(params={**params, "destination": "acct_nowhere"})  # type: ignore[arg-type]
    assert nowhere.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as no_currency:
        client.transfers.create(params={"amount": 1000, "destination": account.id})  # type: ignore[typeddict-item]
    assert no_currency.value.code == "parameter_missing"
    _onboard(emulator, account.id)
    assert client.transfers.create(params=params).destination == account.id  # type: ignore[arg-type]


def test_transfers_replay_under_their_key_and_list_by_group(client, emulator):
    account = client.accounts.create(params={"type": "express"})
    _onboard(emulator, account.id)
    params = {
        "amount": 4200,
        "currency": "gbp",
        "destination": account.id,
        "transfer_group": "cmp_a",
    }
    key = {"idempotency_key": "payout:cmp_a:transfer"}
    first = client.transfers.create(params=params, options=key)  # type: ignore[arg-type]
    again = client.transfers.create(params=params, options=key)  # type: ignore[arg-type]
    assert again.id == first.id and len(emulator.transfers) == 1
    with pytest.raises(stripe.IdempotencyError):
        client.transfers.create(params={**params, "amount": 4300}, options=key)  # type: ignore[arg-type]
    client.transfers.create(params={**params, "transfer_group": "cmp_b"})  # type: ignore[arg-type]
    created = [e for e in emulator.events if e["type"] == "transfer.created"]
    assert len(created) == 2 and created[0]["request"]["idempotency_key"] == key["idempotency_key"]
    group = client.transfers.list(params={"transfer_group": "cmp_a"})
    assert [t.id for t in group.data] == [first.id]
    assert len(client.transfers.list(params={"destination": account.id}).data) == 2


def test_reversals_partial_then_full_then_refused(client, emulator):
    account = client.accounts.create(params={"type": "express"})
    _onboard(emulator, account.id)
    transfer = client.transfers.create(
        params={"amount": 1000, "currency": "gbp", "destination": account.id}
    )
    part = client.transfers.reversals.create(transfer.id, params={"amount": 300})
    assert part.amount == 300 and part.transfer == transfer.id
    assert client.transfers.retrieve(transfer.id).amount_reversed == 300
    key = {"idempotency_key": "payout:cmp_x:reverse"}
    rest = client.transfers.reversals.create(transfer.id, options=key)
    assert client.transfers.reversals.create(transfer.id, options=key).id == rest.id  # replayed
    assert rest.amount == 700
    after = client.transfers.retrieve(transfer.id)
    assert (after.amount_reversed, after.reversed) == (1000, True)
    assert [r.id for r in after.reversals.data] == [rest.id, part.id]
    with pytest.raises(stripe.InvalidRequestError):
        client.transfers.reversals.create(transfer.id)
    assert len([e for e in emulator.events if e["type"] == "transfer.reversed"]) == 2
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        other = client.transfers.create(
            params={"amount": 100, "currency": "gbp", "destination": account.id}
        )
        client.transfers.reversals.create(other.id, params={"amount": 101})
    assert too_much.value.param == "amount"
