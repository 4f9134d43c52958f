"""Domain events: the transitions that record them, their details, and their
documented contract (the JSON Schemas in shared/cashmob/domain/event_schemas.json,
shown in docs/events.md)."""

from __future__ import annotations

import json
import re
from dataclasses import fields, replace
from datetime import timedelta
from pathlib import Path

import fastjsonschema
import pytest

from cashmob.domain import CampaignStatus, Outcome, PledgeStatus, Settlement, new_campaign
from cashmob.domain.events import (
    EVENT_TYPES,
    SCHEMA_FILE,
    CampaignCancelled,
    CampaignCreated,
    CampaignFailed,
    CampaignSucceeded,
    PledgeActionRequired,
    PledgeActivated,
    PledgeCancelled,
    PledgeCollected,
    PledgeFailed,
    PledgeLatePaymentRefunded,
    PledgeReleased,
    PledgeReminder,
)
from tests.unit.factories import NOW, campaign, pledge

DOC = Path(__file__).parents[2] / "docs" / "events.md"
README = Path(__file__).parents[2] / "README.md"
SCHEMAS = json.loads(SCHEMA_FILE.read_text())
MONEY = {"campaign_id": "cmp_test", "pledge_id": "plg_test", "amount": 1000, "currency": "gbp"}


# ---------------------------------------------------------------- the contract


def test_every_event_has_a_schema_of_exactly_its_fields():
    assert set(SCHEMAS) == set(EVENT_TYPES)
    for name, cls in EVENT_TYPES.items():
        names = [f.name for f in fields(cls)]
        assert sorted(SCHEMAS[name]["properties"]) == sorted(names), name
        assert sorted(SCHEMAS[name]["required"]) == sorted(names), name
        assert SCHEMAS[name]["additionalProperties"] is False


def test_the_readme_lists_every_event():
    section = README.read_text().split("## Domain events", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`((?:Campaign|Pledge|Payment)[A-Za-z]+)`", section))
    assert listed == set(EVENT_TYPES)


def _doc_sections() -> dict[str, str]:
    parts = re.split(r"^## ", DOC.read_text(), flags=re.MULTILINE)[1:]
    return {part.split("\n", 1)[0].strip(): part for part in parts}


def test_the_doc_shows_each_schema_as_the_file_has_it_and_examples_that_validate():
    sections = _doc_sections()
    assert list(sections) == list(SCHEMAS)
    for name, text in sections.items():
        (schema,) = re.findall(r"```json schema\n(.*?)\n```", text, flags=re.DOTALL)
        assert json.loads(schema) == SCHEMAS[name], name
        (example,) = re.findall(r"```json\n(.*?)\n```", text, flags=re.DOTALL)
        fastjsonschema.compile(SCHEMAS[name])(json.loads(example))
        for field in SCHEMAS[name]["properties"]:
            assert f"| `{field}` |" in text, (name, field)


def test_a_detail_is_json_with_times_in_iso_8601():
    until = NOW + timedelta(days=7)
    event = PledgeActionRequired(**MONEY, decline_code=None, until=until)
    assert event.detail_type == "PledgeActionRequired"
    assert event.detail() == {**MONEY, "decline_code": None, "until": "2026-12-03T12:00:00+00:00"}
    fastjsonschema.compile(SCHEMAS["PledgeActionRequired"])(json.loads(json.dumps(event.detail())))


@pytest.mark.parametrize(
    "detail",
    [
        {**MONEY, "charged": 1000, "email": "ada@example.org"},
        {k: v for k, v in MONEY.items() if k != "amount"} | {"charged": 1000},
        {**MONEY, "charged": 1000, "amount": "1000"},
        {**MONEY, "charged": 1000, "currency": "GBP"},
        MONEY,
        {**MONEY, "charged": -1},
    ],
    ids=["personal_data", "missing", "string_amount", "currency_case", "no_charged", "negative"],
)
def test_a_schema_refuses_what_is_not_its_event(detail):
    with pytest.raises(fastjsonschema.JsonSchemaException):
        fastjsonschema.compile(SCHEMAS["PledgeCollected"])(detail)


def test_the_schema_accepts_a_collected_fair_share():
    fastjsonschema.compile(SCHEMAS["PledgeCollected"])({**MONEY, "charged": 770})


# ---------------------------------------------------------------- pledge transitions


def active():
    return pledge(status=PledgeStatus.ACTIVE)


@pytest.mark.parametrize(
    ("start", "target", "changes", "expected"),
    [
        (PledgeStatus.ACTIVE, PledgeStatus.COLLECTED, {}, PledgeCollected(**MONEY, charged=1000)),
        (PledgeStatus.ACTIVE, PledgeStatus.RELEASED, {}, PledgeReleased(**MONEY)),
        (PledgeStatus.PENDING, PledgeStatus.RELEASED, {}, PledgeReleased(**MONEY)),
        (
            PledgeStatus.ACTIVE,
            PledgeStatus.FAILED,
            {"failure_reason": "hold_expired"},
            PledgeFailed(**MONEY, reason="hold_expired"),
        ),
        (PledgeStatus.PENDING, PledgeStatus.CANCELLED, {}, PledgeCancelled("cmp_test", "plg_test")),
        (PledgeStatus.ACTIVE, PledgeStatus.CANCELLED, {}, PledgeCancelled("cmp_test", "plg_test")),
        (PledgeStatus.PENDING, PledgeStatus.ACTIVE, {}, PledgeActivated(**MONEY)),
        (PledgeStatus.PENDING, PledgeStatus.EXPIRED, {}, None),
        (PledgeStatus.COLLECTED, PledgeStatus.REFUNDED, {}, None),
    ],
)
def test_a_pledge_transition_records_the_event_of_its_new_status(start, target, changes, expected):
    before = pledge(status=start)
    after = before.moved_to(target, **changes)
    assert after.events == ((expected,) if expected else ())
    assert before.events == ()  # frozen: the old value is untouched


def test_a_pledge_cannot_fail_without_a_reason():
    with pytest.raises(ValueError, match="failure_reason"):
        active().moved_to(PledgeStatus.FAILED)


def test_events_accumulate_until_published_and_never_change_equality():
    collected = active().collected_by("pi_1")
    assert collected.events == (PledgeCollected(**MONEY, charged=1000),)
    assert collected.payment.charge_intent_id == "pi_1" and not collected.payment.intent_open
    assert collected == collected.without_events() and collected.without_events().events == ()
    refunded = collected.refunded_late("pi_2")
    assert refunded.events == (
        PledgeCollected(**MONEY, charged=1000),
        PledgeLatePaymentRefunded(**MONEY, intent_id="pi_2"),
    )
    assert refunded.late_refunds == ("pi_2",)


def test_needing_the_backer_opens_a_grace_period_and_records_it():
    p = replace(active(), payment=replace(active().payment, charge_client_secret="old"))
    after = p.needs_backer(
        intent_id="pi_c",
        client_secret=None,
        decline_code="card_declined",
        now=NOW,
        grace_period=timedelta(days=7),
        reminder_interval=timedelta(days=2),
    )
    assert after.status is PledgeStatus.ACTION_REQUIRED
    assert (after.grace_until, after.next_reminder_at) == (
        NOW + timedelta(days=7),
        NOW + timedelta(days=2),
    )
    assert after.payment.charge_intent_id == "pi_c"
    assert after.payment.charge_client_secret == "old"
    assert after.events == (
        PledgeActionRequired(**MONEY, decline_code="card_declined", until=NOW + timedelta(days=7)),
    )


def test_a_reminder_is_recorded_and_the_next_one_never_passes_the_grace_period():
    p = pledge(
        status=PledgeStatus.ACTION_REQUIRED,
        grace_until=NOW + timedelta(days=1),
        next_reminder_at=NOW,
    )
    after = p.reminded(NOW, timedelta(days=2))
    assert after.next_reminder_at == NOW + timedelta(days=1)
    assert after.events == (PledgeReminder(**MONEY, until=NOW + timedelta(days=1)),)


# ---------------------------------------------------------------- campaign transitions


def test_a_new_campaign_records_its_creation():
    c = new_campaign(
        id="cmp_new",
        organizer="alice",
        title="t",
        description="",
        goal_amount=5000,
        goal_currency="gbp",
        deadline=NOW + timedelta(days=3),
        now=NOW,
    )
    assert c.events == (CampaignCreated("cmp_new", "alice"),)


def test_campaign_transitions_record_cancellation_and_the_end_of_settlement():
    live = campaign()
    assert live.moved_to(CampaignStatus.CANCELLED).events == (CampaignCancelled("cmp_test"),)
    settling = live.moved_to(CampaignStatus.SETTLING)
    assert settling.events == ()
    settlement = Settlement(Outcome.SUCCEEDED, 3000, 3, 0, 0, 0, NOW)
    done = replace(settling, settlement=settlement).moved_to(CampaignStatus.SUCCEEDED)
    assert done.events == (CampaignSucceeded("cmp_test", collected=3000, backers=3),)
    failed = replace(settling, settlement=replace(settlement, collected=0, collected_backers=0))
    assert failed.moved_to(CampaignStatus.FAILED).events == (
        CampaignFailed("cmp_test", collected=0, backers=0),
    )
    with pytest.raises(ValueError, match="settlement"):
        settling.moved_to(CampaignStatus.SUCCEEDED)
