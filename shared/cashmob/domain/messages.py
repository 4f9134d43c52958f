"""Work items on the settlement queue and the intake queue (cosmicpython's
commands): one frozen dataclass per kind of work, and their one serialisation.
Each queue reads only its own types (`MESSAGE_TYPES`: settlement,
`INTAKE_MESSAGE_TYPES`: intake): a message on the wrong queue is invalid.

On the wire a message is a JSON object: `type` (the class name) and the
fields, e.g. `{"type": "SettlePledge", "campaign_id": "cmp_…",
"pledge_id": "plg_…", "outcome": "succeeded"}`. `decode` accepts only what
`encode` writes (and the `kind` messages of the previous release, which may
still be on the queue); anything else raises InvalidMessage, which the
worker reports as a failure, so SQS parks it in the dead-letter queue.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import MISSING, asdict, fields
from typing import Any

from ..records import record
from .campaign import Outcome


@record
class DecideOutcome:
    """Recount the pledges active at the deadline and fix the outcome."""

    campaign_id: str


@record
class SendPage:
    """One page of a campaign's open pledges -> one SettlePledge each.
    `due_ms`: when the chain meant this page to go out (the business clock,
    epoch milliseconds); the next page is due a page's worth of Stripe's
    budget later, so the hops' own latency does not add up."""

    campaign_id: str
    cursor: str | None = None
    due_ms: int | None = None


@record
class SettlePledge:
    """The next settlement step for one pledge. `outcome`: the campaign's,
    when fan-out sent it (so settling a pledge reads only the pledge)."""

    campaign_id: str
    pledge_id: str
    outcome: Outcome | None = None
    # With the outcome, what the decision fixed for this pledge: the counted
    # set's size (a conditional pledge is collected iff its min_backers is at
    # most this) and its fair share (fixed_price; None: its amount).
    crowd: int | None = None
    share: int | None = None


@record
class CheckCompletion:
    """Finish the campaign once no pledge is left to settle. `round` > 0: a
    follow-up after fan-out, which schedules the next one.

    `done_cursor`, `done`: what earlier checks of the chain found settled,
    so this one reads only what follows: the cursor after the leading pages
    whose pledges were all settled, and those pages' totals
    (`domain.settlement.Totals.counts`). None: read from the first pledge."""

    campaign_id: str
    round: int = 0
    done_cursor: str | None = None
    done: tuple[int, ...] | None = None


@record
class RefundLatePayment:
    """Give back a payment Stripe took for a pledge that is already finished."""

    campaign_id: str
    pledge_id: str
    intent_id: str


@record
class PreparePledge:
    """Intake queue: create a pledge's Stripe object at Stripe's pace.
    `ticket`: its place in the intake queue (arrival order, `ready_in`)."""

    campaign_id: str
    pledge_id: str
    ticket: int


@record
class SendRefundPage:
    """One page of a refunding campaign's collected pledges -> one RefundPledge each."""

    campaign_id: str
    cursor: str | None = None


@record
class RefundPledge:
    """Finish the pledge's refund in flight, if any; and while its campaign
    is refunding, give back all that is left (domain.refunds)."""

    campaign_id: str
    pledge_id: str


@record
class CheckRefundCompletion:
    """The campaign is refunded once no collected pledge has money left to
    give back. `round` > 0: a follow-up after fan-out."""

    campaign_id: str
    round: int = 0


@record
class PayOut:
    """Pay a succeeded campaign's organizer once its collection is complete
    (service.payouts): sent at completion, and again when the organizer's
    Connect account becomes enabled."""

    campaign_id: str


Message = (
    DecideOutcome
    | SendPage
    | SettlePledge
    | CheckCompletion
    | RefundLatePayment
    | SendRefundPage
    | RefundPledge
    | CheckRefundCompletion
    | PayOut
)
IntakeMessage = PreparePledge
MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.__name__: cls
    for cls in (
        DecideOutcome,
        SendPage,
        SettlePledge,
        CheckCompletion,
        RefundLatePayment,
        SendRefundPage,
        RefundPledge,
        CheckRefundCompletion,
        PayOut,
    )
}
INTAKE_MESSAGE_TYPES: dict[str, type[IntakeMessage]] = {PreparePledge.__name__: PreparePledge}
# The previous release's `kind` strings (same field names): read, never written.
LEGACY_KINDS: dict[str, type[Message]] = {
    "decide": DecideOutcome,
    "page": SendPage,
    "pledge": SettlePledge,
    "complete": CheckCompletion,
    "refund_late": RefundLatePayment,
}
MAX_ID_LENGTH = 255
MAX_ROUND = 1_000
MAX_TICKET = 2**53  # DynamoDB numbers and JSON both hold it exactly


class InvalidMessage(ValueError):
    """A queue message that is not one `encode` writes."""


def encode(message: Message | IntakeMessage) -> str:
    if type(message) not in (*MESSAGE_TYPES.values(), *INTAKE_MESSAGE_TYPES.values()):
        raise TypeError(f"not a queue message: {message!r}")
    fields_ = {k: v for k, v in asdict(message).items() if not (k in OMITTED_IF_NONE and v is None)}
    return json.dumps({"type": type(message).__name__, **fields_}, sort_keys=True)


# Fields added after a message type's first release, left out while None: the
# message then reads the same to a worker of the release before them.
OMITTED_IF_NONE = frozenset({"crowd", "share", "done_cursor", "done", "due_ms"})


def decode(body: str | bytes) -> Message:
    """A settlement queue message."""
    return _decode(body, MESSAGE_TYPES, LEGACY_KINDS)  # type: ignore[return-value]


def decode_intake(body: str | bytes) -> IntakeMessage:
    """An intake queue message."""
    return _decode(body, INTAKE_MESSAGE_TYPES, {})  # type: ignore[return-value]


def _decode(
    body: str | bytes, types: dict[str, type[Any]], legacy: dict[str, type[Any]]
) -> Message | IntakeMessage:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidMessage("the message is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidMessage("the message is not a JSON object")
    if "type" in data:
        name = data.pop("type")
        cls = types.get(name) if isinstance(name, str) else None
    elif "kind" in data:
        name = data.pop("kind")
        cls = legacy.get(name) if isinstance(name, str) else None
    else:
        raise InvalidMessage("the message has no type")
    if cls is None:
        raise InvalidMessage(f"unknown message type {name!r}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise InvalidMessage(f"{cls.__name__} has no field {unknown[0]!r}")
    values: dict[str, Any] = {}
    for key, f in known.items():
        if key not in data:
            if f.default is MISSING:
                raise InvalidMessage(f"{cls.__name__} lacks {key!r}")
            continue
        values[key] = _READERS[key](data[key], f"{cls.__name__}.{key}")
    return cls(**values)


# ---------------------------------------------------------------- field readers


def _id(value: object, where: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH:
        raise InvalidMessage(f"{where} is not an id")
    return value


def _cursor(value: object, where: str) -> str | None:
    if value is None or (isinstance(value, str) and value):
        return value
    raise InvalidMessage(f"{where} is not a cursor")


def _outcome(value: object, where: str) -> Outcome | None:
    if value is None:
        return None
    try:
        return Outcome(value)
    except (ValueError, TypeError):
        raise InvalidMessage(f"{where} is not an outcome") from None


def _round(value: object, where: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_ROUND:
        raise InvalidMessage(f"{where} is not a round")
    return value


def _ticket(value: object, where: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_TICKET:
        raise InvalidMessage(f"{where} is not a ticket")
    return value


def _count(value: object, where: str) -> int | None:
    """A count or an amount in minor units (crowd, share), or None."""
    if value is None or (type(value) is int and 0 <= value <= MAX_TICKET):
        return value  # type: ignore[return-value]
    raise InvalidMessage(f"{where} is not a whole number")


def _counts(value: object, where: str) -> tuple[int, ...] | None:
    """A check's totals so far (CheckCompletion.done): whole numbers, or None."""
    if value is None:
        return None
    if (
        isinstance(value, list)
        and len(value) == TOTALS_FIELDS
        and all(type(v) is int and 0 <= v <= MAX_TICKET for v in value)
    ):
        return tuple(value)
    raise InvalidMessage(f"{where} is not a list of {TOTALS_FIELDS} totals")


TOTALS_FIELDS = 6  # domain.settlement.Totals.counts

_READERS: dict[str, Callable[[object, str], Any]] = {
    "campaign_id": _id,
    "pledge_id": _id,
    "intent_id": _id,
    "cursor": _cursor,
    "outcome": _outcome,
    "round": _round,
    "ticket": _ticket,
    "crowd": _count,
    "share": _count,
    "done_cursor": _cursor,
    "done": _counts,
    "due_ms": _count,
}
