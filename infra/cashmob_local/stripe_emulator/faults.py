"""The emulator's fault knobs (random shares) and forced failures (exact ones).

Random: `Faults`, set at construction or with `POST /_emulator/faults`.
Rate limit: `RateWindows`, a one-second window per endpoint that the
`rate_limit` knob caps (Stripe's 429).
Exact: `ForcedFailures`, a queue of rules, each failing the next `count`
requests whose method and path match, set with `StripeEmulator.fail_next` or
`POST /_emulator/fail_next`. Modes, as Stripe would answer:

- "429": Stripe's `rate_limit` error before anything executes; not stored
  under the Idempotency-Key, so a retry with the key executes.
- "500": an `api_error` before anything executes; not stored either.
- "500_executed": the request executes fully (state changes, events), then
  answers 500 `api_error`; that 500 is stored under its Idempotency-Key, so a
  retry with the same key replays the 500, as Stripe does for a request that
  began executing. A rule of this mode is spent only by a request that
  executes (not by a replay or a refused one).
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from . import objects

MODES = ("429", "500", "500_executed")
BEFORE_EXECUTION = frozenset({"429", "500"})


@dataclass
class Faults:
    latency_ms: float = 0.0
    rate_limit: float | None = None
    share_429: float = 0.0
    share_500: float = 0.0  # fails before executing: not stored under the key
    share_500_executed: float = 0.0  # executes, then 500: stored under the key
    webhook_duplicate: float = 0.0
    webhook_delay_ms: float = 0.0

    def update(self, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            if name not in self.__dataclass_fields__:
                raise ValueError(f"unknown fault knob {name!r}")
            setattr(self, name, None if value is None else float(value))


@dataclass
class FailRule:
    mode: str
    path_regex: str = ""  # searched in the request path; "" matches every path
    method: str | None = None  # "GET" or "POST"; None matches both
    count: int = 1

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if type(self.count) is not int or self.count < 1:
            raise ValueError("count must be a positive integer")
        if self.method is not None:
            if not isinstance(self.method, str):
                raise ValueError("method must be GET, POST or null")
            self.method = self.method.upper()
        try:
            re.compile(self.path_regex)  # a bad pattern fails here, not on a request
        except (re.error, TypeError) as error:
            raise ValueError(f"path_regex: {error}") from None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and bool(
            re.search(self.path_regex, path)
        )


class ForcedFailures:
    """Rules in the order added; a request spends one count of the first rule
    that matches it and whose mode applies at that stage."""

    def __init__(self) -> None:
        self.rules: list[FailRule] = []

    def add(self, rule: FailRule) -> FailRule:
        self.rules.append(rule)
        return rule

    def take(self, modes: frozenset[str], method: str, path: str) -> str | None:
        for rule in self.rules:
            if rule.mode in modes and rule.matches(method, path):
                rule.count -= 1
                if rule.count == 0:
                    self.rules.remove(rule)
                return rule.mode
        return None

    def pending(self) -> list[dict[str, Any]]:
        return [asdict(rule) for rule in self.rules]

    def clear(self) -> None:
        self.rules.clear()


class RateWindows:
    """The requests of the last second per endpoint, for the `rate_limit` knob."""

    def __init__(self) -> None:
        self._windows: dict[str, list[float]] = defaultdict(list)

    def throttled(self, endpoint: str, limit: float | None) -> bool:
        """Counts a request to `endpoint`; True (and not counted) when the
        endpoint already had `limit` requests in the last second."""
        if limit is None:
            return False
        now = time.monotonic()
        window = self._windows[endpoint]
        while window and window[0] <= now - 1.0:
            window.pop(0)
        if len(window) >= limit:
            return True
        window.append(now)
        return False

    def clear(self) -> None:
        self._windows.clear()


def rate_limited() -> dict[str, Any]:
    return objects.error(
        "invalid_request_error",
        "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
        code="rate_limit",
    )


def api_error(executed: bool = False) -> dict[str, Any]:
    detail = "after executing the request" if executed else "before executing the request"
    return objects.error(
        "api_error", f"An unknown error occurred (injected by the emulator {detail})."
    )
