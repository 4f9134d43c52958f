"""A stateful Stripe for one machine: the subset of the API cashmob uses,
which the official stripe-python client talks to unchanged.

Customers; SetupIntents (create, retrieve, confirm, cancel); PaymentIntents
(create, retrieve, confirm, capture, cancel, list); Refunds (create); Events
(retrieve, list). Stripe's test PaymentMethod ids decide what a confirmation
does. `Idempotency-Key` replays the first response; the same key with other
parameters is an `idempotency_error`. Every state change records the event
Stripe would emit and delivers it, signed like Stripe, to `forward_to`, with
retries and backoff when the receiver fails.

Confirming an intent that is in `requires_action` again stands in for the
backer passing 3-D Secure in Stripe.js: it completes the authentication.

Fault knobs (constructor, or `POST /_emulator/faults` as JSON): `latency_ms`,
`rate_limit` (requests per second per endpoint, answered with Stripe's 429),
`share_429` and `share_500` (a random share of API calls fails before it
executes, so nothing is stored under its idempotency key, like Stripe),
`webhook_duplicate` (share delivered twice), `webhook_delay_ms` (a random
delay up to this, which also reorders deliveries). `GET /_emulator/requests`
returns the request log.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import json
import random
import re
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from . import stripe_objects as objects

API_VERSION = "2026-10-28.endive"
# The local stack's published test keys (API.md), not secrets.
SECRET_KEY = "sk_test_local"  # noqa: S105
PUBLISHABLE_KEY = "pk_test_local"
WEBHOOK_SECRET = "whsec_local"  # noqa: S105


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


@dataclass
class Faults:
    latency_ms: float = 0.0
    rate_limit: float | None = None
    share_429: float = 0.0
    share_500: float = 0.0
    webhook_duplicate: float = 0.0
    webhook_delay_ms: float = 0.0

    def update(self, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            if name not in self.__dataclass_fields__:
                raise ValueError(f"unknown fault knob {name!r}")
            setattr(self, name, None if value is None else float(value))


class StripeFailure(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body["error"]["message"])
        self.status = status
        self.body = body


def _invalid(message: str, *, code: str | None = None, param: str | None = None) -> StripeFailure:
    return StripeFailure(
        400, objects.error("invalid_request_error", message, code=code, param=param)
    )


def _missing(kind: str, object_id: str) -> StripeFailure:
    return StripeFailure(
        404,
        objects.error(
            "invalid_request_error",
            f"No such {kind}: '{object_id}'",
            code="resource_missing",
            param="id" if kind != "customer" else "customer",
        ),
    )


def _unexpected(kind: str, obj: dict[str, Any], action: str) -> StripeFailure:
    return _invalid(
        f"You cannot {action} this {kind.replace('_', ' ')} because it has a status of "
        f"{obj['status']}.",
        code=f"{kind}_unexpected_state",
    )


# ---------------------------------------------------------------- form decoding


def decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`a[b][0]=x` pairs (how stripe-python encodes params) into nested values."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+|\[\]", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    node = {k: _lists(v) for k, v in node.items()}
    if node and all(k.isdigit() for k in node):
        return [node[k] for k in sorted(node, key=int)]
    return node


def _flag(params: dict[str, Any], name: str) -> bool:
    return str(params.get(name, "false")).lower() == "true"


def _amount(params: dict[str, Any], name: str = "amount", required: bool = True) -> int | None:
    value = params.get(name)
    if value is None:
        if required:
            raise _invalid(f"Missing required param: {name}.", code="parameter_missing", param=name)
        return None
    try:
        amount = int(value)
    except (TypeError, ValueError):
        raise _invalid(
            f"Invalid integer: {value}", code="parameter_invalid_integer", param=name
        ) from None
    if amount < 1:
        raise _invalid(
            "This value must be greater than or equal to 1.",
            code="parameter_invalid_integer",
            param=name,
        )
    return amount


# ---------------------------------------------------------------- the state


@dataclass
class Delivery:
    due: float
    seq: int
    event: dict[str, Any] = field(compare=False)
    attempt: int = field(default=0, compare=False)

    def __lt__(self, other: Delivery) -> bool:
        return (self.due, self.seq) < (other.due, other.seq)


class StripeEmulator:
    """The emulator's state and its WSGI app. `now` gives Unix seconds (the
    local stack passes its movable clock)."""

    def __init__(
        self,
        *,
        now: Callable[[], float] = time.time,
        secret_key: str = SECRET_KEY,
        webhook_secret: str = WEBHOOK_SECRET,
        forward_to: str | None = None,
        faults: Faults | None = None,
        seed: int | None = None,
        delivery_workers: int = 4,
        max_delivery_attempts: int = 12,
    ) -> None:
        self.now = now
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        if forward_to and not forward_to.startswith(("http://", "https://")):
            raise ValueError("forward_to must be an http(s) URL")
        self.forward_to = forward_to
        self.faults = faults or Faults()
        self.random = random.Random(seed)
        self.max_delivery_attempts = max_delivery_attempts
        self._lock = threading.RLock()
        self.customers: dict[str, dict[str, Any]] = {}
        self.setup_intents: dict[str, dict[str, Any]] = {}
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._events_by_id: dict[str, dict[str, Any]] = {}
        self._idempotent: dict[str, tuple[str, int, str]] = {}
        self.request_log: list[dict[str, Any]] = []
        self._windows: dict[str, list[float]] = defaultdict(list)
        # Webhook delivery: a time-ordered heap served by a few worker threads.
        self._outbox: list[Delivery] = []
        self._outbox_ready = threading.Condition()
        self._seq = 0
        self._in_flight = 0
        self.delivered: Counter[str] = Counter()  # event id -> successful deliveries
        self.failed_deliveries = 0
        self._stopping = False
        self._workers = [
            threading.Thread(target=self._deliver_forever, daemon=True, name=f"stripe-webhooks-{i}")
            for i in range(delivery_workers)
        ]
        for worker in self._workers:
            worker.start()

    def _now(self) -> int:
        return int(self.now())

    # ------------------------------------------------------------ events

    def _emit(self, event_type: str, obj: dict[str, Any], request: dict[str, Any]) -> None:
        event = objects.event(
            self._now(),
            event_type,
            json.loads(json.dumps(obj)),  # a snapshot, as Stripe sends it
            api_version=API_VERSION,
            request=request,
        )
        self.events.append(event)
        self._events_by_id[event["id"]] = event
        if self.forward_to:
            copies = 2 if self.random.random() < self.faults.webhook_duplicate else 1
            for _ in range(copies):
                self._schedule(
                    event, delay=self.random.uniform(0, self.faults.webhook_delay_ms) / 1000
                )

    def _schedule(self, event: dict[str, Any], *, delay: float, attempt: int = 0) -> None:
        with self._outbox_ready:
            self._seq += 1
            heapq.heappush(
                self._outbox, Delivery(time.monotonic() + delay, self._seq, event, attempt)
            )
            self._outbox_ready.notify()

    def signature_header(self, payload: str, timestamp: int | None = None) -> str:
        timestamp = self._now() if timestamp is None else timestamp
        signed = f"{timestamp}.{payload}".encode()
        digest = hmac.new(self.webhook_secret.encode(), signed, hashlib.sha256).hexdigest()
        return f"t={timestamp},v1={digest}"

    def _deliver_forever(self) -> None:
        while True:
            with self._outbox_ready:
                while not self._stopping and (
                    not self._outbox or self._outbox[0].due > time.monotonic()
                ):
                    timeout = self._outbox[0].due - time.monotonic() if self._outbox else None
                    self._outbox_ready.wait(timeout)
                if self._stopping:
                    return
                delivery = heapq.heappop(self._outbox)
                self._in_flight += 1
            try:
                self._deliver(delivery)
            finally:
                with self._outbox_ready:
                    self._in_flight -= 1
                    self._outbox_ready.notify_all()

    def _deliver(self, delivery: Delivery) -> None:
        payload = json.dumps(delivery.event)
        # forward_to is checked to be http(s) when the emulator is built.
        request = urllib.request.Request(  # noqa: S310
            self.forward_to or "",
            data=payload.encode(),
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": self.signature_header(payload),
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                ok = 200 <= response.status < 300
        except (urllib.error.URLError, OSError):
            ok = False
        if ok:
            with self._lock:
                self.delivered[delivery.event["id"]] += 1
            return
        attempt = delivery.attempt + 1
        if attempt >= self.max_delivery_attempts:
            with self._lock:
                self.failed_deliveries += 1
            return
        # Stripe backs off over three days; locally the same curve in seconds.
        self._schedule(delivery.event, delay=min(2.0**attempt * 0.25, 30.0), attempt=attempt)

    def wait_for_deliveries(self, timeout: float = 30.0) -> bool:
        """Blocks until no webhook is waiting or in flight (tests, the demo)."""
        deadline = time.monotonic() + timeout
        with self._outbox_ready:
            while self._outbox or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._outbox_ready.wait(min(remaining, 0.1))
        return True

    def stop(self) -> None:
        with self._outbox_ready:
            self._stopping = True
            self._outbox_ready.notify_all()

    # ------------------------------------------------------------ lookups

    def _get(self, table: dict[str, dict[str, Any]], kind: str, object_id: str) -> dict[str, Any]:
        obj = table.get(object_id)
        if obj is None:
            raise _missing(kind, object_id)
        return obj

    def _card(self, payment_method: str | None) -> Card:
        if not payment_method:
            raise _invalid(
                "You cannot confirm this intent because it's missing a payment method.",
                code="payment_intent_unexpected_state",
            )
        card = CARDS.get(payment_method)
        if card is None:
            raise StripeFailure(
                400,
                objects.error(
                    "invalid_request_error",
                    f"No such PaymentMethod: '{payment_method}'",
                    code="resource_missing",
                    param="payment_method",
                ),
            )
        return card

    # ------------------------------------------------------------ customers

    def create_customer(self, params: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
        customer = objects.customer(self._now(), params)
        self.customers[customer["id"]] = customer
        self._emit("customer.created", customer, req)
        return customer

    # ------------------------------------------------------------ setup intents

    def create_setup_intent(self, params: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
        if params.get("customer"):
            self._get(self.customers, "customer", params["customer"])
        intent = objects.setup_intent(self._now(), params)
        if intent["payment_method"]:
            intent["status"] = "requires_confirmation"
        self.setup_intents[intent["id"]] = intent
        self._emit("setup_intent.created", intent, req)
        if _flag(params, "confirm"):
            return self.confirm_setup_intent(intent["id"], {}, req)
        return intent

    def confirm_setup_intent(
        self, intent_id: str, params: dict[str, Any], req: dict[str, Any]
    ) -> dict[str, Any]:
        intent = self._get(self.setup_intents, "setup_intent", intent_id)
        if intent["status"] == "requires_action" and not params.get("payment_method"):
            return self._setup_succeeded(intent, req)  # the backer passed 3-D Secure
        if intent["status"] not in (
            "requires_payment_method",
            "requires_confirmation",
            "requires_action",
        ):
            raise _unexpected("setup_intent", intent, "confirm")
        intent["payment_method"] = params.get("payment_method") or intent["payment_method"]
        card = self._card(intent["payment_method"])
        intent["last_setup_error"] = None
        if card.setup_error:
            intent["status"] = "requires_payment_method"
            intent["last_setup_error"] = self._card_error(
                card.setup_error, card, intent["payment_method"]
            )
            self._emit("setup_intent.setup_failed", intent, req)
            body = objects.error(
                "card_error",
                intent["last_setup_error"]["message"],
                code=card.setup_error,
                decline_code=card.decline_code,
                setup_intent=json.loads(json.dumps(intent)),
            )
            intent["payment_method"] = None
            raise StripeFailure(402, body)
        if card.authenticate:
            intent["status"] = "requires_action"
            intent["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {}}
            self._emit("setup_intent.requires_action", intent, req)
            return intent
        return self._setup_succeeded(intent, req)

    def _setup_succeeded(self, intent: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
        intent["status"] = "succeeded"
        intent["next_action"] = None
        intent["latest_attempt"] = objects.new_id("setatt")
        self._emit("setup_intent.succeeded", intent, req)
        return intent

    def cancel_setup_intent(
        self, intent_id: str, params: dict[str, Any], req: dict[str, Any]
    ) -> dict[str, Any]:
        intent = self._get(self.setup_intents, "setup_intent", intent_id)
        if intent["status"] not in (
            "requires_payment_method",
            "requires_confirmation",
            "requires_action",
        ):
            raise _unexpected("setup_intent", intent, "cancel")
        intent["status"] = "canceled"
        intent["next_action"] = None
        intent["cancellation_reason"] = params.get("cancellation_reason") or "requested_by_customer"
        self._emit("setup_intent.canceled", intent, req)
        return intent

    # ------------------------------------------------------------ payment intents

    def create_payment_intent(self, params: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
        _amount(params)
        if not params.get("currency"):
            raise _invalid(
                "Missing required param: currency.", code="parameter_missing", param="currency"
            )
        if params.get("customer"):
            self._get(self.customers, "customer", params["customer"])
        intent = objects.payment_intent(self._now(), params)
        if intent["payment_method"]:
            intent["status"] = "requires_confirmation"
        self.payment_intents[intent["id"]] = intent
        self._emit("payment_intent.created", intent, req)
        if _flag(params, "confirm"):
            return self.confirm_payment_intent(
                intent["id"], {"off_session": params.get("off_session", "false")}, req
            )
        return intent

    def confirm_payment_intent(
        self, intent_id: str, params: dict[str, Any], req: dict[str, Any]
    ) -> dict[str, Any]:
        intent = self._get(self.payment_intents, "payment_intent", intent_id)
        if intent["status"] == "requires_action" and not params.get("payment_method"):
            return self._authorized(intent, req)  # the backer passed 3-D Secure
        if intent["status"] not in (
            "requires_payment_method",
            "requires_confirmation",
            "requires_action",
        ):
            raise _unexpected("payment_intent", intent, "confirm")
        intent["payment_method"] = params.get("payment_method") or intent["payment_method"]
        card = self._card(intent["payment_method"])
        off_session = _flag(params, "off_session")
        intent["last_payment_error"] = None
        failure = card.charge_error or (
            "authentication_required" if card.authenticate and off_session else None
        )
        if failure:
            error = self._card_error(failure, card, intent["payment_method"])
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = error
            self._emit("payment_intent.payment_failed", intent, req)
            body = objects.error(
                "card_error",
                error["message"],
                code=failure,
                decline_code=error.get("decline_code"),
                payment_intent=json.loads(json.dumps(intent)),
            )
            raise StripeFailure(402, body)
        if card.authenticate:
            intent["status"] = "requires_action"
            intent["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {}}
            self._emit("payment_intent.requires_action", intent, req)
            return intent
        return self._authorized(intent, req)

    def _authorized(self, intent: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
        card = self._card(intent["payment_method"])
        intent["next_action"] = None
        manual = intent["capture_method"] == "manual"
        charge = objects.charge(self._now(), intent, card=asdict(card), captured=not manual)
        self.charges[charge["id"]] = charge
        intent["latest_charge"] = charge["id"]
        if manual:
            intent["status"] = "requires_capture"
            intent["amount_capturable"] = intent["amount"]
            self._emit("payment_intent.amount_capturable_updated", intent, req)
            return intent
        intent["status"] = "succeeded"
        intent["amount_received"] = intent["amount"]
        self._emit("charge.succeeded", charge, req)
        self._emit("payment_intent.succeeded", intent, req)
        return intent

    def update_payment_intent(
        self, intent_id: str, params: dict[str, Any], req: dict[str, Any]
    ) -> dict[str, Any]:
        """Metadata (merged; an empty value removes a key) and description."""
        intent = self._get(self.payment_intents, "payment_intent", intent_id)
        for key, value in (params.get("metadata") or {}).items():
            if value == "":
                intent["metadata"].pop(key, None)
            else:
                intent["metadata"][key] = value
        if "description" in params:
            intent["description"] = params["description"] or None
        return intent

    def capture_payment_intent(
        self, intent_id: str, params: dict[str, Any], req: dict[str, Any]
    ) -> dict[str, Any]:
        intent = self._get(self.payment_intents, "payment_intent", intent_id)
        if intent["status"] != "requires_capture":
            raise _unexpected("payment_intent", intent, "capture")
        amount = _amount(params, "amount_to_capture", required=False) or intent["amount_capturable"]
        if amount > intent["amount_capturable"]:
            raise _invalid(
                "The amount to capture exceeds the amount capturable.", param="amount_to_capture"
            )
        charge = self.charges[intent["latest_charge"]]
        charge.update(
            captured=True, amount_captured=amount, balance_transaction=objects.new_id("txn")
        )
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        self._emit("charge.captured", charge, req)
        self._emit("payment_intent.succeeded", intent, req)
        return intent

    def cancel_payment_intent(
        self, intent_id: str, params: dict[str, Any], req: dict[str, Any]
    ) -> dict[str, Any]:
        intent = self._get(self.payment_intents, "payment_intent", intent_id)
        if intent["status"] in ("succeeded", "canceled", "processing"):
            raise _unexpected("payment_intent", intent, "cancel")
        intent.update(
            status="canceled",
            amount_capturable=0,
            next_action=None,
            canceled_at=self._now(),
            cancellation_reason=params.get("cancellation_reason") or "requested_by_customer",
        )
        self._emit("payment_intent.canceled", intent, req)
        return intent

    def list_payment_intents(self, params: dict[str, Any], url: str) -> dict[str, Any]:
        limit = _amount(params, "limit", required=False) or 10
        if limit > 100:
            raise _invalid("This value must be less than or equal to 100.", param="limit")
        rows = sorted(
            self.payment_intents.values(), key=lambda i: (i["created"], i["id"]), reverse=True
        )
        if params.get("customer"):
            rows = [i for i in rows if i["customer"] == params["customer"]]
        return self._page(rows, params, limit, url, "payment_intent")

    def _page(
        self, rows: list[dict[str, Any]], params: dict[str, Any], limit: int, url: str, kind: str
    ) -> dict[str, Any]:
        after = params.get("starting_after")
        if after:
            ids = [row["id"] for row in rows]
            if after not in ids:
                raise _missing(kind, after)
            rows = rows[ids.index(after) + 1 :]
        return objects.list_object(url, rows[:limit], len(rows) > limit)

    # ------------------------------------------------------------ refunds

    def create_refund(self, params: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
        if params.get("payment_intent"):
            intent = self._get(self.payment_intents, "payment_intent", params["payment_intent"])
            charge_id = intent["latest_charge"] if intent["status"] == "succeeded" else None
            if charge_id is None:
                raise _invalid(
                    f"PaymentIntent {intent['id']} does not have a successful charge to refund.",
                    code="charge_not_refundable",
                )
        elif params.get("charge"):
            charge_id = params["charge"]
        else:
            raise _invalid(
                "One of the following params should be provided for this request: payment_intent or charge.",
                code="parameter_missing",
            )
        charge = self._get(self.charges, "charge", charge_id)
        remaining = charge["amount_captured"] - charge["amount_refunded"]
        amount = _amount(params, required=False) or remaining
        if not charge["captured"] or remaining <= 0 or amount > remaining:
            raise _invalid(
                f"Charge {charge_id} has already been refunded.", code="charge_already_refunded"
            )
        refund = objects.refund(self._now(), charge, amount, params)
        self.refunds[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
        charge["refunds"]["data"].insert(0, refund)
        self._emit("refund.created", refund, req)
        self._emit("charge.refunded", charge, req)
        return refund

    # ------------------------------------------------------------ events API

    def list_events(self, params: dict[str, Any], url: str) -> dict[str, Any]:
        limit = _amount(params, "limit", required=False) or 10
        rows = list(reversed(self.events))
        if params.get("type"):
            rows = [e for e in rows if e["type"] == params["type"]]
        return self._page(rows, params, min(limit, 100), url, "event")

    # ------------------------------------------------------------ helpers

    @staticmethod
    def _card_error(code: str, card: Card, payment_method: str) -> dict[str, Any]:
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

    # ------------------------------------------------------------ HTTP

    ROUTES: list[tuple[str, re.Pattern[str], str]] = [
        (m, re.compile(p), name)
        for m, p, name in [
            ("POST", r"^/v1/customers$", "create_customer"),
            ("GET", r"^/v1/customers/(?P<id>[^/]+)$", "get_customer"),
            ("POST", r"^/v1/setup_intents$", "create_setup_intent"),
            ("GET", r"^/v1/setup_intents/(?P<id>[^/]+)$", "get_setup_intent"),
            ("POST", r"^/v1/setup_intents/(?P<id>[^/]+)/confirm$", "confirm_setup_intent"),
            ("POST", r"^/v1/setup_intents/(?P<id>[^/]+)/cancel$", "cancel_setup_intent"),
            ("POST", r"^/v1/payment_intents$", "create_payment_intent"),
            ("GET", r"^/v1/payment_intents$", "list_payment_intents"),
            ("GET", r"^/v1/payment_intents/(?P<id>[^/]+)$", "get_payment_intent"),
            ("POST", r"^/v1/payment_intents/(?P<id>[^/]+)$", "update_payment_intent"),
            ("POST", r"^/v1/payment_intents/(?P<id>[^/]+)/confirm$", "confirm_payment_intent"),
            ("POST", r"^/v1/payment_intents/(?P<id>[^/]+)/capture$", "capture_payment_intent"),
            ("POST", r"^/v1/payment_intents/(?P<id>[^/]+)/cancel$", "cancel_payment_intent"),
            ("POST", r"^/v1/refunds$", "create_refund"),
            ("GET", r"^/v1/events$", "list_events"),
            ("GET", r"^/v1/events/(?P<id>[^/]+)$", "get_event"),
        ]
    ]

    def _route(self, method: str, path: str) -> tuple[str, str | None, str]:
        for route_method, pattern, name in self.ROUTES:
            match = pattern.match(path)
            if match and route_method == method:
                return name, match.groupdict().get("id"), f"{method} {pattern.pattern}"
        raise StripeFailure(
            404,
            objects.error(
                "invalid_request_error",
                f"Unrecognized request URL ({method}: {path}).",
            ),
        )

    def _dispatch(
        self,
        name: str,
        object_id: str | None,
        params: dict[str, Any],
        req: dict[str, Any],
        url: str,
    ) -> dict[str, Any]:
        getters = {
            "get_customer": (self.customers, "customer"),
            "get_setup_intent": (self.setup_intents, "setup_intent"),
            "get_payment_intent": (self.payment_intents, "payment_intent"),
        }
        if name in getters:
            table, kind = getters[name]
            return self._get(table, kind, object_id or "")
        if name == "get_event":
            event = self._events_by_id.get(object_id or "")
            if event is None:
                raise _missing("event", object_id or "")
            return event
        if name in ("list_payment_intents", "list_events"):
            return getattr(self, name)(params, url)
        method = getattr(self, name)
        if object_id is None:
            return method(params, req)
        return method(object_id, params, req)

    def _throttled(self, endpoint: str) -> bool:
        if self.faults.rate_limit is None:
            return False
        now = time.monotonic()
        window = self._windows[endpoint]
        while window and window[0] <= now - 1.0:
            window.pop(0)
        if len(window) >= self.faults.rate_limit:
            return True
        window.append(now)
        return False

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        response = self.handle(request)
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/_emulator/"):
            return self._control(request)
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        status, body, headers = self._api(request)
        with self._lock:
            self.request_log.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "status": status,
                    "at": time.time(),
                }
            )
        response = Response(json.dumps(body), status, mimetype="application/json")
        response.headers["Request-Id"] = objects.new_id("req", 14)
        response.headers["Stripe-Version"] = API_VERSION
        for key, value in headers.items():
            response.headers[key] = value
        return response

    def _api(self, request: Request) -> tuple[int, dict[str, Any], dict[str, str]]:
        auth = request.headers.get("Authorization", "")
        if auth != f"Bearer {self.secret_key}":
            return 401, objects.error("invalid_request_error", "Invalid API Key provided."), {}
        try:
            name, object_id, endpoint = self._route(request.method, request.path)
        except StripeFailure as failure:
            return failure.status, failure.body, {}
        pairs = (
            list(request.args.items(multi=True))
            if request.method == "GET"
            else list(request.form.items(multi=True))
        )
        params = decode_form(pairs)
        with self._lock:
            if self._throttled(endpoint) or self.random.random() < self.faults.share_429:
                return (
                    429,
                    objects.error(
                        "invalid_request_error",
                        "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
                        code="rate_limit",
                    ),
                    {},
                )
            if self.random.random() < self.faults.share_500:
                return (
                    500,
                    objects.error(
                        "api_error", "An unknown error occurred (injected by the emulator)."
                    ),
                    {},
                )
            key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
            fingerprint = hashlib.sha256(
                json.dumps([request.path, params], sort_keys=True).encode()
            ).hexdigest()
            if key is not None and key in self._idempotent:
                first_fingerprint, status, body = self._idempotent[key]
                if first_fingerprint != fingerprint:
                    return (
                        400,
                        objects.error(
                            "idempotency_error",
                            f"Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request.",
                        ),
                        {},
                    )
                return (
                    status,
                    json.loads(body),
                    {"Idempotent-Replayed": "true", "Idempotency-Key": key},
                )
            req = {"id": objects.new_id("req", 14), "idempotency_key": key}
            try:
                status, body = 200, self._dispatch(name, object_id, params, req, request.path)
            except StripeFailure as failure:
                status, body = failure.status, failure.body
            if key is not None:
                self._idempotent[key] = (fingerprint, status, json.dumps(body))
            headers = {"Idempotency-Key": key} if key else {}
            return status, json.loads(json.dumps(body)), headers

    # ------------------------------------------------------------ control

    def succeeded_charges(self) -> Counter[str]:
        """pledge id -> PaymentIntents that took money (succeeded), from metadata."""
        with self._lock:
            return Counter(
                (i["metadata"] or {}).get("pledge_id", "")
                for i in self.payment_intents.values()
                if i["status"] == "succeeded"
            )

    def _control(self, request: Request) -> Response:
        path = request.path
        if path == "/_emulator/faults":
            if request.method == "POST":
                try:
                    self.faults.update(request.get_json(force=True) or {})
                except (ValueError, TypeError) as error:
                    return Response(
                        json.dumps({"error": str(error)}), 400, mimetype="application/json"
                    )
            return Response(json.dumps(asdict(self.faults)), mimetype="application/json")
        if path == "/_emulator/requests":
            with self._lock:
                log = list(self.request_log)
            endpoints: dict[str, dict[str, Any]] = {}
            for r in log:
                parts = r["path"].split("/")
                name = f"{r['method']} /{'/'.join(parts[1:3])}" + (
                    f"/*/{parts[4]}" if len(parts) > 4 else "/*" if len(parts) > 3 else ""
                )
                entry = endpoints.setdefault(
                    name, {"count": 0, "status": Counter(), "first": r["at"], "last": r["at"]}
                )
                entry["count"] += 1
                entry["status"][str(r["status"])] += 1
                entry["first"], entry["last"] = (
                    min(entry["first"], r["at"]),
                    max(entry["last"], r["at"]),
                )
            body = {
                "total": len(log),
                "by_status": dict(Counter(str(r["status"]) for r in log)),
                "endpoints": {k: {**v, "status": dict(v["status"])} for k, v in endpoints.items()},
            }
            return Response(json.dumps(body), mimetype="application/json")
        if path == "/_emulator/reset-log" and request.method == "POST":
            with self._lock:
                self.request_log.clear()
                self._windows.clear()
            return Response("{}", mimetype="application/json")
        if path == "/_emulator/charges":
            return Response(json.dumps(self.succeeded_charges()), mimetype="application/json")
        if path == "/_emulator/webhooks":
            if request.method == "POST":
                self.wait_for_deliveries(float(request.args.get("timeout", 30)))
            with self._lock:
                body = {
                    "events": len(self.events),
                    "deliveries": sum(self.delivered.values()),
                    "failed": self.failed_deliveries,
                    "pending": len(self._outbox) + self._in_flight,
                }
            return Response(json.dumps(body), mimetype="application/json")
        return Response(
            json.dumps({"error": "unknown emulator control path"}), 404, mimetype="application/json"
        )


def serve(args: Any, *, now: Callable[[], float] = time.time) -> int:
    """`cashmob stripe-emulator`: the emulator alone, until Ctrl-C."""
    import os
    import signal

    from werkzeug.serving import make_server

    emulator = StripeEmulator(
        now=now,
        secret_key=os.environ.get("STRIPE_SECRET_KEY", SECRET_KEY),
        webhook_secret=os.environ.get("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
        forward_to=args.forward_to,
        faults=Faults(rate_limit=args.rate_limit, latency_ms=args.latency_ms),
    )
    server = make_server(args.host, args.port, emulator, threaded=True)
    print(
        f"Stripe emulator on http://{args.host}:{args.port}  (key {emulator.secret_key})",
        flush=True,
    )
    if args.forward_to:
        print(f"  delivering signed webhooks to {args.forward_to}", flush=True)

    def shutdown(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    try:
        server.serve_forever()
    finally:
        emulator.stop()
    return 0
