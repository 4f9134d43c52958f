"""No backer's email, name or pledge token in any log line of a demo run."""

from __future__ import annotations

import re

import pytest

from cashmob_local import demo
from cashmob_local.driver import local_stack, stripe_client

pytestmark = pytest.mark.e2e


def test_a_demo_run_logs_no_personal_data_or_secrets():
    with local_stack(env={"POWERTOOLS_LOG_LEVEL": "INFO"}) as running:
        api = running.api
        client = stripe_client(running.stripe_url)
        result = demo.run_campaign(
            api, client, title="Log check", backers=40, goal=10_000, seed=5, workers=4
        )
        assert result["campaign"]["status"] == "succeeded"
        log = running.log()
    lines = log.splitlines()
    assert any('"stripe event"' in line for line in lines)  # the handlers' log is there
    assert not re.search(r"backer\d+@example\.org", log), "a backer's email was logged"
    assert not re.search(r"Backer \d+", log), "a backer's name was logged"
    assert len(result["tokens"]) >= 35
    assert not [t for t in result["tokens"] if t in log], "a pledge token was logged"
    assert "v1=" not in log, "a webhook signature was logged"
    banner = [line for line in lines if line.startswith("  Stripe emulator")]
    for secret in ("sk_test_local", "whsec_local"):
        leaks = [line for line in lines if secret in line and line not in banner]
        assert not leaks, leaks[:3]
