from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cashmob.domain import CURRENCIES, Money
from cashmob.domain.errors import ValidationFailed
from cashmob.domain.money import (
    CONVERSION_MARGIN,
    MAX_AMOUNT,
    USD_PER_UNIT,
    chargeable,
    settlement_minimum,
)

codes = st.sampled_from(sorted(CURRENCIES))
amounts = st.integers(min_value=-(10**12), max_value=10**12)


@given(codes, amounts, amounts)
def test_addition_and_subtraction_are_exact_integer_arithmetic(code, a, b):
    total = Money(a, code) + Money(b, code)
    assert total == Money(a + b, code)
    assert total - Money(b, code) == Money(a, code)


@given(codes, amounts, amounts)
def test_ordering_matches_the_integers(code, a, b):
    assert (Money(a, code) < Money(b, code)) == (a < b)
    assert (Money(a, code) >= Money(b, code)) == (a >= b)


@given(codes, codes, amounts)
def test_mixed_currencies_are_refused(first, second, amount):
    if first == second:
        return
    with pytest.raises(ValueError, match="cannot mix"):
        Money(amount, first) + Money(amount, second)
    with pytest.raises(ValueError):
        _ = Money(amount, first) < Money(amount, second)


@pytest.mark.parametrize("bad", [1.0, 10.5, "100", None, True])
def test_amounts_must_be_int_minor_units(bad):
    with pytest.raises(TypeError):
        Money(bad, "gbp")


def test_unknown_currency_is_a_validation_error():
    with pytest.raises(ValidationFailed):
        Money(100, "xyz")


@pytest.mark.parametrize(
    ("amount", "code", "text"),
    [
        (1000, "gbp", "£10.00"),
        (500, "jpy", "¥500"),
        (123456789, "usd", "$1,234,567.89"),
        (-5, "eur", "-€0.05"),
        (0, "krw", "₩0"),
    ],
)
def test_formatting_respects_the_currency_exponent(amount, code, text):
    assert Money(amount, code).format() == text


@pytest.mark.parametrize(("code", "minimum"), [("usd", 50), ("eur", 50), ("gbp", 30), ("jpy", 50)])
def test_stripe_minimum_charge(code, minimum):
    assert chargeable(minimum, code) == Money(minimum, code)
    with pytest.raises(ValidationFailed):
        chargeable(minimum - 1, code)


def test_zero_decimal_currencies():
    assert CURRENCIES["jpy"].exponent == 0
    assert CURRENCIES["krw"].exponent == 0
    assert CURRENCIES["gbp"].exponent == 2


@given(
    codes, st.one_of(st.integers(), st.floats(allow_nan=True), st.text(), st.booleans(), st.none())
)
def test_chargeable_accepts_only_ints_in_stripes_range(code, amount):
    ok = type(amount) is int and CURRENCIES[code].minimum_charge <= amount <= MAX_AMOUNT
    if ok:
        assert chargeable(amount, code).amount == amount
    else:
        with pytest.raises(ValidationFailed):
            chargeable(amount, code)


@pytest.mark.parametrize("code", sorted(CURRENCIES))
@pytest.mark.parametrize("account", ["gbp", "usd", "eur", "jpy"])
def test_the_settlement_minimum_never_undercuts_either_currency(code, account):
    least = settlement_minimum(code, account)
    assert least >= CURRENCIES[code].minimum_charge
    if code == account:
        assert least == CURRENCIES[code].minimum_charge  # nothing to convert
        return
    # Converted back at the table's own rate, it clears the account's minimum
    # even after the margin is taken off.
    pledge, acct = CURRENCIES[code], CURRENCIES[account]
    in_account = (
        Fraction(least, 10**pledge.exponent)
        * USD_PER_UNIT[code]
        / USD_PER_UNIT[account]
        * (1 - CONVERSION_MARGIN)
    )
    assert in_account * 10**acct.exponent >= acct.minimum_charge


def test_pledges_below_the_settlement_currencys_minimum_are_refused():
    # ¥50 is Stripe's JPY minimum, but about £0.26: less than a GBP account's £0.30.
    chargeable(50, "jpy")
    with pytest.raises(ValidationFailed) as refused:
        chargeable(50, "jpy", account_currency="gbp")
    assert refused.value.details == [
        {"field": "amount", "minimum": settlement_minimum("jpy", "gbp")}
    ]
    assert chargeable(65, "jpy", account_currency="gbp") == Money(65, "jpy")
    assert chargeable(30, "gbp", account_currency="gbp") == Money(30, "gbp")
