"""The emulator's fixed identity: the one Stripe API version it speaks and
the local stack's published test keys (API.md; not secrets)."""

from __future__ import annotations

import stripe

# The one version the emulator speaks: the one the installed stripe-python pins.
API_VERSION: str = stripe.api_version
SECRET_KEY = "sk_test_local"  # noqa: S105
PUBLISHABLE_KEY = "pk_test_local"
WEBHOOK_SECRET = "whsec_local"  # noqa: S105
