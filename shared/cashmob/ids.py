"""Ids are opaque strings with a prefix: cmp_… campaigns, plg_… pledges."""

from __future__ import annotations

import base64
import hashlib
import secrets


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=").lower()


def new_id(prefix: str) -> str:
    return f"{prefix}_{_b32(secrets.token_bytes(15))}"


def derived_id(prefix: str, *parts: str) -> str:
    """The same parts always give the same id (e.g. a pledge from its Idempotency-Key)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return f"{prefix}_{_b32(digest[:15])}"
