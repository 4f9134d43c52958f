"""PaymentIntents (create, retrieve, update, confirm, capture, cancel, list)
and the charges their confirmations make, as Stripe's test cards decide.
Confirming an intent in `requires_action` again stands in for the backer
passing 3-D Secure; `authenticate` is the verdict of the 3-D Secure test page
that the Stripe.js stand-in shows (`stripejs`). Amounts below Stripe's minimum for the currency, or for
the account's settlement currency after conversion, are refused (`money`).

An uncaptured hold (`requires_capture`) is cancelled 7 days after
authorisation, on the emulator's clock (`cancellation_reason: automatic`,
`charge.expired` and `payment_intent.canceled`): `expire_due`."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from typing import Any

from . import money, objects
from .cards import authentication_failure, card, card_error
from .errors import StripeFailure, invalid, unexpected
from .paging import page
from .params import flag, positive_int
from .state import Call, State

# Stripe cancels an uncaptured online card authorisation after 7 days.
HOLD_LIFETIME_SECONDS = 7 * 24 * 3600
OPEN = ("requires_payment_method", "requires_confirmation", "requires_action")


def _off_session(params: dict[str, Any]) -> bool:
    # `off_session` is a boolean or, for a PaymentIntent, "one_off"/"recurring".
    return str(params.get("off_session", "false")).lower() in ("true", "one_off", "recurring")


class PaymentIntents:
    """`account_currency` is the settlement currency whose minimum charge
    applies after conversion."""

    def __init__(self, state: State, account_currency: str) -> None:
        self.state = state
        self.account_currency = account_currency

    def retrieve(self, call: Call) -> dict[str, Any]:
        return self.state.get(self.state.payment_intents, "payment_intent", call.object_id)

    def list(self, call: Call) -> dict[str, Any]:
        rows = sorted(
            self.state.payment_intents.values(),
            key=lambda i: (i["created"], i["id"]),
            reverse=True,
        )
        if call.params.get("customer"):
            rows = [i for i in rows if i["customer"] == call.params["customer"]]
        return page(rows, call, "payment_intent")

    def create(self, call: Call) -> dict[str, Any]:
        params = call.params
        amount = positive_int(params, "amount") or 0
        money.check_amount(amount, params["currency"], self.account_currency)
        if params.get("customer"):
            self.state.get(self.state.customers, "customer", params["customer"])
        intent = objects.payment_intent(self.state.time(), params)
        if intent["payment_method"]:
            intent["status"] = "requires_confirmation"
        self.state.payment_intents[intent["id"]] = intent
        self.state.record("payment_intent.created", intent, call.request)
        if flag(params, "confirm"):
            confirm = {"off_session": params.get("off_session", "false")}
            return self.confirm(replace(call, params=confirm, object_id=intent["id"]))
        return intent

    def confirm(self, call: Call) -> dict[str, Any]:
        intent = self.retrieve(call)
        params = call.params
        if intent["status"] == "requires_action" and not params.get("payment_method"):
            return self._authorized(intent, call.request)  # the backer passed 3-D Secure
        if intent["status"] not in OPEN:
            raise unexpected("payment_intent", intent, "confirm")
        intent["payment_method"] = params.get("payment_method") or intent["payment_method"]
        chosen = card(intent["payment_method"])
        off_session = _off_session(params)
        intent["last_payment_error"] = None
        failure = chosen.charge_error or (
            "authentication_required" if chosen.authenticate and off_session else None
        )
        if failure:
            error = card_error(failure, chosen, intent["payment_method"])
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = error
            self.state.record("payment_intent.payment_failed", intent, call.request)
            body = objects.error(
                "card_error",
                error["message"],
                code=failure,
                decline_code=error.get("decline_code"),
                payment_intent=json.loads(json.dumps(intent)),
            )
            raise StripeFailure(402, body)
        if chosen.authenticate:
            intent["status"] = "requires_action"
            intent["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {}}
            self.state.record("payment_intent.requires_action", intent, call.request)
            return intent
        return self._authorized(intent, call.request)

    def authenticate(self, call: Call, *, passed: bool) -> dict[str, Any]:
        """The backer's 3-D Secure verdict on an intent in `requires_action`:
        passed, the payment goes through; failed, Stripe's
        `payment_intent_authentication_failure` and a new card is needed."""
        intent = self.retrieve(call)
        if intent["status"] != "requires_action":
            raise unexpected("payment_intent", intent, "authenticate")
        if passed:
            return self._authorized(intent, call.request)
        intent["last_payment_error"] = authentication_failure("payment_intent", intent)
        intent.update(status="requires_payment_method", next_action=None, payment_method=None)
        self.state.record("payment_intent.payment_failed", intent, call.request)
        return intent

    def _authorized(self, intent: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
        chosen = card(intent["payment_method"])
        intent["next_action"] = None
        manual = intent["capture_method"] == "manual"
        now = self.state.time()
        charge = objects.charge(now, intent, card=asdict(chosen), captured=not manual)
        self.state.charges[charge["id"]] = charge
        intent["latest_charge"] = charge["id"]
        if manual:
            intent["status"] = "requires_capture"
            intent["amount_capturable"] = intent["amount"]
            self.state.holds[intent["id"]] = self.state.time() + HOLD_LIFETIME_SECONDS
            self.state.record("payment_intent.amount_capturable_updated", intent, request)
            return intent
        intent["status"] = "succeeded"
        intent["amount_received"] = intent["amount"]
        self.state.record("charge.succeeded", charge, request)
        self.state.record("payment_intent.succeeded", intent, request)
        return intent

    def update(self, call: Call) -> dict[str, Any]:
        """Metadata (merged; an empty value removes a key), description,
        receipt_email, and before confirmation amount, currency and payment_method."""
        intent = self.retrieve(call)
        params = call.params
        for name in ("amount", "currency", "payment_method"):
            if name in params and intent["status"] not in OPEN:
                raise invalid(
                    f"This PaymentIntent's {name} could not be updated because it has a status "
                    f"of {intent['status']}. You may only update the {name} of a PaymentIntent "
                    f"with one of the following statuses: {', '.join(OPEN)}.",
                    code="payment_intent_unexpected_state",
                    param=name,
                )
        if "amount" in params or "currency" in params:
            amount = positive_int(params, "amount", required=False) or intent["amount"]
            currency = money.check_currency(params.get("currency") or intent["currency"])
            money.check_amount(amount, currency, self.account_currency)
            intent.update(amount=amount, currency=currency)
        if params.get("payment_method"):
            card(params["payment_method"])
            intent["payment_method"] = params["payment_method"]
            if intent["status"] == "requires_payment_method":
                intent["status"] = "requires_confirmation"
        if "receipt_email" in params:
            intent["receipt_email"] = params["receipt_email"] or None
        for key, value in (params.get("metadata") or {}).items():
            if value == "":
                intent["metadata"].pop(key, None)
            else:
                intent["metadata"][key] = value
        if "description" in params:
            intent["description"] = params["description"] or None
        return intent

    def capture(self, call: Call) -> dict[str, Any]:
        intent = self.retrieve(call)
        params = call.params
        if intent["status"] != "requires_capture":
            raise unexpected("payment_intent", intent, "capture")
        amount = (
            positive_int(params, "amount_to_capture", required=False) or intent["amount_capturable"]
        )
        if amount > intent["amount_capturable"]:
            raise invalid(
                "The amount to capture exceeds the amount capturable.", param="amount_to_capture"
            )
        if "amount_to_capture" in params:
            money.check_amount(
                amount, intent["currency"], self.account_currency, param="amount_to_capture"
            )
        self.state.holds.pop(intent["id"], None)
        charge = self.state.charges[intent["latest_charge"]]
        charge.update(
            captured=True, amount_captured=amount, balance_transaction=objects.new_id("txn")
        )
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        self.state.record("charge.captured", charge, call.request)
        self.state.record("payment_intent.succeeded", intent, call.request)
        return intent

    def cancel(self, call: Call) -> dict[str, Any]:
        intent = self.retrieve(call)
        if intent["status"] in ("succeeded", "canceled", "processing"):
            raise unexpected("payment_intent", intent, "cancel")
        intent.update(
            status="canceled",
            amount_capturable=0,
            next_action=None,
            canceled_at=self.state.time(),
            cancellation_reason=call.params.get("cancellation_reason") or "requested_by_customer",
        )
        self.state.holds.pop(intent["id"], None)
        self.state.record("payment_intent.canceled", intent, call.request)
        return intent

    def expire_due(self) -> int:
        """Cancels every hold whose 7 days since authorisation have passed on
        the emulator's clock (as Stripe does); returns how many it cancelled."""
        state = self.state
        now = state.time()
        request = {"id": None, "idempotency_key": None}  # Stripe's own doing
        due = [i for i, at in state.holds.items() if at <= now]
        for intent_id in due:
            del state.holds[intent_id]
            intent = state.payment_intents[intent_id]
            if intent["status"] != "requires_capture":
                continue
            charge = state.charges.get(intent["latest_charge"] or "")
            if charge is not None and not charge["captured"]:
                charge.update(refunded=True, amount_refunded=charge["amount"])
                state.record("charge.expired", charge, request)
            intent.update(
                status="canceled",
                amount_capturable=0,
                next_action=None,
                canceled_at=now,
                cancellation_reason="automatic",
            )
            state.record("payment_intent.canceled", intent, request)
        return len(due)
