"""One typed settings object, read from the environment and validated once."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Settings(BaseModel):
    """Names match the environment variables template.yaml gives each function.

    A pydantic model validated from the environment (the cookbook's
    `env_vars_parser`), as pydantic-settings' `BaseSettings` reads it: names
    match case-insensitively, values given to the constructor win. Not
    `BaseSettings` itself: importing pydantic-settings adds 0.4 x `import
    boto3` to every cold start, for sources this object never uses.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", validate_by_name=True)

    def __init__(self, **values: Any) -> None:
        environ = {name.lower(): value for name, value in os.environ.items()}
        super().__init__(**{**environ, **values})

    aws_region: str = Field(default="us-east-1", validation_alias="AWS_REGION")
    campaigns_table: str = "CampaignsTable"
    pledges_table: str = "PledgesTable"
    counters_table: str = "CountersTable"
    events_table: str = "ProcessedEventsTable"
    settlement_queue_url: str = ""
    intake_queue_url: str = ""
    event_bus_name: str = "default"

    # Secrets: the value itself (local stack, tests) or the SSM parameter that holds it.
    stripe_secret_key: str = ""
    stripe_secret_key_param: str = ""
    stripe_webhook_secret: str = ""
    stripe_webhook_secret_param: str = ""
    # The Connect webhook endpoint's own signing secret (payouts), if any.
    stripe_connect_webhook_secret: str = ""
    stripe_connect_webhook_secret_param: str = ""
    pledge_token_secret: str = ""
    pledge_token_secret_param: str = ""
    stripe_publishable_key: str = "pk_test_local"
    stripe_api_base: str = "https://api.stripe.com"
    # Stripe's HTTP timeouts and retries, per function: one request's worst
    # case, (connect + read) x (1 + retries), stays well inside the function's
    # timeout (a test checks every function of the template).
    stripe_max_network_retries: int = Field(default=1, ge=0, le=5)
    stripe_connect_timeout_seconds: float = Field(default=1.0, gt=0, le=30)
    stripe_read_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    # The Stripe account's settlement currency: pledges in other currencies
    # must still clear its minimum charge after conversion.
    stripe_account_currency: str = "gbp"

    counter_shards: int = Field(default=10, ge=1, le=100)
    hold_window_hours: int = Field(default=6 * 24, ge=0)
    grace_period_hours: int = Field(default=7 * 24, ge=0)
    reminder_interval_hours: int = Field(default=48, ge=1)
    settlement_delay_seconds: int = Field(default=60, ge=0)
    webhook_tolerance_seconds: int = Field(default=300, ge=1)
    # Settlement's Stripe budget (requests/s, all workers together) and how
    # many workers share it; 0 means unpaced (the API never waits for Stripe).
    stripe_requests_per_second: float = Field(default=0.0, ge=0)
    settlement_concurrency: int = Field(default=1, ge=1)
    # Flash intake (API.md): the pledge-time Stripe budget, requests/s per
    # Stripe endpoint, shared by every API function and intake worker through
    # the counters table; 0 means unlimited (no budget items; Stripe's 429 or
    # 5xx still sends the pledge to the intake queue). The intake queue's
    # message groups: how many intake workers prepare pledges at once.
    stripe_intake_requests_per_second: float = Field(default=0.0, ge=0, le=1000)
    intake_message_groups: int = Field(default=8, ge=1, le=100)
    # A backlog whose counter has not moved for this long is not waited behind
    # (a ticket lost to a crash, or parked in the dead-letter queue).
    intake_stale_seconds: int = Field(default=60, ge=1)
    page_size: int = Field(default=100, ge=1, le=1000)
    max_body_bytes: int = Field(default=16 * 1024, ge=1024)
    # Emails to backers (the notifier): off unless the deployment turns them
    # on; the SES identity they are sent from; the front end whose backer page
    # (pledge.html) their links open.
    email_enabled: bool = False
    email_sender: str = ""
    public_site_url: str = ""
    # Personal data (email, name, message) is erased this long after a
    # campaign ends (the retention sweep).
    personal_data_retention_days: int = Field(default=90, ge=1, le=3650)
    # Payouts with Stripe Connect (template PayoutsEnabled): off, the platform
    # account keeps the money. The platform fee, in basis points of what a
    # campaign keeps (domain.payout: rounded half up).
    payouts_enabled: bool = False
    platform_fee_basis_points: int = Field(default=500, ge=0, le=10_000)
    # Reconciliation: Stripe reads per second (paced), and how far back the
    # daily run looks (campaigns whose deadline is that recent).
    reconcile_requests_per_second: float = Field(default=10.0, ge=0)
    reconcile_lookback_days: int = Field(default=120, ge=1, le=3650)

    @model_validator(mode="after")
    def _secret_sources(self) -> Settings:
        if self.stripe_secret_key and self.stripe_secret_key.startswith("pk_"):
            raise ValueError("STRIPE_SECRET_KEY holds a publishable key")
        return self

    @property
    def hold_window(self) -> timedelta:
        return timedelta(hours=self.hold_window_hours)

    @property
    def grace_period(self) -> timedelta:
        return timedelta(hours=self.grace_period_hours)

    @property
    def reminder_interval(self) -> timedelta:
        return timedelta(hours=self.reminder_interval_hours)

    @property
    def table_names(self) -> dict[str, str]:
        return {
            "campaigns": self.campaigns_table,
            "pledges": self.pledges_table,
            "counters": self.counters_table,
            "events": self.events_table,
        }
