"""Fake credentials and region before any client exists; shared fixtures."""

from __future__ import annotations

import os

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_METRICS_NAMESPACE": "cashmob-tests",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
)
for leaked in [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL")]:
    del os.environ[leaked]
