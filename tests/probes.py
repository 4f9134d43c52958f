"""A probe: Python code run in a fresh interpreter, what it reports the last
line of its output, as JSON. For what one process's imports decide and a
test's own process, which has imported everything already, cannot show."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from typing import Any


def probe(code: str, *args: str, env: Mapping[str, str] | None = None) -> Any:
    """Runs `code` with `args` (sys.argv[1:]) under `env` (default: this
    environment, tracing off); returns the JSON its last line prints."""
    environ = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "1"} if env is None else dict(env)
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=environ,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])
