"""API Gateway HTTP API (payload v2) events, as the HttpApi sends them."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode


def http_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    raw_body: str | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    sub: str | None = None,
    base64: bool = False,
) -> dict[str, Any]:
    if raw_body is None and body is not None:
        raw_body = json.dumps(body)
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    if raw_body is not None:
        lowered.setdefault("content-type", "application/json")
    context: dict[str, Any] = {
        "accountId": "123456789012",
        "apiId": "api",
        "domainName": "localhost",
        "domainPrefix": "localhost",
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": "tests",
        },
        "requestId": "req-1",
        "routeKey": f"{method} {path}",
        "stage": "$default",
        "time": "26/Nov/2026:12:00:00 +0000",
        "timeEpoch": 1795694400000,
    }
    if sub is not None:
        context["authorizer"] = {"jwt": {"claims": {"sub": sub}, "scopes": None}}
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "queryStringParameters": query or None,
        "headers": lowered,
        "requestContext": context,
        "body": raw_body,
        "isBase64Encoded": base64,
    }


class FakeContext:
    function_name = "cashmob-test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cashmob-test"
    aws_request_id = "req-1"
