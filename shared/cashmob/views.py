"""The JSON shapes of API.md."""

from __future__ import annotations

from typing import Any

from .clock import to_rfc3339
from .domain import Campaign, Pledge, Tally


def progress_of(campaign: Campaign, live: Tally) -> Tally:
    """`pledged`: active pledges while live; collected ones once settled."""
    if campaign.settlement is not None:
        return Tally(campaign.settlement.collected, campaign.settlement.collected_backers)
    return live


def campaign_json(campaign: Campaign, live: Tally) -> dict[str, Any]:
    tally = progress_of(campaign, live)
    s = campaign.settlement
    return {
        "id": campaign.id,
        "title": campaign.title,
        "description": campaign.description,
        "organizer": campaign.organizer,
        "goal": campaign.goal.to_json(),
        "min_backers": campaign.min_backers,
        "min_pledge": campaign.min_pledge.to_json(),
        "funding_model": campaign.funding_model.value,
        "deadline": to_rfc3339(campaign.deadline),
        "status": campaign.status.value,
        "pledged": {
            "amount": tally.amount,
            "currency": campaign.currency,
            "backers": tally.backers,
        },
        "percent_funded": tally.amount * 100 // campaign.goal.amount,
        "created_at": to_rfc3339(campaign.created_at),
        "settlement": None
        if s is None
        else {
            "outcome": s.outcome.value,
            "collected": s.collected,
            "released": s.released,
            "failed": s.failed,
            "pending_action": s.pending_action,
            "settled_at": to_rfc3339(s.settled_at),
        },
    }


def pledge_json(pledge: Pledge, *, private: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": pledge.id,
        "campaign_id": pledge.campaign_id,
        "amount": pledge.amount.amount,
        "currency": pledge.amount.currency,
        "status": pledge.status.value,
        "created_at": to_rfc3339(pledge.created_at),
    }
    if pledge.failure_reason:
        body["failure_reason"] = pledge.failure_reason
    if pledge.late_refunds:
        # Money Stripe took after the pledge was finished, given back.
        body["late_payments_refunded"] = list(pledge.late_refunds)
    if private:
        b = pledge.backer
        body.update(
            email=b.email,
            display_name=b.display_name,
            anonymous=b.anonymous,
            hide_amount=b.hide_amount,
            message=b.message,
            flow=pledge.payment.flow.value,
        )
    return body


def backer_json(pledge: Pledge) -> dict[str, Any]:
    return {
        "name": pledge.backer.public_name,
        "amount": None if pledge.backer.hide_amount else pledge.amount.amount,
        "pledged_at": to_rfc3339(pledge.created_at),
    }
