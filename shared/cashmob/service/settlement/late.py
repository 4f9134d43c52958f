"""Late payments: money Stripe took for a pledge that is already finished is
given back (API.md: never kept silently), and recorded on the pledge."""

from __future__ import annotations

from ...container import Services
from ...domain import Pledge
from ...domain.charging import LateRefund, late_refund
from ...domain.errors import ConcurrentUpdate
from ...domain.messages import RefundLatePayment
from ...observability import logger
from ..publishing import published


def send_refund_late(svc: Services, pledge: Pledge, intent_id: str) -> None:
    svc.queue.send(RefundLatePayment(pledge.campaign_id, pledge.id, intent_id))


def refund_late(svc: Services, message: RefundLatePayment) -> None:
    pledge = svc.store.get_pledge(message.campaign_id, message.pledge_id)
    intent_id = message.intent_id
    match late_refund(pledge, intent_id):
        case LateRefund.DONE:
            return
        case LateRefund.NOT_YET:
            raise ConcurrentUpdate(f"Pledge {pledge.id} is still {pledge.status.value}.")
        case LateRefund.KEEP:
            logger.warning(
                "not refunding the payment a pledge collected",
                extra={"pledge_id": pledge.id, "intent_id": intent_id},
            )
            return
    svc.payments.refund(pledge, intent_id)
    after = published(svc, svc.store.save_pledge(pledge, pledge.refunded_late(intent_id)))
    logger.warning(
        "a payment for a finished pledge was refunded",
        extra={"pledge_id": pledge.id, "intent_id": intent_id, "status": after.status.value},
    )
