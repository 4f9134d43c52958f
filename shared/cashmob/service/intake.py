"""Flash intake (API.md): a pledge is recorded and answered at once; its
Stripe object is made now if the pledge-time budget (`budget`) allows, else
by the intake worker from the intake queue, in arrival order, at Stripe's pace.

The intake worker runs `handle` on each message of the intake queue
(`cashmob.domain.messages.INTAKE_MESSAGE_TYPES`), one handler per type:
  PreparePledge - create the pledge's Stripe object and record it

Order: each queued pledge takes a ticket (`IntakeLedger.take_ticket`) before
its message is sent; the API sends a newcomer to the queue while tickets are
waiting (it must not jump the queue); the worker marks each ticket served.
`ready_in` is ceil(waiting ahead / rate) + 1 seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..clock import epoch
from ..container import Services
from ..domain import Campaign, PaymentFlow, Pledge, PledgeStatus
from ..domain.errors import (
    CampaignClosed,
    ConcurrentUpdate,
    PaymentProviderError,
    PaymentProviderUnavailable,
)
from ..domain.messages import IntakeMessage, InvalidMessage, PreparePledge
from ..observability import logger, metrics
from ..ports import IntakeProgress
from .publishing import published

# With no budget set (unlimited), estimates assume Stripe's own 25/s.
STRIPE_DEFAULT_RATE = 25.0
# Stripe busy in the worker: tries on fresh slots before the message goes back
# to the queue (its group waits: the order holds).
STRIPE_ATTEMPTS = 3


# ---------------------------------------------------------------- the queue


def rate(svc: Services) -> float:
    return svc.settings.stripe_intake_requests_per_second or STRIPE_DEFAULT_RATE


def ready_in(svc: Services, ticket: int | None, progress: IntakeProgress | None = None) -> int:
    """Seconds until the pledge holding `ticket` should be ready: the tickets
    still ahead of it (itself included) at the budget's rate, plus a second
    for the worker's round trip. Without a ticket: behind everything waiting."""
    if progress is None:
        progress = svc.store.intake_progress()
    ahead = progress.waiting + 1 if ticket is None else max(ticket - progress.served, 1)
    return math.ceil(ahead / rate(svc)) + 1


def backlog(svc: Services, progress: IntakeProgress | None = None) -> IntakeProgress | None:
    """The queue's progress (`progress`, if just read) if pledges are waiting
    in it (a newcomer goes behind them), else None. A counter that has not
    moved for `intake_stale_seconds` is no backlog: its tickets are lost or
    parked."""
    if progress is None:
        progress = svc.store.intake_progress()
    if not progress.waiting or progress.updated_at is None:
        return None
    idle = epoch(svc.clock.now()) - progress.updated_at
    return progress if idle < svc.settings.intake_stale_seconds else None


def enqueue(svc: Services, pledge: Pledge, *, unticketed: bool = False) -> int:
    """Puts the pledge on the intake queue (again, with the ticket it has, if
    it was queued before: the queue drops the duplicate); its ticket.
    `unticketed`: the caller has just seen the pledge without a ticket, so the
    ledger does not look for one first (a racing replay's ticket still wins)."""
    ticket, new = svc.store.take_ticket(
        pledge.campaign_id, pledge.id, svc.clock.now(), unticketed=unticketed
    )
    svc.intake.send(PreparePledge(pledge.campaign_id, pledge.id, ticket))
    if new:
        metrics.add_metric(name="PledgesQueued", unit="Count", value=1)
    return ticket


# ---------------------------------------------------------------- Stripe's object


def make_ready(svc: Services, campaign: Campaign, pledge: Pledge) -> Pledge:
    """Creates the pledge's Stripe object (idempotent: keys derive from the
    pledge) and records it. Concurrent attempts reach the same Stripe objects."""
    if not campaign.is_open(svc.clock.now()) or pledge.status is not PledgeStatus.PENDING:
        raise CampaignClosed("This pledge can no longer be prepared: the campaign is closed.")
    start = (
        svc.payments.start_hold
        if pledge.payment.flow is PaymentFlow.HOLD
        else svc.payments.start_setup
    )
    intent = start(
        campaign_id=pledge.campaign_id,
        pledge_id=pledge.id,
        email=pledge.backer.email,
        amount=pledge.amount,
    )
    payment = replace(
        pledge.payment,
        intent_id=intent.intent_id,
        client_secret=intent.client_secret,
        customer_id=intent.customer_id,
    )
    try:
        return published(svc, svc.store.save_pledge(pledge, replace(pledge, payment=payment)))
    except ConcurrentUpdate:
        again = svc.store.get_pledge(pledge.campaign_id, pledge.id)
        if not again.ready:
            raise
        return again


def refusal(error: PaymentProviderError) -> str | None:
    """Stripe's code when it refused to make the pledge's object for good
    (e.g. `amount_too_small`); None for a request of ours it rejected for
    another reason (a bad key: nothing the pledge did), which stays an error."""
    code = getattr(error.__cause__, "code", None)
    return code if isinstance(code, str) and code else None


def record_failure(svc: Services, pledge: Pledge, reason: str) -> Pledge:
    """Stripe will not make the pledge's object: the pledge stays `pending`
    (it expires at the deadline like any unconfirmed pledge) and its payment
    reads `failed` with the reason."""
    metrics.add_metric(name="PledgesNotPrepared", unit="Count", value=1)
    logger.warning("Stripe refused a pledge's object", extra={"pledge_id": pledge.id})
    try:
        return published(svc, svc.store.save_pledge(pledge, replace(pledge, failure_reason=reason)))
    except ConcurrentUpdate:
        return svc.store.get_pledge(pledge.campaign_id, pledge.id)


def payment_failed(pledge: Pledge) -> bool:
    return not pledge.ready and pledge.failure_reason is not None


# ---------------------------------------------------------------- the worker


def prepare(svc: Services, message: PreparePledge) -> None:
    """The intake worker's step for one queued pledge. A pledge that is ready,
    refused, no longer pending, or whose campaign has closed needs nothing
    (still being prepared at the deadline, it expires like any unconfirmed
    pledge). Stripe busy: a fresh slot, up to STRIPE_ATTEMPTS times, then the
    message fails and comes back (its group waits behind it)."""
    campaign, pledge = svc.store.campaign_and_pledge(message.campaign_id, message.pledge_id)
    if pledge is not None and _wanted(svc, campaign, pledge):
        _prepare_paced(svc, campaign, pledge)
    svc.store.mark_served(message.ticket, svc.clock.now())


def _wanted(svc: Services, campaign: Campaign, pledge: Pledge) -> bool:
    return (
        not pledge.ready
        and pledge.failure_reason is None
        and pledge.status is PledgeStatus.PENDING
        and campaign.is_open(svc.clock.now())
    )


def _prepare_paced(svc: Services, campaign: Campaign, pledge: Pledge) -> None:
    for attempt in range(STRIPE_ATTEMPTS):
        svc.budget.take_next(pledge.payment.flow)
        try:
            make_ready(svc, campaign, pledge)
            return
        except PaymentProviderUnavailable:
            metrics.add_metric(name="IntakeStripeBusy", unit="Count", value=1)
            if attempt == STRIPE_ATTEMPTS - 1:
                raise
        except CampaignClosed:
            return
        except PaymentProviderError as error:
            reason = refusal(error)
            if reason is None:
                raise
            record_failure(svc, pledge, reason)
            return


Handler = Callable[[Services, Any], None]

HANDLERS: dict[type[IntakeMessage], Handler] = {
    PreparePledge: prepare,
}


def handle(svc: Services, message: IntakeMessage) -> None:
    """Runs the handler of one intake message."""
    handler = HANDLERS.get(type(message))
    if handler is None:
        raise InvalidMessage(f"no intake handler for {type(message).__name__}")
    handler(svc, message)
