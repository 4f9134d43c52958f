"""Stripe's HTTP surface: the route table, and what every API request goes
through before and after its resource rule runs.

In order: the API key (401); the route (404); the `Stripe-Version` header,
which must be API_VERSION (400); then, under the emulator's lock, the holds
that lapsed (`before`), forced and random 429/500 failures and the per-endpoint
rate limit (`faults`), the parameters (`params.check`), the Idempotency-Key
(replay, or `idempotency_error` for other parameters), the rule itself, and a
`500_executed` failure after it. Refusals made before execution are never
stored under the key. Every answer is logged in `request_log`.

The publishable key, as Stripe.js uses it (`key=pk_…` in the form or query,
or `Authorization: Bearer pk_…`): only on CLIENT_ROUTES (retrieve and
confirm a SetupIntent or PaymentIntent), only with that intent's
`client_secret`, without a Stripe-Version header if it likes (Stripe.js sends
none), and answered with the fields Stripe returns to a publishable key
(`client_view`). Every answer carries `Access-Control-Allow-Origin: *`, as
api.stripe.com's do, so a page on any origin can call it.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import stripe
from werkzeug.wrappers import Request, Response

from . import objects, params
from .errors import StripeFailure, invalid
from .faults import BEFORE_EXECUTION, Faults, ForcedFailures, RateWindows, api_error, rate_limited
from .idempotency import IdempotencyStore, conflict, fingerprint
from .settings import API_VERSION
from .state import Call

Handler = Callable[[Call], dict[str, Any]]
Answer = tuple[int, dict[str, Any], dict[str, str]]


class Route(NamedTuple):
    method: str
    pattern: re.Pattern[str]
    name: str  # the operation: its handler, and its stripe-python call (schema.SDK_METHODS)


def _routes(*rows: tuple[str, str, str]) -> tuple[Route, ...]:
    return tuple(Route(method, re.compile(path), name) for method, path, name in rows)


_ID = r"(?P<id>[^/]+)"
ROUTES = _routes(
    ("POST", r"^/v1/customers$", "create_customer"),
    ("GET", rf"^/v1/customers/{_ID}$", "get_customer"),
    ("POST", rf"^/v1/customers/{_ID}$", "update_customer"),
    ("POST", r"^/v1/setup_intents$", "create_setup_intent"),
    ("GET", rf"^/v1/setup_intents/{_ID}$", "get_setup_intent"),
    ("POST", rf"^/v1/setup_intents/{_ID}/confirm$", "confirm_setup_intent"),
    ("POST", rf"^/v1/setup_intents/{_ID}/cancel$", "cancel_setup_intent"),
    ("POST", r"^/v1/payment_intents$", "create_payment_intent"),
    ("GET", r"^/v1/payment_intents$", "list_payment_intents"),
    ("GET", rf"^/v1/payment_intents/{_ID}$", "get_payment_intent"),
    ("POST", rf"^/v1/payment_intents/{_ID}$", "update_payment_intent"),
    ("POST", rf"^/v1/payment_intents/{_ID}/confirm$", "confirm_payment_intent"),
    ("POST", rf"^/v1/payment_intents/{_ID}/capture$", "capture_payment_intent"),
    ("POST", rf"^/v1/payment_intents/{_ID}/cancel$", "cancel_payment_intent"),
    ("POST", r"^/v1/refunds$", "create_refund"),
    ("GET", r"^/v1/refunds$", "list_refunds"),
    ("GET", rf"^/v1/refunds/{_ID}$", "get_refund"),
    ("GET", rf"^/v1/charges/{_ID}$", "get_charge"),
    ("GET", r"^/v1/events$", "list_events"),
    ("GET", rf"^/v1/events/{_ID}$", "get_event"),
    # Connect (connect.py)
    ("POST", r"^/v1/accounts$", "create_account"),
    ("GET", rf"^/v1/accounts/{_ID}$", "get_account"),
    ("POST", r"^/v1/account_links$", "create_account_link"),
    ("POST", r"^/v1/transfers$", "create_transfer"),
    ("GET", r"^/v1/transfers$", "list_transfers"),
    ("GET", rf"^/v1/transfers/{_ID}$", "get_transfer"),
    ("POST", rf"^/v1/transfers/{_ID}/reversals$", "create_transfer_reversal"),
)


# What a publishable key may call, with the intent's client_secret (Stripe.js).
CLIENT_ROUTES = frozenset(
    {"get_setup_intent", "confirm_setup_intent", "get_payment_intent", "confirm_payment_intent"}
)
# Sent by Stripe.js beside the API parameters: who is asking, not what.
CLIENT_AUTH_PARAMS = ("key", "client_secret")
# The fields of an intent that Stripe returns to a publishable key ("retrievable
# with publishable key" in Stripe's API reference).
CLIENT_FIELDS = frozenset(
    {
        "id",
        "object",
        "amount",
        "automatic_payment_methods",
        "cancellation_reason",
        "canceled_at",
        "capture_method",
        "client_secret",
        "confirmation_method",
        "created",
        "currency",
        "description",
        "last_payment_error",
        "last_setup_error",
        "livemode",
        "next_action",
        "payment_method",
        "payment_method_types",
        "processing",
        "receipt_email",
        "setup_future_usage",
        "shipping",
        "status",
        "usage",
    }
)
CORS = {"Access-Control-Allow-Origin": "*"}


def client_view(body: dict[str, Any]) -> dict[str, Any]:
    """An intent (or an error embedding one) as a publishable key sees it."""
    if "error" in body:
        error = dict(body["error"])
        for kind in ("setup_intent", "payment_intent"):
            if isinstance(error.get(kind), dict):
                error[kind] = client_view(error[kind])
        return {"error": error}
    return {k: v for k, v in body.items() if k in CLIENT_FIELDS}


def version_refusal(sent: str | None) -> dict[str, Any] | None:
    """Stripe's 400 for a missing or other Stripe-Version header; None for API_VERSION."""
    if sent == API_VERSION:
        return None
    speaks = (
        f"This emulator speaks only Stripe API version {API_VERSION}, the version "
        f"stripe-python {stripe.VERSION} pins; send it as the Stripe-Version header."
    )
    message = (
        f"No Stripe-Version header. {speaks}"
        if not sent
        else f"Invalid Stripe API version: {sent}. {speaks}"
    )
    return objects.error("invalid_request_error", message)


class Api:
    """The API requests' pipeline. `handlers` maps every route's name to the
    callable that runs it; `lock` is held from the fault draws to the answer;
    `before` runs first under it (the lapse of holds)."""

    def __init__(
        self,
        *,
        secret_key: str,
        publishable_key: str,
        client_secret_of: Callable[[str], str | None],
        handlers: Mapping[str, Handler],
        lock: threading.RLock,
        faults: Faults,
        forced: ForcedFailures,
        random: random.Random,
        idempotency: IdempotencyStore,
        before: Callable[[], object],
    ) -> None:
        unmatched = {route.name for route in ROUTES} ^ set(handlers)
        if unmatched:
            raise ValueError(f"routes without a handler, or handlers without a route: {unmatched}")
        self.routes: tuple[tuple[Route, Handler], ...] = tuple(
            (route, handlers[route.name]) for route in ROUTES
        )
        self.secret_key = secret_key
        self.publishable_key = publishable_key
        self.client_secret_of = client_secret_of  # intent id -> its client_secret
        self.lock = lock
        self.faults = faults
        self.forced = forced
        self.random = random
        self.idempotency = idempotency
        self.before = before
        self.request_log: list[dict[str, Any]] = []
        self.windows = RateWindows()

    def handle(self, request: Request) -> Response:
        # When the request reached "Stripe", before any wait: its rate window
        # counts it then, not when the lock lets it be decided (RateWindows).
        arrived, reached = time.time(), time.monotonic()
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        status, body, headers = self._answer(request, reached)
        error = body.get("error") if isinstance(body, dict) else None
        refused = status == 400 and bool(error) and error.get("type") == "invalid_request_error"
        with self.lock:
            self.request_log.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "status": status,
                    "at": time.time(),
                    "arrived": arrived,
                    "version": request.headers.get("Stripe-Version"),
                    "refused": refused,
                    "code": (error or {}).get("code"),
                }
            )
        response = Response(json.dumps(body), status, mimetype="application/json")
        response.headers["Request-Id"] = objects.new_id("req", 14)
        response.headers["Stripe-Version"] = API_VERSION
        for key, value in {**CORS, **headers}.items():
            response.headers[key] = value
        return response

    def reset_log(self) -> None:
        """Empties the request log and the rate-limit windows."""
        with self.lock:
            self.request_log.clear()
            self.windows.clear()

    def log(self) -> list[dict[str, Any]]:
        """A copy of the request log."""
        with self.lock:
            return list(self.request_log)

    def _route(self, method: str, path: str) -> tuple[Route, Handler, str]:
        for route, handler in self.routes:
            match = route.pattern.match(path)
            if match and route.method == method:
                return route, handler, match.groupdict().get("id") or ""
        raise StripeFailure(
            404,
            objects.error("invalid_request_error", f"Unrecognized request URL ({method}: {path})."),
        )

    def _answer(self, request: Request, reached: float | None = None) -> Answer:
        pairs = (
            list(request.args.items(multi=True))
            if request.method == "GET"
            else list(request.form.items(multi=True))
        )
        auth = request.headers.get("Authorization", "")
        sent_key = dict(pairs).get("key") or auth.removeprefix("Bearer ").strip()
        publishable = sent_key == self.publishable_key and auth != f"Bearer {self.secret_key}"
        if auth != f"Bearer {self.secret_key}" and not publishable:
            return 401, objects.error("invalid_request_error", "Invalid API Key provided."), {}
        try:
            route, handler, object_id = self._route(request.method, request.path)
        except StripeFailure as failure:
            return failure.status, failure.body, {}
        client_secret = None
        if publishable:
            if route.name not in CLIENT_ROUTES:
                message = (
                    "This API call cannot be made with a publishable API key. "
                    "Please use a secret API key."
                )
                return 401, objects.error("invalid_request_error", message), {}
            client_secret = dict(pairs).get("client_secret")
            pairs = [(k, v) for k, v in pairs if k not in CLIENT_AUTH_PARAMS]
        sent_version = request.headers.get("Stripe-Version")
        refusal = None if publishable and sent_version is None else version_refusal(sent_version)
        if refusal is not None:
            return 400, refusal, {}
        with self.lock:
            self.before()  # Stripe's clock runs whether or not anyone asks
            failed = self._fail_before(
                request, f"{request.method} {route.pattern.pattern}", reached
            )
            if failed is not None:
                return failed
            try:
                checked = params.check(route.name, params.decode_form(pairs))
                if publishable:
                    self._check_client_secret(route, object_id, client_secret)
            except StripeFailure as failure:
                return failure.status, failure.body, {}
            status, body, headers = self._execute(request, handler, checked, object_id)
        return status, client_view(body) if publishable else body, headers

    def _check_client_secret(self, route: Route, intent_id: str, sent: str | None) -> None:
        """Stripe's refusal unless `sent` is the intent's own client_secret."""
        kind = "SetupIntent" if "setup_intent" in route.name else "PaymentIntent"
        if not sent:
            raise invalid(
                f"You must provide the client_secret of this {kind} when using a publishable key.",
                code="parameter_missing",
                param="client_secret",
                store=False,
            )
        if not secrets.compare_digest(sent, self.client_secret_of(intent_id) or ""):
            raise invalid(
                f"The client_secret provided does not match any associated {kind} on this "
                "account. Ensure the publishable key used belongs to the same account that "
                f"created the {kind}.",
                param="client_secret",
                store=False,
            )

    def _fail_before(
        self, request: Request, endpoint: str, reached: float | None = None
    ) -> Answer | None:
        """A forced or random 429/500, or the rate limit (the request counted
        when it `reached` the emulator; now if not given), before anything executes."""
        forced = self.forced.take(BEFORE_EXECUTION, request.method, request.path)
        if forced == "429" or (
            forced is None
            and (
                self.windows.throttled(endpoint, self.faults.rate_limit, reached)
                or self.random.random() < self.faults.share_429
            )
        ):
            return 429, rate_limited(), {}
        if forced == "500" or self.random.random() < self.faults.share_500:
            return 500, api_error(), {}
        return None

    def _execute(
        self, request: Request, handler: Handler, checked: dict[str, Any], object_id: str
    ) -> Answer:
        """Runs the rule once per Idempotency-Key; replays its answer after."""
        key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        sent = fingerprint(request.path, checked)
        saved = self.idempotency.get(key) if key is not None else None
        if key is not None and saved is not None:
            if saved.fingerprint != sent:
                return 400, conflict(key), {}
            status, body = saved.answer()
            return status, body, {"Idempotent-Replayed": "true", "Idempotency-Key": key}
        event_request = {"id": objects.new_id("req", 14), "idempotency_key": key}
        call = Call(checked, event_request, request.path, object_id)
        store = True
        try:
            status, body = 200, handler(call)
        except StripeFailure as failure:
            status, body, store = failure.status, failure.body, failure.store
        if store:
            # It began executing: a 500 now is what Stripe saves and replays.
            executed_500 = self.forced.take(
                frozenset({"500_executed"}), request.method, request.path
            ) or (
                self.faults.share_500_executed
                and self.random.random() < self.faults.share_500_executed
            )
            if executed_500:
                status, body = 500, api_error(executed=True)
            if key is not None:
                self.idempotency.save(key, sent, status, body)
        headers = {"Idempotency-Key": key} if key else {}
        return status, json.loads(json.dumps(body)), headers
