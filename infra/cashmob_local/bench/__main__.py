"""`python -m cashmob_local.bench` (`make bench`): every benchmark, then the report."""

from __future__ import annotations

import argparse
import json
import os
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
from .local_stack import in_process_stack
from .plumbing import ROOT
from .report import report
from .settlement import settlement


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cashmob-bench", description=package.__doc__)
    parser.add_argument("--sizes", default="1000,10000", help="settlement campaign sizes")
    parser.add_argument("--rate-limit", type=int, default=25)
    parser.add_argument("--hot", type=int, default=2000)
    parser.add_argument("--only", default="settlement,cost,hot,cold_start")
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
    steps: list[tuple[str, Callable[[], Any]]] = []
    if "cold_start" in only:
        steps.append(("cold_start", cold_start))
    if "settlement" in only:
        steps.append(
            (
                "settlement",
                lambda: settlement([int(s) for s in args.sizes.split(",")], args.rate_limit),
            )
        )
    for name, step in steps:
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
    print(text.split("## Details")[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
