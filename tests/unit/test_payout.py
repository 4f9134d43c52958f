"""The platform fee and the payout's arithmetic (domain.payout): integers
only, rounded half up, nothing created or lost; and the state machines."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cashmob.domain.errors import InvalidTransition, ValidationFailed
from cashmob.domain.payout import (
    ONBOARDING_TRANSITIONS,
    PAYOUT_TRANSITIONS,
    OnboardingStatus,
    PayoutStatus,
    account_enabled,
    check_return_url,
    payout_for,
    platform_fee,
)

amounts = st.integers(min_value=0, max_value=10**12)
bps = st.integers(min_value=0, max_value=10_000)


@given(amounts, bps)
def test_the_fee_is_the_exact_fee_rounded_half_up(net, fee_bps):
    exact = Fraction(net * fee_bps, 10_000)
    fee = platform_fee(net, fee_bps)
    assert isinstance(fee, int)
    assert abs(fee - exact) <= Fraction(1, 2)
    if exact - int(exact) == Fraction(1, 2):
        assert fee == int(exact) + 1  # a half goes up
    assert 0 <= fee <= net


@given(amounts, amounts, bps)
def test_nothing_is_created_or_lost(collected, refund_seed, fee_bps):
    refunded = refund_seed % (collected + 1)
    p = payout_for(collected, refunded, fee_bps)
    assert p.amount + p.fee + p.refunded == p.collected == collected
    assert p.amount >= 0 and p.fee >= 0
    assert p.fee == platform_fee(collected - refunded, fee_bps)


@given(amounts, bps, bps)
def test_a_higher_rate_never_lowers_the_fee(net, a, b):
    low, high = sorted((a, b))
    assert platform_fee(net, low) <= platform_fee(net, high)


@given(amounts, amounts, bps)
def test_more_money_never_pays_the_organizer_less(a, b, fee_bps):
    low, high = sorted((a, b))
    assert payout_for(low, 0, fee_bps).amount <= payout_for(high, 0, fee_bps).amount


@given(amounts)
def test_the_bounds_of_the_rate(net):
    assert platform_fee(net, 0) == 0
    assert platform_fee(net, 10_000) == net
    assert payout_for(net, net, 500).amount == 0  # all refunded: nothing to pay, no fee


@pytest.mark.parametrize(
    ("net", "fee_bps", "fee"),
    [
        (4525, 500, 226),  # 226.25
        (4530, 500, 227),  # 226.5: half up
        (10, 500, 1),  # 0.5: half up
        (9, 500, 0),  # 0.45
        (1, 4999, 0),  # 0.4999
        (1, 5000, 1),  # 0.5
        (250_000, 250, 6250),
    ],
)
def test_worked_examples(net, fee_bps, fee):
    assert platform_fee(net, fee_bps) == fee


def test_out_of_range_inputs_are_refused():
    for args in [(-1, 500), (100, -1), (100, 10_001)]:
        with pytest.raises(ValueError):
            platform_fee(*args)
    for collected, refunded in [(100, 101), (100, -1), (-5, 0)]:
        with pytest.raises(ValueError):
            payout_for(collected, refunded, 500)


def test_payout_states_only_move_forward():
    S = PayoutStatus
    assert PAYOUT_TRANSITIONS.can(S.NOT_READY, S.PENDING)
    assert PAYOUT_TRANSITIONS.can(S.PENDING, S.PAID)
    assert PAYOUT_TRANSITIONS.can(S.PAID, S.REVERSED)
    assert PAYOUT_TRANSITIONS.can(S.NOT_READY, S.REVERSED)
    for backwards in [(S.PAID, S.PENDING), (S.REVERSED, S.PAID), (S.PAID, S.NOT_READY)]:
        with pytest.raises(InvalidTransition):
            PAYOUT_TRANSITIONS.check(*backwards)
    assert PAYOUT_TRANSITIONS.terminal(S.REVERSED)
    On = OnboardingStatus
    assert ONBOARDING_TRANSITIONS.sources(On.ENABLED) == {On.ONBOARDING}
    assert ONBOARDING_TRANSITIONS.terminal(On.ENABLED)


def test_an_account_is_enabled_once_stripe_says_it_can_take_transfers():
    ready = {
        "details_submitted": True,
        "payouts_enabled": True,
        "capabilities": {"transfers": "active"},
    }
    assert account_enabled(ready)
    assert not account_enabled({**ready, "details_submitted": False})
    assert not account_enabled({**ready, "payouts_enabled": False})
    assert not account_enabled({**ready, "capabilities": {"transfers": "pending"}})
    # Odd but signed: never an error (a 5xx to Stripe), never enabled.
    for odd in (None, [], "active", 1):
        assert not account_enabled({**ready, "capabilities": odd})


def test_return_urls_are_http():
    assert check_return_url("https://example.org/x") == "https://example.org/x"
    with pytest.raises(ValidationFailed):
        check_return_url("javascript:alert(1)")


def test_the_payout_message_travels_on_the_settlement_queue():
    from cashmob.domain.messages import InvalidMessage, PayOut, decode, encode

    wire = encode(PayOut("cmp_1"))
    assert json.loads(wire) == {"type": "PayOut", "campaign_id": "cmp_1"}
    assert decode(wire) == PayOut("cmp_1")
    with pytest.raises(InvalidMessage):
        decode('{"type": "PayOut", "campaign_id": ""}')
    with pytest.raises(InvalidMessage):
        decode('{"type": "PayOut", "campaign_id": "cmp_1", "amount": 5}')
