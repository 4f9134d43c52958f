"""Domain objects for tests, with sensible defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cashmob.domain import (
    Backer,
    Campaign,
    CampaignStatus,
    FundingModel,
    Money,
    Payment,
    PaymentFlow,
    Pledge,
    PledgeStatus,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def campaign(**overrides) -> Campaign:
    values = dict(
        id="cmp_test",
        title="Full-page ad",
        description="",
        organizer="alice",
        goal=Money(10_000, "gbp"),
        min_backers=0,
        min_pledge=Money(300, "gbp"),
        funding_model=FundingModel.ALL_OR_NOTHING,
        deadline=NOW + timedelta(days=10),
        status=CampaignStatus.LIVE,
        created_at=NOW,
    )
    values.update(overrides)
    return Campaign(**values)


def pledge(**overrides) -> Pledge:
    flow = overrides.pop("flow", PaymentFlow.SETUP)
    values = dict(
        id="plg_test",
        campaign_id="cmp_test",
        amount=Money(1000, "gbp"),
        backer=Backer(email="ada@example.org", display_name="Ada"),
        status=PledgeStatus.PENDING,
        created_at=NOW,
        payment=Payment(
            flow=flow,
            intent_id="seti_1" if flow is PaymentFlow.SETUP else "pi_1",
            client_secret="secret_1",
            customer_id="cus_1" if flow is PaymentFlow.SETUP else None,
        ),
        token_hash="h",
        request_hash="r",
    )
    values.update(overrides)
    return Pledge(**values)
