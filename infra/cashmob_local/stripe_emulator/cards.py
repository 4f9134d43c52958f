"""Stripe's test PaymentMethod ids and what confirming with each one does:
saved or declined when set up, charged, declined or sent through 3-D Secure
when paid."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import objects
from .errors import StripeFailure, invalid


@dataclass(frozen=True)
class Card:
    brand: str
    last4: str
    setup_error: str | None = None  # code when saving the card fails
    charge_error: str | None = None  # code when any charge fails
    decline_code: str | None = None
    authenticate: bool = False  # on-session: 3-D Secure; off-session: authentication_required


CARDS = {
    "pm_card_visa": Card("visa", "4242"),
    "pm_card_mastercard": Card("mastercard", "4444"),
    "pm_card_chargeDeclined": Card(
        "visa", "0002", "card_declined", "card_declined", "generic_decline"
    ),
    "pm_card_chargeDeclinedInsufficientFunds": Card(
        "visa", "9995", "card_declined", "card_declined", "insufficient_funds"
    ),
    "pm_card_chargeCustomerFail": Card("visa", "0341", None, "card_declined", "generic_decline"),
    "pm_card_authenticationRequired": Card("visa", "3184", authenticate=True),
}


def card(payment_method: str | None) -> Card:
    """The test card of a PaymentMethod id, or Stripe's refusal to confirm without one."""
    if not payment_method:
        raise invalid(
            "You cannot confirm this intent because it's missing a payment method.",
            code="payment_intent_unexpected_state",
        )
    found = CARDS.get(payment_method)
    if found is None:
        raise StripeFailure(
            400,
            objects.error(
                "invalid_request_error",
                f"No such PaymentMethod: '{payment_method}'",
                code="resource_missing",
                param="payment_method",
            ),
        )
    return found


def card_error(code: str, card: Card, payment_method: str) -> dict[str, Any]:
    """The `last_setup_error` / `last_payment_error` of a declined intent."""
    messages = {
        "card_declined": "Your card was declined.",
        "authentication_required": "Your card was declined. This transaction requires authentication.",
    }
    error = {
        "type": "card_error",
        "code": code,
        "message": messages.get(code, "Your card was declined."),
        "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
        "payment_method": {"id": payment_method, "object": "payment_method", "type": "card"},
    }
    if code == "card_declined":
        error["decline_code"] = card.decline_code or "generic_decline"
    if code == "authentication_required":
        error["decline_code"] = "authentication_required"
    return error


def authentication_failure(kind: str, intent: dict[str, Any]) -> dict[str, Any]:
    """The `last_setup_error` / `last_payment_error` when the backer fails 3-D
    Secure (`kind`: "setup_intent" or "payment_intent")."""
    code = f"{kind}_authentication_failure"
    return {
        "type": "invalid_request_error",
        "code": code,
        "message": "We are unable to authenticate your payment method. Please choose a "
        "different payment method and try again.",
        "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
        "payment_method": {
            "id": intent["payment_method"],
            "object": "payment_method",
            "type": "card",
        },
    }
