"""Deadline settlement: lock, decide, fan out, settle each pledge, complete.

Every step is idempotent and moves state only forward through the transition
tables, because every trigger (schedule, SQS, Stripe) may fire more than once.

The schedule runs `sweep`; the worker runs `handle` on each message of the
settlement queue (`cashmob.domain.messages`), one handler per message type:
  DecideOutcome     - recount the pledges active at the deadline, fix the outcome
  SendPage          - one page of a campaign's pledges -> one SettlePledge each
  SettlePledge      - the next settlement step for one pledge
  CheckCompletion   - finish the campaign once no pledge is left to settle
  RefundLatePayment - give back a payment Stripe took for a pledge that is
                      already finished (the webhook, or the end of a grace
                      period, finds it)
and the organizer's refund of a campaign that succeeded (`service.refunds`):
  SendRefundPage, RefundPledge, CheckRefundCompletion
The decisions (what to do with a pledge, when a step may happen) are pure
functions of the domain; these modules read, call Stripe and write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...container import Services
from ...domain.messages import (
    CheckCompletion,
    CheckRefundCompletion,
    DecideOutcome,
    InvalidMessage,
    Message,
    PayOut,
    RefundLatePayment,
    RefundPledge,
    SendPage,
    SendRefundPage,
    SettlePledge,
    decode,
)
from .completion import complete
from .fan_out import decide_outcome, fan_out, recount, send_page
from .late import refund_late
from .pledge_steps import settle_pledge
from .sweep import sweep

Handler = Callable[[Services, Any], None]


# The organizer's refunds (`service.refunds`) and payouts (`service.payouts`)
# are imported with their first message: most workers never see one, and a
# cold start would load them for nothing (tests/unit/test_cold_imports.py).
def send_refund_page(svc: Services, message: SendRefundPage) -> None:
    from ..refunds import send_refund_page as run

    run(svc, message)


def refund_pledge_step(svc: Services, message: RefundPledge) -> None:
    from ..refunds import refund_pledge_step as run

    run(svc, message)


def check_refund_completion(svc: Services, message: CheckRefundCompletion) -> None:
    from ..refunds import check_refund_completion as run

    run(svc, message)


def pay_out(svc: Services, message: PayOut) -> None:
    from ..payouts import pay_out as run

    run(svc, message)


HANDLERS: dict[type[Message], Handler] = {
    DecideOutcome: decide_outcome,
    SendPage: send_page,
    SettlePledge: settle_pledge,
    CheckCompletion: complete,
    RefundLatePayment: refund_late,
    SendRefundPage: send_refund_page,
    RefundPledge: refund_pledge_step,
    CheckRefundCompletion: check_refund_completion,
    PayOut: pay_out,  # service.payouts: a succeeded campaign's payout to its organizer
}


# Messages that call Stripe for no pledge but start or pace the work of
# many: the decision, a page, a completion check. A worker's batch handles
# them before its pledges, each of which waits for a paced Stripe call: a
# page behind nine of those would leave about 9 / 12 of the budget's seconds
# late (12 workers sharing it), and the queue ahead of the workers would run
# dry by as much.
PROMPT: frozenset[type[Message]] = frozenset(
    {DecideOutcome, SendPage, CheckCompletion, SendRefundPage, CheckRefundCompletion}
)


def prompt(body: str | bytes) -> bool:
    """Whether a queued message's body is one to handle before the pledges
    of its batch (an invalid one is not: it fails in its turn)."""
    try:
        return type(decode(body)) in PROMPT
    except InvalidMessage:
        return False


def handle(svc: Services, message: Message) -> None:
    """Runs the handler of one settlement message."""
    handler = HANDLERS.get(type(message))
    if handler is None:
        raise InvalidMessage(f"no settlement handler for {type(message).__name__}")
    handler(svc, message)


__all__ = ["HANDLERS", "PROMPT", "fan_out", "handle", "prompt", "recount", "sweep"]
