"""Stripe's charge limits per currency, and the account's settlement currency.

A charge must reach Stripe's minimum for its own currency
(docs.stripe.com/currencies, "Minimum and maximum charge amounts") and, once
converted, the minimum of the account's settlement currency ("Amount must
convert to at least 30 pence. ¥50 converts to approximately £0.26."). The
emulator converts with the fixed table RATES_PER_USD (not live rates), so a
test can tell in advance which amounts pass. KRW has no published Stripe
minimum; 700 won (about US$0.50) stands in for it.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from .errors import StripeFailure, invalid

# Minor units of the currency's smallest chargeable amount.
MINIMUM_CHARGE: dict[str, int] = {
    "usd": 50,
    "eur": 50,
    "gbp": 30,
    "cad": 50,
    "aud": 50,
    "nzd": 50,
    "chf": 50,
    "sgd": 50,
    "dkk": 250,
    "nok": 300,
    "sek": 300,
    "pln": 200,
    "hkd": 400,
    "mxn": 1000,
    "jpy": 50,
    "krw": 700,
    "czk": 1500,
    "huf": 17500,
    "inr": 50,
    "brl": 50,
    "ron": 200,
    "bgn": 100,
    "thb": 1000,
    "myr": 200,
    "aed": 200,
}
# Units of each currency one US dollar buys: fixed, for reproducible tests.
RATES_PER_USD: dict[str, Decimal] = {
    code: Decimal(rate)
    for code, rate in {
        "usd": "1",
        "eur": "0.92",
        "gbp": "0.79",
        "cad": "1.37",
        "aud": "1.52",
        "nzd": "1.66",
        "chf": "0.88",
        "sgd": "1.35",
        "dkk": "6.87",
        "nok": "10.8",
        "sek": "10.6",
        "pln": "3.98",
        "hkd": "7.8",
        "mxn": "17.2",
        "jpy": "150",
        "krw": "1350",
        "czk": "23",
        "huf": "360",
        "inr": "83",
        "brl": "5",
        "ron": "4.6",
        "bgn": "1.8",
        "thb": "36",
        "myr": "4.7",
        "aed": "3.67",
    }.items()
}
ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv"}
    | {"xaf", "xof", "xpf"}
)
SYMBOLS = {
    "usd": "$",
    "eur": "€",
    "gbp": "£",
    "jpy": "¥",
    "krw": "₩",
    "cad": "CA$",
    "aud": "A$",
    "nzd": "NZ$",
    "sgd": "S$",
    "hkd": "HK$",
    "mxn": "MX$",
    "inr": "₹",
    "brl": "R$",
}
# Stripe's name for a hundredth of the settlement currency, in its messages.
SUBUNITS = {"gbp": "pence", "usd": "cents", "eur": "cents", "cad": "cents", "aud": "cents"}
MAXIMUM_CHARGE = 99_999_999  # eight digits of minor units


def supported(code: str) -> bool:
    return code in MINIMUM_CHARGE and code in RATES_PER_USD


def exponent(code: str) -> int:
    return 0 if code in ZERO_DECIMAL else 2


def format_amount(amount: int | Decimal, code: str) -> str:
    """Minor units as Stripe writes them in messages: £0.30, ¥50, CHF 0.50."""
    major = Decimal(amount) / (10 ** exponent(code))
    text = f"{major:,.{exponent(code)}f}"
    symbol = SYMBOLS.get(code)
    return f"{symbol}{text}" if symbol else f"{code.upper()} {text}"


def convert(amount: int, source: str, target: str) -> Decimal:
    """`amount` minor units of `source` in minor units of `target`, by the fixed table."""
    if source == target:
        return Decimal(amount)
    major = Decimal(amount) / (10 ** exponent(source))
    converted = major / RATES_PER_USD[source] * RATES_PER_USD[target]
    return converted * (10 ** exponent(target))


def check_currency(code: str, param: str = "currency") -> str:
    code = code.lower()
    if not supported(code):
        raise invalid(
            f"Invalid currency: {code}. This emulator supports these currencies: "
            f"{', '.join(sorted(MINIMUM_CHARGE))}.",
            param=param,
            store=False,
        )
    return code


def check_amount(amount: int, code: str, account_currency: str, *, param: str = "amount") -> None:
    """Stripe's `amount_too_small` / `amount_too_large` (400, before execution)."""
    code = check_currency(code)
    minimum = MINIMUM_CHARGE[code]
    if amount < minimum:
        raise _too_small(
            f"Amount must be at least {format_amount(minimum, code)} {code}", param=param
        )
    if amount > MAXIMUM_CHARGE:
        raise invalid(
            f"Amount must be no more than {format_amount(MAXIMUM_CHARGE, code)}",
            code="amount_too_large",
            param=param,
            store=False,
        )
    if account_currency != code:
        settled = convert(amount, code, account_currency)
        floor = MINIMUM_CHARGE[account_currency]
        if settled < floor:
            unit = (
                f"{floor} {SUBUNITS[account_currency]}"
                if account_currency in SUBUNITS
                else format_amount(floor, account_currency)
            )
            approx = settled.quantize(Decimal(1), rounding=ROUND_HALF_UP)
            raise _too_small(
                f"Amount must convert to at least {unit}. {format_amount(amount, code)} "
                f"converts to approximately {format_amount(approx, account_currency)}.",
                param=param,
            )


def _too_small(message: str, *, param: str) -> StripeFailure:
    return invalid(message, code="amount_too_small", param=param, store=False)
