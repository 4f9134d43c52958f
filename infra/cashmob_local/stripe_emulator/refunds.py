"""Refunds (create, retrieve, list), Charges (retrieve) and Events (retrieve,
list): what happens after the money moved, and the record of it all."""

from __future__ import annotations

import re
from typing import Any

from . import money, objects
from .errors import invalid, missing
from .paging import page
from .params import positive_int
from .state import Call, State


class Refunds:
    def __init__(self, state: State) -> None:
        self.state = state

    def retrieve(self, call: Call) -> dict[str, Any]:
        return self.state.get(self.state.refunds, "refund", call.object_id)

    def list(self, call: Call) -> dict[str, Any]:
        rows = list(reversed(self.state.refunds.values()))  # newest first
        for name in ("payment_intent", "charge"):
            if call.params.get(name):
                rows = [r for r in rows if r[name] == call.params[name]]
        return page(rows, call, "refund")

    def create(self, call: Call) -> dict[str, Any]:
        params = call.params
        charge = self.state.get(self.state.charges, "charge", self._charge_id(params))
        if not charge["captured"]:
            raise invalid(
                f"Charge {charge['id']} has not been captured: cancel its PaymentIntent to "
                "release the authorization instead.",
                code="charge_not_refundable",
                param="charge",
            )
        remaining = charge["amount_captured"] - charge["amount_refunded"]
        if remaining <= 0:
            raise invalid(
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = positive_int(params, "amount", required=False) or remaining
        if amount > remaining:
            raise invalid(
                f"Refund amount ({money.format_amount(amount, charge['currency'])}) is greater "
                "than unrefunded amount on charge "
                f"({money.format_amount(remaining, charge['currency'])})",
                param="amount",
            )
        refund = objects.refund(self.state.time(), charge, amount, params)
        self.state.refunds[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
        charge["refunds"]["data"].insert(0, refund)
        self.state.record("refund.created", refund, call.request)
        self.state.record("charge.refunded", charge, call.request)
        return refund

    def _charge_id(self, params: dict[str, Any]) -> str:
        """The charge a refund is of: named, or the latest of a succeeded PaymentIntent."""
        if params.get("payment_intent") and params.get("charge"):
            raise invalid(
                "You may only specify one of these parameters: charge, payment_intent.",
                code="parameters_exclusive",
                param="charge",
                store=False,
            )
        if params.get("payment_intent"):
            intent = self.state.get(
                self.state.payment_intents, "payment_intent", params["payment_intent"]
            )
            charge_id = intent["latest_charge"] if intent["status"] == "succeeded" else None
            if charge_id is None:
                # An uncaptured hold is released by cancelling it, not refunded.
                raise invalid(
                    f"This PaymentIntent ({intent['id']}) does not have a successful charge "
                    "to refund.",
                    code="charge_not_refundable",
                    param="payment_intent",
                )
            return charge_id
        if params.get("charge"):
            return params["charge"]
        raise invalid(
            "One of the following params should be provided for this request: payment_intent or charge.",
            code="parameter_missing",
            store=False,
        )


class Charges:
    def __init__(self, state: State) -> None:
        self.state = state

    def retrieve(self, call: Call) -> dict[str, Any]:
        return self.state.get(self.state.charges, "charge", call.object_id)


class Events:
    def __init__(self, state: State) -> None:
        self.state = state

    def retrieve(self, call: Call) -> dict[str, Any]:
        event = self.state.events_by_id.get(call.object_id)
        if event is None:
            raise missing("event", call.object_id)
        return event

    def list(self, call: Call) -> dict[str, Any]:
        rows = list(reversed(self.state.events))
        event_type = call.params.get("type")
        if event_type:
            pattern = re.compile(re.escape(event_type).replace(r"\*", ".*") + "$")
            rows = [e for e in rows if pattern.match(e["type"])]
        if call.params.get("types"):
            rows = [e for e in rows if e["type"] in call.params["types"]]
        return page(rows, call, "event")


# ---------------------------------------------------------------- what tests and the demo count


def refunds_by_pledge(state: State) -> dict[str, list[int]]:
    """pledge id -> the amounts of its refunds, oldest first (from the
    charge's metadata, which Stripe copies from the PaymentIntent)."""
    by_pledge: dict[str, list[int]] = {}
    for refund in state.refunds.values():
        charge = state.charges.get(refund["charge"]) or {}
        pledge_id = (charge.get("metadata") or {}).get("pledge_id", "")
        by_pledge.setdefault(pledge_id, []).append(refund["amount"])
    return by_pledge


def refund_behind_our_back(state: State, intent_id: str, amount: int | None) -> dict[str, Any]:
    """A refund made in Stripe's dashboard: the API's own rule, under no
    idempotency key of ours; it emits `refund.created` and `charge.refunded`."""
    params: dict[str, Any] = {"payment_intent": intent_id}
    if amount is not None:
        params["amount"] = amount
    request = {"id": None, "idempotency_key": None}  # what Stripe sends for a dashboard action
    return Refunds(state).create(Call(params, request))
