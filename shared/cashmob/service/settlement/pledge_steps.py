"""The next settlement step for one pledge (a SettlePledge message)."""

from __future__ import annotations

from ...container import Services
from ...domain import Action, PledgeStatus, action_for
from ...domain.messages import SettlePledge
from ...domain.settlement import share_of
from ..publishing import published
from .charges import capture, charge, close_intent
from .grace import grace_step


def settle_pledge(svc: Services, message: SettlePledge) -> None:
    pledge = svc.store.get_pledge(message.campaign_id, message.pledge_id)
    if pledge.status is PledgeStatus.ACTION_REQUIRED:
        grace_step(svc, pledge)
        return
    outcome, crowd, share = message.outcome, message.crowd, message.share
    if outcome is None:  # not carried by the message: read it, and what came with it
        campaign = svc.store.get_campaign(message.campaign_id)
        outcome, crowd, share = campaign.outcome, campaign.crowd, share_of(campaign, pledge)
    match action_for(outcome, pledge, crowd=crowd):
        case Action.CHARGE:
            charge(svc, pledge, share=share)
        case Action.CAPTURE:
            capture(svc, pledge, share=share)
        case Action.RELEASE:
            released = pledge.moved_to(PledgeStatus.RELEASED)
            close_intent(svc, published(svc, svc.store.save_pledge(pledge, released)))
        case Action.EXPIRE:
            expired = pledge.moved_to(PledgeStatus.EXPIRED)
            close_intent(svc, published(svc, svc.store.save_pledge(pledge, expired)))
        case Action.CANCEL_INTENT:
            close_intent(svc, pledge)
        case Action.NONE:
            pass
