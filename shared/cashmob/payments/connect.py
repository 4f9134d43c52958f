"""Stripe Connect (organizers' Express accounts, payouts as Transfers) and
the reads reconciliation makes: the rest of what cashmob asks of Stripe,
beside the pledge gateway (`stripe_gateway`), on the same pinned client.

Every POST carries a deterministic idempotency key: `organizer:{sub}:account`
(one connected account per organizer, however often onboarding is asked
for), `campaign:{id}:payout` (one transfer per campaign), `campaign:{id}:
payout:reverse:{transfer}`. Stripe forgets keys after 24 h, so a payout
first looks for the campaign's transfers by `transfer_group` (= the campaign
id) and makes none if one exists.

The accounts are Express accounts, created with the controller properties
Stripe's Accounts v1 docs recommend in place of `type=express`: Stripe's
Express dashboard, Stripe collecting the requirements, the platform paying
Stripe's fees and owning losses; `transfers` requested (Stripe's docs,
"Migrate to controller properties").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

import stripe

from .stripe_client import StripeCaller

if TYPE_CHECKING:
    from stripe.params import (
        AccountCreateParams,
        AccountLinkCreateParams,
        EventListParams,
        PaymentIntentListParams,
        RefundListParams,
        TransferCreateParams,
        TransferListParams,
        TransferReversalCreateParams,
    )


def plain(obj: Any) -> dict[str, Any]:
    """A Stripe object as plain JSON values."""
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


class ConnectGateway(Protocol):
    """What payouts and reconciliation ask of Stripe (dicts as Stripe shows them)."""

    def create_account(self, organizer: str, email: str | None = None) -> str: ...

    def retrieve_account(self, account_id: str) -> dict[str, Any]: ...

    def onboarding_link(
        self, organizer: str, account_id: str, *, return_url: str, refresh_url: str, key: str
    ) -> str: ...

    def transfers_of(self, campaign_id: str) -> list[dict[str, Any]]: ...

    def transfer(
        self, campaign_id: str, *, account_id: str, amount: int, currency: str
    ) -> dict[str, Any]: ...

    def reverse(self, campaign_id: str, transfer_id: str) -> str | None: ...

    def payment_intent(self, intent_id: str) -> dict[str, Any] | None: ...

    def intents_of_customer(self, customer_id: str) -> list[dict[str, Any]]: ...

    def charge(self, charge_id: str) -> dict[str, Any]: ...

    def succeeded_payments(self, since: int) -> list[dict[str, Any]]: ...

    def refunded(self, intent_id: str) -> int: ...


class StripeConnect(StripeCaller):
    # ---------------------------------------------------------------- accounts

    def create_account(self, organizer: str, email: str | None = None) -> str:
        params: AccountCreateParams = {
            "controller": {
                "stripe_dashboard": {"type": "express"},
                "requirement_collection": "stripe",
                "fees": {"payer": "application"},
                "losses": {"payments": "application"},
            },
            "capabilities": {"transfers": {"requested": True}},
            "metadata": {"organizer": organizer},
        }
        if email:
            params["email"] = email
        account = self._call(
            "account",
            self._client.v1.accounts.create,
            params=params,
            options={"idempotency_key": f"organizer:{organizer}:account"},
        )
        return str(account.id)

    def retrieve_account(self, account_id: str) -> dict[str, Any]:
        return plain(self._call("account", self._client.v1.accounts.retrieve, account_id))

    def onboarding_link(
        self, organizer: str, account_id: str, *, return_url: str, refresh_url: str, key: str
    ) -> str:
        """An Account Link (single use, short-lived) for Stripe's onboarding.
        `key` tells a retry of this request from a new one."""
        params: AccountLinkCreateParams = {
            "account": account_id,
            "type": "account_onboarding",
            "return_url": return_url,
            "refresh_url": refresh_url,
        }
        link = self._call(
            "account_link",
            self._client.v1.account_links.create,
            params=params,
            options={"idempotency_key": f"organizer:{organizer}:link:{key}"},
        )
        return str(link.url)

    # ---------------------------------------------------------------- transfers

    def transfers_of(self, campaign_id: str) -> list[dict[str, Any]]:
        """Every transfer of the campaign (its `transfer_group`), newest first."""
        found: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            params: TransferListParams = {"transfer_group": campaign_id, "limit": 100}
            if after:
                params["starting_after"] = after
            page = self._call("transfers", self._client.v1.transfers.list, params=params)
            found.extend(plain(t) for t in page.data)
            if not page.has_more or not page.data:
                return found
            after = page.data[-1].id

    def transfer(
        self, campaign_id: str, *, account_id: str, amount: int, currency: str
    ) -> dict[str, Any]:
        params: TransferCreateParams = {
            "amount": amount,
            "currency": currency,
            "destination": account_id,
            "transfer_group": campaign_id,
            "metadata": {"campaign_id": campaign_id},
        }
        made = self._call(
            "transfer",
            self._client.v1.transfers.create,
            params=params,
            options={"idempotency_key": f"campaign:{campaign_id}:payout"},
        )
        return plain(made)

    def reverse(self, campaign_id: str, transfer_id: str) -> str | None:
        """Reverses what is left of the transfer; the reversal id (None when
        it was reversed in full already)."""
        current = plain(self._call("transfer", self._client.v1.transfers.retrieve, transfer_id))
        if current["amount_reversed"] >= current["amount"]:
            return None
        params: TransferReversalCreateParams = {"metadata": {"campaign_id": campaign_id}}
        reversal = self._call(
            "reverse",
            self._client.v1.transfers.reversals.create,
            transfer_id,
            params=params,
            options={"idempotency_key": f"campaign:{campaign_id}:payout:reverse:{transfer_id}"},
        )
        return str(reversal.id)

    # ---------------------------------------------------------------- reads

    def payment_intent(self, intent_id: str) -> dict[str, Any] | None:
        """The PaymentIntent, or None if Stripe has none by that id."""
        try:
            intent = self._call(
                "retrieve",
                self._client.v1.payment_intents.retrieve,
                intent_id,
                expected=frozenset({"resource_missing"}),
            )
        except stripe.InvalidRequestError:
            return None
        return plain(intent)

    def intents_of_customer(self, customer_id: str) -> list[dict[str, Any]]:
        return list(self._intents_of(customer_id))

    def charge(self, charge_id: str) -> dict[str, Any]:
        return plain(self._call("charge", self._client.v1.charges.retrieve, charge_id))

    def succeeded_payments(self, since: int) -> list[dict[str, Any]]:
        """The PaymentIntents of every `payment_intent.succeeded` event since
        `since` (epoch seconds; Stripe keeps events for 30 days), as the
        events show them: payments our records may not know of."""
        found: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            params: EventListParams = {
                "type": "payment_intent.succeeded",
                "created": {"gte": since},
                "limit": 100,
            }
            if after:
                params["starting_after"] = after
            page = self._call("events", self._client.v1.events.list, params=params)
            found.extend(plain(e.data.object) for e in page.data)
            if not page.has_more or not page.data:
                return found
            after = page.data[-1].id

    def _intents_of(self, customer_id: str) -> Iterator[dict[str, Any]]:
        after: str | None = None
        while True:
            params: PaymentIntentListParams = {"customer": customer_id, "limit": 100}
            if after:
                params["starting_after"] = after
            page = self._call("list", self._client.v1.payment_intents.list, params=params)
            yield from (plain(i) for i in page.data)
            if not page.has_more or not page.data:
                return
            after = page.data[-1].id

    def refunded(self, intent_id: str) -> int:
        """What Stripe gave back of the PaymentIntent (succeeded or pending refunds)."""
        total, after = 0, None
        while True:
            params: RefundListParams = {"payment_intent": intent_id, "limit": 100}
            if after:
                params["starting_after"] = after
            page = self._call("refunds", self._client.v1.refunds.list, params=params)
            total += sum(r.amount for r in page.data if r.status in ("succeeded", "pending", None))
            if not page.has_more or not page.data:
                return total
            after = page.data[-1].id
