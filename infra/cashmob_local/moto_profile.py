"""cProfile inside moto's own process, for finding moto's server-side cost.

`CASHMOB_LOCAL_MOTO_PROFILE=/tmp/moto.prof` makes `moto_process` profile the
whole child (from Python 3.12 one cProfile profiler sees every thread, so
every request thread is in it; on 3.11 it sees only the child's main thread,
so use 3.12 or newer, or py-spy below) and write the stats to that path when
the child ends. Two signals bound a measured window without restarting the stack:

- SIGUSR1: forget what was profiled so far and start again;
- SIGUSR2: stop, and write the stats now (the end of the child then writes
  nothing more, so the file holds exactly the window).

`bench.hot` sends SIGUSR1 as its deliveries start and SIGUSR2 when they end,
so the file holds the deliveries only. Read it with
`python -m pstats /tmp/moto.prof` (sort tottime). cProfile's own cost makes
small Python calls look dearer than they are: compare profiles with each
other, and time runs without it.

`CASHMOB_LOCAL_MOTO_RECORD=/tmp/moto.jsonl` writes every request moto's
process serves (method, path, the headers moto dispatches on, body) as a JSON
line, and the two signals as `{"mark": "start"}` / `{"mark": "end"}` lines:
`python -m cashmob_local.bench.moto_replay` plays such a file against moto in
one thread and times the marked window, stock against patched.

`CASHMOB_LOCAL_MOTO_PYSPY=/tmp/moto.txt` instead samples the same window with
py-spy (if installed; its collapsed stacks, `--format raw`), which costs the
profiled process nothing.
"""

from __future__ import annotations

import cProfile
import io
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

ENV = "CASHMOB_LOCAL_MOTO_PROFILE"
RECORD_ENV = "CASHMOB_LOCAL_MOTO_RECORD"
PYSPY_ENV = "CASHMOB_LOCAL_MOTO_PYSPY"
_pyspy: list[subprocess.Popen[bytes]] = []


def start_from_env() -> Callable[[], None]:
    """Starts profiling when ENV names a file, recording when RECORD_ENV
    does; returns what writes the profile (a no-op without ENV)."""
    record = os.environ.get(RECORD_ENV)
    if record:
        _record_to(record)
    path = os.environ.get(ENV)
    if not path:
        return lambda: None
    state: dict[str, cProfile.Profile | None] = {"profiler": None}

    def restart(*_: Any) -> None:
        stop()
        state["profiler"] = cProfile.Profile()
        state["profiler"].enable()

    def stop(*_: Any) -> cProfile.Profile | None:
        profiler, state["profiler"] = state["profiler"], None
        if profiler is not None:
            profiler.disable()
        return profiler

    def finish(*_: Any) -> None:
        profiler = stop()
        if profiler is not None:
            profiler.dump_stats(path)

    restart()
    signal.signal(signal.SIGUSR1, restart)
    signal.signal(signal.SIGUSR2, finish)
    return finish


RECORDED_HEADERS = ("CONTENT_TYPE", "HTTP_X_AMZ_TARGET", "HTTP_HOST", "HTTP_AUTHORIZATION")


def _record_to(path: str) -> None:
    """Every request the moto process's dispatcher serves, as a JSON line."""
    import json
    import threading

    from .moto_speedups import Dispatcher

    out = open(path, "w")  # noqa: SIM115 - open for the process's life
    lock = threading.Lock()
    stock_call = Dispatcher.__call__

    def write(line: dict[str, Any]) -> None:
        with lock:
            out.write(json.dumps(line) + "\n")
            out.flush()

    def recorded(self: Dispatcher, environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        write(
            {
                "method": environ["REQUEST_METHOD"],
                "path": environ.get("PATH_INFO", "/"),
                "query": environ.get("QUERY_STRING", ""),
                "headers": {k: environ[k] for k in RECORDED_HEADERS if k in environ},
                "body": body.decode("latin-1"),
            }
        )
        return stock_call(self, environ, start_response)

    Dispatcher.__call__ = recorded  # type: ignore[method-assign]
    signal.signal(signal.SIGUSR1, lambda *_: write({"mark": "start"}))
    signal.signal(signal.SIGUSR2, lambda *_: write({"mark": "end"}))


def mark(pid: int | None, start: bool) -> None:
    """Starts (`start`) or ends the profiled window of moto's process `pid`:
    SIGUSR1 or SIGUSR2 to it under ENV, py-spy on it under PYSPY_ENV; nothing
    when neither is set or there is no such process."""
    if pid is None:
        return
    if os.environ.get(ENV) or os.environ.get(RECORD_ENV):
        os.kill(pid, signal.SIGUSR1 if start else signal.SIGUSR2)
    out = os.environ.get(PYSPY_ENV)
    pyspy = shutil.which("py-spy") or shutil.which("py-spy", path=os.path.dirname(sys.executable))
    if out and pyspy and start:
        command = [pyspy, "record", "--pid", str(pid), "--format", "raw", "-o", out, "-r", "250"]
        command += ["--gil", "--nonblocking"]  # CPU only (the GIL holder), never paused
        _pyspy.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))  # noqa: S603
    while _pyspy and not start:
        recorder = _pyspy.pop()
        recorder.send_signal(signal.SIGINT)  # py-spy writes its file on ^C
        recorder.wait(timeout=60)
