"""Connect: Accounts (Express: create, retrieve), Account Links (create),
Transfers (create, retrieve, list) and transfer reversals (create), shaped
on Stripe's example objects (../shared/stripe/fixtures3.json: `account`,
`account_link`, `transfer`, `transfer_reversal`).

- An account is made with `type=express`, or with the controller properties
  Stripe recommends instead on Accounts v1 (`controller[stripe_dashboard][type]
  =express`, Stripe collecting requirements): either way an Express account,
  `charges_enabled`/`payouts_enabled`/`details_submitted` false and its
  `transfers` capability inactive until the organizer finishes onboarding
  (`complete_onboarding`, the control path `POST
  /_emulator/accounts/{id}/complete_onboarding`), which emits
  `account.updated` with the event's top-level `account` set, as Connect
  events carry it.
- A transfer needs a destination whose `transfers` capability is active
  (else 400 `insufficient_capabilities_for_transfer`, as Stripe answers).
  The platform balance is not modelled: a transfer never fails for want of
  available funds (in test mode Stripe would need `source_transaction` or
  the 0077 card to have them available at once).
- A reversal (all that is left unless `amount`) moves `amount_reversed`,
  `reversed` once nothing is left, and emits `transfer.reversed` (Stripe
  emits it for partial reversals too).
"""

from __future__ import annotations

import json
from typing import Any

from . import money, objects
from .errors import invalid, missing
from .paging import page
from .params import positive_int
from .settings import API_VERSION
from .state import Call, State, Table

LINK_LIFETIME = 300  # seconds an Account Link stays valid (Stripe: a few minutes)


def _requirements(due: list[str]) -> dict[str, Any]:
    return {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": list(due),
        "disabled_reason": "requirements.past_due" if due else None,
        "errors": [],
        "eventually_due": list(due),
        "past_due": list(due),
        "pending_verification": [],
    }


ONBOARDING_DUE = [
    "business_profile.mcc",
    "business_profile.url",
    "external_account",
    "individual.first_name",
    "individual.last_name",
    "tos_acceptance.date",
    "tos_acceptance.ip",
]


def account(now: int, params: dict[str, Any]) -> dict[str, Any]:
    aid = objects.new_id("acct", 16)
    country = params.get("country") or "GB"
    return {
        "id": aid,
        "object": "account",
        "business_profile": {
            "annual_revenue": None,
            "estimated_worker_count": None,
            "mcc": None,
            "minority_owned_business_designation": None,
            "name": None,
            "product_description": None,
            "support_address": None,
            "support_email": None,
            "support_phone": None,
            "support_url": None,
            "url": None,
        },
        "business_type": params.get("business_type"),
        "capabilities": {"transfers": "inactive"},
        "charges_enabled": False,
        "controller": {"type": "application"},
        "country": country,
        "created": now,
        "default_currency": params.get("default_currency")
        or {"GB": "gbp", "US": "usd", "JP": "jpy"}.get(country, "eur"),
        "details_submitted": False,
        "email": params.get("email"),
        "external_accounts": objects.list_object(
            f"/v1/accounts/{aid}/external_accounts", [], False
        ),
        "future_requirements": _requirements([]),
        "metadata": dict(params.get("metadata") or {}),
        "payouts_enabled": False,
        "requirements": _requirements(ONBOARDING_DUE),
        "settings": {
            "dashboard": {"display_name": None, "timezone": "Etc/UTC"},
            "payouts": {
                "debit_negative_balances": True,
                "schedule": {"delay_days": 7, "interval": "daily"},
                "statement_descriptor": None,
            },
        },
        "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
        "type": "express",
    }


def transfer(now: int, params: dict[str, Any], amount: int) -> dict[str, Any]:
    tid = objects.new_id("tr")
    return {
        "id": tid,
        "object": "transfer",
        "amount": amount,
        "amount_reversed": 0,
        "balance_transaction": objects.new_id("txn"),
        "created": now,
        "currency": params["currency"].lower(),
        "description": params.get("description"),
        "destination": params["destination"],
        "destination_payment": objects.new_id("py", 14),
        "livemode": False,
        "metadata": dict(params.get("metadata") or {}),
        "reversals": objects.list_object(f"/v1/transfers/{tid}/reversals", [], False),
        "reversed": False,
        "source_transaction": params.get("source_transaction"),
        "source_type": "card",
        "transfer_group": params.get("transfer_group"),
    }


def reversal(now: int, transfer_: dict[str, Any], amount: int, params: dict[str, Any]):
    return {
        "id": objects.new_id("trr"),
        "object": "transfer_reversal",
        "amount": amount,
        "balance_transaction": objects.new_id("txn"),
        "created": now,
        "currency": transfer_["currency"],
        "destination_payment_refund": objects.new_id("pyr", 14),
        "metadata": dict(params.get("metadata") or {}),
        "source_refund": None,
        "transfer": transfer_["id"],
    }


class Connect:
    """The Connect resources; `accounts` and `transfers` are its tables."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.accounts: Table = {}
        self.transfers: Table = {}

    # ---------------------------------------------------------------- accounts

    def create_account(self, call: Call) -> dict[str, Any]:
        params = call.params
        controller = params.get("controller") or {}
        dashboard = (controller.get("stripe_dashboard") or {}).get("type")
        express = params.get("type") == "express" or (
            dashboard == "express"
            and controller.get("requirement_collection", "stripe") == "stripe"
        )
        if params.get("type") and controller:
            raise invalid(
                "You cannot specify both `type` and `controller` when creating an account.",
                code="parameters_exclusive",
                param="type",
                store=False,
            )
        if not express:
            raise invalid(
                "This emulator creates Express accounts only: send type=express, or "
                "controller[stripe_dashboard][type]=express.",
                param="type" if params.get("type") else "controller",
                store=False,
            )
        obj = account(self.state.time(), params)
        self.accounts[obj["id"]] = obj
        return obj

    def retrieve_account(self, call: Call) -> dict[str, Any]:
        return self.state.get(self.accounts, "account", call.object_id)

    def create_account_link(self, call: Call) -> dict[str, Any]:
        params = call.params
        acct = self.state.get(self.accounts, "account", params["account"])
        if params["type"] != "account_onboarding":
            raise invalid(
                "You cannot create `account_update` type Account Links for accounts that have "
                "access to a Stripe-hosted Dashboard.",
                param="type",
            )
        for name in ("refresh_url", "return_url"):
            if not params.get(name):
                raise invalid(
                    f"Missing required param: {name}.",
                    code="parameter_missing",
                    param=name,
                    store=False,
                )
        now = self.state.time()
        return {
            "object": "account_link",
            "created": now,
            "expires_at": now + LINK_LIFETIME,
            "url": f"https://connect.stripe.com/setup/e/{acct['id']}/{objects.new_id('s', 12)[2:]}",
        }

    def complete_onboarding(self, account_id: str) -> dict[str, Any]:
        """The organizer finished Stripe's onboarding: the account can take
        transfers and pay out; `account.updated` as Stripe emits it."""
        acct = self.accounts.get(account_id)
        if acct is None:
            raise missing("account", account_id)
        now = self.state.time()
        acct.update(
            charges_enabled=True,
            payouts_enabled=True,
            details_submitted=True,
            capabilities={"transfers": "active"},
            requirements=_requirements([]),
            tos_acceptance={"date": now, "ip": "127.0.0.1", "user_agent": None},
        )
        self._record("account.updated", acct, account_id)
        return acct

    def _record(self, event_type: str, obj: dict[str, Any], account_id: str) -> None:
        """A Connect event: about a connected account, so it names it (`account`)."""
        event = objects.event(
            self.state.time(),
            event_type,
            json.loads(json.dumps(obj)),
            api_version=API_VERSION,
            request={"id": None, "idempotency_key": None},
        )
        event["account"] = account_id
        self.state.events.append(event)
        self.state.events_by_id[event["id"]] = event
        self.state.publish(event)

    # ---------------------------------------------------------------- transfers

    def create_transfer(self, call: Call) -> dict[str, Any]:
        params = call.params
        amount = positive_int(params, "amount")
        assert amount is not None
        currency = params["currency"].lower()
        if not money.supported(currency):
            raise invalid(f"Invalid currency: {currency}.", param="currency", store=False)
        destination = self.accounts.get(params["destination"])
        if destination is None:
            raise invalid(
                f"No such destination: '{params['destination']}'",
                code="resource_missing",
                param="destination",
            )
        if destination["capabilities"].get("transfers") != "active":
            raise invalid(
                "Your destination account needs to have at least one of the following "
                "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                code="insufficient_capabilities_for_transfer",
                param="destination",
            )
        obj = transfer(self.state.time(), params, amount)
        self.transfers[obj["id"]] = obj
        self.state.record("transfer.created", obj, call.request)
        return obj

    def retrieve_transfer(self, call: Call) -> dict[str, Any]:
        return self.state.get(self.transfers, "transfer", call.object_id)

    def list_transfers(self, call: Call) -> dict[str, Any]:
        rows = list(reversed(self.transfers.values()))  # newest first
        for name in ("destination", "transfer_group"):
            if call.params.get(name):
                rows = [t for t in rows if t[name] == call.params[name]]
        return page(rows, call, "transfer")

    def create_reversal(self, call: Call) -> dict[str, Any]:
        tr = self.state.get(self.transfers, "transfer", call.object_id)
        left = tr["amount"] - tr["amount_reversed"]
        if left <= 0:
            raise invalid(
                f"Transfer {tr['id']} has already been fully reversed.",
                param="amount",
            )
        amount = positive_int(call.params, "amount", required=False) or left
        if amount > left:
            raise invalid(
                f"Amount ({amount}) is greater than the amount that can be reversed ({left}).",
                param="amount",
            )
        obj = reversal(self.state.time(), tr, amount, call.params)
        tr["amount_reversed"] += amount
        tr["reversed"] = tr["amount_reversed"] == tr["amount"]
        tr["reversals"]["data"].insert(0, obj)
        self.state.record("transfer.reversed", tr, call.request)
        return obj
