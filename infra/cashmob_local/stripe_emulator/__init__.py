"""A stateful Stripe for one machine: the subset of the API cashmob uses,
which the official stripe-python client talks to unchanged.

Customers (create, retrieve); SetupIntents (create, retrieve, confirm,
cancel) — `customers`; PaymentIntents (create, retrieve, update, confirm,
capture, cancel, list) — `payment_intents`; Refunds (create, retrieve, list),
Charges (retrieve), Events (retrieve, list) — `refunds`; Connect: Express
Accounts (create, retrieve), Account Links, Transfers (create, retrieve,
list) and their reversals, `account.updated` when onboarding completes
(`complete_onboarding`, `POST /_emulator/accounts/{id}/complete_onboarding`)
— `connect`. Stripe's test
PaymentMethod ids decide what a confirmation does (`cards`). Every state
change records the event Stripe would emit (`state`) and delivers it, signed
like Stripe, to `forward_to`, with retries and backoff when the receiver
fails (`webhooks`). Confirming an intent in `requires_action` again stands in
for the backer passing 3-D Secure.

Strict like Stripe on one API version, API_VERSION (the one stripe-python
pins, `stripe.api_version`): a request without that `Stripe-Version` header,
or with another, is refused (400; `http`); every request's parameters are
checked against stripe-python's generated parameter types for its endpoint
(`schema`, `params`: unknown → `parameter_unknown`, missing →
`parameter_missing`, `payment_method_types` →
`payment_method_types_no_longer_supported`, ...); amounts below Stripe's
minimum for the currency, or below the minimum of the account's settlement
currency (`account_currency`, default gbp) after conversion by a fixed rate
table, are `amount_too_small` (`money`). Refusals made before execution are
never stored under the Idempotency-Key.

On its clock (`now`, Unix seconds; the local stack passes its movable clock):
`Idempotency-Key` replays the first executed answer (a reused key with other
parameters is an `idempotency_error`) for 24 h after the key's first use,
then the key is forgotten (`idempotency`); an uncaptured hold
(`requires_capture`) is cancelled 7 days after authorisation
(`cancellation_reason: automatic`, `charge.expired` and
`payment_intent.canceled`). That expiry is evaluated on every API request and
by `expire_due()`, which the local stack's tick calls.

Fault knobs, random (constructor `faults=`, or `POST /_emulator/faults` as
JSON): `latency_ms`; `rate_limit` (requests per second per endpoint, answered
with Stripe's 429); `share_429` and `share_500` (a share of API calls fails
before executing: nothing stored under the key); `share_500_executed` (a share
executes fully, then answers 500 `api_error`, stored under its key so replays
answer the same 500, as Stripe does); `webhook_duplicate` (share delivered
twice); `webhook_delay_ms` (random delay up to this, which also reorders).

Forced failures, exact (for tests): `fail_next(mode, path_regex="",
method=None, count=1)` or `POST /_emulator/fail_next` with JSON `{"mode":
"429"|"500"|"500_executed", "path_regex": "^/v1/payment_intents$", "method":
"POST", "count": 1}` fails the next `count` API requests whose method and path
match, in that mode (same semantics as the shares above; see `faults`).
`GET /_emulator/fail_next` lists the rules left; `DELETE` clears them.

Control paths (`control`): `GET /_emulator/requests` (the request log
summed: `total`, `by_status`, `endpoints`, `versions` — Stripe-Version sent →
count — `refused` — 400 `invalid_request_error` answers — and
`refused_by_code`), `POST /_emulator/reset-log`, `GET /_emulator/charges`,
`GET|POST /_emulator/webhooks`, `POST /_emulator/expire` (runs `expire_due()`).

Stripe.js (`stripejs`, `http`): `GET /v3/` serves a stand-in for Stripe.js
(the Payment Element's card field is a choice of the test cards; 3-D Secure
shows a test page whose verdict is `POST /v3/authenticate`); the publishable
key (`publishable_key`, default pk_test_local) may retrieve and confirm one
SetupIntent or PaymentIntent with that intent's `client_secret`, and nothing
else, and sees the fields Stripe shows a publishable key. Every answer allows
any origin (CORS), as api.stripe.com's do.

`serve` runs it alone (`cashmob stripe-emulator`); `StripeEmulator` is also a
WSGI app to mount anywhere (the local stack, tests).
"""

from __future__ import annotations

from .cards import CARDS
from .emulator import StripeEmulator
from .errors import StripeFailure
from .faults import Faults
from .params import decode_form
from .serve import serve
from .settings import API_VERSION, PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET

__all__ = [
    "API_VERSION",
    "CARDS",
    "PUBLISHABLE_KEY",
    "SECRET_KEY",
    "WEBHOOK_SECRET",
    "Faults",
    "StripeEmulator",
    "StripeFailure",
    "decode_form",
    "serve",
]
