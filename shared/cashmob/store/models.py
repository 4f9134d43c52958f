"""PynamoDB models. Built per settings by `build_models`, so table names and
region come from the configuration object, never from import-time globals.
Their keys, indexes and TTL must match template.yaml (tests/template checks)."""

from __future__ import annotations

from functools import lru_cache

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.connection import Connection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from ..config import Settings
from ..records import record

# Value of the sparse `due_bucket` attribute: present only while the scheduler
# has something to do for the item (a live campaign's deadline, a settling
# campaign's completion check, a pledge's grace-period reminder).
DUE = "due"


@record
class Models:
    Campaign: type[Model]
    Pledge: type[Model]
    Counter: type[Model]
    ProcessedEvent: type[Model]
    Intake: type[Model]


@lru_cache(maxsize=8)
def build_models(
    *, campaigns: str, pledges: str, counters: str, events: str, region: str
) -> Models:
    aws_region = region

    class CampaignDueIndex(GlobalSecondaryIndex):
        class Meta:
            index_name = "due-index"
            projection = KeysOnlyProjection()

        due_bucket = UnicodeAttribute(hash_key=True)
        due_at = NumberAttribute(range_key=True)

    class CampaignStatusIndex(GlobalSecondaryIndex):
        class Meta:
            index_name = "status-index"
            projection = AllProjection()

        status = UnicodeAttribute(hash_key=True)
        created_at = NumberAttribute(range_key=True)

    class CampaignModel(Model):
        class Meta:
            table_name = campaigns
            region = aws_region

        campaign_id = UnicodeAttribute(hash_key=True)
        title = UnicodeAttribute()
        description = UnicodeAttribute(default="")
        organizer = UnicodeAttribute()
        currency = UnicodeAttribute()
        goal_amount = NumberAttribute()
        min_backers = NumberAttribute(default=0)
        min_pledge_amount = NumberAttribute()
        funding_model = UnicodeAttribute()
        deadline = NumberAttribute()
        created_at = NumberAttribute()
        status = UnicodeAttribute()
        outcome = UnicodeAttribute(null=True)
        collected_amount = NumberAttribute(null=True)
        collected_backers = NumberAttribute(null=True)
        released_amount = NumberAttribute(null=True)
        failed_amount = NumberAttribute(null=True)
        pending_action_amount = NumberAttribute(null=True)
        collected_pledged = NumberAttribute(null=True)  # the collected pledges' amounts
        crowd = NumberAttribute(null=True)  # the counted set's size, at the decision
        share_plan = UnicodeAttribute(null=True)  # fixed_price: the SharePlan, as JSON
        settled_at = NumberAttribute(null=True)
        locked_at = NumberAttribute(null=True)
        fanned_out_at = NumberAttribute(null=True)
        # The organizer's refund of the campaign (store.refund_fields).
        refunded_amount = NumberAttribute(null=True)
        refund_reason = UnicodeAttribute(null=True)
        refund_started_at = NumberAttribute(null=True)
        refund_sent_at = NumberAttribute(null=True)
        due_bucket = UnicodeAttribute(null=True)
        due_at = NumberAttribute(null=True)
        version = VersionAttribute()

        due_index = CampaignDueIndex()
        status_index = CampaignStatusIndex()

    class PledgeDueIndex(GlobalSecondaryIndex):
        class Meta:
            index_name = "due-index"
            projection = KeysOnlyProjection()

        due_bucket = UnicodeAttribute(hash_key=True)
        due_at = NumberAttribute(range_key=True)

    class PledgeModel(Model):
        class Meta:
            table_name = pledges
            region = aws_region

        campaign_id = UnicodeAttribute(hash_key=True)
        pledge_id = UnicodeAttribute(range_key=True)
        amount = NumberAttribute()
        currency = UnicodeAttribute()
        email = UnicodeAttribute(null=True)  # None once erased
        display_name = UnicodeAttribute(null=True)
        anonymous = BooleanAttribute(default=False)
        hide_amount = BooleanAttribute(default=False)
        message = UnicodeAttribute(null=True)
        status = UnicodeAttribute()
        created_at = NumberAttribute()
        activated_at = NumberAttribute(null=True)
        flow = UnicodeAttribute()
        intent_id = UnicodeAttribute(null=True)
        client_secret = UnicodeAttribute(null=True)
        customer_id = UnicodeAttribute(null=True)
        payment_method = UnicodeAttribute(null=True)
        intent_open = BooleanAttribute(default=True)
        charge_attempt = NumberAttribute(default=0)
        charge_intent_id = UnicodeAttribute(null=True)
        charge_client_secret = UnicodeAttribute(null=True)
        charge_recorded_at = NumberAttribute(null=True)
        grace_until = NumberAttribute(null=True)
        next_reminder_at = NumberAttribute(null=True)
        token_hash = UnicodeAttribute()
        request_hash = UnicodeAttribute()
        counter_shard = NumberAttribute(default=0)
        failure_reason = UnicodeAttribute(null=True)
        late_refunds = ListAttribute(of=UnicodeAttribute, null=True)
        min_backers = NumberAttribute(null=True)  # the backer's condition
        share = NumberAttribute(null=True)  # the fair share settlement charges
        # Collected money given back and the refund in flight (store.refund_fields).
        refunded_amount = NumberAttribute(default=0)
        refund_number = NumberAttribute(default=0)
        refund_pending = NumberAttribute(default=0)
        refund_target = NumberAttribute(default=0)
        refund_retry = BooleanAttribute(default=False)
        refund_reason = UnicodeAttribute(null=True)
        due_bucket = UnicodeAttribute(null=True)
        due_at = NumberAttribute(null=True)
        version = VersionAttribute()

        due_index = PledgeDueIndex()

    class CounterModel(Model):
        """One shard of a campaign's progress: the sum over shards is the total.
        `shard` also carries the pledges' condition (`store.counter_keys`)."""

        class Meta:
            table_name = counters
            region = aws_region

        campaign_id = UnicodeAttribute(hash_key=True)
        shard = NumberAttribute(range_key=True)
        amount = NumberAttribute(default=0)
        backers = NumberAttribute(default=0)

    class ProcessedEventModel(Model):
        """Stripe events already applied; kept well past Stripe's 3-day retry window."""

        class Meta:
            table_name = events
            region = aws_region

        event_id = UnicodeAttribute(hash_key=True)
        event_type = UnicodeAttribute()
        processed_at = NumberAttribute()
        expires_at = TTLAttribute()

    class IntakeModel(Model):
        """Flash intake's bookkeeping, in the counters table beside the
        progress shards (`store.intake`): Stripe budget slots, the intake
        queue's ticket counter, each queued pledge's ticket. Keys never clash
        with a campaign id (`cmp_…`); `shard` is always 0."""

        class Meta:
            table_name = counters
            region = aws_region

        campaign_id = UnicodeAttribute(hash_key=True)
        shard = NumberAttribute(range_key=True)
        queued = NumberAttribute(null=True)  # tickets handed out
        served = NumberAttribute(null=True)  # highest ticket the workers finished
        ticket = NumberAttribute(null=True)  # a queued pledge's
        updated_at = NumberAttribute(null=True)
        expires_at = TTLAttribute(null=True)

    return Models(CampaignModel, PledgeModel, CounterModel, ProcessedEventModel, IntakeModel)


class Tables:
    """The four tables named by the settings, and one low-level connection for
    the requests that span tables (BatchGetItem, TransactWriteItems). The
    campaign and pledge repositories build on it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.models: Models = build_models(
            campaigns=settings.campaigns_table,
            pledges=settings.pledges_table,
            counters=settings.counters_table,
            events=settings.events_table,
            region=settings.aws_region,
        )
        self.connection = Connection(region=settings.aws_region)
