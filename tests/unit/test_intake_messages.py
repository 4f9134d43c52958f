"""Intake queue messages: PreparePledge in the one serialisation, read only
from the intake queue (and settlement's only from the settlement queue), one
intake handler per type; the FIFO group and the retry backoff."""

from __future__ import annotations

import json

import pytest

from cashmob.domain.messages import (
    INTAKE_MESSAGE_TYPES,
    MESSAGE_TYPES,
    InvalidMessage,
    PreparePledge,
    SettlePledge,
    decode,
    decode_intake,
    encode,
)
from cashmob.messaging import INTAKE_RETRY_MAX_SECONDS, intake_group, intake_retry_delay
from cashmob.service import intake


def test_prepare_pledge_round_trips_and_reads_as_a_type_and_fields():
    message = PreparePledge("cmp_1", "plg_1", 42)
    assert decode_intake(encode(message)) == message
    assert json.loads(encode(message)) == {
        "type": "PreparePledge",
        "campaign_id": "cmp_1",
        "pledge_id": "plg_1",
        "ticket": 42,
    }


def test_each_queue_reads_only_its_own_messages():
    with pytest.raises(InvalidMessage, match="unknown message type"):
        decode(encode(PreparePledge("cmp_1", "plg_1", 1)))
    with pytest.raises(InvalidMessage, match="unknown message type"):
        decode_intake(encode(SettlePledge("cmp_1", "plg_1")))
    with pytest.raises(InvalidMessage, match="unknown message type"):
        decode_intake(json.dumps({"kind": "pledge", "campaign_id": "c", "pledge_id": "p"}))
    assert not set(MESSAGE_TYPES) & set(INTAKE_MESSAGE_TYPES)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('{"type": "PreparePledge", "campaign_id": "c", "pledge_id": "p"}', "lacks 'ticket'"),
        ('{"type": "PreparePledge", "campaign_id": "c", "pledge_id": "p", "ticket": -1}', "ticket"),
        (
            '{"type": "PreparePledge", "campaign_id": "c", "pledge_id": "p", "ticket": 1.5}',
            "ticket",
        ),
        (
            '{"type": "PreparePledge", "campaign_id": "c", "pledge_id": "p", "ticket": true}',
            "ticket",
        ),
        (
            '{"type": "PreparePledge", "campaign_id": "", "pledge_id": "p", "ticket": 1}',
            "not an id",
        ),
    ],
)
def test_a_malformed_prepare_pledge_is_an_invalid_message(body, says):
    with pytest.raises(InvalidMessage, match=says):
        decode_intake(body)


def test_every_intake_message_type_has_one_handler():
    assert set(intake.HANDLERS) == set(INTAKE_MESSAGE_TYPES.values())
    with pytest.raises(InvalidMessage, match="no intake handler"):
        intake.handle(None, SettlePledge("c", "p"))  # type: ignore[arg-type]


def test_tickets_spread_over_the_groups_in_turn():
    assert [intake_group(t, 4) for t in range(1, 6)] == [
        "intake-1",
        "intake-2",
        "intake-3",
        "intake-0",
        "intake-1",
    ]


def test_a_failed_intake_record_comes_back_soon_then_at_most_a_minute_later():
    assert [intake_retry_delay(n) for n in (1, 2, 3)] == [1, 2, 4]
    assert intake_retry_delay(50) == INTAKE_RETRY_MAX_SECONDS == 60
