"""`python -m cashmob_local.bench` (`make bench`): every benchmark, then the report.

`--only intake` (or any comma-separated subset of intake, settlement,
cold_start, demo, hot, cost) runs part of it; the report names what did not run."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import bench as package
from .cold_start import cold_start
from .cost import cost_per_pledge
from .counting import CallCounter
from .hot import hot_campaign
from .intake import intake
from .local_stack import in_process_stack
from .plumbing import ROOT
from .report import SECTIONS, report
from .settlement import settlement


def demo(backers: int) -> dict[str, Any]:
    """`cashmob demo` as a whole process (it starts its own stack), timed."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "cashmob_local.cli", "demo", "--backers", str(backers)],
        capture_output=True,
        text=True,
        check=False,
    )
    return {
        "backers": backers,
        "variant": "both",
        "seconds": time.monotonic() - started,
        "ok": done.returncode == 0,
        "output_tail": done.stdout[-600:] if done.returncode == 0 else done.stderr[-2000:],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cashmob-bench", description=package.__doc__)
    parser.add_argument("--sizes", default="300,1000,10000", help="settlement campaign sizes")
    parser.add_argument("--flows", default="setup,hold", help="intake and settlement flows")
    parser.add_argument("--rate-limit", type=int, default=25)
    parser.add_argument("--intake-pledges", type=int, default=2000)
    parser.add_argument("--intake-clients", type=int, default=16)
    parser.add_argument("--demo-backers", type=int, default=2000)
    parser.add_argument("--hot", type=int, default=2000)
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    parser.add_argument(
        "--render", action="store_true", help="re-render --out from the figures it already holds"
    )
    args = parser.parse_args(argv)
    if args.render:
        old = Path(args.out).read_text()
        results = json.loads(old.split("```json", 1)[1].split("```", 1)[0])
        header = old.split("\n")[2]
        Path(args.out).write_text(report(results, "", 0, header=header))
        return 0
    only = set(args.only.split(","))
    unknown = only - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    flows = tuple(args.flows.split(","))
    for name, value in {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
    }.items():
        os.environ.setdefault(name, value)
    started = time.monotonic()
    results: dict[str, Any] = {"rate_limit": args.rate_limit}
    # The quiet ones first (cold start is the most sensitive to a busy machine).
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("cold_start", cold_start),
        (
            "intake",
            lambda: intake(args.intake_pledges, args.intake_clients, args.rate_limit, flows),
        ),
        (
            "settlement",
            lambda: settlement(
                [int(s) for s in args.sizes.split(",")], args.rate_limit, flows=flows
            ),
        ),
        ("demo", lambda: demo(args.demo_backers)),
    ]
    for name, step in steps:
        if name in only:
            print(f"bench: {name} ...", flush=True)
            results[name] = step()
    if only & {"cost", "hot"}:
        counter = CallCounter()
        counter.install()
        stack = in_process_stack()
        try:
            if "cost" in only:
                print("bench: cost ...", flush=True)
                results["cost"] = cost_per_pledge(stack, counter)
            if "hot" in only:
                print("bench: hot ...", flush=True)
                results["hot"] = hot_campaign(stack, counter, n=args.hot)
        finally:
            stack.stop()
    command = (
        "make bench"
        if argv is None and len(sys.argv) == 1
        else "python -m cashmob_local.bench " + " ".join(sys.argv[1:] if argv is None else argv)
    )
    text = report(results, command, time.monotonic() - started)
    Path(args.out).write_text(text)
    print(text.split("## How to read it")[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
