"""Pledge tokens: the backer's secret for managing a pledge.

A token is HMAC-SHA256(secret, pledge id): 256 bits no one can guess without
the secret (held in SSM), so a replayed pledge request can return the same
token, while the table stores only its SHA-256 and compares in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac


def issue(secret: str, pledge_id: str) -> str:
    mac = hmac.new(secret.encode(), f"pledge-token:{pledge_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def matches(token: str | None, stored_digest: str) -> bool:
    if not token:
        return False
    return hmac.compare_digest(digest(token), stored_digest)
