"""Opaque pagination cursors: the last key, bound to the query it came from.

The store encodes the last key (`encode`/`decode`). Cursors handed to
clients are also signed (`sign`/`verify`): an HMAC-SHA256 over the listing
they belong to and the store's cursor, with a key derived from a secret the
API already holds. A client can only hand back a cursor the API gave it, for
the listing that gave it: nothing it makes up reaches DynamoDB."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from ..domain.errors import BadRequest

SEPARATOR = "."  # never in the store's cursor (URL-safe base64 without padding)


def _invalid() -> BadRequest:
    return BadRequest("cursor is not valid for this listing.", details=[{"field": "cursor"}])


def encode(last_key: dict[str, Any] | None, scope: str) -> str | None:
    if not last_key:
        return None
    raw = json.dumps({"k": last_key, "s": scope}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str | None, scope: str) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        key = data["k"]
        if data["s"] != scope or not isinstance(key, dict):
            raise ValueError("cursor from another listing")
        for attribute in key.values():
            if not isinstance(attribute, dict) or len(attribute) != 1:
                raise ValueError("malformed key")
            ((kind, value),) = attribute.items()
            if kind not in ("S", "N") or not isinstance(value, str):
                raise ValueError("malformed key")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise _invalid() from error
    return key


def signing_key(secret: str) -> bytes:
    """A key for cursors only, derived from `secret` (never the secret itself)."""
    return hmac.new(secret.encode(), b"cashmob-cursor-key", hashlib.sha256).digest()


def _mac(key: bytes, scope: str, cursor: str) -> str:
    mac = hmac.new(key, f"{scope}\n{cursor}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def sign(cursor: str | None, scope: str, key: bytes) -> str | None:
    """The store's `cursor` as handed to clients of the listing `scope`."""
    if not cursor:
        return None
    return f"{cursor}{SEPARATOR}{_mac(key, scope, cursor)}"


def verify(token: str | None, scope: str, key: bytes) -> str | None:
    """The store's cursor inside `token`, if the API signed it for `scope`;
    BadRequest for anything else."""
    if not token:
        return None
    if not token.isascii():  # every cursor the API hands out is
        raise _invalid()
    cursor, separator, mac = token.rpartition(SEPARATOR)
    expected = _mac(key, scope, cursor) if separator and cursor else ""
    if not expected or not hmac.compare_digest(mac.encode(), expected.encode()):
        raise _invalid()
    return cursor
