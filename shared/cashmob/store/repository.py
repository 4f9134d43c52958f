"""The only code that touches DynamoDB. Turns domain objects into items and
storage errors into domain errors; every state change is a conditional write."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Generic, TypeVar

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from ..clock import epoch, from_epoch
from ..config import Settings
from ..domain import (
    CAMPAIGN_TRANSITIONS,
    PLEDGE_TRANSITIONS,
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
    Tally,
)
from ..domain.errors import CampaignClosed, ConcurrentUpdate, Conflict, NotFound
from . import cursor
from .models import DUE, Models, build_models

CONDITIONAL_FAILED = "ConditionalCheckFailed"


class DuplicateEvent(Conflict):
    code = "duplicate_event"


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def _opt_epoch(moment: datetime | None) -> int | None:
    return None if moment is None else epoch(moment)


def _opt_time(seconds: float | None) -> datetime | None:
    return None if seconds is None else from_epoch(seconds)


def _revision(revision: int | None) -> dict[str, int]:
    # A new item has no version yet: PynamoDB then requires that it not exist.
    return {} if revision is None else {"version": revision}


def _conditional(error: Exception) -> bool:
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


class Store:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.models: Models = build_models(
            campaigns=settings.campaigns_table,
            pledges=settings.pledges_table,
            counters=settings.counters_table,
            events=settings.events_table,
            region=settings.aws_region,
        )
        self._connection = Connection(region=settings.aws_region)

    # ---------------------------------------------------------------- campaigns

    def _campaign_item(self, c: Campaign):
        s = c.settlement
        return self.models.Campaign(
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
            settled_at=_opt_epoch(s.settled_at) if s else None,
            locked_at=_opt_epoch(c.locked_at),
            fanned_out_at=_opt_epoch(c.fanned_out_at),
            due_bucket=DUE if c.next_check_at else None,
            due_at=_opt_epoch(c.next_check_at),
            **_revision(c.revision),
        )

    @staticmethod
    def _campaign(item) -> Campaign:
        settlement = None
        if item.settled_at is not None:
            settlement = Settlement(
                outcome=Outcome(item.outcome),
                collected=int(item.collected_amount),
                collected_backers=int(item.collected_backers),
                released=int(item.released_amount),
                failed=int(item.failed_amount),
                pending_action=int(item.pending_action_amount),
                settled_at=from_epoch(item.settled_at),
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
            next_check_at=_opt_time(item.due_at),
            revision=item.version,
        )

    def create_campaign(self, campaign: Campaign) -> Campaign:
        item = self._campaign_item(campaign)
        try:
            item.save(condition=self.models.Campaign.campaign_id.does_not_exist())
        except PutError as error:
            if _conditional(error):
                raise Conflict(f"Campaign {campaign.id} already exists.") from error
            raise
        return replace(campaign, revision=item.version)

    def get_campaign(self, campaign_id: str) -> Campaign:
        try:
            return self._campaign(self.models.Campaign.get(campaign_id, consistent_read=True))
        except DoesNotExist:
            raise NotFound(f"No campaign {campaign_id}.") from None

    def campaign_and_pledge(
        self, campaign_id: str, pledge_id: str
    ) -> tuple[Campaign, Pledge | None]:
        """Both in one BatchGetItem request (strongly consistent): what pledge
        creation needs before it calls Stripe."""
        Campaign_, Pledge_ = self.models.Campaign, self.models.Pledge
        request = {
            Campaign_.Meta.table_name: {
                "Keys": [{"campaign_id": {"S": campaign_id}}],
                "ConsistentRead": True,
            },
            Pledge_.Meta.table_name: {
                "Keys": [{"campaign_id": {"S": campaign_id}, "pledge_id": {"S": pledge_id}}],
                "ConsistentRead": True,
            },
        }
        found: dict[str, list[dict]] = {}
        for _ in range(5):
            answer = self._connection.client.batch_get_item(RequestItems=request)
            for table, items in answer.get("Responses", {}).items():
                found.setdefault(table, []).extend(items)
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise ConcurrentUpdate("DynamoDB kept the keys unprocessed; try again.")
        campaigns = found.get(Campaign_.Meta.table_name, [])
        if not campaigns:
            raise NotFound(f"No campaign {campaign_id}.")
        pledges = found.get(Pledge_.Meta.table_name, [])
        pledge = self._pledge(Pledge_.from_raw_data(pledges[0])) if pledges else None
        return self._campaign(Campaign_.from_raw_data(campaigns[0])), pledge

    def save_campaign(self, before: Campaign, after: Campaign) -> Campaign:
        """Writes `after` only if the stored campaign is still exactly `before`."""
        if after.status is not before.status:
            CAMPAIGN_TRANSITIONS.check(before.status, after.status)
        item = self._campaign_item(replace(after, revision=before.revision))
        try:
            item.save(condition=self.models.Campaign.status == before.status.value)
        except PutError as error:
            if _conditional(error):
                raise ConcurrentUpdate(f"Campaign {before.id} changed meanwhile.") from error
            raise
        return replace(after, revision=item.version)

    def list_campaigns(
        self, *, status: CampaignStatus | None, limit: int, after: str | None
    ) -> Page[Campaign]:
        Model = self.models.Campaign
        scope = f"campaigns:{status or '*'}"
        start = cursor.decode(after, scope)
        if status is None:
            results = Model.scan(limit=limit, last_evaluated_key=start)
        else:
            results = Model.status_index.query(
                status.value, limit=limit, last_evaluated_key=start, scan_index_forward=False
            )
        items = [self._campaign(item) for item in results]
        return Page(items, cursor.encode(results.last_evaluated_key, scope))

    def due_campaigns(self, now: datetime, *, limit: int = 100) -> Iterator[str]:
        """Ids of campaigns the scheduler must look at: deadline or check time passed."""
        Model = self.models.Campaign
        for key in Model.due_index.query(DUE, Model.due_at <= epoch(now), limit=limit):
            yield key.campaign_id

    # ---------------------------------------------------------------- progress

    def progress(self, campaign_id: str) -> Tally:
        """The sum over the campaign's counter shards."""
        amount = backers = 0
        for shard in self.models.Counter.query(campaign_id):
            amount += int(shard.amount)
            backers += int(shard.backers)
        return Tally(amount, backers)

    # ---------------------------------------------------------------- pledges

    def _pledge_item(self, p: Pledge):
        pay = p.payment
        due = p.next_reminder_at if p.status is PledgeStatus.ACTION_REQUIRED else None
        return self.models.Pledge(
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
            due_bucket=DUE if due else None,
            due_at=_opt_epoch(due),
            **_revision(p.revision),
        )

    @staticmethod
    def _pledge(item) -> Pledge:
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
            revision=item.version,
        )

    def create_pledge(self, pledge: Pledge) -> Pledge:
        item = self._pledge_item(pledge)
        try:
            item.save(condition=self.models.Pledge.pledge_id.does_not_exist())
        except PutError as error:
            if _conditional(error):
                raise ConcurrentUpdate(f"Pledge {pledge.id} already exists.") from error
            raise
        return replace(pledge, revision=item.version)

    def find_pledge(self, campaign_id: str, pledge_id: str) -> Pledge | None:
        try:
            item = self.models.Pledge.get(campaign_id, pledge_id, consistent_read=True)
        except DoesNotExist:
            return None
        return self._pledge(item)

    def get_pledge(self, campaign_id: str, pledge_id: str) -> Pledge:
        pledge = self.find_pledge(campaign_id, pledge_id)
        if pledge is None:
            raise NotFound(f"No pledge {pledge_id} in campaign {campaign_id}.")
        return pledge

    def pledges(
        self,
        campaign_id: str,
        *,
        limit: int,
        after: str | None,
        statuses: frozenset[PledgeStatus] | None = None,
    ) -> Page[Pledge]:
        Model = self.models.Pledge
        scope = f"pledges:{campaign_id}:{','.join(sorted(statuses or ()))}"
        condition = Model.status.is_in(*(s.value for s in statuses)) if statuses else None
        results = Model.query(
            campaign_id,
            filter_condition=condition,
            limit=limit,
            last_evaluated_key=cursor.decode(after, scope),
            consistent_read=True,
        )
        items = [self._pledge(item) for item in results]
        return Page(items, cursor.encode(results.last_evaluated_key, scope))

    def all_pledges(self, campaign_id: str) -> Iterator[Pledge]:
        """Every pledge of a campaign, page by page: never all in memory at once."""
        for item in self.models.Pledge.query(campaign_id, consistent_read=True, page_size=500):
            yield self._pledge(item)

    def due_pledges(self, now: datetime, *, limit: int = 100) -> Iterator[tuple[str, str]]:
        Model = self.models.Pledge
        for key in Model.due_index.query(DUE, Model.due_at <= epoch(now), limit=limit):
            yield key.campaign_id, key.pledge_id

    def save_pledge(
        self,
        before: Pledge,
        after: Pledge,
        *,
        open_campaign_at: datetime | None = None,
        event: tuple[str, str, datetime, datetime] | None = None,
    ) -> Pledge:
        """Writes `after` only if the stored pledge is still exactly `before`.

        In the same transaction: moves the progress counters when the pledge
        starts or stops counting; with `open_campaign_at`, requires the
        campaign to be live with its deadline after that moment; with `event`
        (id, type, processed_at, expires_at), records a Stripe event as
        processed. Raises ConcurrentUpdate, CampaignClosed or DuplicateEvent.
        """
        if after.status is not before.status:
            PLEDGE_TRANSITIONS.check(before.status, after.status)
        delta = int(after.counted) - int(before.counted)
        item = self._pledge_item(replace(after, revision=before.revision))
        condition = self.models.Pledge.status == before.status.value
        if not delta and open_campaign_at is None and event is None:
            try:
                item.save(condition=condition)
            except PutError as error:
                if _conditional(error):
                    raise ConcurrentUpdate(f"Pledge {before.id} changed meanwhile.") from error
                raise
            return replace(after, revision=item.version)

        # PynamoDB sends condition checks, then puts, then updates: the
        # cancellation reasons come back in that order.
        checks: list[str] = []
        puts = ["pledge"]
        updates: list[str] = []
        try:
            with TransactWrite(connection=self._connection) as tx:
                tx.save(item, condition=condition)
                if delta:
                    Counter = self.models.Counter
                    tx.update(
                        Counter(after.campaign_id, after.counter_shard),
                        actions=[
                            Counter.amount.add(delta * after.amount.amount),
                            Counter.backers.add(delta),
                        ],
                    )
                    updates.append("counter")
                if open_campaign_at is not None:
                    Campaign = self.models.Campaign
                    tx.condition_check(
                        Campaign,
                        after.campaign_id,
                        condition=(Campaign.status == CampaignStatus.LIVE.value)
                        & (Campaign.deadline > epoch(open_campaign_at)),
                    )
                    checks.append("campaign")
                if event is not None:
                    tx.save(self._event_item(*event), condition=self._event_absent())
                    puts.append("event")
        except TransactWriteError as error:
            reasons = [getattr(r, "code", None) for r in error.cancellation_reasons or []]
            labels = checks + puts + updates
            failed = {
                label
                for label, code in zip(labels, reasons, strict=False)
                if code == CONDITIONAL_FAILED
            }
            if "event" in failed:
                raise DuplicateEvent(
                    f"Event {event and event[0]} was already processed."
                ) from error
            if "pledge" in failed:
                raise ConcurrentUpdate(f"Pledge {before.id} changed meanwhile.") from error
            if "campaign" in failed:
                raise CampaignClosed(f"Campaign {after.campaign_id} is closed.") from error
            raise
        return replace(after, revision=item.version)

    # ---------------------------------------------------------------- events

    def _event_item(
        self, event_id: str, event_type: str, processed_at: datetime, expires_at: datetime
    ):
        return self.models.ProcessedEvent(
            event_id,
            event_type=event_type,
            processed_at=epoch(processed_at),
            expires_at=expires_at,
        )

    def _event_absent(self):
        return self.models.ProcessedEvent.event_id.does_not_exist()

    def record_event(
        self, event_id: str, event_type: str, processed_at: datetime, expires_at: datetime
    ) -> None:
        """Marks a Stripe event processed; DuplicateEvent if it already was."""
        try:
            self._event_item(event_id, event_type, processed_at, expires_at).save(
                condition=self._event_absent()
            )
        except PutError as error:
            if _conditional(error):
                raise DuplicateEvent(f"Event {event_id} was already processed.") from error
            raise

    def event_processed(self, event_id: str) -> bool:
        try:
            self.models.ProcessedEvent.get(event_id, consistent_read=True)
        except DoesNotExist:
            return False
        return True
