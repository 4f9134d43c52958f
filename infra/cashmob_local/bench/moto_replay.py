"""`python -m cashmob_local.bench.moto_replay FILE [--stock] [--profile OUT]`:
moto's own CPU for a recorded run, without the rest of the stack.

FILE is what `CASHMOB_LOCAL_MOTO_RECORD` wrote during a run (for example
`CASHMOB_LOCAL_MOTO_RECORD=/tmp/hot.jsonl python -m cashmob_local.bench
--only hot --hot 500`): every request moto served, in the order it reached
moto's dispatcher, with the benchmark's window marked. The replay sends the
same requests to a fresh moto in this process, one at a time, and reports
the CPU seconds of the marked window, by operation. With `--stock` moto runs
without the local stack's patches (`--without conditions,...`: without
those), so two runs price patches on the same requests.

A replay is not the run: SQS long polls are made short (WaitTimeSeconds 0),
and receipt handles differ (moto draws them at random), so a recorded delete
or visibility change may miss. DynamoDB requests are serialized in the stack
(`stack.SerializedMoto`), so their recorded order is the order they ran in;
their answers match the run's as far as their inputs do.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

for _name, _value in {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ.setdefault(_name, _value)


def environ_for(record: dict[str, Any]) -> dict[str, Any]:
    body = record["body"].encode("latin-1")
    target = record["headers"].get("HTTP_X_AMZ_TARGET", "")
    if target.startswith("AmazonSQS.ReceiveMessage") and body:
        request = json.loads(body)
        if request.get("WaitTimeSeconds"):
            request["WaitTimeSeconds"] = 0
            body = json.dumps(request).encode()
    environ = {
        "REQUEST_METHOD": record["method"],
        "PATH_INFO": record["path"],
        "QUERY_STRING": record["query"],
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "5000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        "CONTENT_LENGTH": str(len(body)),
    }
    environ.update(record["headers"])
    return environ


def operation(record: dict[str, Any]) -> str:
    target = record["headers"].get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1] if "." in target else target
    return f"{record['method']} {record['path'][:40]}"


def replay(path: str, without: set[str], profile: str | None) -> dict[str, Any]:
    with open(path) as lines:
        records = [json.loads(line) for line in lines]
    chosen = patches()
    with as_found(MOTO_PACKAGES):
        for name, (install, uninstall) in chosen.items():
            (uninstall if name in without else install)()
        return _replay(records, profile)


MOTO_PACKAGES = ("moto", "jsonpath_ng")
"""The packages the patches change (`jsonpath_ng.ext.parse` is moto's)."""


@contextmanager
def as_found(packages: tuple[str, ...]) -> Iterator[None]:
    """Puts back every module attribute and class attribute of `packages`
    that changed inside: a replay leaves moto as it found it, patched or
    stock, whichever the process had."""
    owners = [owner for module in _modules(packages) for owner in (module, *_classes(module))]
    saved = [(owner, dict(vars(owner))) for owner in owners]
    try:
        yield
    finally:
        for owner, before in saved:
            now = vars(owner)
            for name in [name for name in now if name not in before]:
                delattr(owner, name)
            for name, value in before.items():
                if now.get(name, _MISSING) is not value:
                    setattr(owner, name, value)


_MISSING = object()


def _modules(packages: tuple[str, ...]) -> list[ModuleType]:
    return [
        module
        for name, module in list(sys.modules.items())
        if isinstance(module, ModuleType) and name.split(".", 1)[0] in packages
    ]


def _classes(module: ModuleType) -> list[type]:
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type) and value.__module__ == module.__name__
    ]


def _replay(records: list[dict[str, Any]], profile: str | None) -> dict[str, Any]:
    from moto import mock_aws

    from ..moto_speedups import Dispatcher

    app = Dispatcher()
    statuses: Counter[str] = Counter()
    seconds: defaultdict[str, float] = defaultdict(float)
    counts: Counter[str] = Counter()
    profiler = cProfile.Profile() if profile else None
    inside = False
    with mock_aws():  # keeps moto's backends apart from anything else in this process
        for record in records:
            if "mark" in record:
                inside = record["mark"] == "start"
                if profiler is not None:
                    (profiler.enable if inside else profiler.disable)()
                continue
            environ = environ_for(record)
            started = time.process_time()
            captured: list[str] = []
            b"".join(app(environ, lambda status, *_, into=captured: into.append(status)))
            if inside:
                op = operation(record)
                seconds[op] += time.process_time() - started
                counts[op] += 1
                statuses[f"{op} {captured[0].split()[0] if captured else '?'}"] += 1
    if profiler is not None:
        profiler.dump_stats(profile)
    return {
        "requests": sum(counts.values()),
        "cpu_seconds": sum(seconds.values()),
        "by_operation": {
            op: {"n": counts[op], "ms_each": 1000 * seconds[op] / counts[op]}
            for op, _ in sorted(seconds.items(), key=lambda kv: -kv[1])
        },
        "statuses": dict(statuses),
    }


def patches() -> dict[str, Any]:
    """The local stack's moto patches by name, as `stack.serve_moto` installs
    them: (install, uninstall)."""
    from .. import (
        moto_core_speedups,
        moto_item_size,
        moto_items_json,
        moto_parse_cache,
        moto_speedups,
        moto_undo,
    )

    return {
        "undo": (moto_undo.install, moto_undo.uninstall),
        "query": (moto_speedups.install, moto_speedups.uninstall),
        "sqs": (moto_speedups.install_sqs, moto_speedups.uninstall_sqs),
        "items_json": (moto_items_json.install, moto_items_json.uninstall),
        "events_paths": (moto_parse_cache.install_events, moto_parse_cache.uninstall_events),
        "conditions": (moto_parse_cache.install_dynamodb, moto_parse_cache.uninstall_dynamodb),
        "core": (moto_core_speedups.install, moto_core_speedups.uninstall),
        "item_size": (moto_item_size.install, moto_item_size.uninstall),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="moto_replay", description=__doc__)
    parser.add_argument("file")
    parser.add_argument("--stock", action="store_true", help="moto without the stack's patches")
    parser.add_argument("--without", default="", help=f"patches left out: {', '.join(patches())}")
    parser.add_argument("--profile", help="write the window's cProfile stats here")
    args = parser.parse_args(argv)
    without = set(patches()) if args.stock else set(filter(None, args.without.split(",")))
    result = replay(args.file, without, args.profile)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
