"""`StripeEmulator`: the parts assembled into one WSGI app, and the knobs
tests and the local stack turn (forced failures, the lapse of holds, the
request log, webhook deliveries)."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import asdict
from typing import Any

from werkzeug.wrappers import Request, Response

from . import money, stripejs
from .connect import Connect
from .control import control, summarize
from .customers import Customers, SetupIntents
from .errors import StripeFailure, invalid
from .faults import FailRule, Faults, ForcedFailures
from .http import CORS, ROUTES, Api, Handler, client_view
from .idempotency import IdempotencyStore
from .payment_intents import PaymentIntents
from .refunds import Charges, Events, Refunds, refund_behind_our_back, refunds_by_pledge
from .settings import API_VERSION, PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET
from .state import Call, State, Table
from .webhooks import WebhookDeliverer


class StripeEmulator:
    """The emulator's state and its WSGI app. `now` gives Unix seconds (the
    local stack passes its movable clock; it may be replaced later);
    `account_currency` is the settlement currency whose minimum charge
    applies after conversion; `publishable_key` is what Stripe.js (and the
    stand-in for it at `/v3/`) may use on an intent with its client secret."""

    ROUTES = ROUTES
    api_version = API_VERSION  # of the events it emits

    def __init__(
        self,
        *,
        now: Callable[[], float] = time.time,
        secret_key: str = SECRET_KEY,
        publishable_key: str = PUBLISHABLE_KEY,
        webhook_secret: str = WEBHOOK_SECRET,
        forward_to: str | None = None,
        faults: Faults | None = None,
        seed: int | None = None,
        delivery_workers: int = 4,
        max_delivery_attempts: int = 12,
        account_currency: str = "gbp",
        enabled_events: Collection[str] | None = None,
    ) -> None:
        self.now = now
        if not money.supported(account_currency.lower()):
            raise ValueError(f"unsupported account currency {account_currency!r}")
        self.account_currency = account_currency.lower()
        self._faults = faults or Faults()
        self._forced = ForcedFailures()
        self._random = random.Random(seed)  # one sequence for every random fault
        self._lock = threading.RLock()
        self._webhooks = WebhookDeliverer(
            forward_to=forward_to,
            webhook_secret=webhook_secret,
            now=lambda: self.now(),
            faults=self._faults,
            random=self._random,
            workers=delivery_workers,
            max_attempts=max_delivery_attempts,
            enabled_events=enabled_events,
        )
        self._state = State(now=lambda: self.now(), publish=self._webhooks.send)
        self._payment_intents = PaymentIntents(self._state, self.account_currency)
        self._setup_intents = SetupIntents(self._state)
        self._connect = Connect(self._state)
        self._api = Api(
            secret_key=secret_key,
            publishable_key=publishable_key,
            client_secret_of=self._client_secret_of,
            handlers=self._handlers(),
            lock=self._lock,
            faults=self._faults,
            forced=self._forced,
            random=self._random,
            idempotency=IdempotencyStore(now=lambda: self.now()),
            before=self._payment_intents.expire_due,
        )

    def _handlers(self) -> dict[str, Handler]:
        """Each route's rule (http.ROUTES names them)."""
        state = self._state
        customers, setup_intents = Customers(state), self._setup_intents
        payment_intents, refunds = self._payment_intents, Refunds(state)
        charges, events = Charges(state), Events(state)
        connect = self._connect
        return {
            "create_customer": customers.create,
            "get_customer": customers.retrieve,
            "update_customer": customers.update,
            "create_setup_intent": setup_intents.create,
            "get_setup_intent": setup_intents.retrieve,
            "confirm_setup_intent": setup_intents.confirm,
            "cancel_setup_intent": setup_intents.cancel,
            "create_payment_intent": payment_intents.create,
            "list_payment_intents": payment_intents.list,
            "get_payment_intent": payment_intents.retrieve,
            "update_payment_intent": payment_intents.update,
            "confirm_payment_intent": payment_intents.confirm,
            "capture_payment_intent": payment_intents.capture,
            "cancel_payment_intent": payment_intents.cancel,
            "create_refund": refunds.create,
            "list_refunds": refunds.list,
            "get_refund": refunds.retrieve,
            "get_charge": charges.retrieve,
            "list_events": events.list,
            "get_event": events.retrieve,
            "create_account": connect.create_account,
            "get_account": connect.retrieve_account,
            "create_account_link": connect.create_account_link,
            "create_transfer": connect.create_transfer,
            "list_transfers": connect.list_transfers,
            "get_transfer": connect.retrieve_transfer,
            "create_transfer_reversal": connect.create_reversal,
        }

    # ------------------------------------------------------------ what it holds

    @property
    def secret_key(self) -> str:
        return self._api.secret_key

    @property
    def publishable_key(self) -> str:
        return self._api.publishable_key

    @property
    def faults(self) -> Faults:
        """The random fault knobs (change them with `faults.update`)."""
        return self._faults

    @property
    def forced(self) -> ForcedFailures:
        """The forced-failure rules (`fail_next`)."""
        return self._forced

    @property
    def customers(self) -> Table:
        return self._state.customers

    @property
    def setup_intents(self) -> Table:
        return self._state.setup_intents

    @property
    def payment_intents(self) -> Table:
        return self._state.payment_intents

    @property
    def charges(self) -> Table:
        return self._state.charges

    @property
    def refunds(self) -> Table:
        return self._state.refunds

    @property
    def accounts(self) -> Table:
        """Connect accounts (connect.py)."""
        return self._connect.accounts

    @property
    def transfers(self) -> Table:
        return self._connect.transfers

    def complete_onboarding(self, account_id: str) -> dict[str, Any]:
        """The organizer finishes Stripe's onboarding of `account_id`: it is
        enabled, and `account.updated` is emitted (StripeFailure if unknown)."""
        with self._lock:
            return self._connect.complete_onboarding(account_id)

    @property
    def events(self) -> list[dict[str, Any]]:
        return self._state.events

    @property
    def request_log(self) -> list[dict[str, Any]]:
        return self._api.request_log

    # ------------------------------------------------------------ WSGI

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return self.handle(Request(environ))(environ, start_response)

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/_emulator/"):
            return control(self, request)
        if request.path == "/v3" or request.path.startswith("/v3/"):
            return stripejs.respond(self, request)
        if request.method == "OPTIONS":  # a browser's CORS preflight, as api.stripe.com answers it
            return Response(status=204, headers={**CORS, **stripejs.PREFLIGHT})
        return self._api.handle(request)

    # ------------------------------------------------------------ Stripe.js

    def _client_secret_of(self, intent_id: str) -> str | None:
        intent = self.setup_intents.get(intent_id) or self.payment_intents.get(intent_id)
        return intent["client_secret"] if intent else None

    def authenticate(self, client_secret: str, *, passed: bool) -> tuple[int, dict[str, Any]]:
        """The 3-D Secure test page's verdict on the intent of `client_secret`
        (in `requires_action`): (status, the intent as a publishable key sees it,
        or Stripe's error)."""
        intent_id = client_secret.partition("_secret_")[0]
        call = Call({}, {"id": None, "idempotency_key": None}, "", intent_id)
        with self._lock:
            try:
                if self._client_secret_of(intent_id) != client_secret:
                    raise invalid(
                        "The client_secret provided does not match any associated intent.",
                        param="client_secret",
                    )
                rule = (
                    self._setup_intents if intent_id.startswith("seti_") else self._payment_intents
                )
                return 200, client_view(rule.authenticate(call, passed=passed))
            except StripeFailure as failure:
                return failure.status, failure.body

    # ------------------------------------------------------------ knobs

    def fail_next(
        self,
        mode: str,
        *,
        path_regex: str = "",
        method: str | None = None,
        count: int = 1,
    ) -> dict[str, Any]:
        """Fail the next `count` API requests whose path matches `path_regex`
        (re.search; "" = any) and method `method` (None = any), in `mode`:
        "429" / "500" before executing (not stored under the Idempotency-Key),
        "500_executed" after executing (stored: replays answer the same 500)."""
        rule = FailRule(mode, path_regex, method, count)
        with self._lock:
            self._forced.add(rule)
        return asdict(rule)

    def pending_failures(self) -> list[dict[str, Any]]:
        """The forced-failure rules left, in order."""
        with self._lock:
            return self._forced.pending()

    def clear_failures(self) -> None:
        with self._lock:
            self._forced.clear()

    def expire_due(self) -> int:
        """Cancels every hold whose 7 days since authorisation have passed on
        the emulator's clock (as Stripe does); returns how many it cancelled."""
        with self._lock:
            return self._payment_intents.expire_due()

    def succeeded_charges(self) -> Counter[str]:
        """pledge id -> PaymentIntents that took money (succeeded), from metadata."""
        with self._lock:
            return Counter(
                (i["metadata"] or {}).get("pledge_id", "")
                for i in self.payment_intents.values()
                if i["status"] == "succeeded"
            )

    def refunds_by_pledge(self) -> dict[str, list[int]]:
        """pledge id -> the amounts of its refunds, oldest first (refunds.refunds_by_pledge)."""
        with self._lock:
            return refunds_by_pledge(self._state)

    def refund_behind_our_back(self, intent_id: str, amount: int | None = None) -> dict[str, Any]:
        """A refund made in Stripe's dashboard (`POST /_emulator/refund`): the
        Refund, or raises StripeFailure as the API would answer."""
        with self._lock:
            return refund_behind_our_back(self._state, intent_id, amount)

    def requests_summary(self) -> dict[str, Any]:
        """What `GET /_emulator/requests` answers: the request log summed, with
        `versions` (Stripe-Version → count) and `refused` (400
        invalid_request_error answers) — see control.summarize."""
        return summarize(self._api.log())

    def reset_log(self) -> None:
        """Empties the request log and the rate-limit windows."""
        self._api.reset_log()

    # ------------------------------------------------------------ webhooks

    @property
    def forward_to(self) -> str | None:
        return self._webhooks.forward_to

    @property
    def webhook_secret(self) -> str:
        return self._webhooks.webhook_secret

    @property
    def delivered(self) -> Counter[str]:
        """event id -> successful deliveries."""
        return self._webhooks.delivered

    @property
    def failed_deliveries(self) -> int:
        return self._webhooks.failed

    def pending_deliveries(self) -> int:
        """Webhook deliveries waiting (or retrying) in the outbox, or in flight."""
        return self._webhooks.pending()

    def webhook_counts(self) -> dict[str, int]:
        """`events` recorded, `deliveries` made, `failed` for good, `pending`."""
        with self._lock:
            events = len(self.events)
        return {"events": events, **self._webhooks.counts()}

    def signature_header(self, payload: str, timestamp: int | None = None) -> str:
        """`Stripe-Signature` for `payload`, signed with the webhook secret."""
        return self._webhooks.signature_header(payload, timestamp)

    def wait_for_deliveries(self, timeout: float = 30.0) -> bool:
        """Blocks until no webhook is waiting or in flight (tests, the demo)."""
        return self._webhooks.wait(timeout)

    def stop(self) -> None:
        self._webhooks.stop()
