"""Stripe's HTTP timeouts, as each function of the template is configured:
one Stripe request with its network retries ends well inside the function's
own timeout, so a hung connection becomes a clean retry, not a killed Lambda."""

from __future__ import annotations

import pytest

from cashmob.config import Settings
from cashmob_local import template

FUNCTIONS = sorted(template.resources("AWS::Serverless::Function"))
# Functions that call Stripe on a request's path: half their timeout at most.
CALLS_STRIPE = {"ApiFunction", "SettleWorkerFunction"}


def _timeout(function: str) -> float:
    own = template.resources("AWS::Serverless::Function")[function].get("Timeout")
    return float(own or template.load()["Globals"]["Function"]["Timeout"])


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_stripe_request_with_its_retries_fits_the_function(function):
    env = template.function_environment(function, refs={})
    settings = Settings(**{k.lower(): v for k, v in env.items() if k.startswith("STRIPE_")})
    one_try = settings.stripe_connect_timeout_seconds + settings.stripe_read_timeout_seconds
    worst = one_try * (1 + settings.stripe_max_network_retries)
    limit = _timeout(function) / 2 if function in CALLS_STRIPE else _timeout(function)
    assert worst <= limit, f"{function}: Stripe may take {worst}s of its {_timeout(function)}s"


def test_the_functions_that_call_stripe_are_in_the_template():
    assert set(FUNCTIONS) >= CALLS_STRIPE
