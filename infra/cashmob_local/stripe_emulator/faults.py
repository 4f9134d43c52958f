"""The emulator's fault knobs (random shares) and forced failures (exact ones).

Random: `Faults`, set at construction or with `POST /_emulator/faults`.
Rate limit: `RateWindows`, a one-second window per endpoint that the
`rate_limit` knob caps (Stripe's 429), counting each request when it arrived.
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

import bisect
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


# How long the rate windows keep an admitted request's arrival.
KEPT_SECONDS = 5.0


class RateWindows:
    """The requests of the last second per endpoint, for the `rate_limit` knob.

    Stripe counts a request when it arrives. Here requests are decided one at
    a time under the emulator's lock, so one that arrived while another held
    the lock is decided late: timed by when it got the lock, a short stall
    would put the requests that queued behind it into the next second's
    window with that second's own, and refuse some of a pace that never
    exceeded the limit. So each request is counted at the time it arrived
    (`at`), and an admitted request may be later than the one being decided:
    it is refused when any one-second window holding it would hold more than
    `limit` admitted requests."""

    def __init__(self) -> None:
        # Per endpoint, the arrival times of the admitted requests, sorted.
        self._windows: dict[str, list[float]] = defaultdict(list)

    def throttled(self, endpoint: str, limit: float | None, at: float | None = None) -> bool:
        """Counts a request to `endpoint` that arrived at `at` (time.monotonic();
        now if not given); True (and not counted) when admitting it would put
        more than `limit` requests in some one-second window, (t - 1, t]."""
        if limit is None:
            return False
        if at is None:
            at = time.monotonic()
        window = self._windows[endpoint]
        # Older than any window a request still to be decided can fall in
        # (one waits for the lock far less than KEPT_SECONDS - 1).
        newest = max(window[-1], at) if window else at
        del window[: bisect.bisect_right(window, newest - KEPT_SECONDS)]
        # The windows holding `at` end at `at` or at an admitted request within
        # a second after it (the count only rises at those).
        ends = [at, *window[bisect.bisect_right(window, at) : bisect.bisect_left(window, at + 1.0)]]
        for end in ends:
            held = bisect.bisect_right(window, end) - bisect.bisect_right(window, end - 1.0)
            if held + 1 > limit:
                return True
        bisect.insort(window, at)
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
