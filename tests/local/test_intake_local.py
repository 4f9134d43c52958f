"""The local stack runs flash intake as the template declares it: the intake
worker fed from the FIFO queue by as many pollers as message groups, and a
pledge-time budget that follows `--stripe-rate-limit` (none without it)."""

from __future__ import annotations

import pytest

from cashmob_local import runtime, template
from cashmob_local.stack import _resolve, intake_budget, settings_for


@pytest.mark.parametrize(
    ("limit", "budget"), [(None, 0.0), (0, 0.0), (25, 24.0), (6, 5.0), (1, 0.5)]
)
def test_the_budget_follows_the_emulators_limit_less_one(limit, budget):
    assert intake_budget(limit) == budget


def test_the_intake_worker_is_an_event_source_with_one_poller_per_group():
    sources = {
        s["function"]: s
        for s in runtime.event_sources(template.resources("AWS::Serverless::Function"))
    }
    source = sources["IntakeWorkerFunction"]
    assert source["queue"] == "IntakeQueue" and source["batch_size"] == 1 and source["partial"]
    refs = template.parameter_defaults()
    assert _resolve(source["concurrency"], refs, default=2) == int(refs["IntakeMessageGroups"])
    assert _resolve(None, refs, default=2) == 2


def test_the_api_and_the_worker_get_the_same_budget_and_queue():
    refs = {**template.parameter_defaults(), "StripeIntakeRequestsPerSecond": "5.0"}
    refs["IntakeQueue"] = "http://sqs.local/IntakeQueue.fifo"
    for function in ("ApiFunction", "IntakeWorkerFunction"):
        settings = settings_for(function, refs)
        assert settings.stripe_intake_requests_per_second == 5.0, function
        assert settings.intake_queue_url == refs["IntakeQueue"], function
