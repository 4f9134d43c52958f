"""Stripe webhooks: believe an event only once its signature verifies
(`verification`), then move its pledge forward through the transition table
(`handlers`).

Stripe delivers events late, more than once and in any order. An event that
does change the pledge is recorded as processed in the same transaction as
the pledge, so it applies once; the events its transition recorded are
published after that write, the same ones the settlement worker publishes
for the same change. Whatever shape a signed event has, the answer is 2xx or
400; a 5xx only ever means a failure of ours (DynamoDB), which Stripe retries.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ...container import Services
from ...domain import Pledge, PledgeStatus
from ...domain.errors import CampaignClosed, ConcurrentUpdate
from ...domain.events import PaymentDisputed
from ...domain.messages import RefundLatePayment, SettlePledge
from ...observability import logger, metrics
from ...store import DuplicateEvent
from ..publishing import announce, published
from .handlers import HANDLERS, LatePayment, Mismatch
from .verification import metadata, text, verify, whole

# Stripe retries a delivery for up to three days; remember events a while longer.
EVENT_MEMORY = timedelta(days=7)
ATTEMPTS = 5  # re-reads when the pledge changes under us

# The event types `process` acts on: what the webhook endpoint subscribes to
# (its "enabled events" in Stripe's dashboard). Any other type is answered 200
# and ignored, so subscribing to more only costs invocations.
ENABLED_EVENTS = frozenset({*HANDLERS, "charge.dispute.created", "account.updated"})

__all__ = ["ENABLED_EVENTS", "HANDLERS", "process", "verify"]


def process(svc: Services, event: dict[str, Any]) -> str:
    """Applies a verified event; returns what happened (for logs and tests)."""
    event_type = event["type"]
    obj = event["data"]["object"]
    if event_type == "charge.dispute.created":
        announce(svc, [_dispute(obj)])
        return "published"
    if event_type == "account.updated":
        # A Connect event: an organizer's account (service.payouts, imported
        # here: no other event needs it, and a cold start would pay for it).
        from .. import payouts

        return payouts.account_updated(svc, obj) if isinstance(obj, dict) else "ignored"
    handler = HANDLERS.get(event_type)
    meta = metadata(obj)
    campaign_id, pledge_id = text(meta, "campaign_id"), text(meta, "pledge_id")
    if handler is None or campaign_id is None or pledge_id is None:
        return "ignored"
    now = svc.clock.now()
    record = (event["id"], event_type, now, now + EVENT_MEMORY)
    for _ in range(ATTEMPTS):
        pledge = svc.store.find_pledge(campaign_id, pledge_id)
        if pledge is None:
            logger.warning(
                "event for an unknown pledge", extra={"pledge_id": pledge_id, "type": event_type}
            )
            return "ignored"
        try:
            after = handler(svc, pledge, obj, event)
        except Mismatch as mismatch:
            logger.warning(
                "Stripe event does not match its pledge",
                extra={
                    "event_id": event["id"],
                    "type": event_type,
                    "pledge_id": pledge_id,
                    "reason": str(mismatch),
                },
            )
            metrics.add_metric(name="StripeEventMismatch", unit="Count", value=1)
            return "mismatch"
        if after is None:
            return "no_change"
        if isinstance(after, LatePayment):
            svc.queue.send(RefundLatePayment(campaign_id, pledge_id, after.intent_id))
            logger.warning(
                "a finished pledge was paid; refunding it",
                extra={"pledge_id": pledge_id, "intent_id": after.intent_id},
            )
            return "refund_late"
        try:
            if after.status is PledgeStatus.ACTIVE:
                after = _activate(svc, pledge, after, record)
            else:
                after = published(svc, svc.store.save_pledge(pledge, after, event=record))
        except DuplicateEvent:
            return "duplicate"
        except ConcurrentUpdate:
            continue
        metrics.add_metric(name="StripeEventsApplied", unit="Count", value=1)
        return f"{pledge.status.value}->{after.status.value}"
    raise ConcurrentUpdate(f"Pledge {pledge_id} kept changing; Stripe will redeliver.")


def _dispute(obj: dict[str, Any]) -> PaymentDisputed:
    """Stripe's dispute as integrators hear it (the fields we believe)."""
    return PaymentDisputed(
        id=text(obj, "id"),
        charge=text(obj, "charge"),
        payment_intent=text(obj, "payment_intent"),
        amount=whole(obj, "amount"),
        currency=text(obj, "currency"),
        reason=text(obj, "reason"),
    )


def _activate(svc: Services, before: Pledge, after: Pledge, record: tuple) -> Pledge:
    """Counts the pledge if the campaign is live and its deadline after the
    confirmation; otherwise the confirmation is late: the pledge is released
    and the worker cancels its hold. Returns the pledge as written."""
    try:
        return published(
            svc,
            svc.store.save_pledge(before, after, open_campaign_at=after.activated_at, event=record),
        )
    except CampaignClosed:
        released = before.moved_to(PledgeStatus.RELEASED, payment=after.payment)
        late = published(svc, svc.store.save_pledge(before, released, event=record))
        if late.payment.intent_open:
            svc.queue.send(SettlePledge(late.campaign_id, late.id))
        logger.info("late confirmation released", extra={"pledge_id": before.id})
        return late
