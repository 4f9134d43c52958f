"""Cold start: importing each handler module of template.yaml in a fresh
interpreter, against `import boto3` alone, two ways:

- in-process, as Lambda's init does it: the function's folder on sys.path,
  `import <module>` timed inside the interpreter (`median_ms`, `ratio`; and
  its CPU time, `cpu_ms`, `cpu_ratio`, which other work on the machine
  disturbs less);
- whole-process: `python -c "import app"` against `python -c "import boto3"`,
  timed from outside, interpreter start and exit included
  (`whole_process_ms`, `whole_process_ratio`).

Each function gets the environment template.yaml gives it (what cannot be
resolved without a stack left out).

Tracing is off for both (POWERTOOLS_TRACE_DISABLED=1; Lambda still records
the invocation with `Tracing: Active`); `with_tracing` is the in-process
import with Powertools' Tracer on, as in Lambda (LAMBDA_TASK_ROOT set), which
imports the X-Ray SDK. Samples are interleaved (the machine's noise hits all
alike) and summarised by their medians. `floors` times the libraries alone
the same way (PynamoDB and Powertools, with the batch utility the SQS
workers use, or the event handler with validation the API uses): the part
of each ratio that no code of ours can remove (timed in the API's
environment: pydantic's plugins off, as template.yaml has it). Each
interpreter reads compiled bytecode for every module, ours included (a
warm-up run writes it to a private cache), as a deployment that ships `.pyc`
files does; boto3's own come with its wheel.

Every function imports with the garbage collector paused and freezes what
its init made (cashmob.startup). The floors are timed the same way, and
`import boto3` once more among them, paused too: the like-for-like yardstick
next to the issue's (a bare `import boto3`). A frozen heap also shortens the
interpreter's exit, whose last collections skip it: the whole-process
figure includes that, Lambda's init does not.

`--baseline DIR` times another copy of the code too (DIR/functions and
DIR/shared, e.g. an older commit's tree), in the same interleaved rounds:
a before/after under the same load, each row `<Function> (baseline)`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .. import template
from .plumbing import ROOT

BASE = "boto3"
# What the functions cannot do without, timed in-process like them: how much
# of each ratio is the libraries' own import, before any of our code.
LIBRARIES = (
    "import pynamodb.models, pynamodb.transactions,"
    " aws_lambda_powertools.logging, aws_lambda_powertools.metrics"
)
_FLOORS = {
    "PynamoDB + Powertools logging, metrics": LIBRARIES,
    "+ Powertools batch (the SQS workers)": LIBRARIES
    + "; import aws_lambda_powertools.utilities.batch",
    "+ Powertools event handler with validation (the API)": LIBRARIES
    + "; from aws_lambda_powertools.event_handler import APIGatewayHttpResolver"
    + "; import aws_lambda_powertools.event_handler.openapi.params"
    + "; APIGatewayHttpResolver(enable_validation=True)",
    # The same, with the packages' `__init__` spared as the functions do
    # (cashmob.lazy_powertools): what remains of the libraries.
    "+ Powertools batch, by its modules": "import cashmob.lazy_powertools; "
    + LIBRARIES
    + "; import aws_lambda_powertools.utilities.batch",
    "+ event handler with validation, by its modules": "import cashmob.lazy_powertools; "
    + LIBRARIES
    + "; from aws_lambda_powertools.event_handler.api_gateway import APIGatewayHttpResolver"
    + "; import aws_lambda_powertools.event_handler.openapi.params"
    + "; APIGatewayHttpResolver(enable_validation=True)",
    # What validation brings on its own: pydantic and pydantic-core.
    "pydantic alone (what the API's validation needs)": "import pydantic.main, pydantic.fields",
}
# The functions import with the garbage collector paused (cashmob.startup);
# the floors are timed the same way, and so is `import boto3` once more: the
# yardstick as the functions would import it, for a like-for-like ratio.
PAUSED = "import cashmob.startup; {}; cashmob.startup.done()"
FLOORS = {label: PAUSED.format(snippet) for label, snippet in _FLOORS.items()} | {
    "`import boto3` itself, the collector paused as the functions pause it": PAUSED.format(
        "import boto3"
    )
}
# Wall time, and the interpreter's CPU time (steadier on a shared machine).
TIMED = (
    "import time, sys; t, c = time.perf_counter(), time.process_time(); exec(sys.argv[1]);"
    " print(time.perf_counter() - t, time.process_time() - c)"
)


def handlers(spec: dict[str, Any] | None = None) -> dict[str, tuple[Path, str]]:
    """Every function of the template: (its code folder, its handler's module)."""
    functions = spec if spec is not None else template.resources("AWS::Serverless::Function")
    return {
        name: (ROOT / props["CodeUri"], props["Handler"].rsplit(".", 1)[0])
        for name, props in sorted(functions.items())
    }


def _env(extra: dict[str, str], cache: str) -> dict[str, str]:
    env = {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
        **extra,
        "PYTHONPYCACHEPREFIX": cache,
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _in_process(snippet: str, env: dict[str, str]) -> tuple[float, float]:
    done = subprocess.run(
        [sys.executable, "-c", TIMED, snippet], env=env, capture_output=True, text=True, check=True
    )
    wall, cpu = done.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def _whole_process(snippet: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", snippet], env=env, capture_output=True, check=True)
    return time.perf_counter() - started


def cold_start(
    runs: int = 11, only: set[str] | None = None, baseline: Path | None = None
) -> dict[str, Any]:
    """`only`: these functions alone (names of the template, `Function` may be
    left off), with `import boto3` and the floors, for a quicker look.
    `baseline`: another tree's functions too, its `shared` first on the path."""
    with tempfile.TemporaryDirectory(prefix="cashmob-pyc-") as cache:
        plain = _env({}, cache)
        snippets: dict[str, tuple[str, dict[str, str], dict[str, str] | None]] = {
            BASE: ("import boto3", plain, None)
        }
        trees: dict[str, tuple[Path, dict[str, str]]] = {"": (ROOT, {})}
        if baseline is not None:  # each tree's `shared` first on the path, alike
            rest = [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []
            trees = {
                suffix: (root, {"PYTHONPATH": os.pathsep.join([str(root / "shared"), *rest])})
                for suffix, root in (("", ROOT), (" (baseline)", baseline))
            }
        for name, (folder, module) in handlers().items():
            if only and not {name, name.removesuffix("Function")} & only:
                continue
            deployed = template.function_environment(name, refs={})
            for suffix, (root, extra) in trees.items():
                code = root / folder.relative_to(ROOT)
                snippet = f"import sys; sys.path.insert(0, {str(code)!r}); import {module}"
                off = {**deployed, **extra, "POWERTOOLS_TRACE_DISABLED": "1"}
                on = {**off, "POWERTOOLS_TRACE_DISABLED": "0", "LAMBDA_TASK_ROOT": str(code)}
                snippets[name + suffix] = (snippet, _env(off, cache), _env(on, cache))
        libraries = _env(template.function_environment("ApiFunction", refs={}), cache)
        for label, snippet in FLOORS.items():
            snippets[label] = (snippet, libraries, None)
        for snippet, env, tracing in snippets.values():  # warm-up: writes the bytecode
            _whole_process(snippet, env)
            if tracing is not None:
                _whole_process(snippet, tracing)

        samples: dict[str, dict[str, list[float]]] = {
            name: {"in": [], "cpu": [], "whole": [], "traced": []} for name in snippets
        }
        for _ in range(runs):
            for name, (snippet, env, tracing) in snippets.items():
                wall, cpu = _in_process(snippet, env)
                samples[name]["in"].append(wall)
                samples[name]["cpu"].append(cpu)
                samples[name]["whole"].append(_whole_process(snippet, env))
                if tracing is not None:
                    samples[name]["traced"].append(_in_process(snippet, tracing)[0])

    median = {
        name: {mode: statistics.median(v) for mode, v in s.items() if v}
        for name, s in samples.items()
    }
    base_in, base_whole, base_cpu = (median[BASE][mode] for mode in ("in", "whole", "cpu"))
    results: dict[str, Any] = {
        "floors": {
            label: {
                "median_ms": median[label]["in"] * 1000,
                "ratio": median[label]["in"] / base_in,
                "cpu_ratio": median[label]["cpu"] / base_cpu,
            }
            for label in FLOORS
        }
    }
    for name, m in median.items():
        if name in FLOORS:
            continue
        results[name] = {
            "median_ms": m["in"] * 1000,
            "ratio": m["in"] / base_in,
            "cpu_ms": m["cpu"] * 1000,
            "cpu_ratio": m["cpu"] / base_cpu,
            "whole_process_ms": m["whole"] * 1000,
            "whole_process_ratio": m["whole"] / base_whole,
        }
        if "traced" in m:
            results[name]["with_tracing"] = {
                "median_ms": m["traced"] * 1000,
                "ratio_to_boto3": m["traced"] / base_in,
            }
    results["method"] = {
        "runs": runs,
        "python": sys.version.split()[0],
        "bytecode": "compiled (warm-up run)",
        "tracing": "off (POWERTOOLS_TRACE_DISABLED=1); with_tracing: on, in Lambda",
        "cpu": "cpu_ratio: the importing interpreter's CPU time (time.process_time)",
    }
    return results


def main() -> None:
    """`python -m cashmob_local.bench.cold_start [runs] [--only Api,Notifier]`:
    the table alone."""
    parser = argparse.ArgumentParser(prog="python -m cashmob_local.bench.cold_start")
    parser.add_argument("runs", nargs="?", type=int, default=11)
    parser.add_argument("--only", help="comma-separated functions, e.g. Api,Notifier")
    parser.add_argument(
        "--baseline", type=Path, help="another tree (functions/, shared/) timed alongside"
    )
    args = parser.parse_args()
    only = {name.strip() for name in args.only.split(",")} if args.only else None
    figures = cold_start(args.runs, only, args.baseline)
    print(
        f"{'':35} {'in-process':>20} {'in-process CPU':>20} {'whole process':>20}"
        f" {'with tracing':>20}"
    )
    for name, c in figures.items():
        if name in ("method", "floors"):
            continue
        traced = c.get("with_tracing")
        print(
            f"{name:35} {c['median_ms']:8.0f} ms {c['ratio']:5.2f}x "
            f"{c['cpu_ms']:8.0f} ms {c['cpu_ratio']:5.2f}x "
            f"{c['whole_process_ms']:8.0f} ms {c['whole_process_ratio']:5.2f}x "
            + (f"{traced['median_ms']:8.0f} ms {traced['ratio_to_boto3']:5.2f}x" if traced else "")
        )
    print("floors (in-process, no code of ours):")
    for label, c in figures["floors"].items():
        print(
            f"  {label:54} {c['median_ms']:8.0f} ms {c['ratio']:5.2f}x, CPU {c['cpu_ratio']:5.2f}x"
        )


if __name__ == "__main__":
    main()
