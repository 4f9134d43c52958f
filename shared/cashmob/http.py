"""Domain errors to HTTP: the one place that chooses status codes; the body
is API.md's error body (`error_body`)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from .domain.errors import (
    BadRequest,
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    PaymentProviderError,
    PaymentProviderUnavailable,
    Unauthorized,
    ValidationFailed,
)
from .error_body import JSON, error_body
from .observability import logger

STATUS: dict[type[DomainError], int] = {
    BadRequest: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    ValidationFailed: 422,
    PaymentProviderError: 502,
    PaymentProviderUnavailable: 503,
}


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = json.dumps(error_body(code, message, details))
    return Response(status, JSON, body, headers=headers)


def status_of(error: DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]  # type: ignore[index]
    return 500


def from_domain(error: DomainError) -> Response:
    status = status_of(error)
    headers = None
    if isinstance(error, PaymentProviderUnavailable):
        headers = {"Retry-After": str(error.retry_after)}
    if status >= 500:
        logger.warning("upstream failure", extra={"code": error.code})
    return error_response(status, error.code, error.message, error.details, headers)


def _clean(detail: dict[str, Any]) -> dict[str, Any]:
    loc = [str(p) for p in detail.get("loc", ())]
    return {
        "field": ".".join(loc[1:]) or loc[0] if loc else "",
        "in": loc[0] if loc else "",
        "problem": detail.get("msg", ""),
    }


def from_validation(error: RequestValidationError) -> Response:
    """Powertools' validation failures in our format: 400 for an unparseable
    body or a missing required header, 422 for invalid fields."""
    errors = list(error.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "invalid_json", "The request body is not valid JSON.")
    if any(e.get("loc", ("",))[0] == "header" and e.get("type") == "missing" for e in errors):
        missing = [_clean(e) for e in errors if e.get("loc", ("",))[0] == "header"]
        return error_response(400, "missing_header", "A required header is missing.", missing)
    if any(e.get("loc") == ("body",) and e.get("type") == "missing" for e in errors):
        return error_response(400, "missing_body", "The request needs a JSON body.")
    return error_response(
        422, "validation_failed", "Some fields are invalid.", [_clean(e) for e in errors]
    )
