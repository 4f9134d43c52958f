"""Giving one pledge's money back: record the refund, ask Stripe with its
key, record Stripe's answer (domain.refunds). Every step is a conditional
write, so a retry, a redelivery or a crash between the steps repeats the
same Stripe request and Stripe answers it with the refund it made."""

from __future__ import annotations

from dataclasses import replace

from ...container import Services
from ...domain import Pledge, PledgeStatus
from ...domain.errors import ChargeOutcomeUnknown, ConcurrentUpdate
from ...domain.refunds import CAMPAIGN_REFUNDED, confirmed, recorded, retried
from ...domain.settlement import charge_intent
from ...observability import logger
from ...payments import ChargeStatus
from ..publishing import published

# Re-reads of a pledge that changed under the write recording Stripe's answer.
ATTEMPTS = 3


def record(svc: Services, pledge: Pledge, amount: int | None, reason: str) -> Pledge:
    """The refund recorded on the pledge (its key number, amount and target)
    before Stripe is asked."""
    return published(svc, svc.store.save_pledge(pledge, recorded(pledge, amount, reason)))


def give_back(svc: Services, pledge: Pledge) -> Pledge:
    """Sends the pledge's refund in flight to Stripe and records it made.
    When Stripe answers 5xx the refund may have been made, and Stripe replays
    that 5xx under the key: the same refund is recorded under a new key,
    which looks Stripe up first, and the caller's retry sends it."""
    assert pledge.refunds.in_flight
    intent_id = charge_intent(pledge)
    if intent_id is None:
        raise ValueError(f"collected pledge {pledge.id} has no payment to refund")
    try:
        svc.payments.refund_pledge(pledge, intent_id, look_up_first=pledge.refunds.retry)
    except ChargeOutcomeUnknown:
        try:
            published(svc, svc.store.save_pledge(pledge, retried(pledge)))
        except ConcurrentUpdate:
            logger.info(
                "pledge changed while its refund was unknown", extra={"pledge_id": pledge.id}
            )
        raise
    for _ in range(ATTEMPTS):
        try:
            return published(svc, svc.store.save_pledge(pledge, confirmed(pledge)))
        except ConcurrentUpdate:
            # Stripe's webhook wrote meanwhile: confirm on the pledge as it is now.
            current = svc.store.get_pledge(pledge.campaign_id, pledge.id)
            if current.refunds.number != pledge.refunds.number or not current.refunds.in_flight:
                return current
            pledge = current
    raise ConcurrentUpdate(f"Pledge {pledge.id} kept changing; its refund is retried.")


def close(svc: Services, pledge: Pledge, reason: str) -> Pledge:
    """A pledge whose charge the backer had not finished when its campaign was
    refunded: the charge is cancelled so it can never take money, and the
    pledge fails. Paid before the cancel reached Stripe: collected, then
    refunded in full."""
    assert pledge.status is PledgeStatus.ACTION_REQUIRED
    intent_id = charge_intent(pledge)
    if intent_id is not None:
        answer = svc.payments.cancel_payment(pledge, intent_id)
        if answer.status is ChargeStatus.SUCCEEDED:
            collected = published(
                svc, svc.store.save_pledge(pledge, pledge.collected_by(intent_id))
            )
            return give_back(svc, record(svc, collected, None, reason))
    closed = replace(pledge.payment, intent_open=False)
    return published(
        svc, svc.store.save_pledge(pledge, pledge.failed(CAMPAIGN_REFUNDED, payment=closed))
    )
