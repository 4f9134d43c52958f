"""What settlement does with a failed pledge, and how it names why."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cashmob.domain import Action, Outcome, PaymentFlow, PledgeStatus, action_for
from cashmob.domain.settlement import HOLD_EXPIRED, canceled_reason, charge_intent
from tests.unit.factories import pledge


@pytest.mark.parametrize("outcome", list(Outcome))
@pytest.mark.parametrize(
    ("intent_open", "action"), [(True, Action.CANCEL_INTENT), (False, Action.NONE)]
)
def test_a_failed_pledge_whose_hold_stripe_still_has_gets_it_cancelled(
    outcome, intent_open, action
):
    p = pledge(flow=PaymentFlow.HOLD, status=PledgeStatus.FAILED)
    p = replace(p, payment=replace(p.payment, intent_open=intent_open))
    assert action_for(outcome, p) is action


def test_a_hold_stripe_cancelled_on_its_own_is_hold_expired():
    assert canceled_reason("automatic") == HOLD_EXPIRED == "hold_expired"
    assert canceled_reason("requested_by_customer") == "payment_canceled"
    assert canceled_reason(None) == "payment_canceled"


def test_the_charge_intent_is_the_hold_or_the_settlement_charge():
    hold = pledge(flow=PaymentFlow.HOLD)
    assert charge_intent(hold) == hold.payment.intent_id == "pi_1"
    setup = pledge(flow=PaymentFlow.SETUP)
    assert charge_intent(setup) is None
    charged = replace(setup, payment=replace(setup.payment, charge_intent_id="pi_charge"))
    assert charge_intent(charged) == "pi_charge"
    assert charged.payment_intent_ids() == {"pi_charge"}
