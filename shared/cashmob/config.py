"""One typed settings object, read from the environment and validated once.

A frozen dataclass that reads the environment itself, as pydantic-settings'
`BaseSettings` would: names match case-insensitively, values given to the
constructor win, strings become the field's type, and a bad value fails
loudly at init, naming every variable at fault. Not pydantic: every function
reads its settings at init, and importing pydantic would add about 0.4 x
`import boto3` to the cold start of the functions that need nothing else
from it (only the API validates requests with pydantic models).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import Field, field, fields, replace
from datetime import timedelta
from typing import Any, ClassVar, Self

from .records import record

# What pydantic (lax mode) accepts as a boolean from a string.
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


class SettingsError(ValueError):
    """An environment variable or constructor value that cannot be used."""


def _bounded(
    default: float,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
) -> Any:
    return field(default=default, metadata={"ge": ge, "gt": gt, "le": le})


def _secret(default: str = "") -> Any:
    return field(default=default, repr=False)


def _as_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _as_int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ValueError("must be an integer")


def _as_float(value: Any) -> float:
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError("must be a number") from None
    else:
        raise ValueError("must be a number")
    if math.isnan(number):
        raise ValueError("must be a number")
    return number


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError("must be a boolean (true/false, 1/0, yes/no, on/off)")


# By annotation (`from __future__ import annotations` keeps them as strings).
PARSERS: dict[str, Callable[[Any], Any]] = {
    "str": _as_str,
    "int": _as_int,
    "float": _as_float,
    "bool": _as_bool,
}


def _check_bounds(value: float, bounds: Mapping[str, Any]) -> None:
    if bounds.get("ge") is not None and not value >= bounds["ge"]:
        raise ValueError(f"must be at least {bounds['ge']}")
    if bounds.get("gt") is not None and not value > bounds["gt"]:
        raise ValueError(f"must be greater than {bounds['gt']}")
    if bounds.get("le") is not None and not value <= bounds["le"]:
        raise ValueError(f"must be at most {bounds['le']}")


@record(init=False, slots=False)
class Settings:
    """Names match the environment variables template.yaml gives each function
    (AWS_REGION for `aws_region`). `Settings()` reads the environment;
    `Settings(page_size=10)` overrides it; unknown names are ignored."""

    # The constructor also takes this environment variable's own name.
    ALIASES: ClassVar[dict[str, str]] = {"AWS_REGION": "aws_region"}
    # Every field by name (pydantic's name for it, which callers use).
    model_fields: ClassVar[dict[str, Field[Any]]]

    aws_region: str = "us-east-1"
    campaigns_table: str = "CampaignsTable"
    pledges_table: str = "PledgesTable"
    counters_table: str = "CountersTable"
    events_table: str = "ProcessedEventsTable"
    settlement_queue_url: str = ""
    intake_queue_url: str = ""
    event_bus_name: str = "default"

    # Secrets: the value itself (local stack, tests) or the SSM parameter that holds it.
    stripe_secret_key: str = _secret()
    stripe_secret_key_param: str = ""
    stripe_webhook_secret: str = _secret()
    stripe_webhook_secret_param: str = ""
    # The Connect webhook endpoint's own signing secret (payouts), if any.
    stripe_connect_webhook_secret: str = _secret()
    stripe_connect_webhook_secret_param: str = ""
    pledge_token_secret: str = _secret()
    pledge_token_secret_param: str = ""
    stripe_publishable_key: str = "pk_test_local"
    stripe_api_base: str = "https://api.stripe.com"
    # Stripe's HTTP timeouts and retries, per function: one request's worst
    # case, (connect + read) x (1 + retries), stays well inside the function's
    # timeout (a test checks every function of the template).
    stripe_max_network_retries: int = _bounded(1, ge=0, le=5)
    stripe_connect_timeout_seconds: float = _bounded(1.0, gt=0, le=30)
    stripe_read_timeout_seconds: float = _bounded(3.0, gt=0, le=60)
    # The Stripe account's settlement currency: pledges in other currencies
    # must still clear its minimum charge after conversion.
    stripe_account_currency: str = "gbp"

    counter_shards: int = _bounded(10, ge=1, le=100)
    hold_window_hours: int = _bounded(6 * 24, ge=0)
    grace_period_hours: int = _bounded(7 * 24, ge=0)
    reminder_interval_hours: int = _bounded(48, ge=1)
    settlement_delay_seconds: int = _bounded(60, ge=0)
    webhook_tolerance_seconds: int = _bounded(300, ge=1)
    # Settlement's Stripe budget (requests/s, all workers together) and how
    # many workers share it; 0 means unpaced (the API never waits for Stripe).
    stripe_requests_per_second: float = _bounded(0.0, ge=0)
    settlement_concurrency: int = _bounded(1, ge=1)
    # Flash intake (API.md): the pledge-time Stripe budget, requests/s per
    # Stripe endpoint, shared by every API function and intake worker through
    # the counters table; 0 means unlimited (no budget items; Stripe's 429 or
    # 5xx still sends the pledge to the intake queue). The intake queue's
    # message groups: how many intake workers prepare pledges at once.
    stripe_intake_requests_per_second: float = _bounded(0.0, ge=0, le=1000)
    intake_message_groups: int = _bounded(8, ge=1, le=100)
    # A backlog whose counter has not moved for this long is not waited behind
    # (a ticket lost to a crash, or parked in the dead-letter queue).
    intake_stale_seconds: int = _bounded(60, ge=1)
    page_size: int = _bounded(100, ge=1, le=1000)
    max_body_bytes: int = _bounded(16 * 1024, ge=1024)
    # Emails to backers (the notifier): off unless the deployment turns them
    # on; the SES identity they are sent from; the front end whose backer page
    # (pledge.html) their links open.
    email_enabled: bool = False
    email_sender: str = ""
    public_site_url: str = ""
    # SES's sending rate (emails/s, all notifiers together) and how many
    # notifiers share it (the queue's MaximumConcurrency); 0 means unpaced.
    emails_per_second: float = _bounded(0.0, ge=0)
    notifier_concurrency: int = _bounded(1, ge=1)
    # Personal data (email, name, message) is erased this long after a
    # campaign ends (the retention sweep).
    personal_data_retention_days: int = _bounded(90, ge=1, le=3650)
    # Payouts with Stripe Connect (template PayoutsEnabled): off, the platform
    # account keeps the money. The platform fee, in basis points of what a
    # campaign keeps (domain.payout: rounded half up).
    payouts_enabled: bool = False
    platform_fee_basis_points: int = _bounded(500, ge=0, le=10_000)
    # Reconciliation: Stripe reads per second (paced), and how far back the
    # daily run looks (campaigns whose deadline is that recent).
    reconcile_requests_per_second: float = _bounded(10.0, ge=0)
    reconcile_lookback_days: int = _bounded(120, ge=1, le=3650)

    def __init__(self, **values: Any) -> None:
        environ = {name.lower(): value for name, value in os.environ.items()}
        given = {self.ALIASES.get(name, name): value for name, value in values.items()}
        errors: list[str] = []
        for spec in fields(self):
            name = spec.name
            raw = given.get(name, environ.get(name, spec.default))
            try:
                value = PARSERS[str(spec.type)](raw)
                if spec.metadata:
                    _check_bounds(value, spec.metadata)
            except ValueError as error:
                shown = "<hidden>" if not spec.repr else repr(raw)
                errors.append(f"{name.upper()}={shown}: {error}")
                continue
            object.__setattr__(self, name, value)
        if self.__dict__.get("stripe_secret_key", "").startswith("pk_"):
            errors.append("STRIPE_SECRET_KEY holds a publishable key")
        if errors:
            raise SettingsError("invalid settings: " + "; ".join(errors))

    def model_copy(self, *, update: Mapping[str, Any]) -> Self:
        """A copy with `update` applied, validated like the original (pydantic's
        name for it, which callers use)."""
        unknown = set(update) - set(self.model_fields)
        if unknown:
            raise TypeError(f"not a setting: {', '.join(sorted(unknown))}")
        return replace(self, **update)

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


Settings.model_fields = {spec.name: spec for spec in fields(Settings)}
