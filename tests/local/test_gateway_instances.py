"""The local stack runs one module per function from many threads; an HTTP
invocation must have its function to itself (Powertools' resolvers keep the
current request on the router), while queue and schedule invocations overlap."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from cashmob_local import gateway, template

HTTP_EVENT = {"requestContext": {"http": {"method": "GET", "path": "/campaigns"}}}
QUEUE_EVENT = {"Records": []}


@pytest.fixture
def overlap(monkeypatch):
    """A handler that records the most invocations of one function running at once."""
    running: dict[str, int] = {}
    most: dict[str, int] = {}
    lock = threading.Lock()

    def load_handler(function):
        def handle(event, context):
            with lock:
                running[function] = running.get(function, 0) + 1
                most[function] = max(most.get(function, 0), running[function])
            time.sleep(0.02)
            with lock:
                running[function] -= 1
            return {"statusCode": 200}

        return handle

    monkeypatch.setattr(template, "load_handler", load_handler)
    return most


def _burst(function, event, n=8):
    with ThreadPoolExecutor(n) as pool:
        list(pool.map(lambda _: gateway.invoke_in_process(function, event), range(n)))


def test_http_invocations_of_one_function_never_overlap(overlap):
    _burst("ApiFunction", HTTP_EVENT)
    assert overlap["ApiFunction"] == 1


def test_two_http_functions_run_side_by_side(overlap):
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda f: _burst(f, HTTP_EVENT, 4), ["ApiFunction", "StripeWebhookFunction"]))
    assert overlap["ApiFunction"] == 1
    assert overlap["StripeWebhookFunction"] > 1  # a plain handler: instances side by side


def test_http_invocations_of_a_plain_handler_overlap(overlap):
    _burst("StripeWebhookFunction", HTTP_EVENT)
    assert overlap["StripeWebhookFunction"] > 1


def test_one_request_at_a_time_exactly_for_the_functions_holding_a_resolver():
    """RESOLVER_FUNCTIONS against the real modules: every function the
    template routes HTTP to whose module holds a Powertools resolver, and
    only those."""
    import sys

    from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver

    holding = set()
    for function in {route.function for route in template.routes()}:
        module = sys.modules[template.load_handler(function).__module__]
        if any(isinstance(value, ApiGatewayResolver) for value in vars(module).values()):
            holding.add(function)
    assert holding == set(gateway.RESOLVER_FUNCTIONS)


def test_queue_invocations_overlap(overlap):
    _burst("SettleWorkerFunction", QUEUE_EVENT)
    assert overlap["SettleWorkerFunction"] > 1
