"""Opaque pagination cursors: the last key, bound to the query it came from."""

from __future__ import annotations

import base64
import json
from typing import Any

from ..domain.errors import BadRequest


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
        raise BadRequest(
            "cursor is not valid for this listing.", details=[{"field": "cursor"}]
        ) from error
    return key
