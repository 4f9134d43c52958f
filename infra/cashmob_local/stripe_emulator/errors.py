"""Stripe's error answers, as the emulator raises them while handling a request."""

from __future__ import annotations

from typing import Any

from . import objects


class StripeFailure(Exception):
    """An error answer. `store=False` marks a refusal made before the request
    began executing (parameter validation, amount checks): like Stripe, the
    emulator does not save it under the request's Idempotency-Key."""

    def __init__(self, status: int, body: dict[str, Any], *, store: bool = True) -> None:
        super().__init__(body["error"]["message"])
        self.status = status
        self.body = body
        self.store = store


def invalid(
    message: str, *, code: str | None = None, param: str | None = None, store: bool = True
) -> StripeFailure:
    return StripeFailure(
        400, objects.error("invalid_request_error", message, code=code, param=param), store=store
    )


def missing(kind: str, object_id: str, *, param: str | None = None) -> StripeFailure:
    return StripeFailure(
        404,
        objects.error(
            "invalid_request_error",
            f"No such {kind}: '{object_id}'",
            code="resource_missing",
            param=param or ("customer" if kind == "customer" else "id"),
        ),
    )


def unexpected(kind: str, obj: dict[str, Any], action: str) -> StripeFailure:
    return invalid(
        f"You cannot {action} this {kind.replace('_', ' ')} because it has a status of "
        f"{obj['status']}.",
        code=f"{kind}_unexpected_state",
    )
