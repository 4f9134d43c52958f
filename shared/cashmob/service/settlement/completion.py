"""Completion: the campaign ends succeeded or failed once no pledge is left
to settle (a pledge in its grace period does not hold it back; its totals
are refreshed by later checks)."""

from __future__ import annotations

from ...container import Services
from ...domain import Action, action_for
from ...domain.messages import CheckCompletion, SettlePledge
from ...domain.schedule import (
    CompletionStep,
    completion_step,
    next_check_round,
    stragglers_due,
)
from ...domain.settlement import Totals, finished
from ...observability import logger
from ..payouts import after_completion
from ..publishing import published
from .fan_out import check_later, fan_out, settle_message


def complete(svc: Services, message: CheckCompletion) -> None:
    campaign = svc.store.get_campaign(message.campaign_id)
    now = svc.clock.now()
    match completion_step(campaign, now):
        case CompletionStep.COUNT:
            pass
        case CompletionStep.RESTART_FAN_OUT:
            logger.warning("fan-out stalled; starting it again", extra={"campaign_id": campaign.id})
            fan_out(svc, campaign.id)
            return
        case _:
            return
    assert campaign.outcome is not None
    totals = Totals()
    # Small messages only: settlement never holds a campaign's pledges.
    waiting: list[SettlePledge] = []
    for pledge in svc.store.all_pledges(campaign.id):
        totals = totals.plus(pledge)
        if action_for(campaign.outcome, pledge, crowd=campaign.crowd) is not Action.NONE:
            waiting.append(settle_message(campaign, pledge))
    if waiting:
        if stragglers_due(campaign, now):
            svc.queue.send_many(waiting)
        elif message.round:
            rate = svc.settings.stripe_requests_per_second
            next_round = next_check_round(message.round, len(waiting), rate)
            check_later(svc, campaign.id, next_round, waiting=len(waiting))
        return
    done = published(svc, svc.store.save_campaign(campaign, finished(campaign, totals, now)))
    after_completion(svc, done)  # a payout, once no pledge is left in its grace period
