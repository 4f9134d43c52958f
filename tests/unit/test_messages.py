"""Settlement queue messages: one serialisation, readable on the wire, and a
clear InvalidMessage (-> the dead-letter queue) for anything else."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cashmob.domain import Outcome
from cashmob.domain.messages import (
    MESSAGE_TYPES,
    CheckCompletion,
    DecideOutcome,
    InvalidMessage,
    RefundLatePayment,
    SendPage,
    SettlePledge,
    decode,
    encode,
)
from cashmob.service.settlement import HANDLERS, handle

EXAMPLES = [
    DecideOutcome("cmp_1"),
    SendPage("cmp_1"),
    SendPage("cmp_1", "eyJjdXJzb3IiOjF9"),
    SendPage("cmp_1", "eyJjdXJzb3IiOjF9", due_ms=1_795_698_016_200),
    SettlePledge("cmp_1", "plg_1"),
    SettlePledge("cmp_1", "plg_1", Outcome.SUCCEEDED),
    CheckCompletion("cmp_1"),
    CheckCompletion("cmp_1", 3),
    RefundLatePayment("cmp_1", "plg_1", "pi_1"),
]


@pytest.mark.parametrize("message", EXAMPLES, ids=repr)
def test_every_message_round_trips(message):
    assert decode(encode(message)) == message
    assert decode(encode(message).encode()) == message


def test_the_wire_format_is_a_type_and_the_fields():
    assert json.loads(encode(SettlePledge("cmp_1", "plg_1", Outcome.FAILED))) == {
        "type": "SettlePledge",
        "campaign_id": "cmp_1",
        "pledge_id": "plg_1",
        "outcome": "failed",
    }
    settle = SettlePledge("cmp_1", "plg_1", Outcome.SUCCEEDED, crowd=812, share=770)
    assert json.loads(encode(settle)) == {
        "type": "SettlePledge",
        "campaign_id": "cmp_1",
        "pledge_id": "plg_1",
        "outcome": "succeeded",
        "crowd": 812,
        "share": 770,
    }
    assert decode(encode(settle)) == settle
    assert json.loads(encode(CheckCompletion("cmp_1", 2))) == {
        "type": "CheckCompletion",
        "campaign_id": "cmp_1",
        "round": 2,
    }


@pytest.mark.parametrize(
    ("legacy", "message"),
    [
        ({"kind": "decide", "campaign_id": "c"}, DecideOutcome("c")),
        ({"kind": "page", "campaign_id": "c", "cursor": None}, SendPage("c")),
        ({"kind": "pledge", "campaign_id": "c", "pledge_id": "p"}, SettlePledge("c", "p")),
        (
            {"kind": "pledge", "campaign_id": "c", "pledge_id": "p", "outcome": "cancelled"},
            SettlePledge("c", "p", Outcome.CANCELLED),
        ),
        ({"kind": "complete", "campaign_id": "c", "round": 1}, CheckCompletion("c", 1)),
        (
            {"kind": "refund_late", "campaign_id": "c", "pledge_id": "p", "intent_id": "pi"},
            RefundLatePayment("c", "p", "pi"),
        ),
    ],
)
def test_the_previous_releases_messages_still_on_the_queue_are_read(legacy, message):
    assert decode(json.dumps(legacy)) == message


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("not json", "not JSON"),
        ("[]", "not a JSON object"),
        ("{}", "no type"),
        ('{"type": "Nonsense", "campaign_id": "c"}', "unknown message type"),
        ('{"kind": "nonsense"}', "unknown message type"),
        ('{"type": ["SendPage"]}', "unknown message type"),
        ('{"type": "SettlePledge", "campaign_id": "c"}', "lacks 'pledge_id'"),
        ('{"type": "DecideOutcome", "campaign_id": "c", "extra": 1}', "no field 'extra'"),
        ('{"type": "DecideOutcome", "campaign_id": 7}', "not an id"),
        ('{"type": "DecideOutcome", "campaign_id": ""}', "not an id"),
        ('{"type": "SendPage", "campaign_id": "c", "cursor": 5}', "not a cursor"),
        (
            '{"type": "SettlePledge", "campaign_id": "c", "pledge_id": "p", "outcome": "x"}',
            "outcome",
        ),
        ('{"type": "CheckCompletion", "campaign_id": "c", "round": true}', "not a round"),
        ('{"type": "CheckCompletion", "campaign_id": "c", "round": -1}', "not a round"),
        ('{"type": "SettlePledge", "campaign_id": "c", "pledge_id": "p", "share": -1}', "share"),
        ('{"type": "SettlePledge", "campaign_id": "c", "pledge_id": "p", "crowd": 1.5}', "crowd"),
        ('{"type": "SettlePledge", "campaign_id": "c", "pledge_id": "p", "share": true}', "share"),
        ("[" * 100_000, "not JSON"),
    ],
)
def test_anything_else_is_an_invalid_message_that_says_why(body, says):
    with pytest.raises(InvalidMessage, match=says):
        decode(body)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
    )
)
def test_no_json_value_raises_anything_but_invalid_message(value):
    for candidate in (value, {"type": "SettlePledge", "campaign_id": value, "pledge_id": "p"}):
        with contextlib.suppress(InvalidMessage):  # anything else fails the test
            decode(json.dumps(candidate))


def test_only_messages_are_encoded():
    with pytest.raises(TypeError):
        encode({"kind": "decide", "campaign_id": "c"})  # type: ignore[arg-type]


def test_every_message_type_has_one_handler():
    assert set(HANDLERS) == set(MESSAGE_TYPES.values())
    with pytest.raises(InvalidMessage, match="no settlement handler"):
        handle(None, {"kind": "decide"})  # type: ignore[arg-type]
