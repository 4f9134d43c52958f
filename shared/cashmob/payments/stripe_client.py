"""The Stripe client: one pinned API version, timeouts, network retries, and
the idempotency key every POST carries."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any, TypeVar

import stripe

from ..config import Settings
from ..pacing import RateLimiter
from ..secrets import Secrets
from .stripe_outcomes import call

T = TypeVar("T")

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


class StripeCaller:
    """What every adapter of ours to Stripe shares: the pinned client, made
    on first use, and one paced request at a time with its errors mapped."""

    def __init__(
        self, settings: Settings, secrets: Secrets, *, limiter: RateLimiter | None = None
    ) -> None:
        self._settings = settings
        self._secrets = secrets
        self._limiter = limiter

    @cached_property
    def _client(self) -> stripe.StripeClient:
        return connect(self._settings, self._secrets)

    def _call(self, step: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One Stripe request, paced by the limiter, its errors mapped
        (`stripe_outcomes.call`)."""
        if self._limiter is not None:
            self._limiter.acquire()
        return call(step, fn, *args, **kwargs)
