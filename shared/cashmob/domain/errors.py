"""Domain errors. The API maps each class to a status code in one place
(`cashmob.http`); nothing chooses a status by reading a message."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ValidationFailed(DomainError):
    """Well-formed input with invalid fields (422)."""

    code = "validation_failed"


class BadRequest(DomainError):
    """Unparseable body or a missing required header (400)."""

    code = "bad_request"


class PayloadTooLarge(DomainError):
    code = "payload_too_large"


class Unauthorized(DomainError):
    code = "unauthorized"


class Forbidden(DomainError):
    code = "forbidden"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    """The request is valid but the current state does not allow it (409)."""

    code = "conflict"


class CampaignClosed(Conflict):
    code = "campaign_closed"


class InvalidTransition(Conflict):
    code = "invalid_transition"

    def __init__(self, entity: str, current: str, target: str) -> None:
        super().__init__(f"A {entity} cannot move from {current} to {target}.")
        self.entity = entity
        self.current = current
        self.target = target


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"


class ConcurrentUpdate(Conflict):
    """A conditional write lost a race; the caller may re-read and retry."""

    code = "concurrent_update"


class PaymentProviderUnavailable(DomainError):
    """Stripe throttled us or failed transiently; retry later (503)."""

    code = "payment_provider_unavailable"

    def __init__(self, message: str, *, retry_after: int = 2) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ChargeOutcomeUnknown(PaymentProviderUnavailable):
    """Stripe answered a charge with a 5xx (or never answered): it may or may
    not have taken the money, and Stripe replays a stored 5xx under the same
    idempotency key. Look the pledge's payments up, then try under a new key."""

    code = "charge_outcome_unknown"


class PaymentProviderError(DomainError):
    """Stripe rejected a request we built: a bug on our side (502)."""

    code = "payment_provider_error"
