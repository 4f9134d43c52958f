"""The payments gateway on Stripe: the only code in cashmob that calls Stripe.

One Stripe API version, on purpose: `STRIPE_API_VERSION` is sent with every
request and is the version the pinned stripe-python (shared/requirements.txt)
was generated for, so its parameter types (checked by mypy in `make test`)
describe exactly the requests Stripe will accept. Upgrade both together.

Every POST carries an idempotency key derived from the pledge and the step
(`pledge:{id}:{step}`), so a Lambda or SQS redelivery repeats the same request
and Stripe answers it with the first result instead of acting twice. Errors
become domain outcomes:

- card declined / authentication required: the backer must act (NEEDS_BACKER);
- a charge Stripe refuses for good (amount too small, card gone): REFUSED;
- rate limited, 5xx, network: PaymentProviderUnavailable (retry later); for a
  charge or capture, ChargeOutcomeUnknown: Stripe saves a 5xx under its key,
  so the retry looks the pledge up and uses a new attempt key;
- a key reused with other parameters: IdempotencyKeyReused (409);
- anything else Stripe refuses: PaymentProviderError (our bug: logged loudly).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import stripe

from ..config import Settings
from ..domain import Money, PaymentFlow, Pledge
from ..domain.errors import (
    ChargeOutcomeUnknown,
    IdempotencyKeyReused,
    PaymentProviderError,
    PaymentProviderUnavailable,
)
from ..observability import logger, metrics
from ..pacing import RateLimiter
from ..secrets import Secrets
from .gateway import ChargeResult, ChargeStatus, IntentRef

if TYPE_CHECKING:
    from stripe.params import (
        CustomerCreateParams,
        PaymentIntentCancelParams,
        PaymentIntentCaptureParams,
        PaymentIntentCreateParams,
        PaymentIntentListParams,
        RefundCreateParams,
        RefundListParams,
        SetupIntentCancelParams,
        SetupIntentCreateParams,
    )

T = TypeVar("T")

# The API version this code speaks: the one stripe-python 16.1.0 was generated
# for (`stripe.api_version`). A test fails when the two disagree.
STRIPE_API_VERSION = "2026-10-28.endive"

# Cards only, stated with the parameter this version has for it
# (`payment_method_types` was removed in 2026-09-30.endive). Dynamic payment
# methods would offer methods that cannot be saved for an off-session charge
# at the deadline, or held with manual capture; cards can do both.
CARD_ONLY: list[Any] = ["card"]

# Declines the backer can fix (another card, 3-D Secure); anything else Stripe
# answers with a card error is treated the same way: only the backer can act.
NEEDS_BACKER_STATUSES = frozenset({"requires_payment_method", "requires_action"})
# Stripe's answer when an intent is no longer in a state the call applies to.
UNEXPECTED_STATE = frozenset({"payment_intent_unexpected_state", "setup_intent_unexpected_state"})
# Refusals of a charge that no retry will change: the pledge ends `failed`.
PERMANENT_REFUSALS = frozenset(
    {
        "amount_too_small",
        "amount_too_large",
        "resource_missing",  # the customer or the saved card is gone
        "payment_method_unexpected_state",
        "payment_method_not_available",
        "payment_method_unactivated",
    }
)
ALREADY_REFUNDED = frozenset({"charge_already_refunded"})


def idempotency_key(pledge_id: str, step: str) -> str:
    return f"pledge:{pledge_id}:{step}"


def _meta(obj: Any) -> dict[str, Any]:
    """A Stripe object's metadata as a plain dict (StripeObject is no mapping)."""
    return obj.metadata.to_dict() if obj.metadata else {}


def _metadata(campaign_id: str, pledge_id: str, **extra: str) -> dict[str, str]:
    return {"campaign_id": campaign_id, "pledge_id": pledge_id, **extra}


def _secret_of(intent_id: str, client_secret: str | None) -> str:
    if not client_secret:
        raise PaymentProviderError(f"Stripe created {intent_id} without a client secret.")
    return client_secret


class StripeGateway:
    def __init__(
        self, settings: Settings, secrets: Secrets, *, limiter: RateLimiter | None = None
    ) -> None:
        self._settings = settings
        self._secrets = secrets
        self._limiter = limiter

    @cached_property
    def _client(self) -> stripe.StripeClient:
        s = self._settings
        return stripe.StripeClient(
            self._secrets.stripe_secret_key,
            stripe_version=STRIPE_API_VERSION,
            base_addresses={"api": s.stripe_api_base},
            # urllib has no timeouts in stripe-python; requests does.
            http_client=stripe.RequestsClient(
                timeout=(s.stripe_connect_timeout_seconds, s.stripe_read_timeout_seconds)
            ),
            max_network_retries=s.stripe_max_network_retries,
        )

    # ---------------------------------------------------------------- calls

    def _call(
        self,
        step: str,
        fn: Callable[..., T],
        *args: Any,
        expected: frozenset[str] = frozenset(),
        outcome_unknown: bool = False,
        **kwargs: Any,
    ) -> T:
        """One Stripe request, with transient and programming errors mapped.
        Card errors, and invalid-request errors whose code is `expected`, reach
        the caller as Stripe raised them. `outcome_unknown`: a 5xx or a lost
        connection may have moved money (ChargeOutcomeUnknown)."""
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
            if outcome_unknown:
                metrics.add_metric(name="StripeOutcomeUnknown", unit="Count", value=1)
                raise ChargeOutcomeUnknown(
                    f"Stripe failed during the {step} request.", retry_after=5
                ) from error
            raise PaymentProviderUnavailable("Stripe is unavailable.", retry_after=5) from error
        except stripe.IdempotencyError as error:
            metrics.add_metric(name="StripeIdempotencyConflict", unit="Count", value=1)
            raise IdempotencyKeyReused(
                "This request was first made with other parameters."
            ) from error
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
        # An invalid request or a bad key: a bug of ours.
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
        customer_params: CustomerCreateParams = {"email": email, "metadata": meta}
        customer = self._call(
            "customer",
            self._client.v1.customers.create,
            params=customer_params,
            options=self._opts(idempotency_key(pledge_id, "customer")),
        )
        setup_params: SetupIntentCreateParams = {
            "customer": customer.id,
            "usage": "off_session",
            "allowed_payment_method_types": CARD_ONLY,
            "metadata": meta,
        }
        intent = self._call(
            "setup",
            self._client.v1.setup_intents.create,
            params=setup_params,
            options=self._opts(idempotency_key(pledge_id, "setup")),
        )
        return IntentRef(intent.id, _secret_of(intent.id, intent.client_secret), customer.id)

    def start_hold(
        self, *, campaign_id: str, pledge_id: str, email: str, amount: Money
    ) -> IntentRef:
        params: PaymentIntentCreateParams = {
            "amount": amount.amount,
            "currency": amount.currency,
            "capture_method": "manual",
            "allowed_payment_method_types": CARD_ONLY,
            "receipt_email": email,
            "metadata": _metadata(campaign_id, pledge_id),
        }
        intent = self._call(
            "hold",
            self._client.v1.payment_intents.create,
            params=params,
            options=self._opts(idempotency_key(pledge_id, "hold")),
        )
        return IntentRef(intent.id, _secret_of(intent.id, intent.client_secret))

    # ---------------------------------------------------------------- settlement

    def charge(self, pledge: Pledge, *, attempt: int, look_up_first: bool) -> ChargeResult:
        if pledge.payment.flow is not PaymentFlow.SETUP or not pledge.payment.customer_id:
            raise PaymentProviderError(f"Pledge {pledge.id} has no saved card to charge.")
        if look_up_first:
            # Stripe forgets idempotency keys after 24 h, and replays a stored
            # 5xx under its key: never create a second charge when one exists.
            found = self._existing_charge(pledge, attempt)
            if found is not None:
                return found
        params: PaymentIntentCreateParams = {
            "amount": pledge.amount.amount,
            "currency": pledge.amount.currency,
            "customer": pledge.payment.customer_id,
            "allowed_payment_method_types": CARD_ONLY,
            "off_session": True,
            "confirm": True,
            "metadata": _metadata(pledge.campaign_id, pledge.id, attempt=str(attempt)),
        }
        if pledge.payment.payment_method:
            params["payment_method"] = pledge.payment.payment_method
        try:
            intent = self._call(
                "charge",
                self._client.v1.payment_intents.create,
                params=params,
                options=self._opts(idempotency_key(pledge.id, f"charge:{attempt}")),
                expected=PERMANENT_REFUSALS,
                outcome_unknown=True,
            )
        except stripe.CardError as error:
            return self._declined(error)
        except stripe.InvalidRequestError as error:
            return self._refused("charge", error)
        return self._result(intent)

    def capture(self, pledge: Pledge, *, attempt: int = 0) -> ChargeResult:
        intent_id = pledge.payment.intent_id
        if intent_id is None:
            raise PaymentProviderError(f"Pledge {pledge.id} has no hold to capture.")
        step = "capture" if attempt == 0 else f"capture:{attempt}"
        params: PaymentIntentCaptureParams = {}
        try:
            intent = self._call(
                "capture",
                self._client.v1.payment_intents.capture,
                intent_id,
                params=params,
                options=self._opts(idempotency_key(pledge.id, step)),
                expected=UNEXPECTED_STATE | PERMANENT_REFUSALS,
                outcome_unknown=True,
            )
        except stripe.CardError as error:
            return self._declined(error)
        except stripe.InvalidRequestError as error:
            if error.code not in UNEXPECTED_STATE:
                return self._refused("capture", error)
            # Already captured (a key older than Stripe remembers) or no longer
            # capturable: the intent's own status says which.
            intent = self._call("retrieve", self._client.v1.payment_intents.retrieve, intent_id)
            if intent.status not in ("succeeded", "canceled"):
                raise PaymentProviderError(
                    f"PaymentIntent {intent_id} cannot be captured ({intent.status})."
                ) from None
        return self._result(intent)

    def cancel(self, pledge: Pledge) -> None:
        if pledge.payment.intent_id is None:
            return  # Stripe's object was never made: nothing is held
        if pledge.payment.flow is PaymentFlow.HOLD:
            hold: PaymentIntentCancelParams = {}
            call: Callable[..., Any] = self._client.v1.payment_intents.cancel
            params: Any = hold
        else:
            setup: SetupIntentCancelParams = {}
            call, params = self._client.v1.setup_intents.cancel, setup
        try:
            self._call(
                "cancel",
                call,
                pledge.payment.intent_id,
                params=params,
                options=self._opts(idempotency_key(pledge.id, "cancel")),
                expected=UNEXPECTED_STATE,
            )
        except stripe.InvalidRequestError:
            # Already succeeded without a hold, or already cancelled: nothing is held.
            logger.info("nothing to cancel", extra={"pledge_id": pledge.id})

    def cancel_payment(self, pledge: Pledge, intent_id: str) -> ChargeResult:
        params: PaymentIntentCancelParams = {}
        try:
            intent = self._call(
                "cancel_payment",
                self._client.v1.payment_intents.cancel,
                intent_id,
                params=params,
                options=self._opts(idempotency_key(pledge.id, f"cancel:{intent_id}")),
                expected=UNEXPECTED_STATE,
            )
        except stripe.InvalidRequestError:
            # Succeeded (or processing) before we could cancel it, or cancelled already.
            intent = self._call("retrieve", self._client.v1.payment_intents.retrieve, intent_id)
        if intent.status == "succeeded":
            return ChargeResult(ChargeStatus.SUCCEEDED, intent.id)
        if intent.status == "canceled":
            return ChargeResult(ChargeStatus.CANCELED, intent.id, reason=intent.cancellation_reason)
        raise PaymentProviderUnavailable(
            f"PaymentIntent {intent_id} is {intent.status}; asking again later.", retry_after=30
        )

    def refund(self, pledge: Pledge, intent_id: str, *, amount: int | None = None) -> str:
        step = f"refund:{intent_id}" + (f":{amount}" if amount is not None else "")
        params: RefundCreateParams = {
            "payment_intent": intent_id,
            "metadata": _metadata(pledge.campaign_id, pledge.id),
        }
        if amount is not None:
            params["amount"] = amount
        try:
            refund = self._call(
                "refund",
                self._client.v1.refunds.create,
                params=params,
                options=self._opts(idempotency_key(pledge.id, step)),
                expected=ALREADY_REFUNDED,
            )
        except stripe.InvalidRequestError:
            # Refunded in full already (a key older than Stripe remembers, or
            # a refund made in Stripe's dashboard): that refund is the answer.
            listing: RefundListParams = {"payment_intent": intent_id, "limit": 1}
            page = self._call("refunds", self._client.v1.refunds.list, params=listing)
            if not page.data:
                raise PaymentProviderError(
                    f"PaymentIntent {intent_id} is refunded, yet has no refund."
                ) from None
            return str(page.data[0].id)
        return str(refund.id)

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
            params: PaymentIntentListParams = {"customer": customer_id, "limit": 100}
            if after:
                params["starting_after"] = after
            page = self._call("list", self._client.v1.payment_intents.list, params=params)
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
            return ChargeResult(ChargeStatus.CANCELED, intent.id, reason=intent.cancellation_reason)
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
    def _refused(step: str, error: stripe.InvalidRequestError) -> ChargeResult:
        metrics.add_metric(name="StripeChargeRefused", unit="Count", value=1)
        logger.warning(
            "Stripe refused a charge for good", extra={"step": step, "stripe_code": error.code}
        )
        return ChargeResult(ChargeStatus.REFUSED, None, reason=error.code or "refused")

    @staticmethod
    def _declined(error: stripe.CardError) -> ChargeResult:
        body = error.json_body if isinstance(error.json_body, dict) else {}
        intent = (body.get("error") or {}).get("payment_intent")
        if not isinstance(intent, dict) or not intent.get("id"):
            raise PaymentProviderError("Stripe declined without a PaymentIntent.") from error
        return ChargeResult(
            ChargeStatus.NEEDS_BACKER,
            intent["id"],
            intent.get("client_secret"),
            error.code or "card_declined",
        )
