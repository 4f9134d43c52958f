"""The Stripe objects the emulator returns, shaped like Stripe's API reference.

Each builder gives every field Stripe's own example object has
(../shared/stripe/fixtures3.json; a contract test compares them), with the
values a test-mode account would show. Fields the emulator has nothing to say
about are null, as Stripe sends them for an account that does not use them.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

_ALPHABET = string.ascii_letters + string.digits


def _random_chars(length: int) -> str:
    """`length` characters of _ALPHABET, uniformly at random, from one draw
    (a `secrets.choice` per character reads the OS's random source each time:
    thousands of system calls a second under a flash crowd)."""
    value = secrets.randbelow(len(_ALPHABET) ** length)
    chars = []
    for _ in range(length):
        value, digit = divmod(value, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_{_random_chars(length)}"


def _secret(intent_id: str) -> str:
    return f"{intent_id}_secret_{_random_chars(25)}"


def _address() -> dict[str, None]:
    return dict.fromkeys(("city", "country", "line1", "line2", "postal_code", "state"))


def customer(now: int, params: dict[str, Any]) -> dict[str, Any]:
    cid = new_id("cus", 14)
    return {
        "id": cid,
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": now,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": params.get("description"),
        "discount": None,
        "email": params.get("email"),
        "invoice_prefix": cid[4:12].upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": dict(params.get("metadata") or {}),
        "name": params.get("name"),
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def _automatic_payment_methods(params: dict[str, Any]) -> dict[str, Any] | None:
    """Dynamic payment methods are on unless the request chose its types."""
    if params.get("allowed_payment_method_types"):
        return None
    chosen = params.get("automatic_payment_methods")
    if isinstance(chosen, dict):
        return {"enabled": str(chosen.get("enabled", "true")).lower() == "true"}
    return {"enabled": True}


def _intent_common(now: int, params: dict[str, Any], intent_id: str) -> dict[str, Any]:
    return {
        "id": intent_id,
        "application": None,
        "automatic_payment_methods": _automatic_payment_methods(params),
        "cancellation_reason": None,
        "client_secret": _secret(intent_id),
        "created": now,
        "customer": params.get("customer"),
        "description": params.get("description"),
        "excluded_payment_method_types": list(params.get("excluded_payment_method_types") or [])
        or None,
        "livemode": False,
        "metadata": dict(params.get("metadata") or {}),
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": params.get("payment_method"),
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        # Read-only since 2026-09-30.endive: the types this intent can use. The
        # emulator's only payment method type is the card.
        "payment_method_types": ["card"],
    }


def setup_intent(now: int, params: dict[str, Any]) -> dict[str, Any]:
    return {
        **_intent_common(now, params, new_id("seti")),
        "object": "setup_intent",
        "flow_directions": None,
        "last_setup_error": None,
        "latest_attempt": None,
        "mandate": None,
        "single_use_mandate": None,
        "status": "requires_payment_method",
        "usage": params.get("usage") or "off_session",
    }


def payment_intent(now: int, params: dict[str, Any]) -> dict[str, Any]:
    return {
        **_intent_common(now, params, new_id("pi")),
        "object": "payment_intent",
        "amount": int(params["amount"]),
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application_fee_amount": None,
        "canceled_at": None,
        "capture_method": params.get("capture_method") or "automatic_async",
        "confirmation_method": params.get("confirmation_method") or "automatic",
        "currency": str(params["currency"]).lower(),
        "customer_account": None,
        "last_payment_error": None,
        "latest_charge": None,
        "managed_payments": None,
        "processing": None,
        "receipt_email": params.get("receipt_email"),
        "review": None,
        "setup_future_usage": params.get("setup_future_usage"),
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }


def charge(
    now: int, intent: dict[str, Any], *, card: dict[str, Any], captured: bool
) -> dict[str, Any]:
    cid = new_id("ch")
    return {
        "id": cid,
        "object": "charge",
        "amount": intent["amount"],
        "amount_captured": intent["amount"] if captured else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": new_id("txn") if captured else None,
        "billing_details": {
            "address": _address(),
            "email": None,
            "name": None,
            "phone": None,
            "tax_id": None,
        },
        "calculated_statement_descriptor": "CASHMOB",
        "captured": captured,
        "created": now,
        "currency": intent["currency"],
        "customer": intent["customer"],
        "description": intent["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(intent["metadata"]),  # Stripe copies the intent's metadata
        "on_behalf_of": None,
        "outcome": {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        "paid": True,
        "payment_intent": intent["id"],
        "payment_method": intent["payment_method"],
        "payment_method_details": {
            "card": {
                "brand": card["brand"],
                "country": "US",
                "exp_month": 12,
                "exp_year": 2034,
                "funding": "credit",
                "last4": card["last4"],
                "network": card["brand"],
            },
            "type": "card",
        },
        "receipt_email": intent["receipt_email"],
        "receipt_number": None,
        "receipt_url": f"https://pay.stripe.com/receipts/payment/{cid}",
        "refunded": False,
        "refunds": {
            "data": [],
            "has_more": False,
            "object": "list",
            "url": f"/v1/charges/{cid}/refunds",
        },
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded",
        "transfer_data": None,
        "transfer_group": None,
    }


def refund(
    now: int, charge_: dict[str, Any], amount: int, params: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": new_id("re"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": new_id("txn"),
        "charge": charge_["id"],
        "created": now,
        "currency": charge_["currency"],
        "customer": charge_["customer"],
        "customer_account": None,
        "destination_details": {"card": {"type": "refund"}, "type": "card"},
        "metadata": dict(params.get("metadata") or {}),
        "payment_intent": charge_["payment_intent"],
        "payment_method": charge_["payment_method"],
        "reason": params.get("reason"),
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }


def event(
    now: int, event_type: str, obj: dict[str, Any], *, api_version: str, request: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": new_id("evt"),
        "object": "event",
        "api_version": api_version,
        "created": now,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": request,
        "type": event_type,
    }


def list_object(url: str, data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def error(
    error_type: str,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    decline_code: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"type": error_type, "message": message}
    if code:
        body["code"] = code
        body["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    if param:
        body["param"] = param
    if decline_code:
        body["decline_code"] = decline_code
    body.update(extra)
    return {"error": body}
