"""Money as integer minor units of one currency, and the currencies we accept."""

from __future__ import annotations

from fractions import Fraction
from math import ceil
from types import MappingProxyType

from ..records import record
from .errors import ValidationFailed

# Stripe's largest amount for a charge: eight digits of minor units.
MAX_AMOUNT = 99_999_999


@record
class Currency:
    code: str
    exponent: int  # digits after the decimal point; 0 for zero-decimal currencies
    minimum_charge: int  # Stripe's minimum charge, in minor units
    symbol: str


def _table(*currencies: Currency) -> MappingProxyType[str, Currency]:
    return MappingProxyType({c.code: c for c in currencies})


# Minimums from Stripe's "minimum and maximum charge amounts" table.
# KRW has no published Stripe minimum; 700 won (about US$0.50) is our own floor.
CURRENCIES = _table(
    Currency("usd", 2, 50, "$"),
    Currency("eur", 2, 50, "€"),
    Currency("gbp", 2, 30, "£"),
    Currency("cad", 2, 50, "CA$"),
    Currency("aud", 2, 50, "A$"),
    Currency("nzd", 2, 50, "NZ$"),
    Currency("chf", 2, 50, "CHF "),
    Currency("sgd", 2, 50, "S$"),
    Currency("dkk", 2, 250, "kr "),
    Currency("nok", 2, 300, "kr "),
    Currency("sek", 2, 300, "kr "),
    Currency("pln", 2, 200, "zł "),
    Currency("hkd", 2, 400, "HK$"),
    Currency("mxn", 2, 1000, "MX$"),
    Currency("jpy", 0, 50, "¥"),
    Currency("krw", 0, 700, "₩"),
)


# What one major unit of each currency is worth in US dollars (late 2026,
# rounded), for one question only: does a pledge clear the minimum charge of
# the Stripe account's settlement currency once Stripe converts it? Stripe
# refuses a charge below that minimum (docs.stripe.com/currencies), so the
# estimate must never overrate a pledge: it takes CONVERSION_MARGIN off.
USD_PER_UNIT: MappingProxyType[str, Fraction] = MappingProxyType(
    {
        code: Fraction(rate)
        for code, rate in {
            "usd": "1",
            "eur": "1.08",
            "gbp": "1.27",
            "cad": "0.72",
            "aud": "0.65",
            "nzd": "0.59",
            "chf": "1.13",
            "sgd": "0.75",
            "dkk": "0.145",
            "nok": "0.092",
            "sek": "0.095",
            "pln": "0.25",
            "hkd": "0.128",
            "mxn": "0.055",
            "jpy": "0.0066",
            "krw": "0.00072",
        }.items()
    }
)
CONVERSION_MARGIN = Fraction(1, 10)


def settlement_minimum(code: str, account_currency: str) -> int:
    """The least amount of `code`, in minor units, that is sure to clear the
    minimum charge of `account_currency` after conversion."""
    pledge, account = currency(code), currency(account_currency)
    if pledge.code == account.code:
        return pledge.minimum_charge
    account_minimum = Fraction(account.minimum_charge, 10**account.exponent)
    in_usd = account_minimum * USD_PER_UNIT[account.code]
    in_pledge_units = in_usd / USD_PER_UNIT[pledge.code] / (1 - CONVERSION_MARGIN)
    return max(pledge.minimum_charge, ceil(in_pledge_units * 10**pledge.exponent))


def currency(code: str) -> Currency:
    try:
        return CURRENCIES[code]
    except KeyError:
        raise ValidationFailed(
            f"Currency {code!r} is not supported.",
            details=[{"field": "currency", "supported": sorted(CURRENCIES)}],
        ) from None


@record
class Money:
    amount: int
    currency: str

    def __post_init__(self) -> None:
        if type(self.amount) is not int:
            raise TypeError(f"Money amounts are int minor units, not {type(self.amount).__name__}")
        currency(self.currency)

    @classmethod
    def zero(cls, code: str) -> Money:
        return cls(0, code)

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise ValueError(f"cannot mix {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    @property
    def minimum_charge(self) -> Money:
        return Money(currency(self.currency).minimum_charge, self.currency)

    def format(self) -> str:
        """Human display, e.g. `£10.00`, `¥500`, `-$0.05`."""
        cur = currency(self.currency)
        sign = "-" if self.amount < 0 else ""
        units, minor = divmod(abs(self.amount), 10**cur.exponent)
        text = f"{units:,}" if cur.exponent == 0 else f"{units:,}.{minor:0{cur.exponent}d}"
        return f"{sign}{cur.symbol}{text}"

    def to_json(self) -> dict[str, int | str]:
        return {"amount": self.amount, "currency": self.currency}


def chargeable(
    amount: object, code: str, *, field: str = "amount", account_currency: str | None = None
) -> Money:
    """An amount a backer may be charged: an int between Stripe's minimum and
    maximum, and (with `account_currency`) above the settlement currency's
    minimum after conversion."""
    cur = currency(code)
    if type(amount) is not int:
        raise ValidationFailed(
            f"{field} must be an integer of minor units.", details=[{"field": field}]
        )
    minimum = (
        cur.minimum_charge
        if account_currency is None
        else settlement_minimum(cur.code, account_currency)
    )
    if amount < minimum:
        raise ValidationFailed(
            f"{field} must be at least {Money(minimum, cur.code).format()}.",
            details=[{"field": field, "minimum": minimum}],
        )
    if amount > MAX_AMOUNT:
        raise ValidationFailed(
            f"{field} must be at most {MAX_AMOUNT} minor units.",
            details=[{"field": field, "maximum": MAX_AMOUNT}],
        )
    return Money(amount, code)
