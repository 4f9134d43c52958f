"""Cold start: importing and initialising each handler module in a fresh
interpreter vs `import boto3` alone, median of `runs`."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

from .plumbing import ROOT

HANDLERS = ["ApiFunction", "StripeWebhookFunction", "SettlementFunction", "SettleWorkerFunction"]


def cold_start(runs: int = 11) -> dict[str, dict[str, float]]:
    env = {
        **os.environ,
        "POWERTOOLS_TRACE_DISABLED": "1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }
    functions = __import__("cashmob_local.template", fromlist=["resources"]).resources(
        "AWS::Serverless::Function"
    )
    # As Lambda's init does it: the function's folder on sys.path, import the module.
    code = {
        "boto3": "import boto3",
        **{
            name: f"import sys; sys.path.insert(0, {str(ROOT / functions[name]['CodeUri'])!r}); import app"
            for name in HANDLERS
        },
    }
    timed = (
        "import time, sys; t = time.perf_counter(); exec(sys.argv[1]); "
        "print(time.perf_counter() - t)"
    )
    samples: dict[str, list[float]] = {name: [] for name in code}
    for _ in range(runs):
        for name, snippet in code.items():  # interleaved: the machine's noise hits all alike
            out = subprocess.run(
                [sys.executable, "-c", timed, snippet],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            samples[name].append(float(out.stdout.strip().splitlines()[-1]))
    base = statistics.median(samples["boto3"])
    return {
        name: {"median_ms": statistics.median(v) * 1000, "ratio": statistics.median(v) / base}
        for name, v in samples.items()
    }
