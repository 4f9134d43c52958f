"""The Stripe client: one pinned API version, timeouts, network retries, and
the idempotency key every POST carries."""

from __future__ import annotations

import stripe

from ..config import Settings
from ..secrets import Secrets

# The API version this code speaks: the one stripe-python 16.1.0 was generated
# for (`stripe.api_version`). A test fails when the two disagree.
STRIPE_API_VERSION = "2026-10-28.endive"


def connect(settings: Settings, secrets: Secrets) -> stripe.StripeClient:
    return stripe.StripeClient(
        secrets.stripe_secret_key,
        stripe_version=STRIPE_API_VERSION,
        base_addresses={"api": settings.stripe_api_base},
        # urllib has no timeouts in stripe-python; requests does.
        http_client=stripe.RequestsClient(
            timeout=(settings.stripe_connect_timeout_seconds, settings.stripe_read_timeout_seconds)
        ),
        max_network_retries=settings.stripe_max_network_retries,
    )


def idempotency_key(pledge_id: str, step: str) -> str:
    """`pledge:{id}:{step}`: a redelivery repeats the same request, and Stripe
    answers it with the first result instead of acting twice."""
    return f"pledge:{pledge_id}:{step}"


def options(pledge_id: str, step: str) -> dict[str, str]:
    """The request options of a POST for the pledge's `step`."""
    return {"idempotency_key": idempotency_key(pledge_id, step)}
