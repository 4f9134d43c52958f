"""The grace period of a pledge whose charge needs the backer: reminders,
then one last attempt; whatever the backer could still pay is cancelled
before the pledge is failed, so no money can reach Stripe for it afterwards."""

from __future__ import annotations

from dataclasses import replace

from ...container import Services
from ...domain import SETTLED, PaymentFlow, Pledge
from ...domain.charging import (
    GraceStep,
    grace_failure,
    last_attempt_recorded,
    new_attempt,
    still_payable,
)
from ...domain.charging import grace_step as next_grace_step
from ...domain.errors import ConcurrentUpdate
from ...domain.settlement import charge_intent
from ...payments import ChargeStatus
from ..publishing import published
from .charges import known
from .late import send_refund_late


def grace_step(svc: Services, pledge: Pledge) -> None:
    now = svc.clock.now()
    match next_grace_step(pledge, now):
        case GraceStep.REMIND:
            reminded = pledge.reminded(now, svc.settings.reminder_interval)
            published(svc, svc.store.save_pledge(pledge, reminded))
        case GraceStep.LAST_ATTEMPT:
            last_attempt(svc, pledge)
        case GraceStep.WAIT:
            pass


def last_attempt(svc: Services, pledge: Pledge) -> None:
    """The end of the grace period. One last attempt (the backer may have paid
    meanwhile, or the card works again); if it does not collect, every charge
    the backer could still pay is cancelled before the pledge is failed. A
    charge that took the money before its cancel collects the pledge; a
    second one is refunded."""
    if pledge.payment.flow is PaymentFlow.SETUP:
        if not last_attempt_recorded(pledge):
            pledge = published(
                svc, svc.store.save_pledge(pledge, new_attempt(pledge, svc.clock.now()))
            )
        attempt = pledge.payment.charge_attempt
        result = known(
            svc, pledge, lambda: svc.payments.charge(pledge, attempt=attempt, look_up_first=True)
        )
    else:
        attempt = pledge.payment.charge_attempt
        result = known(svc, pledge, lambda: svc.payments.capture(pledge, attempt=attempt))
    took = [result.intent_id] if result.status is ChargeStatus.SUCCEEDED else []
    for intent_id in still_payable(pledge, result):
        if svc.payments.cancel_payment(pledge, intent_id).status is ChargeStatus.SUCCEEDED:
            took.append(intent_id)  # paid before the cancel reached Stripe
    for intent_id in took[1:]:
        # Two payments for one pledge: the first collects, the other goes back
        # (sent before the write, so a crash cannot keep it silently).
        assert intent_id is not None
        send_refund_late(svc, pledge, intent_id)
    if took:
        assert took[0] is not None
        after = pledge.collected_by(took[0])
    else:
        closed = replace(pledge.payment, intent_open=False)
        after = pledge.failed(grace_failure(result), payment=closed)
    try:
        published(svc, svc.store.save_pledge(pledge, after))
    except ConcurrentUpdate:
        current = svc.store.get_pledge(pledge.campaign_id, pledge.id)
        if current.status not in SETTLED:
            raise  # SQS retries this step
        # The webhook recorded the backer's payment first: any other payment
        # found here is one too many.
        for intent_id in took:
            if intent_id and intent_id != charge_intent(current):
                send_refund_late(svc, current, intent_id)
