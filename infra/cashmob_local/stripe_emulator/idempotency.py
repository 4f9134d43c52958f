"""Idempotency keys as Stripe keeps them: the first executed answer of a key
is replayed for 24 hours after the key's first use, then forgotten, so a
later request with the same key executes afresh. The age is read from the
emulator's clock (`now`), which the local stack moves."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import objects

KEY_LIFETIME_SECONDS = 24 * 3600


def fingerprint(path: str, params: dict[str, Any]) -> str:
    """What a key's first request was: a reuse must match it."""
    return hashlib.sha256(json.dumps([path, params], sort_keys=True).encode()).hexdigest()


def conflict(key: str) -> dict[str, Any]:
    """Stripe's answer (400) to a key reused with other parameters."""
    return objects.error(
        "idempotency_error",
        f"Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request.",
    )


@dataclass(frozen=True)
class Saved:
    fingerprint: str
    status: int
    body: str  # JSON: every replay answers an independent copy
    first_used: float

    def answer(self) -> tuple[int, dict[str, Any]]:
        return self.status, json.loads(self.body)


class IdempotencyStore:
    def __init__(self, now: Callable[[], float], lifetime: float = KEY_LIFETIME_SECONDS) -> None:
        self.now = now
        self.lifetime = lifetime
        self._saved: dict[str, Saved] = {}

    def get(self, key: str) -> Saved | None:
        saved = self._saved.get(key)
        if saved is not None and self.now() - saved.first_used >= self.lifetime:
            del self._saved[key]  # pruned, as Stripe prunes keys after 24 h
            return None
        return saved

    def save(self, key: str, fingerprint: str, status: int, body: dict[str, Any]) -> None:
        self._saved[key] = Saved(fingerprint, status, json.dumps(body), self.now())

    def clear(self) -> None:
        """Forgets every key at once (what 24 h would do), for tests."""
        self._saved.clear()

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def __len__(self) -> int:
        return len(self._saved)
