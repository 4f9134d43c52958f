"""Deadline settlement: lock, decide, fan out, settle each pledge, complete.

Every step is idempotent and moves state only forward through the transition
tables, because every trigger (schedule, SQS, Stripe) may fire more than once.

Messages on the settlement queue (`kind`):
  decide   - recount the pledges active at the deadline and fix the outcome
  page     - one page of a campaign's pledges -> one `pledge` message each
  pledge   - the next settlement step for one pledge
  complete - finish the campaign once no pledge is left to settle
  refund_late - give back a payment Stripe took for a pledge that is already
               finished (the webhook, or the end of a grace period, finds it)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from ..container import Services
from ..domain import (
    SETTLED,
    Action,
    Campaign,
    CampaignStatus,
    Outcome,
    PaymentFlow,
    Pledge,
    PledgeStatus,
    Settlement,
    Tally,
    action_for,
    decide,
)
from ..domain.errors import ChargeOutcomeUnknown, ConcurrentUpdate
from ..domain.settlement import GRACE_PERIOD_ENDED, canceled_reason, charge_intent
from ..observability import logger, metrics
from ..payments import ChargeResult, ChargeStatus

CHECK_INTERVAL = timedelta(seconds=60)
# How long after its last page a settling campaign may wait for its pledge
# messages before the completion check sends the stragglers again; and how
# long fan-out may go without finishing before it is started over (a page
# message parked in the dead-letter queue).
STRAGGLER_AFTER = timedelta(minutes=5)
STALLED_FAN_OUT = timedelta(hours=2)
# After the last page is sent, completion is checked with a growing delay
# (seconds) until no pledge is left; the sweep's minute check is the backstop.
COMPLETE_FIRST_DELAY = 2
COMPLETE_MAX_DELAY = 60
COMPLETE_ROUNDS = 20
# Stripe forgets idempotency keys after 24 h: look a charge up before retrying it.
STRIPE_KEY_MEMORY = timedelta(hours=23)
OPEN_WORK = frozenset(
    {
        PledgeStatus.PENDING,
        PledgeStatus.ACTIVE,
        PledgeStatus.RELEASED,
        PledgeStatus.CANCELLED,
        PledgeStatus.EXPIRED,
    }
)


# ---------------------------------------------------------------- the sweep


def sweep(svc: Services) -> dict[str, int]:
    """Locks campaigns past their deadline and schedules the follow-ups."""
    now = svc.clock.now()
    horizon = now - timedelta(seconds=svc.settings.settlement_delay_seconds)
    locked = checked = reminded = 0
    for campaign_id in list(svc.store.due_campaigns(horizon)):
        campaign = svc.store.get_campaign(campaign_id)
        try:
            if campaign.status is CampaignStatus.LIVE:
                if now < campaign.deadline:
                    continue
                campaign = svc.store.save_campaign(
                    campaign,
                    campaign.moved_to(
                        CampaignStatus.SETTLING, locked_at=now, next_check_at=now + CHECK_INTERVAL
                    ),
                )
                svc.queue.send({"kind": "decide", "campaign_id": campaign_id})
                locked += 1
            elif campaign.next_check_at is not None:
                svc.store.save_campaign(
                    campaign, replace(campaign, next_check_at=now + CHECK_INTERVAL)
                )
                # No outcome yet: the lock was taken but its `decide` was lost
                # (the sweep died after the write): decide again.
                kind = "decide" if campaign.outcome is None else "complete"
                svc.queue.send({"kind": kind, "campaign_id": campaign_id})
                checked += 1
        except ConcurrentUpdate:
            logger.info("campaign taken by another sweep", extra={"campaign_id": campaign_id})
    for campaign_id, pledge_id in list(svc.store.due_pledges(now)):
        svc.queue.send({"kind": "pledge", "campaign_id": campaign_id, "pledge_id": pledge_id})
        reminded += 1
    return {"locked": locked, "checked": checked, "pledges_due": reminded}


# ---------------------------------------------------------------- the worker


def handle(svc: Services, message: dict[str, Any]) -> None:
    kind = message["kind"]
    if kind == "decide":
        decide_outcome(svc, message["campaign_id"])
    elif kind == "page":
        send_page(svc, message["campaign_id"], message.get("cursor"))
    elif kind == "pledge":
        outcome = message.get("outcome")
        settle_pledge(
            svc,
            message["campaign_id"],
            message["pledge_id"],
            Outcome(outcome) if outcome else None,
        )
    elif kind == "complete":
        complete(svc, message["campaign_id"], int(message.get("round", 0)))
    elif kind == "refund_late":
        refund_late(svc, message["campaign_id"], message["pledge_id"], message["intent_id"])
    else:
        raise ValueError(f"unknown settlement message kind {kind!r}")


def recount(svc: Services, campaign_id: str) -> Tally:
    """Exact: the sum over active pledges, streamed page by page."""
    tally = Tally()
    for pledge in svc.store.all_pledges(campaign_id):
        if pledge.status is PledgeStatus.ACTIVE:
            tally = tally.plus(pledge.amount.amount)
    return tally


def decide_outcome(svc: Services, campaign_id: str) -> None:
    campaign = svc.store.get_campaign(campaign_id)
    if campaign.outcome is None:
        if campaign.status is not CampaignStatus.SETTLING:
            return
        tally = recount(svc, campaign_id)
        outcome = decide(campaign, tally)
        campaign = svc.store.save_campaign(campaign, replace(campaign, outcome=outcome))
        logger.info(
            "outcome decided",
            extra={"campaign_id": campaign_id, "outcome": outcome.value, "backers": tally.backers},
        )
    fan_out(svc, campaign)


def fan_out(svc: Services, campaign: Campaign) -> None:
    svc.queue.send({"kind": "page", "campaign_id": campaign.id, "cursor": None})


def send_page(svc: Services, campaign_id: str, cursor: str | None) -> None:
    page = svc.store.pledges(
        campaign_id, limit=svc.settings.page_size, after=cursor, statuses=OPEN_WORK
    )
    campaign = svc.store.get_campaign(campaign_id)
    # The outcome is fixed once decided: each message carries it, so settling
    # a pledge reads only the pledge.
    svc.queue.send_many(
        {
            "kind": "pledge",
            "campaign_id": campaign_id,
            "pledge_id": p.id,
            "outcome": campaign.outcome,
        }
        for p in page.items
    )
    if page.next_cursor:
        # The next page follows at the pace Stripe's budget can settle this
        # one, so the queue holds about a page of work rather than the whole
        # campaign (and stragglers are not mistaken for lost work).
        budget = svc.settings.stripe_requests_per_second
        delay = int(len(page.items) / budget) if budget else 0
        svc.queue.send(
            {"kind": "page", "campaign_id": campaign_id, "cursor": page.next_cursor},
            delay_seconds=delay,
        )
    else:
        if campaign.fanned_out_at is None:
            # Stragglers are re-sent only once every page has gone out.
            svc.store.save_campaign(campaign, replace(campaign, fanned_out_at=svc.clock.now()))
        _check_later(svc, campaign_id, 1)


def _check_later(svc: Services, campaign_id: str, round_: int) -> None:
    if round_ > COMPLETE_ROUNDS:
        return  # the sweep keeps checking every CHECK_INTERVAL
    delay = min(COMPLETE_FIRST_DELAY * 2 ** (round_ - 1), COMPLETE_MAX_DELAY)
    svc.queue.send(
        {"kind": "complete", "campaign_id": campaign_id, "round": round_}, delay_seconds=delay
    )


def settle_pledge(
    svc: Services, campaign_id: str, pledge_id: str, outcome: Outcome | None = None
) -> None:
    """`outcome`: the campaign's, when the message carries it (else it is read)."""
    pledge = svc.store.get_pledge(campaign_id, pledge_id)
    if pledge.status is PledgeStatus.ACTION_REQUIRED:
        _grace_step(svc, pledge)
        return
    if outcome is None:
        outcome = svc.store.get_campaign(campaign_id).outcome
    if outcome is None:
        # Live campaign: only a cancelled pledge, or a confirmation that came
        # too late, can leave something to release.
        if pledge.status in (PledgeStatus.CANCELLED, PledgeStatus.RELEASED):
            _close_intent(svc, pledge)
        return
    match action_for(outcome, pledge):
        case Action.CHARGE:
            _charge(svc, pledge)
        case Action.CAPTURE:
            _capture(svc, pledge)
        case Action.RELEASE:
            pledge = svc.store.save_pledge(pledge, pledge.moved_to(PledgeStatus.RELEASED))
            svc.events.publish("PledgeReleased", _ids(pledge))
            _close_intent(svc, pledge)
        case Action.EXPIRE:
            pledge = svc.store.save_pledge(pledge, pledge.moved_to(PledgeStatus.EXPIRED))
            _close_intent(svc, pledge)
        case Action.CANCEL_INTENT:
            _close_intent(svc, pledge)
        case Action.NONE:
            pass


def _ids(pledge: Pledge) -> dict[str, Any]:
    return {
        "campaign_id": pledge.campaign_id,
        "pledge_id": pledge.id,
        "amount": pledge.amount.amount,
        "currency": pledge.amount.currency,
    }


def _close_intent(svc: Services, pledge: Pledge) -> None:
    if not pledge.payment.intent_open:
        return
    if pledge.ready:  # else Stripe's object was never made: nothing is held
        svc.payments.cancel(pledge)
    svc.store.save_pledge(
        pledge, replace(pledge, payment=replace(pledge.payment, intent_open=False))
    )


def _charge(svc: Services, pledge: Pledge) -> None:
    """Setup flow: record the attempt (and so its idempotency key) before calling Stripe."""
    now = svc.clock.now()
    if pledge.payment.charge_attempt == 0:
        pledge = svc.store.save_pledge(
            pledge,
            replace(
                pledge, payment=replace(pledge.payment, charge_attempt=1, charge_recorded_at=now)
            ),
        )
    attempt = pledge.payment.charge_attempt
    recorded = pledge.payment.charge_recorded_at or now
    # An active pledge's attempt after the first follows one whose outcome is
    # unknown (Stripe answered 5xx, perhaps after taking the money): look first.
    look_up_first = attempt > 1 or now - recorded > STRIPE_KEY_MEMORY
    result = _known(
        svc,
        pledge,
        lambda: svc.payments.charge(pledge, attempt=attempt, look_up_first=look_up_first),
    )
    _apply(svc, pledge, result)


def _capture(svc: Services, pledge: Pledge) -> None:
    """Hold flow: the attempt number keys the capture (a new one after a 5xx)."""
    attempt = pledge.payment.charge_attempt
    _apply(svc, pledge, _known(svc, pledge, lambda: svc.payments.capture(pledge, attempt=attempt)))


def _known(svc: Services, pledge: Pledge, call: Callable[[], ChargeResult]) -> ChargeResult:
    """Stripe's answer to a charge or capture. When Stripe answered 5xx (or not
    at all) it may have taken the money, and it replays that 5xx under the
    attempt's key for as long as it keeps the key: the pledge then records a
    new attempt, whose try looks Stripe up first, and SQS retries."""
    try:
        return call()
    except ChargeOutcomeUnknown:
        payment = replace(
            pledge.payment,
            charge_attempt=pledge.payment.charge_attempt + 1,
            charge_recorded_at=svc.clock.now(),
        )
        try:
            svc.store.save_pledge(pledge, replace(pledge, payment=payment))
        except ConcurrentUpdate:
            # The retry reads the pledge again; if this attempt is still the
            # one recorded, Stripe replays its 5xx and we get here again.
            logger.info(
                "pledge changed while its charge was unknown", extra={"pledge_id": pledge.id}
            )
        raise


def _apply(svc: Services, pledge: Pledge, result: ChargeResult) -> None:
    """Records Stripe's answer to an active pledge's charge or capture."""
    match result.status:
        case ChargeStatus.SUCCEEDED:
            assert result.intent_id is not None
            _collect(svc, pledge, result.intent_id)
        case ChargeStatus.NEEDS_BACKER:
            assert result.intent_id is not None
            after = needs_backer(
                svc, pledge, intent_id=result.intent_id, client_secret=result.client_secret
            )
            after = svc.store.save_pledge(pledge, after)
            action_required_announced(svc, after, result.decline_code)
        case ChargeStatus.REFUSED:
            # Stripe refuses this charge for good (e.g. amount_too_small): no
            # retry changes that, so the pledge ends here and settlement goes on.
            _fail(svc, pledge, result.reason or "refused")
        case ChargeStatus.CANCELED:
            # The payment is gone at Stripe (a hold it cancelled 7 days after
            # authorisation): the campaign collects, this pledge cannot.
            held = pledge.payment.flow is PaymentFlow.HOLD
            payment = replace(pledge.payment, intent_open=pledge.payment.intent_open and not held)
            _fail(svc, pledge, canceled_reason(result.reason), payment=payment)


def _collect(svc: Services, pledge: Pledge, intent_id: str) -> Pledge:
    payment = replace(pledge.payment, charge_intent_id=intent_id, intent_open=False)
    after = svc.store.save_pledge(
        pledge, pledge.moved_to(PledgeStatus.COLLECTED, payment=payment, next_reminder_at=None)
    )
    metrics.add_metric(name="PledgesCollected", unit="Count", value=1)
    svc.events.publish("PledgeCollected", _ids(after))
    return after


def _fail(svc: Services, pledge: Pledge, reason: str, **changes: Any) -> Pledge:
    after = svc.store.save_pledge(
        pledge,
        pledge.moved_to(
            PledgeStatus.FAILED, failure_reason=reason, next_reminder_at=None, **changes
        ),
    )
    metrics.add_metric(name="PledgesFailed", unit="Count", value=1)
    svc.events.publish("PledgeFailed", {**_ids(after), "reason": reason})
    _close_intent(svc, after)  # a hold Stripe still has
    return after


def needs_backer(
    svc: Services,
    pledge: Pledge,
    *,
    intent_id: str,
    client_secret: str | None,
) -> Pledge:
    """The pledge after a charge the backer must finish: a grace period, with
    reminders. (The worker and the webhook both reach this; whichever writes
    first wins and announces it with `action_required_announced`.)"""
    now = svc.clock.now()
    grace_until = now + svc.settings.grace_period
    after = pledge.moved_to(
        PledgeStatus.ACTION_REQUIRED,
        payment=replace(
            pledge.payment,
            charge_intent_id=intent_id,
            charge_client_secret=client_secret or pledge.payment.charge_client_secret,
        ),
        grace_until=grace_until,
        next_reminder_at=min(now + svc.settings.reminder_interval, grace_until),
    )
    return after


def action_required_announced(svc: Services, pledge: Pledge, decline_code: str | None) -> None:
    """After the write: integrators tell the backer how to finish."""
    svc.events.publish(
        "PledgeActionRequired",
        {
            **_ids(pledge),
            "decline_code": decline_code,
            "until": pledge.grace_until.isoformat() if pledge.grace_until else None,
        },
    )


def _grace_step(svc: Services, pledge: Pledge) -> None:
    """A reminder every interval; at the end of the grace period one last attempt."""
    now = svc.clock.now()
    assert pledge.grace_until is not None
    if pledge.next_reminder_at is not None and now < pledge.next_reminder_at:
        return
    if now < pledge.grace_until:
        svc.store.save_pledge(
            pledge,
            replace(
                pledge,
                next_reminder_at=min(now + svc.settings.reminder_interval, pledge.grace_until),
            ),
        )
        svc.events.publish(
            "PledgeReminder", {**_ids(pledge), "until": pledge.grace_until.isoformat()}
        )
        return
    _last_attempt(svc, pledge)


def _last_attempt(svc: Services, pledge: Pledge) -> None:
    """The end of the grace period. One last attempt (the backer may have paid
    meanwhile, or the card works again); if it does not collect, every charge
    the backer could still pay is cancelled before the pledge is failed, so no
    money can reach Stripe for it afterwards. A charge that took the money
    before its cancel collects the pledge; a second one is refunded."""
    assert pledge.grace_until is not None
    payment = pledge.payment
    if payment.flow is PaymentFlow.SETUP:
        recorded = payment.charge_recorded_at
        if recorded is None or recorded < pledge.grace_until:
            # Recorded once: a retry of this step repeats the same attempt
            # (its key) rather than leaving a new declined charge behind.
            payment = replace(
                payment,
                charge_attempt=payment.charge_attempt + 1,
                charge_recorded_at=svc.clock.now(),
            )
            pledge = svc.store.save_pledge(pledge, replace(pledge, payment=payment))
        attempt = payment.charge_attempt
        result = _known(
            svc, pledge, lambda: svc.payments.charge(pledge, attempt=attempt, look_up_first=True)
        )
    else:
        attempt = payment.charge_attempt
        result = _known(svc, pledge, lambda: svc.payments.capture(pledge, attempt=attempt))
    took = [result.intent_id] if result.status is ChargeStatus.SUCCEEDED else []
    still_open = [charge_intent(pledge)]
    if result.status is ChargeStatus.NEEDS_BACKER:
        still_open.append(result.intent_id)  # this attempt's own declined charge
    for intent_id in dict.fromkeys(i for i in still_open if i and i not in took):
        if svc.payments.cancel_payment(pledge, intent_id).status is ChargeStatus.SUCCEEDED:
            took.append(intent_id)  # paid before the cancel reached Stripe
    for intent_id in took[1:]:
        # Two payments for one pledge: the first collects, the other goes back
        # (sent before the write, so a crash cannot keep it silently).
        _send_refund_late(svc, pledge, intent_id)
    try:
        if took:
            assert took[0] is not None
            _collect(svc, pledge, took[0])
        else:
            reason = _grace_failure(result)
            _fail(svc, pledge, reason, payment=replace(pledge.payment, intent_open=False))
    except ConcurrentUpdate:
        current = svc.store.get_pledge(pledge.campaign_id, pledge.id)
        if current.status not in SETTLED:
            raise  # SQS retries this step
        # The webhook recorded the backer's payment first: any other payment
        # found here is one too many.
        for intent_id in took:
            if intent_id and intent_id != charge_intent(current):
                _send_refund_late(svc, current, intent_id)


def _grace_failure(last: ChargeResult) -> str:
    """`failure_reason` of a pledge whose grace period ended unpaid. (Stable
    across retries of the step: a replayed attempt may answer differently.)"""
    if last.status is ChargeStatus.REFUSED:
        return last.reason or "refused"
    if last.status is ChargeStatus.CANCELED and last.reason == "automatic":
        return canceled_reason(last.reason)  # the hold lapsed meanwhile
    return GRACE_PERIOD_ENDED


def _send_refund_late(svc: Services, pledge: Pledge, intent_id: str) -> None:
    svc.queue.send(
        {
            "kind": "refund_late",
            "campaign_id": pledge.campaign_id,
            "pledge_id": pledge.id,
            "intent_id": intent_id,
        }
    )


def refund_late(svc: Services, campaign_id: str, pledge_id: str, intent_id: str) -> None:
    """Gives back a payment Stripe took for a pledge that is already finished
    (API.md: never kept silently), and records it on the pledge."""
    pledge = svc.store.get_pledge(campaign_id, pledge_id)
    if intent_id in pledge.late_refunds:
        return
    if pledge.status not in SETTLED:
        # The end of its grace period is being written: SQS retries this.
        raise ConcurrentUpdate(f"Pledge {pledge_id} is still {pledge.status.value}.")
    collected = pledge.status in (PledgeStatus.COLLECTED, PledgeStatus.REFUNDED)
    if collected and intent_id == charge_intent(pledge):
        # The webhook recorded this payment as the pledge's while the end of
        # its grace period found another: that other one is refunded instead.
        logger.warning(
            "not refunding the payment a pledge collected",
            extra={"pledge_id": pledge_id, "intent_id": intent_id},
        )
        return
    svc.payments.refund(pledge, intent_id)
    after = svc.store.save_pledge(
        pledge, replace(pledge, late_refunds=(*pledge.late_refunds, intent_id))
    )
    metrics.add_metric(name="LatePaymentsRefunded", unit="Count", value=1)
    logger.warning(
        "a payment for a finished pledge was refunded",
        extra={"pledge_id": pledge_id, "intent_id": intent_id, "status": after.status.value},
    )
    svc.events.publish("PledgeLatePaymentRefunded", {**_ids(after), "intent_id": intent_id})


def complete(svc: Services, campaign_id: str, round_: int = 0) -> None:
    """Finishes the campaign once no pledge is left to settle (a pledge in its
    grace period does not hold the campaign back; its totals are refreshed).
    `round_` > 0: a follow-up after fan-out, which schedules the next one."""
    campaign = svc.store.get_campaign(campaign_id)
    if campaign.outcome is None or campaign.next_check_at is None:
        return
    now = svc.clock.now()
    if campaign.fanned_out_at is None:
        # Pages are still going out: nothing to count yet (counting would
        # read the whole campaign every minute for nothing).
        if campaign.locked_at and now - campaign.locked_at > STALLED_FAN_OUT:
            logger.warning("fan-out stalled; starting it again", extra={"campaign_id": campaign_id})
            fan_out(svc, campaign)
        return
    collected = Tally()
    released = failed = pending_action = 0
    waiting: list[str] = []  # ids only: settlement never holds a campaign's pledges
    for pledge in svc.store.all_pledges(campaign_id):
        match pledge.status:
            case PledgeStatus.COLLECTED:
                collected = collected.plus(pledge.amount.amount)
            case PledgeStatus.RELEASED:
                released += pledge.amount.amount
            case PledgeStatus.FAILED:
                failed += pledge.amount.amount
            case PledgeStatus.ACTION_REQUIRED:
                pending_action += pledge.amount.amount
        if action_for(campaign.outcome, pledge) is not Action.NONE:
            waiting.append(pledge.id)
    if waiting:
        if now - campaign.fanned_out_at > STRAGGLER_AFTER:
            svc.queue.send_many(
                {
                    "kind": "pledge",
                    "campaign_id": campaign_id,
                    "pledge_id": p,
                    "outcome": campaign.outcome,
                }
                for p in waiting
            )
        elif round_:
            _check_later(svc, campaign_id, round_ + 1)
        return
    if campaign.status is CampaignStatus.CANCELLED:
        svc.store.save_campaign(campaign, replace(campaign, next_check_at=None))
        return
    outcome = Outcome.SUCCEEDED if campaign.outcome.collects else Outcome.FAILED
    settlement = Settlement(
        outcome=outcome,
        collected=collected.amount,
        collected_backers=collected.backers,
        released=released,
        failed=failed,
        pending_action=pending_action,
        settled_at=campaign.settlement.settled_at if campaign.settlement else now,
    )
    after = replace(
        campaign,
        settlement=settlement,
        next_check_at=now + CHECK_INTERVAL if pending_action else None,
    )
    if campaign.status is CampaignStatus.SETTLING:
        status = CampaignStatus.SUCCEEDED if outcome is Outcome.SUCCEEDED else CampaignStatus.FAILED
        after = after.moved_to(status)
        svc.store.save_campaign(campaign, after)
        svc.events.publish(
            "CampaignSucceeded" if outcome is Outcome.SUCCEEDED else "CampaignFailed",
            {
                "campaign_id": campaign_id,
                "collected": collected.amount,
                "backers": collected.backers,
            },
        )
    else:
        svc.store.save_campaign(campaign, after)
