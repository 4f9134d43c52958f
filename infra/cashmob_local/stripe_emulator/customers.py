"""Customers (create, retrieve) and SetupIntents (create, retrieve, confirm,
cancel): saving a card for later, as Stripe's test cards decide. Confirming
an intent in `requires_action` again stands in for the backer passing 3-D
Secure; `authenticate` is the verdict of the 3-D Secure test page that the
Stripe.js stand-in shows (`stripejs`)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from . import objects
from .cards import authentication_failure, card, card_error
from .errors import StripeFailure, unexpected
from .params import flag
from .state import Call, State

OPEN = ("requires_payment_method", "requires_confirmation", "requires_action")


class Customers:
    def __init__(self, state: State) -> None:
        self.state = state

    def create(self, call: Call) -> dict[str, Any]:
        customer = objects.customer(self.state.time(), call.params)
        self.state.customers[customer["id"]] = customer
        self.state.record("customer.created", customer, call.request)
        return customer

    def retrieve(self, call: Call) -> dict[str, Any]:
        return self.state.get(self.state.customers, "customer", call.object_id)

    def update(self, call: Call) -> dict[str, Any]:
        """Email, name, description, phone (an empty string unsets one, as
        Stripe does) and metadata (merged; an empty value removes a key)."""
        customer = self.retrieve(call)
        params = call.params
        for name in UNSETTABLE:
            if name in params:
                customer[name] = params[name] or None
        for key, value in (params.get("metadata") or {}).items():
            if value:
                customer["metadata"][key] = value
            else:
                customer["metadata"].pop(key, None)
        self.state.record("customer.updated", customer, call.request)
        return customer


# Customer fields an update may set, or unset with "".
UNSETTABLE = ("email", "name", "description", "phone")


class SetupIntents:
    def __init__(self, state: State) -> None:
        self.state = state

    def retrieve(self, call: Call) -> dict[str, Any]:
        return self.state.get(self.state.setup_intents, "setup_intent", call.object_id)

    def create(self, call: Call) -> dict[str, Any]:
        params = call.params
        if params.get("customer"):
            self.state.get(self.state.customers, "customer", params["customer"])
        intent = objects.setup_intent(self.state.time(), params)
        if intent["payment_method"]:
            intent["status"] = "requires_confirmation"
        self.state.setup_intents[intent["id"]] = intent
        self.state.record("setup_intent.created", intent, call.request)
        if flag(params, "confirm"):
            return self.confirm(replace(call, params={}, object_id=intent["id"]))
        return intent

    def confirm(self, call: Call) -> dict[str, Any]:
        intent = self.retrieve(call)
        payment_method = call.params.get("payment_method")
        if intent["status"] == "requires_action" and not payment_method:
            return self._succeeded(intent, call.request)  # the backer passed 3-D Secure
        if intent["status"] not in OPEN:
            raise unexpected("setup_intent", intent, "confirm")
        intent["payment_method"] = payment_method or intent["payment_method"]
        chosen = card(intent["payment_method"])
        intent["last_setup_error"] = None
        if chosen.setup_error:
            intent["status"] = "requires_payment_method"
            intent["last_setup_error"] = card_error(
                chosen.setup_error, chosen, intent["payment_method"]
            )
            self.state.record("setup_intent.setup_failed", intent, call.request)
            body = objects.error(
                "card_error",
                intent["last_setup_error"]["message"],
                code=chosen.setup_error,
                decline_code=chosen.decline_code,
                setup_intent=json.loads(json.dumps(intent)),
            )
            intent["payment_method"] = None
            raise StripeFailure(402, body)
        if chosen.authenticate:
            intent["status"] = "requires_action"
            intent["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {}}
            self.state.record("setup_intent.requires_action", intent, call.request)
            return intent
        return self._succeeded(intent, call.request)

    def authenticate(self, call: Call, *, passed: bool) -> dict[str, Any]:
        """The backer's 3-D Secure verdict on an intent in `requires_action`:
        passed, the card is saved; failed, Stripe's
        `setup_intent_authentication_failure` and a new card is needed."""
        intent = self.retrieve(call)
        if intent["status"] != "requires_action":
            raise unexpected("setup_intent", intent, "authenticate")
        if passed:
            return self._succeeded(intent, call.request)
        intent["last_setup_error"] = authentication_failure("setup_intent", intent)
        intent.update(status="requires_payment_method", next_action=None, payment_method=None)
        self.state.record("setup_intent.setup_failed", intent, call.request)
        return intent

    def cancel(self, call: Call) -> dict[str, Any]:
        intent = self.retrieve(call)
        if intent["status"] not in OPEN:
            raise unexpected("setup_intent", intent, "cancel")
        intent["status"] = "canceled"
        intent["next_action"] = None
        intent["cancellation_reason"] = (
            call.params.get("cancellation_reason") or "requested_by_customer"
        )
        self.state.record("setup_intent.canceled", intent, call.request)
        return intent

    def _succeeded(self, intent: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
        intent["status"] = "succeeded"
        intent["next_action"] = None
        intent["latest_attempt"] = objects.new_id("setatt")
        self.state.record("setup_intent.succeeded", intent, request)
        return intent
