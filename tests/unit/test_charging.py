"""What Stripe's answer to a settlement charge means for the pledge, the
grace period's steps, and late payments: pure decisions."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import get_args

import pytest

from cashmob.domain import PaymentFlow, PledgeStatus
from cashmob.domain.charging import (
    ChargeState,
    GraceStep,
    LateRefund,
    after_charge,
    grace_failure,
    grace_step,
    last_attempt_recorded,
    late_refund,
    look_up_first,
    new_attempt,
    still_payable,
)
from cashmob.domain.events import PledgeActionRequired, PledgeCollected, PledgeFailed
from cashmob.domain.schedule import STRIPE_KEY_MEMORY
from cashmob.payments import ChargeResult, ChargeStatus
from tests.unit.factories import NOW, pledge

GRACE = timedelta(days=7)
REMIND = timedelta(days=2)
MONEY = {"campaign_id": "cmp_test", "pledge_id": "plg_test", "amount": 1000, "currency": "gbp"}


def answer(p, result):
    return after_charge(p, result, now=NOW, grace_period=GRACE, reminder_interval=REMIND)


def active(flow=PaymentFlow.SETUP, **changes):
    p = pledge(status=PledgeStatus.ACTIVE, flow=flow)
    return replace(p, payment=replace(p.payment, **changes)) if changes else p


def test_the_domain_knows_every_charge_status_the_gateway_answers():
    assert set(get_args(ChargeState)) == {s.value for s in ChargeStatus}


def test_a_charge_that_succeeds_collects():
    after = answer(active(), ChargeResult(ChargeStatus.SUCCEEDED, "pi_c"))
    assert after.status is PledgeStatus.COLLECTED and after.payment.charge_intent_id == "pi_c"
    assert after.events == (PledgeCollected(**MONEY, charged=1000),)


def test_a_charge_that_needs_the_backer_opens_the_grace_period():
    result = ChargeResult(ChargeStatus.NEEDS_BACKER, "pi_c", "pi_c_secret", "card_declined")
    after = answer(active(), result)
    assert after.status is PledgeStatus.ACTION_REQUIRED
    assert after.client_secret_for_backer == "pi_c_secret"
    assert after.events == (
        PledgeActionRequired(**MONEY, decline_code="card_declined", until=NOW + GRACE),
    )


@pytest.mark.parametrize("flow", list(PaymentFlow))
def test_a_refused_charge_fails_with_stripes_code(flow):
    after = answer(
        active(flow), ChargeResult(ChargeStatus.REFUSED, None, reason="amount_too_small")
    )
    assert (after.status, after.failure_reason) == (PledgeStatus.FAILED, "amount_too_small")
    assert after.payment.intent_open is active(flow).payment.intent_open  # the worker closes it
    assert after.events == (PledgeFailed(**MONEY, reason="amount_too_small"),)
    unnamed = answer(active(flow), ChargeResult(ChargeStatus.REFUSED, None))
    assert unnamed.failure_reason == "refused"


def test_a_hold_stripe_cancelled_fails_as_hold_expired_with_nothing_left_to_cancel():
    held = active(PaymentFlow.HOLD)
    assert held.payment.intent_open
    after = answer(held, ChargeResult(ChargeStatus.CANCELED, "pi_1", reason="automatic"))
    assert (after.failure_reason, after.payment.intent_open) == ("hold_expired", False)
    other = answer(held, ChargeResult(ChargeStatus.CANCELED, "pi_1", reason="requested"))
    assert other.failure_reason == "payment_canceled"


def test_attempts_are_recorded_before_stripe_is_called_and_later_ones_look_up_first():
    first = new_attempt(active(), NOW)
    assert (first.payment.charge_attempt, first.payment.charge_recorded_at) == (1, NOW)
    assert not look_up_first(first, NOW)
    assert look_up_first(first, NOW + STRIPE_KEY_MEMORY + timedelta(seconds=1))
    assert look_up_first(new_attempt(first, NOW), NOW)


def waiting(**changes):
    p = pledge(
        status=PledgeStatus.ACTION_REQUIRED,
        grace_until=NOW + GRACE,
        next_reminder_at=NOW + REMIND,
    )
    payment = replace(p.payment, charge_intent_id="pi_sent", charge_attempt=1)
    return replace(p, payment=payment, **changes)


def test_the_grace_period_waits_reminds_then_makes_a_last_attempt():
    p = waiting()
    assert grace_step(p, NOW) is GraceStep.WAIT
    assert grace_step(p, NOW + REMIND) is GraceStep.REMIND
    assert grace_step(p, NOW + GRACE) is GraceStep.LAST_ATTEMPT


def test_the_last_attempt_is_recorded_once():
    p = waiting()
    assert not last_attempt_recorded(p)
    assert last_attempt_recorded(new_attempt(p, NOW + GRACE))


@pytest.mark.parametrize(
    ("result", "payable"),
    [
        (ChargeResult(ChargeStatus.SUCCEEDED, "pi_sent"), []),
        (ChargeResult(ChargeStatus.SUCCEEDED, "pi_last"), ["pi_sent"]),
        (ChargeResult(ChargeStatus.NEEDS_BACKER, "pi_last"), ["pi_sent", "pi_last"]),
        (ChargeResult(ChargeStatus.NEEDS_BACKER, "pi_sent"), ["pi_sent"]),
        (ChargeResult(ChargeStatus.REFUSED, None, reason="x"), ["pi_sent"]),
    ],
)
def test_what_the_backer_could_still_pay_is_cancelled_before_failing(result, payable):
    assert still_payable(waiting(), result) == payable


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        (ChargeResult(ChargeStatus.NEEDS_BACKER, "pi"), "grace_period_ended"),
        (ChargeResult(ChargeStatus.REFUSED, None, reason="card_velocity"), "card_velocity"),
        (ChargeResult(ChargeStatus.CANCELED, "pi", reason="automatic"), "hold_expired"),
        (ChargeResult(ChargeStatus.CANCELED, "pi", reason="requested"), "grace_period_ended"),
    ],
)
def test_why_an_unpaid_grace_period_failed(result, reason):
    assert grace_failure(result) == reason


def test_a_late_payment_is_refunded_once_never_the_collected_one_and_not_mid_write():
    failed = waiting().failed("grace_period_ended")
    assert late_refund(waiting(), "pi_x") is LateRefund.NOT_YET
    assert late_refund(failed, "pi_sent") is LateRefund.REFUND
    assert late_refund(failed.refunded_late("pi_sent"), "pi_sent") is LateRefund.DONE
    collected = waiting().collected_by("pi_sent")
    assert late_refund(collected, "pi_sent") is LateRefund.KEEP
    assert late_refund(collected, "pi_other") is LateRefund.REFUND
