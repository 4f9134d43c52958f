"""Backer use cases: pledge (flash intake: `intake`), look at it, cancel it."""

from __future__ import annotations

import hashlib
import json
import zlib
from typing import Any

from .. import tokens
from ..clock import to_rfc3339
from ..container import Services
from ..domain import (
    Backer,
    Campaign,
    Money,
    Payment,
    Pledge,
    PledgeStatus,
    choose_flow,
)
from ..domain.conditions import MAX_CONDITION
from ..domain.errors import (
    CampaignClosed,
    ConcurrentUpdate,
    Forbidden,
    IdempotencyKeyReused,
    NotFound,
    PaymentProviderError,
    PaymentProviderUnavailable,
    Unauthorized,
    ValidationFailed,
)
from ..domain.messages import SettlePledge
from ..domain.money import chargeable
from ..ids import derived_id
from ..ports import IntakeProgress
from ..views import pledge_json
from . import intake
from .publishing import published


def _request_hash(body: dict[str, Any]) -> str:
    # A pledge without a condition hashes as it did before conditions
    # existed, so that a replay of an older pledge's request still matches.
    if body.get("condition") is None:
        body = {k: v for k, v in body.items() if k != "condition"}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def _payment(
    svc: Services,
    pledge: Pledge,
    *,
    ticket: int | None = None,
    queued: bool = False,
    progress: IntakeProgress | None = None,
) -> dict[str, Any]:
    """The `payment` object: "ready" with the client secret, "failed" with
    Stripe's reason, or "preparing" with `ready_in` (from the pledge's ticket,
    against the queue's `progress` if the request has just read it: `served`
    only moves up, so an earlier reading errs on the long side)."""
    payment: dict[str, Any] = {
        "flow": pledge.payment.flow.value,
        "status": "ready",
        "intent_id": pledge.payment.charge_intent_id or pledge.payment.intent_id,
        "client_secret": pledge.client_secret_for_backer,
        "publishable_key": svc.settings.stripe_publishable_key,
    }
    if intake.payment_failed(pledge):
        payment["status"] = "failed"
        payment["error"] = {
            "code": pledge.failure_reason,
            "message": "Stripe could not prepare this payment; pledge again with other details.",
        }
    elif not pledge.ready:
        if ticket is None and not queued:
            ticket = svc.store.ticket_of(pledge.campaign_id, pledge.id)
        payment["status"] = "preparing"
        payment["ready_in"] = intake.ready_in(svc, ticket, progress)
    return payment


def _response(svc: Services, pledge: Pledge, **queue: Any) -> dict[str, Any]:
    return {
        "pledge": pledge_json(pledge),
        "pledge_token": tokens.issue(svc.secrets.pledge_token_secret, pledge.id),
        "payment": _payment(svc, pledge, **queue),
    }


def create(
    svc: Services, campaign_id: str, idempotency_key: str, body: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    """Returns (response, HTTP status). The pledge id is derived from the
    campaign and the Idempotency-Key, and the pledge is written (claiming the
    key) before Stripe is called: the same key and body replay it, another
    body is a conflict whatever Stripe has seen.

    Flash intake (API.md): the pledge's Stripe object is made now (201
    "ready") when the intake queue is empty and the pledge-time budget has a
    slot; otherwise, or when Stripe is busy, the pledge is queued (202
    "preparing"). A replay answers the current state (200), and queues a
    pledge that is neither ready nor queued (the first attempt died between
    writing it and queueing it): no pledge is left behind."""
    pledge_id = derived_id("plg", campaign_id, idempotency_key)
    request_hash = _request_hash(body)
    # The intake queue's counter comes in the same read (a newcomer goes
    # behind a backlog): one read request per pledge, not two.
    campaign, pledge, progress = svc.store.campaign_pledge_and_intake(campaign_id, pledge_id)
    created = False
    if pledge is None:
        pledge = _new_pledge(svc, campaign, pledge_id, request_hash, body)
        try:
            pledge = published(svc, svc.store.create_pledge(pledge))
            created = True
        except ConcurrentUpdate:
            # The same key raced us and won: answer as a replay (or a conflict).
            pledge = svc.store.get_pledge(campaign_id, pledge_id)
    if pledge.request_hash != request_hash:
        raise IdempotencyKeyReused("This Idempotency-Key was used with a different request.")
    if pledge.ready or intake.payment_failed(pledge):
        return _response(svc, pledge), 201 if created else 200
    if not campaign.is_open(svc.clock.now()) or pledge.status is not PledgeStatus.PENDING:
        raise CampaignClosed("This pledge can no longer be prepared: the campaign is closed.")
    if not created and svc.store.ticket_of(campaign_id, pledge_id) is not None:
        # Queued already: sent again, harmlessly.
        return _queued(svc, pledge, progress, unticketed=False), 200
    return _prepare_or_queue(svc, campaign, pledge, created, progress)


def _prepare_or_queue(
    svc: Services, campaign: Campaign, pledge: Pledge, created: bool, progress: IntakeProgress
) -> tuple[dict[str, Any], int]:
    # Here the pledge holds no ticket: just created, or a replay that `create`
    # found without one.
    waiting = intake.backlog(svc, progress)
    if waiting is not None or not svc.budget.take_now(pledge.payment.flow):
        return _queued(svc, pledge, progress, unticketed=True), 202 if created else 200
    try:
        pledge = intake.make_ready(svc, campaign, pledge)
    except PaymentProviderUnavailable:
        # Stripe busy (429, 5xx, timeout): the intake queue makes it later.
        return _queued(svc, pledge, progress, unticketed=True), 202 if created else 200
    except PaymentProviderError as error:
        reason = intake.refusal(error)
        if reason is None:
            raise
        pledge = intake.record_failure(svc, pledge, reason)
    return _response(svc, pledge), 201 if created else 200


def _queued(
    svc: Services, pledge: Pledge, progress: IntakeProgress, *, unticketed: bool
) -> dict[str, Any]:
    """Queues the pledge (`unticketed`: it was just seen holding no ticket, so
    none is looked for first) and answers `preparing`, its `ready_in` from
    the queue's `progress` as this request read it."""
    ticket = intake.enqueue(svc, pledge, unticketed=unticketed)
    return _response(svc, pledge, ticket=ticket, queued=True, progress=progress)


def _new_pledge(
    svc: Services, campaign: Campaign, pledge_id: str, request_hash: str, body: dict[str, Any]
) -> Pledge:
    now = svc.clock.now()
    amount: Money = chargeable(
        body["amount"], body["currency"], account_currency=svc.settings.stripe_account_currency
    )
    campaign.check_pledge(amount, now)
    flow = choose_flow(deadline=campaign.deadline, now=now, hold_window=svc.settings.hold_window)
    token = tokens.issue(svc.secrets.pledge_token_secret, pledge_id)
    return Pledge(
        id=pledge_id,
        campaign_id=campaign.id,
        amount=amount,
        backer=Backer(
            email=body["email"],
            display_name=body.get("display_name"),
            anonymous=bool(body.get("anonymous", False)),
            hide_amount=bool(body.get("hide_amount", False)),
            message=body.get("message"),
        ),
        status=PledgeStatus.PENDING,
        created_at=now,
        payment=Payment(flow=flow, intent_id=None, client_secret=None),
        token_hash=tokens.digest(token),
        request_hash=request_hash,
        counter_shard=zlib.crc32(pledge_id.encode()) % svc.settings.counter_shards,
        min_backers=_condition(body.get("condition")),
    )


def _condition(condition: dict[str, Any] | None) -> int | None:
    """The pledge's `min_backers` (validated by the API's model; checked
    again here for callers that skip it)."""
    if condition is None:
        return None
    n = condition.get("min_backers")
    if type(n) is not int or not 1 <= n <= MAX_CONDITION:
        raise ValidationFailed(
            f"condition.min_backers must be a whole number from 1 to {MAX_CONDITION}.",
            details=[{"field": "condition.min_backers"}],
        )
    return n


def _authorized(svc: Services, campaign_id: str, pledge_id: str, token: str | None) -> Pledge:
    if not token:
        raise Unauthorized("X-Pledge-Token is required.")
    pledge = svc.store.find_pledge(campaign_id, pledge_id)
    if pledge is None:
        raise NotFound(f"No pledge {pledge_id} in campaign {campaign_id}.")
    if not tokens.matches(token, pledge.token_hash):
        raise Forbidden("This pledge token does not match the pledge.")
    return pledge


def get(svc: Services, campaign_id: str, pledge_id: str, token: str | None) -> dict[str, Any]:
    pledge = _authorized(svc, campaign_id, pledge_id, token)
    body = pledge_json(pledge)
    body["payment"] = _payment(svc, pledge)
    if pledge.grace_until is not None:
        body["action_required_until"] = to_rfc3339(pledge.grace_until)
    return body


CANCEL_ATTEMPTS = 3


def cancel(svc: Services, campaign_id: str, pledge_id: str, token: str | None) -> dict[str, Any]:
    """Backer cancels before the deadline; any hold is released by the worker."""
    pledge = _authorized(svc, campaign_id, pledge_id, token)
    campaign = svc.store.get_campaign(campaign_id)
    now = svc.clock.now()
    if not campaign.is_open(now):
        raise CampaignClosed("Pledges can only be cancelled before the deadline.")
    for attempt in range(CANCEL_ATTEMPTS):
        if attempt:  # Stripe's confirmation landed at the same moment: read again
            pledge = svc.store.get_pledge(campaign_id, pledge_id)
        try:
            cancelled = published(
                svc,
                svc.store.save_pledge(
                    pledge, pledge.moved_to(PledgeStatus.CANCELLED), open_campaign_at=now
                ),
            )
            break
        except ConcurrentUpdate:
            if attempt == CANCEL_ATTEMPTS - 1:
                raise
    if cancelled.payment.intent_open:  # the worker releases the hold
        svc.queue.send(SettlePledge(campaign_id, pledge_id))
    return pledge_json(cancelled)
