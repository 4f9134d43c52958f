"""Organizers' Connect accounts and campaigns' payouts, in the counters table
beside the progress shards and flash intake's items (its keys are
`campaign_id` + `shard`; `shard` is always 0 here, and the keys never clash
with a campaign id `cmp_…` or intake's `budget#` / `intake#`):

- `organizer#<sub>`: the organizer's connected account id, onboarding status
  (none | onboarding | enabled) and the campaigns whose payout waits for it;
- `payout#<campaign id>`: the campaign's one payout (status, amounts, the
  transfer and its reversals).

Every write is conditional on the revision read (PynamoDB's version
attribute) after the domain's transition table allowed the move, so two
workers racing over one payout cannot both move it: the loser gets
ConcurrentUpdate and re-reads.
"""

from __future__ import annotations

from functools import lru_cache

from pynamodb.attributes import (
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    VersionAttribute,
)
from pynamodb.exceptions import DoesNotExist, PutError
from pynamodb.models import Model

from ..clock import epoch, from_epoch
from ..config import Settings
from ..domain.errors import ConcurrentUpdate
from ..domain.payout import (
    ONBOARDING_TRANSITIONS,
    PAYOUT_TRANSITIONS,
    OnboardingStatus,
    Organizer,
    Payout,
    PayoutAmounts,
    PayoutStatus,
)


def organizer_key(sub: str) -> str:
    return f"organizer#{sub}"


def payout_key(campaign_id: str) -> str:
    return f"payout#{campaign_id}"


def _conditional(error: Exception) -> bool:
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


@lru_cache(maxsize=8)
def build_models(counters: str, region: str) -> tuple[type[Model], type[Model]]:
    aws_region = region

    class OrganizerModel(Model):
        class Meta:
            table_name = counters
            region = aws_region

        campaign_id = UnicodeAttribute(hash_key=True)  # organizer#<sub>
        shard = NumberAttribute(range_key=True, default=0)
        sub = UnicodeAttribute()
        onboarding = UnicodeAttribute()
        account_id = UnicodeAttribute(null=True)
        waiting = UnicodeSetAttribute(null=True)
        version = VersionAttribute()

    class PayoutModel(Model):
        class Meta:
            table_name = counters
            region = aws_region

        campaign_id = UnicodeAttribute(hash_key=True)  # payout#<campaign id>
        shard = NumberAttribute(range_key=True, default=0)
        campaign = UnicodeAttribute()
        organizer = UnicodeAttribute()
        currency = UnicodeAttribute()
        payout_status = UnicodeAttribute()
        collected = NumberAttribute()
        refunded = NumberAttribute()
        fee = NumberAttribute()
        amount = NumberAttribute()
        created_at = NumberAttribute()
        account_id = UnicodeAttribute(null=True)
        transfer_id = UnicodeAttribute(null=True)
        reversal_ids = UnicodeSetAttribute(null=True)
        version = VersionAttribute()

    return OrganizerModel, PayoutModel


class PayoutBook:
    """`organizer` / `save_organizer` and `payout` / `create_payout` /
    `save_payout` over the counters table."""

    def __init__(self, settings: Settings) -> None:
        self.Organizer, self.Payout = build_models(settings.counters_table, settings.aws_region)

    # ---------------------------------------------------------------- organizers

    def organizer(self, sub: str) -> Organizer:
        """The organizer (status none, revision None, when never stored)."""
        try:
            item = self.Organizer.get(organizer_key(sub), 0, consistent_read=True)
        except DoesNotExist:
            return Organizer(sub)
        return Organizer(
            id=item.sub,
            status=OnboardingStatus(item.onboarding),
            account_id=item.account_id,
            waiting=frozenset(item.waiting or ()),
            revision=int(item.version),
        )

    def save_organizer(self, before: Organizer, after: Organizer) -> Organizer:
        """Writes `after` if the stored organizer is still `before`."""
        if after.status is not before.status:
            ONBOARDING_TRANSITIONS.check(before.status, after.status)
        item = self.Organizer(
            organizer_key(after.id),
            0,
            sub=after.id,
            onboarding=after.status.value,
            account_id=after.account_id,
            waiting=set(after.waiting) or None,
        )
        if before.revision is not None:
            item.version = before.revision
        try:
            item.save()  # conditional on the version (absent: on the item being new)
        except PutError as error:
            if _conditional(error):
                raise ConcurrentUpdate(f"Organizer {after.id} changed meanwhile.") from None
            raise
        return self.organizer(after.id)

    # ---------------------------------------------------------------- payouts

    def payout(self, campaign_id: str) -> Payout | None:
        try:
            item = self.Payout.get(payout_key(campaign_id), 0, consistent_read=True)
        except DoesNotExist:
            return None
        return Payout(
            campaign_id=item.campaign,
            organizer=item.organizer,
            currency=item.currency,
            status=PayoutStatus(item.payout_status),
            amounts=PayoutAmounts(
                int(item.collected), int(item.refunded), int(item.fee), int(item.amount)
            ),
            created_at=from_epoch(item.created_at),
            account_id=item.account_id,
            transfer_id=item.transfer_id,
            reversal_ids=tuple(sorted(item.reversal_ids or ())),
            revision=int(item.version),
        )

    def create_payout(self, payout: Payout) -> Payout:
        """Stores a new payout; ConcurrentUpdate if the campaign has one."""
        return self._write(payout, revision=None)

    def save_payout(self, before: Payout, after: Payout) -> Payout:
        """Writes `after` if the stored payout is still `before` (its revision);
        InvalidTransition for a move the payout table forbids."""
        if after.status is not before.status:
            PAYOUT_TRANSITIONS.check(before.status, after.status)
        if before.revision is None:
            raise ValueError("save_payout needs the payout as read")
        return self._write(after, revision=before.revision)

    def _write(self, payout: Payout, *, revision: int | None) -> Payout:
        a = payout.amounts
        item = self.Payout(
            payout_key(payout.campaign_id),
            0,
            campaign=payout.campaign_id,
            organizer=payout.organizer,
            currency=payout.currency,
            payout_status=payout.status.value,
            collected=a.collected,
            refunded=a.refunded,
            fee=a.fee,
            amount=a.amount,
            created_at=epoch(payout.created_at),
            account_id=payout.account_id,
            transfer_id=payout.transfer_id,
            reversal_ids=set(payout.reversal_ids) or None,
        )
        if revision is not None:
            item.version = revision
        try:
            item.save()
        except PutError as error:
            if _conditional(error):
                raise ConcurrentUpdate(
                    f"The payout of {payout.campaign_id} changed meanwhile."
                ) from None
            raise
        stored = self.payout(payout.campaign_id)
        assert stored is not None
        return stored
