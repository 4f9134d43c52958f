"""Signed webhook delivery, as Stripe does it (and `stripe listen --forward-to`):
every event the emulator records (or, given `enabled_events`, each event of
those types, as a webhook endpoint's enabled events or `stripe listen
--events` choose) is POSTed to `forward_to` with a
`Stripe-Signature` header, from a time-ordered outbox served by a few worker
threads, retried with backoff when the receiver fails. The fault knobs
`webhook_duplicate` and `webhook_delay_ms` duplicate and delay (so reorder)
deliveries."""

from __future__ import annotations

import hashlib
import heapq
import hmac
import http.client
import json
import random
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from ..http_client import KeptAlive
from .faults import Faults


@dataclass
class Delivery:
    due: float
    seq: int
    event: dict[str, Any] = field(compare=False)
    attempt: int = field(default=0, compare=False)

    def __lt__(self, other: Delivery) -> bool:
        return (self.due, self.seq) < (other.due, other.seq)


class WebhookDeliverer:
    """The outbox and its worker threads. `now` gives the signature's
    timestamp (Unix seconds, the emulator's clock); `faults` and `random` are
    the emulator's own, read when an event is sent."""

    def __init__(
        self,
        *,
        forward_to: str | None,
        webhook_secret: str,
        now: Callable[[], float],
        faults: Faults,
        random: random.Random,
        workers: int = 4,
        max_attempts: int = 12,
        enabled_events: Collection[str] | None = None,
    ) -> None:
        if forward_to and not forward_to.startswith(("http://", "https://")):
            raise ValueError("forward_to must be an http(s) URL")
        self.forward_to = forward_to
        target = urllib.parse.urlsplit(forward_to or "http://unused")
        self._http = KeptAlive(f"{target.scheme}://{target.netloc}", timeout=30)
        self._path = urllib.parse.urlunsplit(("", "", target.path or "/", target.query, ""))
        self.enabled_events = None if enabled_events is None else frozenset(enabled_events)
        self.webhook_secret = webhook_secret
        self.now = now
        self.faults = faults
        self.random = random
        self.max_attempts = max_attempts
        self.delivered: Counter[str] = Counter()  # event id -> successful deliveries
        self.failed = 0  # events given up on after max_attempts
        # A time-ordered heap served by a few worker threads.
        self._outbox: list[Delivery] = []
        self._ready = threading.Condition()
        self._seq = 0
        self._in_flight = 0
        self._stopping = False
        self._workers = [
            threading.Thread(target=self._deliver_forever, daemon=True, name=f"stripe-webhooks-{i}")
            for i in range(workers)
        ]
        for worker in self._workers:
            worker.start()

    def send(self, event: dict[str, Any]) -> None:
        """Queues an event (twice for a `webhook_duplicate` share, after a random
        delay up to `webhook_delay_ms`); nothing when there is no `forward_to`
        or the event's type is not enabled."""
        if not self.forward_to:
            return
        if self.enabled_events is not None and event["type"] not in self.enabled_events:
            return
        copies = 2 if self.random.random() < self.faults.webhook_duplicate else 1
        for _ in range(copies):
            self._schedule(event, delay=self.random.uniform(0, self.faults.webhook_delay_ms) / 1000)

    def signature_header(self, payload: str, timestamp: int | None = None) -> str:
        timestamp = int(self.now()) if timestamp is None else timestamp
        signed = f"{timestamp}.{payload}".encode()
        digest = hmac.new(self.webhook_secret.encode(), signed, hashlib.sha256).hexdigest()
        return f"t={timestamp},v1={digest}"

    def pending(self) -> int:
        """Deliveries waiting in the outbox or in flight."""
        with self._ready:
            return len(self._outbox) + self._in_flight

    def counts(self) -> dict[str, int]:
        """`deliveries` made, events `failed` for good, deliveries `pending`."""
        with self._ready:
            return {
                "deliveries": sum(self.delivered.values()),
                "failed": self.failed,
                "pending": len(self._outbox) + self._in_flight,
            }

    def wait(self, timeout: float = 30.0) -> bool:
        """Blocks until no webhook is waiting or in flight (tests, the demo)."""
        deadline = time.monotonic() + timeout
        with self._ready:
            while self._outbox or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._ready.wait(min(remaining, 0.1))
        return True

    def stop(self) -> None:
        with self._ready:
            self._stopping = True
            self._ready.notify_all()

    # ------------------------------------------------------------ the workers

    def _schedule(self, event: dict[str, Any], *, delay: float, attempt: int = 0) -> None:
        with self._ready:
            self._seq += 1
            heapq.heappush(
                self._outbox, Delivery(time.monotonic() + delay, self._seq, event, attempt)
            )
            self._ready.notify()

    def _deliver_forever(self) -> None:
        while True:
            with self._ready:
                while not self._stopping and (
                    not self._outbox or self._outbox[0].due > time.monotonic()
                ):
                    timeout = self._outbox[0].due - time.monotonic() if self._outbox else None
                    self._ready.wait(timeout)
                if self._stopping:
                    return
                delivery = heapq.heappop(self._outbox)
                self._in_flight += 1
            try:
                self._deliver(delivery)
            finally:
                with self._ready:
                    self._in_flight -= 1
                    self._ready.notify_all()

    def _deliver(self, delivery: Delivery) -> None:
        payload = json.dumps(delivery.event)
        # forward_to is checked to be http(s) when the deliverer is built.
        # Each worker keeps its connection, as Stripe's senders do.
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": self.signature_header(payload),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        try:
            status, _, _ = self._http.request("POST", self._path, payload.encode(), headers)
            ok = 200 <= status < 300
        except (http.client.HTTPException, OSError):
            ok = False
        if ok:
            with self._ready:
                self.delivered[delivery.event["id"]] += 1
            return
        attempt = delivery.attempt + 1
        if attempt >= self.max_attempts:
            with self._ready:
                self.failed += 1
            return
        # Stripe backs off over three days; locally the same curve in seconds.
        self._schedule(delivery.event, delay=min(2.0**attempt * 0.25, 30.0), attempt=attempt)
