"""No backer's email, name or pledge token in any log line of a demo run."""

from __future__ import annotations

import json
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
        api.wait(
            lambda: api.status()["queues"]["NotificationQueue"]["ApproximateNumberOfMessages"] == 0
        )
        emails = api.ok("GET", "/_local/mail")["messages"]
        log = running.log()
    # The notifier logs the pledge and the kind of email, never an email's
    # address, subject or body (each carries a name, an amount and a token).
    assert len(emails) >= 35, "the backers were not emailed"
    bodies = {
        line.strip()
        for email in emails
        for line in (email["text"] + "\n" + email["html"]).splitlines()
        if len(line.strip()) > 20
    }
    # as typed, or as a JSON log line would escape it (quotes, "£" as \u00a3)
    bodies |= {json.dumps(line)[1:-1] for line in bodies}
    assert not [line for line in bodies if line in log][:3], "an email's body was logged"
    assert not [e["subject"] for e in emails if e["subject"] in log][:3], "a subject was logged"
    assert '"notification"' in log  # the notifier's own lines are there
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
