"""Domain objects to items and back: the one module that knows both shapes.

Times are stored as whole epoch seconds; the sparse `due_bucket`/`due_at`
pair is derived here from what makes an item due."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..clock import epoch, from_epoch
from ..domain import (
    Backer,
    Campaign,
    CampaignStatus,
    FundingModel,
    Money,
    Outcome,
    Payment,
    PaymentFlow,
    Pledge,
    PledgeStatus,
    Settlement,
)
from .models import DUE, Models
from .refund_fields import (
    campaign_refund_attributes,
    campaign_refund_of,
    pledge_refund_attributes,
    refunds_of,
    settlement_refunded_of,
)
from .share_plans import plan_of, plan_text

# PynamoDB's models are built per settings (`build_models`), so items are typed loosely.
Item = Any


def _opt_epoch(moment: datetime | None) -> int | None:
    return None if moment is None else epoch(moment)


def _opt_time(seconds: float | None) -> datetime | None:
    return None if seconds is None else from_epoch(seconds)


def _revision(revision: int | None) -> dict[str, int]:
    # A new item has no version yet: PynamoDB then requires that it not exist.
    return {} if revision is None else {"version": revision}


# ---------------------------------------------------------------- campaigns


def campaign_item(models: Models, c: Campaign) -> Item:
    s = c.settlement
    return models.Campaign(
        c.id,
        title=c.title,
        description=c.description,
        organizer=c.organizer,
        currency=c.currency,
        goal_amount=c.goal.amount,
        min_backers=c.min_backers,
        min_pledge_amount=c.min_pledge.amount,
        funding_model=c.funding_model.value,
        deadline=epoch(c.deadline),
        created_at=epoch(c.created_at),
        status=c.status.value,
        outcome=c.outcome.value if c.outcome else None,
        collected_amount=s.collected if s else None,
        collected_backers=s.collected_backers if s else None,
        released_amount=s.released if s else None,
        failed_amount=s.failed if s else None,
        pending_action_amount=s.pending_action if s else None,
        collected_pledged=s.collected_pledged if s else None,
        crowd=c.crowd,
        share_plan=plan_text(c.share_plan),
        settled_at=_opt_epoch(s.settled_at) if s else None,
        locked_at=_opt_epoch(c.locked_at),
        fanned_out_at=_opt_epoch(c.fanned_out_at),
        **campaign_refund_attributes(c),
        due_bucket=DUE if c.next_check_at else None,
        due_at=_opt_epoch(c.next_check_at),
        **_revision(c.revision),
    )


def campaign_of(item: Item) -> Campaign:
    settlement = None
    if item.settled_at is not None:
        settlement = Settlement(
            outcome=Outcome(item.outcome),
            collected=int(item.collected_amount),
            collected_backers=int(item.collected_backers),
            released=int(item.released_amount),
            failed=int(item.failed_amount),
            pending_action=int(item.pending_action_amount),
            collected_pledged=None
            if item.collected_pledged is None
            else int(item.collected_pledged),
            settled_at=from_epoch(item.settled_at),
            refunded=settlement_refunded_of(item),
        )
    return Campaign(
        id=item.campaign_id,
        title=item.title,
        description=item.description,
        organizer=item.organizer,
        goal=Money(int(item.goal_amount), item.currency),
        min_backers=int(item.min_backers),
        min_pledge=Money(int(item.min_pledge_amount), item.currency),
        funding_model=FundingModel(item.funding_model),
        deadline=from_epoch(item.deadline),
        status=CampaignStatus(item.status),
        created_at=from_epoch(item.created_at),
        outcome=Outcome(item.outcome) if item.outcome else None,
        settlement=settlement,
        locked_at=_opt_time(item.locked_at),
        fanned_out_at=_opt_time(item.fanned_out_at),
        refund=campaign_refund_of(item),
        crowd=None if item.crowd is None else int(item.crowd),
        share_plan=plan_of(item.share_plan),
        next_check_at=_opt_time(item.due_at),
        revision=item.version,
    )


# ---------------------------------------------------------------- pledges


def pledge_item(models: Models, p: Pledge) -> Item:
    pay = p.payment
    due = p.next_reminder_at if p.status is PledgeStatus.ACTION_REQUIRED else None
    return models.Pledge(
        p.campaign_id,
        p.id,
        amount=p.amount.amount,
        currency=p.amount.currency,
        email=p.backer.email,
        display_name=p.backer.display_name,
        anonymous=p.backer.anonymous,
        hide_amount=p.backer.hide_amount,
        message=p.backer.message,
        status=p.status.value,
        created_at=epoch(p.created_at),
        activated_at=_opt_epoch(p.activated_at),
        flow=pay.flow.value,
        intent_id=pay.intent_id,
        client_secret=pay.client_secret,
        customer_id=pay.customer_id,
        payment_method=pay.payment_method,
        intent_open=pay.intent_open,
        charge_attempt=pay.charge_attempt,
        charge_intent_id=pay.charge_intent_id,
        charge_client_secret=pay.charge_client_secret,
        charge_recorded_at=_opt_epoch(pay.charge_recorded_at),
        grace_until=_opt_epoch(p.grace_until),
        next_reminder_at=_opt_epoch(p.next_reminder_at),
        token_hash=p.token_hash,
        request_hash=p.request_hash,
        counter_shard=p.counter_shard,
        failure_reason=p.failure_reason,
        late_refunds=list(p.late_refunds) or None,
        min_backers=p.min_backers,
        share=p.share,
        **pledge_refund_attributes(p),
        due_bucket=DUE if due else None,
        due_at=_opt_epoch(due),
        **_revision(p.revision),
    )


def pledge_of(item: Item) -> Pledge:
    return Pledge(
        id=item.pledge_id,
        campaign_id=item.campaign_id,
        amount=Money(int(item.amount), item.currency),
        backer=Backer(
            email=item.email,
            display_name=item.display_name,
            anonymous=bool(item.anonymous),
            hide_amount=bool(item.hide_amount),
            message=item.message,
        ),
        status=PledgeStatus(item.status),
        created_at=from_epoch(item.created_at),
        activated_at=_opt_time(item.activated_at),
        payment=Payment(
            flow=PaymentFlow(item.flow),
            intent_id=item.intent_id,
            client_secret=item.client_secret,
            customer_id=item.customer_id,
            payment_method=item.payment_method,
            intent_open=bool(item.intent_open),
            charge_attempt=int(item.charge_attempt),
            charge_intent_id=item.charge_intent_id,
            charge_client_secret=item.charge_client_secret,
            charge_recorded_at=_opt_time(item.charge_recorded_at),
        ),
        grace_until=_opt_time(item.grace_until),
        next_reminder_at=_opt_time(item.next_reminder_at),
        token_hash=item.token_hash,
        request_hash=item.request_hash,
        counter_shard=int(item.counter_shard),
        failure_reason=item.failure_reason,
        late_refunds=tuple(item.late_refunds or ()),
        min_backers=None if item.min_backers is None else int(item.min_backers),
        share=None if item.share is None else int(item.share),
        refunds=refunds_of(item),
        revision=item.version,
    )


# ---------------------------------------------------------------- processed events


def event_item(
    models: Models, event_id: str, event_type: str, processed_at: datetime, expires_at: datetime
) -> Item:
    return models.ProcessedEvent(
        event_id,
        event_type=event_type,
        processed_at=epoch(processed_at),
        expires_at=expires_at,
    )
