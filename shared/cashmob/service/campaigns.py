"""Organizer and public use cases for campaigns."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from ..container import Services
from ..domain import (
    Campaign,
    CampaignStatus,
    FundingModel,
    Outcome,
    PledgeStatus,
    Tally,
    new_campaign,
)
from ..domain.errors import CampaignClosed, Forbidden
from ..ids import new_id
from ..store import Page
from ..store import cursor as cursors
from ..views import backer_json, campaign_json, pledge_json, progress_of
from .publishing import published

T = TypeVar("T")
PUBLIC_BACKERS = frozenset(
    {PledgeStatus.ACTIVE, PledgeStatus.ACTION_REQUIRED, PledgeStatus.COLLECTED}
)


def create(
    svc: Services,
    *,
    organizer: str,
    title: str,
    description: str,
    goal_amount: int,
    goal_currency: str,
    deadline: datetime,
    funding_model: FundingModel,
    min_backers: int,
    min_pledge_amount: int | None,
    min_pledge_currency: str | None,
) -> dict[str, Any]:
    campaign = new_campaign(
        id=new_id("cmp"),
        organizer=organizer,
        title=title,
        description=description,
        goal_amount=goal_amount,
        goal_currency=goal_currency,
        deadline=deadline,
        now=svc.clock.now(),
        funding_model=funding_model,
        min_backers=min_backers,
        min_pledge_amount=min_pledge_amount,
        min_pledge_currency=min_pledge_currency,
        account_currency=svc.settings.stripe_account_currency,
    )
    campaign = published(svc, svc.store.create_campaign(campaign))
    return view(svc, campaign)


def view(svc: Services, campaign: Campaign) -> dict[str, Any]:
    if campaign.settlement:
        from . import payouts  # deferred: only a settled campaign has a payout (cold start)

        return {**campaign_json(campaign, Tally()), "payout": payouts.payout_view(svc, campaign)}
    crowd = svc.store.crowd(campaign.id)  # one read of the counters, as before
    return campaign_json(
        campaign, Tally(crowd.amount, crowd.backers), Tally(crowd.all_amount, crowd.all_backers)
    )


def get(svc: Services, campaign_id: str) -> dict[str, Any]:
    return view(svc, svc.store.get_campaign(campaign_id))


def _paged(
    svc: Services, scope: str, cursor: str | None, read: Callable[[str | None], Page[T]]
) -> tuple[list[T], str | None]:
    """One page of a public listing. The client's cursor must be one that this
    listing handed out (signed; 400 otherwise); the next one is signed too."""
    key = cursors.signing_key(svc.secrets.pledge_token_secret)
    page = read(cursors.verify(cursor, scope, key))
    return page.items, cursors.sign(page.next_cursor, scope, key)


def listing(
    svc: Services, *, status: CampaignStatus | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    items, next_cursor = _paged(
        svc,
        f"campaigns:{status.value if status else '*'}",
        cursor,
        lambda after: svc.store.list_campaigns(status=status, limit=limit, after=after),
    )
    return {"campaigns": [view(svc, c) for c in items], "next_cursor": next_cursor}


def _owned(svc: Services, campaign_id: str, organizer: str) -> Campaign:
    campaign = svc.store.get_campaign(campaign_id)
    if campaign.organizer != organizer:
        raise Forbidden("Only the campaign's organizer may do this.")
    return campaign


def cancel(svc: Services, campaign_id: str, organizer: str) -> dict[str, Any]:
    """live -> cancelled before the deadline; every pledge is then released."""
    campaign = _owned(svc, campaign_id, organizer)
    now = svc.clock.now()
    campaign.moved_to(CampaignStatus.CANCELLED)  # raises InvalidTransition unless live
    if now >= campaign.deadline:
        raise CampaignClosed("The deadline has passed; the campaign is being settled.")
    after = campaign.moved_to(
        CampaignStatus.CANCELLED, outcome=Outcome.CANCELLED, locked_at=now, next_check_at=now
    )
    cancelled = published(svc, svc.store.save_campaign(campaign, after))
    from . import settlement  # deferred: only a cancellation settles (cold start)

    settlement.fan_out(svc, cancelled.id)
    return view(svc, cancelled)


def owner_pledges(
    svc: Services, campaign_id: str, organizer: str, *, limit: int, cursor: str | None
) -> dict[str, Any]:
    _owned(svc, campaign_id, organizer)
    items, next_cursor = _paged(
        svc,
        f"pledges:{campaign_id}",
        cursor,
        lambda after: svc.store.pledges(campaign_id, limit=limit, after=after),
    )
    return {"pledges": [pledge_json(p, private=True) for p in items], "next_cursor": next_cursor}


def backers(svc: Services, campaign_id: str, *, limit: int, cursor: str | None) -> dict[str, Any]:
    svc.store.get_campaign(campaign_id)  # 404 for an unknown campaign
    items, next_cursor = _paged(
        svc,
        f"backers:{campaign_id}",
        cursor,
        lambda after: svc.store.pledges(
            campaign_id, limit=limit, after=after, statuses=PUBLIC_BACKERS
        ),
    )
    return {"backers": [backer_json(p) for p in items], "next_cursor": next_cursor}


def badge_svg(svc: Services, campaign_id: str) -> str:
    from . import badge  # deferred: the badge's route only (cold start)

    campaign = svc.store.get_campaign(campaign_id)
    if campaign.settlement is not None:
        return badge.render(campaign, progress_of(campaign, Tally()), svc.clock.now())
    crowd = svc.store.crowd(campaign.id)  # one read of the counters, as for the view
    return badge.render(
        campaign,
        Tally(crowd.amount, crowd.backers),
        svc.clock.now(),
        if_conditions_met=Tally(crowd.all_amount, crowd.all_backers),
    )
