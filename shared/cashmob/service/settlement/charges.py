"""Charging an active pledge: the call to Stripe whose outcome may be
unknown, and the pledge after Stripe's answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ...container import Services
from ...domain import Pledge, PledgeStatus
from ...domain.charging import after_charge, look_up_first, new_attempt
from ...domain.errors import ChargeOutcomeUnknown, ConcurrentUpdate
from ...observability import logger
from ...payments import ChargeResult
from ..publishing import published


def with_share(pledge: Pledge, share: int | None) -> Pledge:
    """The pledge with its fair share (fixed_price) to be charged, unless it
    has one recorded already or the share is the whole amount. The share is
    recorded with the first write before Stripe is asked (the attempt, or
    Stripe's answer), and every later attempt charges what is recorded."""
    if share is None or pledge.share is not None or share == pledge.amount.amount:
        return pledge
    if not 0 < share < pledge.amount.amount:
        raise ValueError(f"pledge {pledge.id}: a share of {share} is not part of its amount")
    return replace(pledge, share=share)


def charge(svc: Services, pledge: Pledge, *, share: int | None = None) -> None:
    """Setup flow: record the attempt (and so its idempotency key), and the
    share to charge, before calling Stripe."""
    now = svc.clock.now()
    if pledge.payment.charge_attempt == 0:
        after = new_attempt(with_share(pledge, share), now)
        pledge = published(svc, svc.store.save_pledge(pledge, after))
    attempt = pledge.payment.charge_attempt
    look = look_up_first(pledge, now)
    result = known(
        svc, pledge, lambda: svc.payments.charge(pledge, attempt=attempt, look_up_first=look)
    )
    answered(svc, pledge, result)


def capture(svc: Services, pledge: Pledge, *, share: int | None = None) -> None:
    """Hold flow: the attempt number keys the capture (a new one after a 5xx).
    A fair share captures part of the hold (`amount_to_capture`), the rest is
    released; it is recorded with Stripe's answer (the share is a pure
    function of the decision, so a retry before that captures the same)."""
    pledge = with_share(pledge, share)
    attempt = pledge.payment.charge_attempt
    answered(svc, pledge, known(svc, pledge, lambda: svc.payments.capture(pledge, attempt=attempt)))


def known(svc: Services, pledge: Pledge, call: Callable[[], ChargeResult]) -> ChargeResult:
    """Stripe's answer to a charge or capture. When Stripe answered 5xx (or not
    at all) it may have taken the money, and it replays that 5xx under the
    attempt's key for as long as it keeps the key: the pledge then records a
    new attempt, whose try looks Stripe up first, and SQS retries."""
    try:
        return call()
    except ChargeOutcomeUnknown:
        try:
            published(svc, svc.store.save_pledge(pledge, new_attempt(pledge, svc.clock.now())))
        except ConcurrentUpdate:
            # The retry reads the pledge again; if this attempt is still the
            # one recorded, Stripe replays its 5xx and we get here again.
            logger.info(
                "pledge changed while its charge was unknown", extra={"pledge_id": pledge.id}
            )
        raise


def answered(svc: Services, pledge: Pledge, result: ChargeResult) -> Pledge:
    """Records Stripe's answer to an active pledge's charge or capture."""
    after = after_charge(
        pledge,
        result,
        now=svc.clock.now(),
        grace_period=svc.settings.grace_period,
        reminder_interval=svc.settings.reminder_interval,
    )
    after = published(svc, svc.store.save_pledge(pledge, after))
    if after.status is PledgeStatus.FAILED:
        close_intent(svc, after)  # a hold Stripe still has
    return after


def close_intent(svc: Services, pledge: Pledge) -> None:
    """Cancels what Stripe still holds for a finished pledge."""
    if not pledge.payment.intent_open:
        return
    if pledge.ready:  # else Stripe's object was never made: nothing is held
        svc.payments.cancel(pledge)
    closed = replace(pledge, payment=replace(pledge.payment, intent_open=False))
    published(svc, svc.store.save_pledge(pledge, closed))
