"""The payments gateway on Stripe: the only code in cashmob that calls Stripe.

Every POST carries an idempotency key derived from the pledge and the step
(`pledge:{id}:{step}`), so a Lambda or SQS redelivery repeats the same request
and Stripe answers it with the first result instead of acting twice. Errors
become domain outcomes:

- card declined / authentication required: the backer must act (NEEDS_BACKER);
- rate limited, 5xx, network: PaymentProviderUnavailable (retry later);
- anything else Stripe refuses: PaymentProviderError (our bug: logged loudly).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cached_property
from typing import Any, NoReturn, TypeVar

import stripe

from ..config import Settings
from ..domain import Money, PaymentFlow, Pledge
from ..domain.errors import PaymentProviderError, PaymentProviderUnavailable
from ..observability import logger, metrics
from ..pacing import RateLimiter
from ..secrets import Secrets
from .gateway import NEEDS_BACKER_FLAG, ChargeResult, ChargeStatus, IntentRef

T = TypeVar("T")

# Declines the backer can fix (another card, 3-D Secure); anything else Stripe
# answers with a card error is treated the same way: only the backer can act.
NEEDS_BACKER_STATUSES = frozenset({"requires_payment_method", "requires_action"})
# Stripe's answer when an intent is no longer in a state the call applies to.
UNEXPECTED_STATE = frozenset({"payment_intent_unexpected_state", "setup_intent_unexpected_state"})


def idempotency_key(pledge_id: str, step: str) -> str:
    return f"pledge:{pledge_id}:{step}"


def _meta(obj: Any) -> dict[str, Any]:
    """A Stripe object's metadata as a plain dict (StripeObject is no mapping)."""
    return obj.metadata.to_dict() if obj.metadata else {}


def _metadata(campaign_id: str, pledge_id: str, **extra: str) -> dict[str, str]:
    return {"campaign_id": campaign_id, "pledge_id": pledge_id, **extra}


class StripeGateway:
    def __init__(
        self, settings: Settings, secrets: Secrets, *, limiter: RateLimiter | None = None
    ) -> None:
        self._settings = settings
        self._secrets = secrets
        self._limiter = limiter

    @cached_property
    def _stripe(self) -> Any:
        client = stripe.StripeClient(
            self._secrets.stripe_secret_key,
            base_addresses={"api": self._settings.stripe_api_base},
            http_client=stripe.UrllibClient(),
            max_network_retries=self._settings.stripe_max_network_retries,
        )
        return client.v1

    # ---------------------------------------------------------------- calls

    def _call(
        self,
        step: str,
        fn: Callable[..., T],
        *args: Any,
        expected: frozenset[str] = frozenset(),
        **kwargs: Any,
    ) -> T:
        """One Stripe request, with transient and programming errors mapped.
        Card errors, and invalid-request errors whose code is `expected`, reach
        the caller as Stripe raised them."""
        if self._limiter is not None:
            self._limiter.acquire()
        try:
            return fn(*args, **kwargs)
        except stripe.RateLimitError as error:
            metrics.add_metric(name="StripeRateLimited", unit="Count", value=1)
            raise PaymentProviderUnavailable(
                "Stripe is rate limiting us.", retry_after=2
            ) from error
        except (stripe.APIConnectionError, stripe.APIError) as error:
            raise PaymentProviderUnavailable("Stripe is unavailable.", retry_after=5) from error
        except stripe.CardError:
            raise
        except stripe.InvalidRequestError as error:
            if error.code in expected:
                raise
            self._rejected(step, error)
        except stripe.StripeError as error:
            self._rejected(step, error)

    @staticmethod
    def _rejected(step: str, error: stripe.StripeError) -> NoReturn:
        # An invalid request, a bad key, a reused idempotency key: a bug of ours.
        metrics.add_metric(name="StripeRequestRejected", unit="Count", value=1)
        logger.error(
            "Stripe rejected a request",
            extra={"step": step, "stripe_code": error.code, "http_status": error.http_status},
        )
        raise PaymentProviderError(f"Stripe rejected the {step} request.") from error

    @staticmethod
    def _opts(key: str) -> dict[str, str]:
        return {"idempotency_key": key}

    # ---------------------------------------------------------------- pledge time

    def start_setup(
        self, *, campaign_id: str, pledge_id: str, email: str, amount: Money
    ) -> IntentRef:
        meta = _metadata(campaign_id, pledge_id)
        customer = self._call(
            "customer",
            self._stripe.customers.create,
            params={"email": email, "metadata": meta},
            options=self._opts(idempotency_key(pledge_id, "customer")),
        )
        intent = self._call(
            "setup",
            self._stripe.setup_intents.create,
            params={
                "customer": customer.id,
                "usage": "off_session",
                "payment_method_types": ["card"],
                "metadata": meta,
            },
            options=self._opts(idempotency_key(pledge_id, "setup")),
        )
        return IntentRef(intent.id, intent.client_secret, customer.id)

    def start_hold(
        self, *, campaign_id: str, pledge_id: str, email: str, amount: Money
    ) -> IntentRef:
        intent = self._call(
            "hold",
            self._stripe.payment_intents.create,
            params={
                "amount": amount.amount,
                "currency": amount.currency,
                "capture_method": "manual",
                "payment_method_types": ["card"],
                "receipt_email": email,
                "metadata": _metadata(campaign_id, pledge_id),
            },
            options=self._opts(idempotency_key(pledge_id, "hold")),
        )
        return IntentRef(intent.id, intent.client_secret)

    # ---------------------------------------------------------------- settlement

    def charge(self, pledge: Pledge, *, attempt: int, look_up_first: bool) -> ChargeResult:
        if pledge.payment.flow is not PaymentFlow.SETUP or not pledge.payment.customer_id:
            raise PaymentProviderError(f"Pledge {pledge.id} has no saved card to charge.")
        if look_up_first:
            # Stripe forgets idempotency keys after 24 h: never create a second
            # charge when one already exists for this pledge.
            found = self._existing_charge(pledge, attempt)
            if found is not None:
                return found
        try:
            intent = self._call(
                "charge",
                self._stripe.payment_intents.create,
                params={
                    "amount": pledge.amount.amount,
                    "currency": pledge.amount.currency,
                    "customer": pledge.payment.customer_id,
                    "payment_method": pledge.payment.payment_method,
                    "off_session": True,
                    "confirm": True,
                    "metadata": _metadata(pledge.campaign_id, pledge.id, attempt=str(attempt)),
                },
                options=self._opts(idempotency_key(pledge.id, f"charge:{attempt}")),
            )
        except stripe.CardError as error:
            return self._declined(error)
        return self._result(intent)

    def capture(self, pledge: Pledge) -> ChargeResult:
        intent_id = pledge.payment.intent_id
        try:
            intent = self._call(
                "capture",
                self._stripe.payment_intents.capture,
                intent_id,
                options=self._opts(idempotency_key(pledge.id, "capture")),
                expected=UNEXPECTED_STATE,
            )
        except stripe.CardError as error:
            return self._declined(error)
        except stripe.InvalidRequestError:
            # Already captured (a key older than Stripe remembers) or no longer
            # capturable: the intent's own status says which.
            intent = self._call("retrieve", self._stripe.payment_intents.retrieve, intent_id)
            if intent.status not in ("succeeded", "canceled"):
                raise PaymentProviderError(
                    f"PaymentIntent {intent_id} cannot be captured ({intent.status})."
                ) from None
        return self._result(intent)

    def cancel(self, pledge: Pledge) -> None:
        service = (
            self._stripe.payment_intents
            if pledge.payment.flow is PaymentFlow.HOLD
            else self._stripe.setup_intents
        )
        try:
            self._call(
                "cancel",
                service.cancel,
                pledge.payment.intent_id,
                options=self._opts(idempotency_key(pledge.id, "cancel")),
                expected=UNEXPECTED_STATE,
            )
        except stripe.InvalidRequestError:
            # Already succeeded without a hold, or already cancelled: nothing is held.
            logger.info("nothing to cancel", extra={"pledge_id": pledge.id})

    def flag_needs_backer(self, pledge: Pledge, intent_id: str) -> None:
        self._call(
            "flag",
            self._stripe.payment_intents.update,
            intent_id,
            params={"metadata": {NEEDS_BACKER_FLAG: "true"}},
            options=self._opts(idempotency_key(pledge.id, f"flag:{intent_id}")),
        )

    # ---------------------------------------------------------------- helpers

    def _existing_charge(self, pledge: Pledge, attempt: int) -> ChargeResult | None:
        mine = [
            intent
            for intent in self._intents_of(pledge.payment.customer_id or "")
            if _meta(intent).get("pledge_id") == pledge.id
        ]
        for intent in mine:
            if intent.status in ("succeeded", "processing"):
                return self._result(intent)
        for intent in mine:
            if _meta(intent).get("attempt") == str(attempt):
                return self._result(intent)
        return None

    def _intents_of(self, customer_id: str) -> Iterator[Any]:
        after: str | None = None
        while True:
            params: dict[str, Any] = {"customer": customer_id, "limit": 100}
            if after:
                params["starting_after"] = after
            page = self._call("list", self._stripe.payment_intents.list, params=params)
            yield from page.data
            if not page.has_more or not page.data:
                return
            after = page.data[-1].id

    @staticmethod
    def _result(intent: Any) -> ChargeResult:
        status = intent.status
        if status == "succeeded":
            return ChargeResult(ChargeStatus.SUCCEEDED, intent.id)
        if status == "canceled":
            return ChargeResult(ChargeStatus.CANCELED, intent.id)
        if status in NEEDS_BACKER_STATUSES:
            error = intent.last_payment_error
            return ChargeResult(
                ChargeStatus.NEEDS_BACKER,
                intent.id,
                intent.client_secret,
                (error.code if error else None) or "authentication_required",
            )
        # processing / requires_capture / requires_confirmation: not final yet.
        raise PaymentProviderUnavailable(
            f"PaymentIntent {intent.id} is {status}; asking again later.", retry_after=30
        )

    @staticmethod
    def _declined(error: stripe.CardError) -> ChargeResult:
        intent = (error.json_body or {}).get("error", {}).get("payment_intent")
        if not isinstance(intent, dict) or not intent.get("id"):
            raise PaymentProviderError("Stripe declined without a PaymentIntent.") from error
        return ChargeResult(
            ChargeStatus.NEEDS_BACKER,
            intent["id"],
            intent.get("client_secret"),
            error.code or "card_declined",
        )
