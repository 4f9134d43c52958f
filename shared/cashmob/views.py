"""The JSON shapes of API.md."""

from __future__ import annotations

from typing import Any

from .clock import to_rfc3339
from .domain import Campaign, Pledge, Tally


def progress_of(campaign: Campaign, live: Tally) -> Tally:
    """`pledged`: active pledges while live; collected ones once settled."""
    s = campaign.settlement
    if s is not None:
        pledged = s.collected if s.collected_pledged is None else s.collected_pledged
        return Tally(pledged, s.collected_backers)
    return live


def campaign_json(campaign: Campaign, live: Tally, every: Tally | None = None) -> dict[str, Any]:
    """`live`: the counted pledges (conditions resolved); `every`: every
    active pledge, conditional or not (`pledged_if_conditions_met`)."""
    tally = progress_of(campaign, live)
    everyone = tally if campaign.settlement is not None or every is None else every
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
        "pledged_if_conditions_met": {
            "amount": everyone.amount,
            "currency": campaign.currency,
            "backers": everyone.backers,
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
            "refunded": s.refunded,
        },
        "payout": None,  # service.payouts fills it in when payouts are on
    }


def pledge_json(pledge: Pledge, *, private: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": pledge.id,
        "campaign_id": pledge.campaign_id,
        "amount": pledge.amount.amount,
        "currency": pledge.amount.currency,
        "status": pledge.status.value,
        "created_at": to_rfc3339(pledge.created_at),
        "charged": pledge.charged,
        "condition": None if pledge.min_backers is None else {"min_backers": pledge.min_backers},
    }
    if pledge.failure_reason:
        body["failure_reason"] = pledge.failure_reason
    if pledge.refunds.refunded:
        # Given back of what was charged (all of it: the pledge is `refunded`).
        body["refunded_amount"] = pledge.refunds.refunded
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
