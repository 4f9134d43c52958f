"""A stand-in for Stripe.js v3, served by the emulator for pages run against
it (the local stack's `/app/`), so that a page written for the real Stripe.js
runs unchanged on this machine, with no network.

It offers the calls of the real Stripe.js that such a page makes —
`Stripe(publishableKey)`, `stripe.elements({clientSecret})`,
`elements.create("payment")`, `element.mount(...)`, `element.on(...)`,
`stripe.confirmSetup` / `stripe.confirmPayment` (with `redirect:
"if_required"`, or redirecting to `confirmParams.return_url`),
`stripe.retrieveSetupIntent` / `stripe.retrievePaymentIntent` — and talks to
this emulator's API as Stripe.js talks to Stripe's: with the publishable key
and the intent's client secret (`http`: CLIENT_ROUTES). The card field of its
Payment Element is a choice of Stripe's test cards (`cards.CARDS`); when the
card asks for 3-D Secure it shows a test page with a pass and a fail button.

- `GET /v3/` → the script (`stripejs.js` beside this module, with the test
  cards written in).
- `POST /v3/authenticate` (form: `key`, `client_secret`, `outcome` =
  `complete` | `fail`) → the 3-D Secure test page's verdict on an intent in
  `requires_action` (what Stripe's hosted challenge page reports to Stripe):
  the intent as a publishable key sees it; failed, it is back in
  `requires_payment_method` with Stripe's `*_authentication_failure` error.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from . import objects
from .cards import CARDS, Card

if TYPE_CHECKING:
    from .emulator import StripeEmulator

PREFLIGHT = {
    "Access-Control-Allow-Methods": "GET, POST, DELETE",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Idempotency-Key, Stripe-Version",
    "Access-Control-Max-Age": "600",
}
_NO_STORE = {"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"}


def _outcome(card: Card) -> str:
    if card.setup_error:
        return "declined"
    if card.charge_error:
        return "saved, but declined when charged later"
    if card.authenticate:
        return "asks for 3-D Secure"
    return "succeeds"


def card_choices() -> list[dict[str, str]]:
    """The Payment Element's choices: each test PaymentMethod and what it does."""
    return [
        {
            "id": pm,
            "label": f"{card.brand.title()} ending {card.last4} — {_outcome(card)}",
        }
        for pm, card in CARDS.items()
    ]


def script() -> str:
    source = resources.files(__package__).joinpath("stripejs.js").read_text(encoding="utf-8")
    return source.replace("__CARDS__", json.dumps(card_choices(), ensure_ascii=False))


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status, mimetype="application/json", headers=_NO_STORE)


def respond(emulator: StripeEmulator, request: Request) -> Response:
    """`/v3/` and `/v3/authenticate`."""
    if request.path in ("/v3", "/v3/") and request.method in ("GET", "HEAD"):
        return Response(script(), mimetype="text/javascript", headers=_NO_STORE)
    if request.path == "/v3/authenticate" and request.method == "POST":
        form = request.form
        if form.get("key") != emulator.publishable_key:
            error = objects.error("invalid_request_error", "Invalid API Key provided.")
            return _json(error, 401)
        outcome = form.get("outcome")
        if outcome not in ("complete", "fail") or not form.get("client_secret"):
            error = objects.error(
                "invalid_request_error",
                "Send client_secret and outcome (complete or fail).",
                code="parameter_missing",
            )
            return _json(error, 400)
        status, body = emulator.authenticate(form["client_secret"], passed=outcome == "complete")
        return _json(body, status)
    if request.method == "OPTIONS":
        return Response(status=204, headers={**_NO_STORE, **PREFLIGHT})
    return _json(objects.error("invalid_request_error", f"No such file: {request.path}"), 404)
