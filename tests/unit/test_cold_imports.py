"""Cold start: what importing a handler module loads, as Lambda's init does it
(a fresh interpreter, the function's folder on sys.path, `import app`).

Each heavy import below was deferred to the code that needs it, or left out
when tracing is off; this fails when one comes back at import time. Whether
it is fast is the benchmark's business (`cashmob_local.bench.cold_start`)."""

from __future__ import annotations

import os

import pytest

from cashmob_local.bench.cold_start import handlers
from tests.probes import probe

FUNCTIONS = handlers()

# Loaded by no handler at import time, whatever the function.
NEVER = {
    "aws_xray_sdk": "the X-Ray SDK, only when tracing is on",
    "stripe": "stripe-python, on the first Stripe call",
    "pydantic_settings": "pydantic-settings, not used: Settings reads the environment itself",
    "aws_lambda_powertools.utilities.parser": "Powertools' parser models, not used",
    "jsonschema": "JSON Schema validation, tests only",
    # Powertools' batch utility imports it for its async processors alone; the
    # SQS workers use the synchronous ones (cashmob.lazy_imports.UNUSED_BY_OUR_FUNCTIONS).
    "asyncio": "asyncio's event loops, never run: a shell until asked for a name",
    # Powertools' packages whose `__init__` imports every resolver or every
    # event class: imported by their modules (cashmob.lazy_powertools).
    "aws_lambda_powertools.event_handler.appsync": "AppSync's resolver (and asyncio)",
    "aws_lambda_powertools.event_handler.bedrock_agent": "the Bedrock agent's resolver",
    "aws_lambda_powertools.event_handler.vpc_lattice": "the VPC Lattice resolvers",
    "aws_lambda_powertools.utilities.data_classes.appsync_resolver_event": "an event class",
    "aws_lambda_powertools.utilities.data_classes.kinesis_firehose_event": "an event class",
    "aws_lambda_powertools.utilities.data_classes.code_pipeline_job_event": "an event class",
    "aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event": "an event class",
}

# The functions whose use cases read or send queue messages (they import them at init).
SENDERS = {
    "IntakeWorkerFunction",
    "ReconcileFunction",
    "SettleWorkerFunction",
    "SettlementFunction",
    "StripeWebhookFunction",
}

# Loaded at import only by the functions named; the others load each with the
# first request that uses it, or never.
ONLY_FOR = {
    "pydantic": (
        {"ApiFunction"},
        "the API's request models; Settings reads the environment without it",
    ),
    "boto3": (set(), "with the first SQS or EventBridge client (PynamoDB needs only botocore)"),
    "cashmob.notify.emails": ({"NotifierFunction"}, "the email templates, the notifier's"),
    "cashmob.service.refunds": (
        set(),
        "the organizer's refunds, with their first request or message",
    ),
    "cashmob.service.payouts": (
        {"ReconcileFunction"},
        "payouts, with their first message, request or settled campaign's view",
    ),
    # The API's routes other than a campaign's view and the pledges import
    # their use cases themselves (the first request is most often GET /campaigns/{id}).
    "cashmob.service.export": (set(), "the CSV export, with its route"),
    "cashmob.service.erasure": (set(), "erasure, with its route"),
    "cashmob.service.badge": (set(), "the SVG badge, with its route"),
    # The queue messages and the SQS/EventBridge adapters: the notifier sends
    # none, nor do the API's reads (its pledge routes import their use cases).
    "cashmob.domain.messages": (
        SENDERS,
        "the queue messages, with the first message a function sends or reads",
    ),
    "cashmob.messaging": (
        {"IntakeWorkerFunction", "SettleWorkerFunction"},
        "the SQS and EventBridge adapters, with the first queue or publisher (container)",
    ),
    "cashmob.service.pledges": (set(), "the pledges' use cases, with the API's pledge routes"),
    "cashmob.service.intake": (
        {"IntakeWorkerFunction"},
        "flash intake, with the first pledge or intake message",
    ),
    # The API's request and response models, by resource: each module with
    # the first request of a route that names one of its models.
    "cashmob.schemas.campaigns": (set(), "a campaign's models, with a campaign route"),
    "cashmob.schemas.pledges": (set(), "a pledge's models, with a pledge route"),
    "cashmob.schemas.organizers": (set(), "the organizer's models, with an organizer route"),
}

PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import {module}
handler = getattr({module}, "lambda_handler")
# A package shell (cashmob.lazy_imports) is in sys.modules, but nothing of it has run.
is_shell = getattr(sys.modules.get("cashmob.lazy_imports"), "is_shell", lambda name: False)
print(json.dumps(sorted(m for m in sys.modules if not is_shell(m))))
"""


def _loaded(function: str, **env: str) -> set[str]:
    folder, module = FUNCTIONS[function]
    environ = {k: v for k, v in os.environ.items() if k != "LAMBDA_TASK_ROOT"}
    return set(probe(PROBE.format(module=module), str(folder), env={**environ, **env}))


def _under(modules: set[str], package: str) -> set[str]:
    return {m for m in modules if m == package or m.startswith(package + ".")}


def test_every_function_of_the_template_is_probed():
    assert {"ApiFunction", "StripeWebhookFunction", "SettlementFunction"} <= set(FUNCTIONS)
    assert "SettleWorkerFunction" in FUNCTIONS
    for folder, module in FUNCTIONS.values():
        assert (folder / f"{module}.py").is_file()
    for functions, _ in ONLY_FOR.values():
        assert functions <= set(FUNCTIONS)


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_importing_a_handler_leaves_the_heavy_imports_for_later(function):
    loaded = _loaded(function, POWERTOOLS_TRACE_DISABLED="1")

    for package, why in NEVER.items():
        assert not _under(loaded, package), f"{function} imports {package} at init ({why})"
    for package, (functions, why) in ONLY_FOR.items():
        if function not in functions:
            assert not _under(loaded, package), f"{function} imports {package} at init ({why})"


PAUSED = """
import gc, json, sys
sys.path.insert(0, sys.argv[1])
import cashmob  # the package's own `__init__`, before the handler's first line
before, after = [], []
def started(phase, info):
    # `done` is defined after the pause: until then, Python is still loading
    # (maybe compiling) cashmob.startup itself.
    if phase == "start":
        paused = hasattr(sys.modules.get("cashmob.startup"), "done")
        (after if paused else before).append(info["generation"])
gc.callbacks.append(started)
import {module}
young = gc.get_count()[0]
print(json.dumps({{"before": len(before), "after": len(after), "enabled": gc.isenabled(),
                  "frozen": gc.get_freeze_count(), "young": young}}))
"""


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_a_handler_imports_with_the_collector_paused_and_freezes_what_it_made(function):
    """cashmob.startup: no collection scans the objects the init makes, then or
    later (they are frozen), and the collector is on again for the requests,
    with nothing of the init left in its young generation for the first one."""
    folder, module = FUNCTIONS[function]
    found = probe(PAUSED.format(module=module), str(folder))

    assert found["after"] == 0
    assert found["before"] <= 1  # while cashmob.startup itself loads: the pause comes first
    assert found["enabled"]
    assert found["frozen"] > 20_000
    assert found["young"] < 100


MODELS = """
import json, sys
sys.path.insert(0, sys.argv[1])
import app
from pydantic import BaseModel
from cashmob import schemas
from tests.events import FakeContext, http_event
def models():
    # the models of the schema modules loaded so far (without loading others)
    modules = [sys.modules.get(f"cashmob.schemas.{name}") for name in schemas.MODELS]
    return [m for module in modules if module for m in vars(module).values()
            if isinstance(m, type) and issubclass(m, BaseModel) and m.__module__ == module.__name__]
def loaded():
    return sorted(name for name in schemas.MODELS if f"cashmob.schemas.{name}" in sys.modules)
found = {"init": loaded(), "models": len(models()),
         "built": sorted(m.__name__ for m in models() if m.__pydantic_complete__)}
# A request refused by validation (an id longer than the route allows): no
# table is read, yet Powertools resolves the route's annotations to validate it.
event = http_event(sys.argv[2], sys.argv[3], headers={"idempotency-key": "k"}, body={})
found["status"] = app.lambda_handler(event, FakeContext())["statusCode"]
found["after"] = loaded()
print(json.dumps(found))
"""

TOO_LONG = "cmp_" + "x" * 70


def test_the_api_builds_no_request_or_response_model_at_init():
    """pydantic builds each model of cashmob.schemas with its first use (the
    first request of a route that uses it), not at import (defer_build); and
    at init only the models every route names (the error body) are defined."""
    folder, _ = FUNCTIONS["ApiFunction"]
    found = probe(MODELS, str(folder), "GET", f"/campaigns/{TOO_LONG}")

    assert found["init"] == ["common"]
    assert found["models"] >= 5
    assert found["built"] == []


@pytest.mark.parametrize(
    ("method", "path", "brings"),
    [
        ("GET", f"/campaigns/{TOO_LONG}", ["campaigns", "common"]),
        ("POST", f"/campaigns/{TOO_LONG}/pledges", ["common", "pledges"]),
    ],
)
def test_a_first_request_defines_the_models_of_its_route_alone(method, path, brings):
    """The first request of a fresh instance loads its route's schema module,
    not the other resources' (cashmob.schemas)."""
    folder, _ = FUNCTIONS["ApiFunction"]
    found = probe(MODELS, str(folder), method, path)

    assert found["status"] == 422
    assert found["after"] == brings


def test_tracing_on_still_wraps_the_handler_in_the_tracer():
    """In Lambda with tracing on, the Tracer (and the X-Ray SDK) is there
    from init, as before."""
    function = "SettlementFunction"
    folder, _ = FUNCTIONS[function]
    loaded = _loaded(function, POWERTOOLS_TRACE_DISABLED="0", LAMBDA_TASK_ROOT=str(folder))

    assert "aws_xray_sdk.core" in loaded


def test_the_tracer_follows_powertools_rule(monkeypatch):
    from cashmob import observability

    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    observability.tracer.cache_clear()
    try:
        assert observability.tracer() is None
        monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED")
        monkeypatch.delenv("LAMBDA_TASK_ROOT")
        observability.tracer.cache_clear()
        assert observability.tracer() is None  # outside Lambda: Powertools turns it off
    finally:
        observability.tracer.cache_clear()


SCANS = """
import importlib.metadata, json, sys
scans = []
real = importlib.metadata.distributions
importlib.metadata.distributions = lambda *a, **k: scans.append(1) or real(*a, **k)
sys.path.insert(0, sys.argv[1])
import app
print(json.dumps({"scans": len(scans)}))
"""


@pytest.mark.parametrize("deployed", [True, False])
def test_the_api_reads_no_distributions_entry_points_at_init(deployed):
    """pydantic looks for plugins in every installed distribution's entry
    points when it builds its first model (Powertools' validation builds one at
    init). The template turns that off for the API (PYDANTIC_DISABLE_PLUGINS):
    with it nothing is scanned; without it, the scan is there (the probe sees it)."""
    from cashmob_local import template

    folder, _ = FUNCTIONS["ApiFunction"]
    deployed_env = template.function_environment("ApiFunction", refs={})
    environ = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    if deployed:
        assert deployed_env.get("PYDANTIC_DISABLE_PLUGINS") == "1"
        environ["PYDANTIC_DISABLE_PLUGINS"] = deployed_env["PYDANTIC_DISABLE_PLUGINS"]
    scans = probe(SCANS, str(folder), env={**environ, "POWERTOOLS_TRACE_DISABLED": "1"})["scans"]

    assert (scans == 0) if deployed else (scans >= 1)
