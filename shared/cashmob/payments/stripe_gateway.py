"""The payments gateway on Stripe: the only code in cashmob that calls Stripe.

One Stripe API version, on purpose: `STRIPE_API_VERSION` (stripe_client) is
sent with every request and is the version the pinned stripe-python
(shared/requirements.txt) was generated for, so its parameter types (checked
by mypy in `make test`) describe exactly the requests Stripe will accept.
Upgrade both together.

Every POST carries an idempotency key derived from the pledge and the step
(`pledge:{id}:{step}`), so a Lambda or SQS redelivery repeats the same request
and Stripe answers it with the first result instead of acting twice. Errors
become domain outcomes (stripe_outcomes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import stripe

from ..domain import Money, PaymentFlow, Pledge
from ..domain.errors import PaymentProviderError, PaymentProviderUnavailable
from ..observability import logger
from .gateway import ChargeResult, ChargeStatus, IntentRef
from .stripe_client import STRIPE_API_VERSION, StripeCaller, options
from .stripe_outcomes import (
    ALREADY_REFUNDED,
    PERMANENT_REFUSALS,
    UNEXPECTED_STATE,
    client_secret,
    declined,
    existing_charge,
    refused,
    result,
)

if TYPE_CHECKING:
    from stripe.params import (
        CustomerCreateParams,
        CustomerUpdateParams,
        PaymentIntentCancelParams,
        PaymentIntentCaptureParams,
        PaymentIntentCreateParams,
        PaymentIntentListParams,
        PaymentIntentUpdateParams,
        RefundCreateParams,
        RefundListParams,
        SetupIntentCancelParams,
        SetupIntentCreateParams,
    )

__all__ = ["STRIPE_API_VERSION", "StripeGateway"]


# Cards only, stated with the parameter this version has for it
# (`payment_method_types` was removed in 2026-09-30.endive). Dynamic payment
# methods would offer methods that cannot be saved for an off-session charge
# at the deadline, or held with manual capture; cards can do both.
CARD_ONLY: list[Any] = ["card"]


def _metadata(campaign_id: str, pledge_id: str, **extra: str) -> dict[str, str]:
    return {"campaign_id": campaign_id, "pledge_id": pledge_id, **extra}


class StripeGateway(StripeCaller):
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
            options=options(pledge_id, "customer"),
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
            options=options(pledge_id, "setup"),
        )
        return IntentRef(intent.id, client_secret(intent), customer.id)

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
            options=options(pledge_id, "hold"),
        )
        return IntentRef(intent.id, client_secret(intent))

    # ---------------------------------------------------------------- settlement

    def charge(self, pledge: Pledge, *, attempt: int, look_up_first: bool) -> ChargeResult:
        if pledge.payment.flow is not PaymentFlow.SETUP or not pledge.payment.customer_id:
            raise PaymentProviderError(f"Pledge {pledge.id} has no saved card to charge.")
        if look_up_first:
            # Stripe forgets idempotency keys after 24 h, and replays a stored
            # 5xx under its key: never create a second charge when one exists.
            intents = self._intents_of(pledge.payment.customer_id)
            found = existing_charge(intents, pledge.id, attempt)
            if found is not None:
                return found
        params: PaymentIntentCreateParams = {
            "amount": pledge.to_charge,  # the amount, or its fixed_price fair share
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
                options=options(pledge.id, f"charge:{attempt}"),
                expected=PERMANENT_REFUSALS,
                outcome_unknown=True,
            )
        except stripe.CardError as error:
            return declined(error)
        except stripe.InvalidRequestError as error:
            return refused("charge", error)
        return result(intent)

    def capture(self, pledge: Pledge, *, attempt: int = 0) -> ChargeResult:
        intent_id = pledge.payment.intent_id
        if intent_id is None:
            raise PaymentProviderError(f"Pledge {pledge.id} has no hold to capture.")
        step = "capture" if attempt == 0 else f"capture:{attempt}"
        params: PaymentIntentCaptureParams = {}
        if pledge.to_charge != pledge.amount.amount:
            # A fair share: Stripe captures this part and releases the rest
            # of the hold (final_capture defaults to true).
            params["amount_to_capture"] = pledge.to_charge
        try:
            intent = self._call(
                "capture",
                self._client.v1.payment_intents.capture,
                intent_id,
                params=params,
                options=options(pledge.id, step),
                expected=UNEXPECTED_STATE | PERMANENT_REFUSALS,
                outcome_unknown=True,
            )
        except stripe.CardError as error:
            return declined(error)
        except stripe.InvalidRequestError as error:
            if error.code not in UNEXPECTED_STATE:
                return refused("capture", error)
            # Already captured (a key older than Stripe remembers) or no longer
            # capturable: the intent's own status says which.
            intent = self._call("retrieve", self._client.v1.payment_intents.retrieve, intent_id)
            if intent.status not in ("succeeded", "canceled"):
                raise PaymentProviderError(
                    f"PaymentIntent {intent_id} cannot be captured ({intent.status})."
                ) from None
        return result(intent)

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
                options=options(pledge.id, "cancel"),
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
                options=options(pledge.id, f"cancel:{intent_id}"),
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
                options=options(pledge.id, step),
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

    def refund_pledge(self, pledge: Pledge, intent_id: str, *, look_up_first: bool) -> str:
        """Refund `pledge.refunds.number` under the key `refund-{number}`.
        Stripe's Refund `reason` takes only duplicate / fraudulent /
        requested_by_customer: the organizer's words go in the metadata,
        beside `refund_to` (the pledge's refunded total once this refund is
        made), which finds the refund again after a 5xx."""
        r = pledge.refunds
        tag = str(r.target)
        if look_up_first:
            found = self._refund_tagged(intent_id, pledge.id, tag)
            if found is not None:
                return found
        meta = _metadata(pledge.campaign_id, pledge.id, refund_to=tag)
        if r.reason:
            meta["reason"] = r.reason
        params: RefundCreateParams = {
            "payment_intent": intent_id,
            "amount": r.pending,
            "reason": "requested_by_customer",
            "metadata": meta,
        }
        try:
            refund = self._call(
                "refund",
                self._client.v1.refunds.create,
                params=params,
                options=options(pledge.id, f"refund-{r.number}"),
                expected=ALREADY_REFUNDED,
                outcome_unknown=True,
            )
        except stripe.InvalidRequestError:
            # All of it is back already (refunded in Stripe's dashboard, or
            # this refund under a key Stripe no longer remembers).
            found = self._refund_tagged(intent_id, pledge.id, tag, any_refund=True)
            if found is None:
                raise PaymentProviderError(
                    f"PaymentIntent {intent_id} is refunded, yet has no refund."
                ) from None
            return found
        return str(refund.id)

    def _refund_tagged(
        self, intent_id: str, pledge_id: str, tag: str, *, any_refund: bool = False
    ) -> str | None:
        """The refund of `intent_id` whose metadata carries the pledge's
        `refund_to` tag (`any_refund`: else the newest refund)."""
        listing: RefundListParams = {"payment_intent": intent_id, "limit": 100}
        page = self._call("refunds", self._client.v1.refunds.list, params=listing)
        for refund in page.data:
            meta = refund.metadata.to_dict() if refund.metadata else {}
            if meta.get("pledge_id") == pledge_id and meta.get("refund_to") == tag:
                return str(refund.id)
        if any_refund and page.data:
            return str(page.data[0].id)
        return None

    # ---------------------------------------------------------------- erasure

    def forget_backer(self, pledge: Pledge) -> None:
        """An empty string unsets a Customer's email (Stripe changelog
        2013-08-12; the generated types still say `str`), so the Customer
        keeps its id, metadata and saved card (a pledge erased before the
        deadline can still be charged) and loses the address. Its name is
        never given to Stripe (`start_setup`), so there is none to remove.
        A hold's PaymentIntent loses its `receipt_email`."""
        if pledge.payment.customer_id:
            customer_params: CustomerUpdateParams = {"email": ""}
            self._call(
                "forget",
                self._client.v1.customers.update,
                pledge.payment.customer_id,
                params=customer_params,
                options=options(pledge.id, "forget-customer"),
            )
        if pledge.payment.flow is PaymentFlow.HOLD and pledge.payment.intent_id:
            intent_params: PaymentIntentUpdateParams = {"receipt_email": ""}
            try:
                self._call(
                    "forget",
                    self._client.v1.payment_intents.update,
                    pledge.payment.intent_id,
                    params=intent_params,
                    options=options(pledge.id, "forget-hold"),
                )
            except PaymentProviderError:
                # An intent Stripe no longer lets us update keeps the address
                # it sent its receipt to; ours is erased all the same.
                logger.warning("hold receipt email not erased", extra={"pledge_id": pledge.id})

    # ---------------------------------------------------------------- helpers

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
