"""Payouts to organizers with Stripe Connect (API.md `payout`, `GET
/organizers/me`, `POST /organizers/me/payouts`; DESIGN.md money flow 6).

- Onboarding: the organizer's Express account is created on their first
  request (key `organizer:{sub}:account`: one account per organizer however
  often they ask), then an Account Link to Stripe's onboarding. Stripe's
  `account.updated` (a Connect event) saying the account is enabled moves
  the organizer onboarding -> enabled and sends `PayOut` again for each
  campaign whose payout was waiting for it.
- Paying out: `PayOut` (settlement queue) is sent when a succeeded
  campaign's collection is complete (completion, once no pledge is left in
  its grace period) and when the account becomes enabled. Its handler
  creates the campaign's payout record (amounts fixed from the pledges:
  collected - refunded - fee), `not_ready` while the account is not enabled,
  else `pending`; a pending payout makes one Transfer (transfer_group = the
  campaign id, key `campaign:{id}:payout`, after looking the group up on
  Stripe so a redelivery later than Stripe's 24 h key memory cannot pay
  twice) and becomes `paid`. Each move is a conditional write through the
  payout's transition table, so redeliveries and races move it once.
- Reversal: `reverse_after_refund` (called when a campaign ends `refunded`)
  reverses every transfer of the campaign and marks the payout `reversed`; a
  payout that had not gone out is `reversed` with no transfer and never goes
  out (`PayOut` pays only a `succeeded` campaign).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from ..clock import epoch
from ..container import Services
from ..domain import Campaign, CampaignStatus
from ..domain.errors import ConcurrentUpdate, Conflict
from ..domain.events import CampaignPaidOut, CampaignPayoutReversed
from ..domain.messages import PayOut
from ..domain.payout import (
    OnboardingStatus,
    Organizer,
    Payout,
    PayoutAmounts,
    PayoutStatus,
    account_enabled,
    check_return_url,
    organizer_json,
    payout_for,
    payout_json,
)
from ..domain.states import PledgeStatus
from ..observability import logger, metrics
from .publishing import announce

ATTEMPTS = 5  # re-reads when a conditional write loses a race


# ---------------------------------------------------------------- organizers


def organizer(svc: Services, sub: str) -> dict[str, Any]:
    """`GET /organizers/me`."""
    return organizer_json(svc.payout_book.organizer(sub), available=svc.settings.payouts_enabled)


def start_onboarding(svc: Services, sub: str, return_url: str) -> dict[str, Any]:
    """`POST /organizers/me/payouts`: the organizer's onboarding link (their
    Express account made on the first call). Stripe sends an expired link's
    visitor to `refresh_url`: the same page, which asks for a new link."""
    if not svc.settings.payouts_enabled:
        raise Conflict("Payouts are not enabled on this platform.")
    return_url = check_return_url(return_url)
    book = svc.payout_book
    for _ in range(ATTEMPTS):
        current = book.organizer(sub)
        if current.account_id is not None:
            break
        account_id = svc.connect.create_account(sub)
        try:
            current = book.save_organizer(
                current, current.moved_to(OnboardingStatus.ONBOARDING, account_id=account_id)
            )
            break
        except ConcurrentUpdate:
            continue  # another request stored it: the same account (same key)
    else:
        raise ConcurrentUpdate(f"Organizer {sub} kept changing; try again.")
    assert current.account_id is not None
    # A retry of this request within the minute replays Stripe's answer; a
    # later one gets a fresh link (links are single use and short-lived).
    minute = epoch(svc.clock.now()) // 60
    digest = hashlib.sha256(return_url.encode()).hexdigest()[:16]
    url = svc.connect.onboarding_link(
        sub,
        current.account_id,
        return_url=return_url,
        refresh_url=return_url,
        key=f"{minute}:{digest}",
    )
    return {"url": url}


def account_updated(svc: Services, account: dict[str, Any]) -> str:
    """Stripe's `account.updated` (Connect) for an organizer's account: once
    Stripe says it can take transfers, the organizer is enabled and every
    payout waiting for it is sent again. Returns what happened."""
    sub = (account.get("metadata") or {}).get("organizer")
    account_id = account.get("id")
    if not isinstance(sub, str) or not sub or not isinstance(account_id, str):
        return "ignored"
    book = svc.payout_book
    for _ in range(ATTEMPTS):
        current = book.organizer(sub)
        if current.account_id != account_id:
            logger.warning(
                "account.updated for an account the organizer does not hold",
                extra={"account_id": account_id},
            )
            return "ignored"
        if not account_enabled(account):
            return "no_change"
        if current.status is OnboardingStatus.ENABLED and not current.waiting:
            return "no_change"
        # Sent before the write: a crash after it sends them again, and
        # paying out is idempotent.
        svc.queue.send_many(PayOut(campaign_id) for campaign_id in sorted(current.waiting))
        after = (
            current
            if current.status is OnboardingStatus.ENABLED
            else current.moved_to(OnboardingStatus.ENABLED)
        )
        try:
            book.save_organizer(current, _replace_waiting(after, frozenset()))
        except ConcurrentUpdate:
            continue
        metrics.add_metric(name="OrganizersEnabled", unit="Count", value=1)
        return "enabled"
    raise ConcurrentUpdate(f"Organizer {sub} kept changing; Stripe will redeliver.")


def _replace_waiting(org: Organizer, waiting: frozenset[str]) -> Organizer:
    return replace(org, waiting=waiting)


# ---------------------------------------------------------------- paying out


def collection_complete(campaign: Campaign) -> bool:
    """Succeeded, and no pledge left in its grace period (completion has
    refreshed the totals for the last time)."""
    s = campaign.settlement
    return campaign.status is CampaignStatus.SUCCEEDED and s is not None and s.pending_action == 0


def after_completion(svc: Services, campaign: Campaign) -> None:
    """Completion's hook: a campaign whose collection is complete is paid out."""
    if svc.settings.payouts_enabled and collection_complete(campaign):
        svc.queue.send(PayOut(campaign.id))


def _amounts(svc: Services, campaign: Campaign) -> PayoutAmounts:
    collected = refunded = 0
    for pledge in svc.store.all_pledges(campaign.id):
        if pledge.status in (PledgeStatus.COLLECTED, PledgeStatus.REFUNDED):
            collected += pledge.charged
            refunded += pledge.refunded_amount
    return payout_for(collected, refunded, svc.settings.platform_fee_basis_points)


def pay_out(svc: Services, message: PayOut) -> None:
    """The `PayOut` handler: the campaign's one payout, once."""
    if not svc.settings.payouts_enabled:
        return
    for _ in range(ATTEMPTS):
        try:
            _pay_out(svc, message.campaign_id)
            return
        except ConcurrentUpdate:
            continue
    raise ConcurrentUpdate(f"The payout of {message.campaign_id} kept changing; SQS retries.")


def _pay_out(svc: Services, campaign_id: str) -> None:
    book = svc.payout_book
    campaign = svc.store.get_campaign(campaign_id)
    payout = book.payout(campaign_id)
    if payout is not None and payout.status in (PayoutStatus.PAID, PayoutStatus.REVERSED):
        return
    if not collection_complete(campaign):
        # Not yet (grace periods running), or no longer (being refunded).
        logger.info("no payout now", extra={"campaign_id": campaign_id})
        return
    owner = book.organizer(campaign.organizer)
    enabled = owner.status is OnboardingStatus.ENABLED and owner.account_id is not None
    if payout is None:
        fresh = Payout(
            campaign_id=campaign.id,
            organizer=campaign.organizer,
            currency=campaign.currency,
            status=PayoutStatus.PENDING if enabled else PayoutStatus.NOT_READY,
            amounts=_amounts(svc, campaign),
            created_at=svc.clock.now(),
            account_id=owner.account_id if enabled else None,
        )
        payout = book.create_payout(fresh)
    if payout.status is PayoutStatus.NOT_READY:
        if not enabled:
            if campaign.id not in owner.waiting:
                book.save_organizer(owner, _replace_waiting(owner, owner.waiting | {campaign.id}))
            logger.info(
                "payout waits for the organizer's account", extra={"campaign_id": campaign_id}
            )
            return
        # The amounts are fixed now, before Stripe is asked (pledge refunds
        # made while it waited are taken into account).
        payout = book.save_payout(
            payout,
            payout.moved_to(
                PayoutStatus.PENDING, amounts=_amounts(svc, campaign), account_id=owner.account_id
            ),
        )
    assert payout.status is PayoutStatus.PENDING and payout.account_id is not None
    transfer_id = _transfer(svc, payout)
    try:
        book.save_payout(payout, payout.moved_to(PayoutStatus.PAID, transfer_id=transfer_id))
    except ConcurrentUpdate:
        now = book.payout(campaign_id)
        if now is not None and now.status is PayoutStatus.REVERSED:
            # Refunded while the transfer was being made: it goes back too.
            _reverse_all(svc, campaign_id)
            return
        raise
    announce(
        svc,
        [
            CampaignPaidOut(
                campaign_id,
                amount=payout.amounts.amount,
                fee=payout.amounts.fee,
                currency=payout.currency,
                transfer_id=transfer_id,
            )
        ],
    )
    metrics.add_metric(name="PayoutsPaid", unit="Count", value=1)
    logger.info("paid out", extra={"campaign_id": campaign_id, "transfer_id": transfer_id})


def _transfer(svc: Services, payout: Payout) -> str | None:
    """The campaign's transfer: the one Stripe has in its group, else a new one."""
    if payout.amounts.amount <= 0:
        return None  # nothing to send (all of it refunded, or all fee)
    for existing in svc.connect.transfers_of(payout.campaign_id):
        if existing.get("destination") == payout.account_id:
            return str(existing["id"])
    assert payout.account_id is not None
    made = svc.connect.transfer(
        payout.campaign_id,
        account_id=payout.account_id,
        amount=payout.amounts.amount,
        currency=payout.currency,
    )
    return str(made["id"])


# ---------------------------------------------------------------- reversal


def _reverse_all(svc: Services, campaign_id: str) -> tuple[tuple[str, ...], list[dict[str, Any]]]:
    """Reverses every transfer of the campaign; all their reversal ids, and
    the transfers as Stripe shows them now."""
    for transfer in svc.connect.transfers_of(campaign_id):
        svc.connect.reverse(campaign_id, str(transfer["id"]))
    transfers = svc.connect.transfers_of(campaign_id)
    reversals = tuple(
        sorted(
            str(r["id"])
            for transfer in transfers
            for r in (transfer.get("reversals") or {}).get("data", [])
        )
    )
    return reversals, transfers


def reverse_after_refund(svc: Services, campaign: Campaign) -> Payout | None:
    """The campaign was refunded: its payout is reversed (the transfer, if
    one went out, reversed in full on Stripe). None: it had no payout."""
    book = svc.payout_book
    for _ in range(ATTEMPTS):
        payout = book.payout(campaign.id)
        if payout is None or payout.status is PayoutStatus.REVERSED:
            return payout
        reversals, transfers = payout.reversal_ids, []
        if payout.status in (PayoutStatus.PENDING, PayoutStatus.PAID):
            reversals, transfers = _reverse_all(svc, campaign.id)
        try:
            reversed_ = book.save_payout(
                payout, payout.moved_to(PayoutStatus.REVERSED, reversal_ids=reversals)
            )
        except ConcurrentUpdate:
            continue
        taken_back = CampaignPayoutReversed(
            campaign.id,
            amount=sum(int(t["amount_reversed"]) for t in transfers),
            transfer_id=payout.transfer_id or (str(transfers[0]["id"]) if transfers else None),
        )
        announce(svc, [taken_back])
        metrics.add_metric(name="PayoutsReversed", unit="Count", value=1)
        logger.info("payout reversed", extra={"campaign_id": campaign.id})
        return reversed_
    raise ConcurrentUpdate(f"The payout of {campaign.id} kept changing; try again.")


# ---------------------------------------------------------------- the view


def payout_view(svc: Services, campaign: Campaign) -> dict[str, Any] | None:
    """The campaign's `payout` (API.md): null when payouts are off or the
    campaign did not succeed; before its record exists, what it will be
    (`not_ready`, from the settlement's totals)."""
    if not svc.settings.payouts_enabled or campaign.status not in (
        CampaignStatus.SUCCEEDED,
        CampaignStatus.REFUNDING,
        CampaignStatus.REFUNDED,
    ):
        return None
    payout = svc.payout_book.payout(campaign.id)
    if payout is not None:
        return payout_json(payout)
    if campaign.status is not CampaignStatus.SUCCEEDED:
        return None  # refunded before anything was due: nothing will be paid
    s = campaign.settlement
    collected = s.collected if s is not None else 0
    refunded = min(getattr(s, "refunded", 0) or 0, collected)
    amounts = payout_for(collected, refunded, svc.settings.platform_fee_basis_points)
    return {
        "status": "not_ready",
        "amount": amounts.amount,
        "fee": amounts.fee,
        "transfer_id": None,
    }
