"""The refund parts of the campaign and pledge items (domain.refunds), kept
beside `mapping`, which spreads them into the items it builds."""

from __future__ import annotations

from typing import Any

from ..clock import epoch, from_epoch
from ..domain import Campaign, Pledge
from ..domain.refunds import CampaignRefund, Refunds

Item = Any


def campaign_refund_attributes(c: Campaign) -> dict[str, Any]:
    r, s = c.refund, c.settlement
    return {
        "refunded_amount": s.refunded if s and s.refunded else None,
        "refund_reason": r.reason if r else None,
        "refund_started_at": epoch(r.started_at) if r else None,
        "refund_sent_at": epoch(r.sent_at) if r and r.sent_at else None,
    }


def campaign_refund_of(item: Item) -> CampaignRefund | None:
    if item.refund_started_at is None:
        return None
    return CampaignRefund(
        reason=item.refund_reason or "",
        started_at=from_epoch(item.refund_started_at),
        sent_at=None if item.refund_sent_at is None else from_epoch(item.refund_sent_at),
    )


def settlement_refunded_of(item: Item) -> int:
    return int(item.refunded_amount or 0)


def pledge_refund_attributes(p: Pledge) -> dict[str, Any]:
    r = p.refunds
    return {
        "refunded_amount": r.refunded,
        "refund_number": r.number,
        "refund_pending": r.pending,
        "refund_target": r.target,
        "refund_retry": r.retry,
        "refund_reason": r.reason,
    }


def refunds_of(item: Item) -> Refunds:
    return Refunds(
        refunded=int(item.refunded_amount or 0),
        number=int(item.refund_number or 0),
        pending=int(item.refund_pending or 0),
        target=int(item.refund_target or 0),
        retry=bool(item.refund_retry),
        reason=item.refund_reason,
    )
