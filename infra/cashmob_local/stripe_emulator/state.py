"""What the emulator holds: its Stripe objects by id, the events every state
change records (in order, and by id), and the authorisation holds waiting to
lapse. The resource rules (`customers`, `payment_intents`, `refunds`) read
and change it; `record` is how each change becomes an event, handed on for
delivery."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import objects
from .errors import missing
from .settings import API_VERSION

Table = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Call:
    """One routed API request, as a resource rule sees it: its checked
    `params`, the id in its path (if any), its `url` and the `request` field of
    the events it causes (`{"id", "idempotency_key"}`)."""

    params: dict[str, Any]
    request: dict[str, Any]
    url: str = ""
    object_id: str = ""


@dataclass
class State:
    """`now` gives Unix seconds (the emulator's clock); `publish` receives
    every recorded event (the webhook deliverer)."""

    now: Callable[[], float]
    publish: Callable[[dict[str, Any]], None]
    customers: Table = field(default_factory=dict)
    setup_intents: Table = field(default_factory=dict)
    payment_intents: Table = field(default_factory=dict)
    charges: Table = field(default_factory=dict)
    refunds: Table = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    events_by_id: Table = field(default_factory=dict)
    holds: dict[str, int] = field(default_factory=dict)  # PaymentIntent id -> when it lapses

    def time(self) -> int:
        return int(self.now())

    @staticmethod
    def get(table: Table, kind: str, object_id: str) -> dict[str, Any]:
        """The object, or Stripe's 404 `resource_missing` for a `kind`."""
        obj = table.get(object_id)
        if obj is None:
            raise missing(kind, object_id)
        return obj

    def record(self, event_type: str, obj: dict[str, Any], request: dict[str, Any]) -> None:
        """The event Stripe would emit for this change, with a snapshot of the object."""
        event = objects.event(
            self.time(),
            event_type,
            json.loads(json.dumps(obj)),  # a snapshot, as Stripe sends it
            api_version=API_VERSION,
            request=request,
        )
        self.events.append(event)
        self.events_by_id[event["id"]] = event
        self.publish(event)
