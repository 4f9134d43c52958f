"""What the in-process benchmarks count: every botocore call (service,
operation) and the DynamoDB items each write touches, except those made
while serving the benchmark's own polling."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


OBSERVER = "X-Bench-Observer"


def item_kind(table: str, key: dict[str, Any]) -> str:
    """What a written item is, from its table and key: the rows of
    BENCHMARKS.md's "Why each DynamoDB write" (store/intake.py and
    store/mail.py share the counters and processed-events tables)."""
    first = (key.get("campaign_id") or key.get("event_id") or {}).get("S", "")
    if "Campaigns" in table:
        return "campaign"
    if "Pledges" in table:
        return "pledge"
    if "Counters" in table:
        if first.startswith("budget#"):
            return "Stripe budget slot"
        if first == "intake#queue":
            return "intake queue counter"
        if first.startswith("intake#"):
            return "intake ticket"
        return "progress counter shard"
    if "ProcessedEvents" in table:
        return "email log" if first.startswith("email:") else "processed Stripe event"
    return table


_thread = threading.local()


class ObserverMarker:
    """WSGI middleware: the benchmark's own GETs (polling for progress) are
    not part of any pledge's cost, so calls made while serving them are not
    counted. Its POSTs (the tick standing in for the schedule) are."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        _thread.observer = (
            environ.get("HTTP_X_BENCH_OBSERVER") == "1" and environ["REQUEST_METHOD"] == "GET"
        )
        try:
            return self.app(environ, start_response)
        finally:
            _thread.observer = False


class CallCounter:
    """Counts botocore API calls (service, operation) and the DynamoDB items
    each write touches, from botocore's own events."""

    EVENT = "before-parameter-build"  # once per API call, with the caller's parameters

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.item_writes: Counter[str] = Counter()
        self.kind_writes: Counter[str] = Counter()  # items written, by `item_kind`
        self.write_items = 0
        self.on = False
        self._lock = threading.Lock()

    def install(self) -> None:
        """Hears every client made from now on. Each client copies its
        session's event handlers, and each botocore session starts with the
        handlers listed in `botocore.handlers.BUILTIN_HANDLERS`: PynamoDB makes
        a session per thread, so ours joins that list. boto3's default session
        may exist already (the settlement benchmark seeds with it): it is
        told directly."""
        import boto3
        from botocore import handlers

        if (self.EVENT, self.heard) not in handlers.BUILTIN_HANDLERS:
            handlers.BUILTIN_HANDLERS.append((self.EVENT, self.heard))
        if boto3.DEFAULT_SESSION is not None:
            boto3.DEFAULT_SESSION.events.register(self.EVENT, self.heard)

    def heard(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        """The event's handler: `model` is the call's botocore OperationModel."""
        if self.on and not getattr(_thread, "observer", False):
            self.record(model.service_model.service_name, model.name, params)

    def record(self, service: str, operation: str, params: dict[str, Any]) -> None:
        with self._lock:
            self.calls[(service, operation)] += 1
            if service != "dynamodb" or operation not in WRITES:
                return
            items = []
            if operation == "TransactWriteItems":
                for entry in params["TransactItems"]:
                    ((kind, body),) = entry.items()
                    if kind != "ConditionCheck":
                        items.append((body["TableName"], body.get("Key") or body.get("Item")))
            elif operation in ("PutItem", "UpdateItem", "DeleteItem"):
                items.append((params["TableName"], params.get("Key") or params.get("Item")))
            for table, key in items:
                self.write_items += 1
                self.kind_writes[item_kind(table, key)] += 1
                ident = {
                    k: v
                    for k, v in key.items()
                    if k in ("campaign_id", "pledge_id", "shard", "event_id")
                }
                self.item_writes[f"{table}:{json.dumps(ident, sort_keys=True)}"] += 1

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.item_writes.clear()
            self.kind_writes.clear()
            self.write_items = 0

    def dynamodb(self) -> tuple[int, int, int]:
        """(read requests, write requests, items written)."""
        reads = sum(n for (s, op), n in self.calls.items() if s == "dynamodb" and op in READS)
        writes = sum(n for (s, op), n in self.calls.items() if s == "dynamodb" and op in WRITES)
        return reads, writes, self.write_items
