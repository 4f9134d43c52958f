"""HTTP, subprocesses and memory readings the benchmarks share."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]


def fetch_json(url: str, data: Any = None) -> Any:
    request = urllib.request.Request(
        url,
        data=None if data is None else json.dumps(data).encode(),
        method="POST" if data is not None else "GET",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(url)


@contextmanager
def quiet_process(args: list[str], env: dict[str, str] | None = None):
    """A quiet subprocess, stopped on exit. It never inherits this process's
    AWS_ENDPOINT_URL (set while seeding): each one is told its endpoint."""
    inherited = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    log = open(os.devnull, "wb")  # noqa: SIM115
    process = subprocess.Popen(args, env={**inherited, **(env or {})}, stdout=log, stderr=log)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")
