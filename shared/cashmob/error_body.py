"""API.md's error body, built in one place for every entry point:
`{"error": {"code", "message", "details"?}}`. No Powertools import, so the
webhook, the request guard and the local stack use it without the resolver."""

from __future__ import annotations

import json
from typing import Any

JSON = "application/json"


def error_body(code: str, message: str, details: list[Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"error": error}


def error_result(
    status: int,
    code: str,
    message: str,
    details: list[Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The error as a Lambda proxy result (HTTP API payload v2)."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": JSON, **(headers or {})},
        "body": json.dumps(error_body(code, message, details)),
        "isBase64Encoded": False,
    }
