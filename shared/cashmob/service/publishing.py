"""After a write: the events the domain recorded are published, each with
its metric where one exists.

Every use case passes the entity the store returned from a successful
conditional write through `published`: the events are those of the write
that won, so each is published once, whoever wins a race (the loser's write
raises, and publishes nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from ..container import Services
from ..domain import Campaign, Pledge
from ..domain.events import (
    DomainEvent,
    PledgeCollected,
    PledgeFailed,
    PledgeLatePaymentRefunded,
    PledgeRefunded,
)
from ..observability import metrics

# The CloudWatch metric counted beside an event (the dashboards' and alarms').
METRICS: dict[type[DomainEvent], str] = {
    PledgeCollected: "PledgesCollected",
    PledgeFailed: "PledgesFailed",
    PledgeLatePaymentRefunded: "LatePaymentsRefunded",
    PledgeRefunded: "PledgesRefunded",
}

E = TypeVar("E", Campaign, Pledge)


def published(svc: Services, written: E) -> E:
    """Publishes what `written` (as the store returned it) records; returns
    it without those events, so nothing is published twice."""
    announce(svc, written.events)
    return written.without_events()


def announce(svc: Services, events: Sequence[DomainEvent]) -> None:
    """Publishes `events` (a write's, or news that changes nothing of ours)."""
    if not events:
        return
    for event in events:
        metric = METRICS.get(type(event))
        if metric:
            metrics.add_metric(name=metric, unit="Count", value=1)
    svc.events.publish_all(events)
