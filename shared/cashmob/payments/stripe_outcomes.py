"""Stripe's answers in domain terms. Errors:

- card declined / authentication required: the backer must act (NEEDS_BACKER);
- a charge Stripe refuses for good (amount too small, card gone): REFUSED;
- rate limited, 5xx, network: PaymentProviderUnavailable (retry later); for a
  charge or capture, ChargeOutcomeUnknown: Stripe saves a 5xx under its key,
  so the retry looks the pledge up and uses a new attempt key;
- a key reused with other parameters: IdempotencyKeyReused (409);
- anything else Stripe refuses: PaymentProviderError (our bug: logged loudly).

And what Stripe's objects say: a PaymentIntent's status as a ChargeResult,
the charge a pledge already has.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NoReturn, TypeVar

import stripe

from ..domain.errors import (
    ChargeOutcomeUnknown,
    IdempotencyKeyReused,
    PaymentProviderError,
    PaymentProviderUnavailable,
)
from ..observability import logger, metrics
from .gateway import ChargeResult, ChargeStatus

T = TypeVar("T")

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


def call(
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
    try:
        return fn(*args, **kwargs)
    except stripe.RateLimitError as error:
        metrics.add_metric(name="StripeRateLimited", unit="Count", value=1)
        raise PaymentProviderUnavailable("Stripe is rate limiting us.", retry_after=2) from error
    except (stripe.APIConnectionError, stripe.APIError) as error:
        if outcome_unknown:
            metrics.add_metric(name="StripeOutcomeUnknown", unit="Count", value=1)
            raise ChargeOutcomeUnknown(
                f"Stripe failed during the {step} request.", retry_after=5
            ) from error
        raise PaymentProviderUnavailable("Stripe is unavailable.", retry_after=5) from error
    except stripe.IdempotencyError as error:
        metrics.add_metric(name="StripeIdempotencyConflict", unit="Count", value=1)
        raise IdempotencyKeyReused("This request was first made with other parameters.") from error
    except stripe.CardError:
        raise
    except stripe.InvalidRequestError as error:
        if error.code in expected:
            raise
        rejected(step, error)
    except stripe.StripeError as error:
        rejected(step, error)


def rejected(step: str, error: stripe.StripeError) -> NoReturn:
    # An invalid request or a bad key: a bug of ours.
    metrics.add_metric(name="StripeRequestRejected", unit="Count", value=1)
    logger.error(
        "Stripe rejected a request",
        extra={"step": step, "stripe_code": error.code, "http_status": error.http_status},
    )
    raise PaymentProviderError(f"Stripe rejected the {step} request.") from error


def result(intent: Any) -> ChargeResult:
    """A PaymentIntent that settled one way or the other, as a ChargeResult."""
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


def refused(step: str, error: stripe.InvalidRequestError) -> ChargeResult:
    metrics.add_metric(name="StripeChargeRefused", unit="Count", value=1)
    logger.warning(
        "Stripe refused a charge for good", extra={"step": step, "stripe_code": error.code}
    )
    return ChargeResult(ChargeStatus.REFUSED, None, reason=error.code or "refused")


def declined(error: stripe.CardError) -> ChargeResult:
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


def client_secret(intent: Any) -> str:
    if not intent.client_secret:
        raise PaymentProviderError(f"Stripe created {intent.id} without a client secret.")
    return str(intent.client_secret)


def _meta(obj: Any) -> dict[str, Any]:
    """A Stripe object's metadata as a plain dict (StripeObject is no mapping)."""
    return obj.metadata.to_dict() if obj.metadata else {}


def existing_charge(intents: Iterable[Any], pledge_id: str, attempt: int) -> ChargeResult | None:
    """Among a customer's PaymentIntents, the pledge's money already taken (or
    on its way), else this attempt's intent, else None."""
    mine = [intent for intent in intents if _meta(intent).get("pledge_id") == pledge_id]
    for intent in mine:
        if intent.status in ("succeeded", "processing"):
            return result(intent)
    for intent in mine:
        if _meta(intent).get("attempt") == str(attempt):
            return result(intent)
    return None
