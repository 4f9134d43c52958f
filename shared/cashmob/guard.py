"""The request guard: the checks an HTTP entry point makes before anything
reads the body, shared by the API and the Stripe webhook.

- `raw_body`: the body's bytes, base64-decoded when API Gateway encoded it,
  within a size limit (the webhook verifies its signature on these bytes).
- `admit` (the API): `raw_body`, then UTF-8 and a JSON content type; then the
  organizer token on the routes that need one (401 before any validation);
  then the body rule: **a non-empty body on POST, PUT, PATCH or DELETE is a
  JSON object, on every route** (400 when it is not JSON, 422 when it is
  JSON but not an object).

Refusals carry API.md's error body. No Powertools import: the routes come
from our own table (`Routes`), filled where the API declares them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from functools import cache
from typing import Any

from .error_body import JSON, error_result
from .records import record

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Bodies are JSON. text/plain is accepted too: browsers send it to avoid a
# CORS preflight. Anything else cannot be parsed here.
JSON_MEDIA = frozenset({"application/json", "text/plain", ""})
# What Powertools matches for a <param> in a route (one path segment).
SEGMENT = r"[-._~()'!*:@,;=+&$%<> \[\]{}|^\w]+"


class Refused(Exception):
    """A request refused before routing, with the answer to give."""

    def __init__(
        self, status: int, code: str, message: str, details: list[Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details

    def result(self, headers: dict[str, str] | None = None) -> dict[str, Any]:
        return error_result(self.status, self.code, self.message, self.details, headers)


# ---------------------------------------------------------------- routes


@cache
def _rule(path: str) -> re.Pattern[str]:
    parts = re.split(r"<\w+>", path)
    return re.compile(SEGMENT.join(re.escape(part) for part in parts))


@record
class Route:
    method: str
    path: str  # as declared to the resolver: /campaigns/<campaign_id>/cancel
    organizer: bool = False  # behind the HttpApi's JWT authorizer

    def matches(self, path: str) -> bool:
        return _rule(self.path).fullmatch(path) is not None


class Routes:
    """The API's routes as it declares them: Powertools keeps its own table
    private, and the organizer check and the 405 answer need one."""

    def __init__(self) -> None:
        self.declared: list[Route] = []

    def add(self, method: str, path: str, *, organizer: bool = False) -> None:
        self.declared.append(Route(method.upper(), path, organizer))

    def methods_at(self, path: str) -> set[str]:
        return {route.method for route in self.declared if route.matches(path)}

    def needs_organizer(self, method: str, path: str) -> bool:
        return any(r.organizer and r.method == method and r.matches(path) for r in self.declared)


# ---------------------------------------------------------------- checks


def _method(event: dict[str, Any]) -> str:
    return str((event.get("requestContext") or {}).get("http", {}).get("method", "")).upper()


def _claims(event: dict[str, Any]) -> dict[str, Any]:
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    return (authorizer.get("jwt") or {}).get("claims") or {}


def raw_body(event: dict[str, Any], *, max_bytes: int) -> bytes:
    """400 bad_encoding (not base64), 413 payload_too_large."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise Refused(400, "bad_encoding", "The body is not valid base64.") from None
    else:
        raw = body.encode("utf-8", "surrogatepass")
    if len(raw) > max_bytes:
        raise Refused(413, "payload_too_large", f"The body exceeds {max_bytes} bytes.")
    return raw


def _json_text(event: dict[str, Any], *, max_bytes: int) -> dict[str, Any]:
    """The event with its body as text, sent as application/json."""
    try:
        text = raw_body(event, max_bytes=max_bytes).decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "invalid_encoding", "The body must be UTF-8.") from None
    if event.get("isBase64Encoded"):
        event = {**event, "body": text, "isBase64Encoded": False}
    if text:
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        media = headers.get("content-type", JSON).split(";")[0].strip().lower()
        if media not in JSON_MEDIA:
            raise Refused(400, "unsupported_content_type", "Send the body as application/json.")
        event = {**event, "headers": {**headers, "content-type": JSON}}
    return event


def _json_object(text: str) -> None:
    """Powertools would validate the first element of an array as if it were
    the body; a route without a body would ignore anything."""
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        raise Refused(400, "invalid_json", "The request body is not valid JSON.") from None
    except (ValueError, RecursionError):  # e.g. an integer of more than 4,300 digits
        problem = "The body holds a number or a nesting too large to read."
    else:
        if isinstance(body, dict):
            return
        problem = "The body must be a JSON object."
    raise Refused(
        422, "validation_failed", problem, [{"field": "body", "in": "body", "problem": problem}]
    )


def admit(event: dict[str, Any], *, max_bytes: int, routes: Routes) -> dict[str, Any]:
    """The API event ready for the resolver (body as text, content type
    application/json), or Refused."""
    event = _json_text(event, max_bytes=max_bytes)
    method = _method(event)
    if routes.needs_organizer(method, event.get("rawPath", "")) and not _claims(event).get("sub"):
        raise Refused(401, "unauthorized", "A valid organizer token is required.")
    if method in WRITES and event.get("body"):
        _json_object(event["body"])
    return event
