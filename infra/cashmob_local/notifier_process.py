"""The notifier's queue pollers in a process of their own: `cashmob local`'s
default (CASHMOB_LOCAL_NOTIFIER_PROCESS=0 keeps them in the stack's process).

Deployed, the notifier is a Lambda of its own. Locally it ran under the same
interpreter lock as the webhook, the API and the settle worker, and every
capture or confirmation then paid for an email there (a claim write, an SES
send, a mark that it was sent). In a child process that work runs on another
core, as moto's does (`moto_process`).

The child reaches moto at AWS_ENDPOINT_URL and takes its secrets from the
environment the stack set before starting it; the stack sends it the
template's references (its Settings are `settings_for("NotifierFunction")`),
the queues to poll, and the clock.

**One clock.** The stack's clock is real time plus an offset that only grows
(`POST /_local/clock`). The child keeps the same offset over the same system
clock: each move is sent to the child, and the move returns only once the
child has acknowledged it. So an email the child sends after a move returns
carries the moved time, as it would in the stack's process; an email in
flight during the move may carry either, as it would there too.

**Lifetime.** The child ends when its stdin closes: on `stop()` (its pollers
finish the batch in hand), and when the stack dies however it dies. If the
child ends on its own, the stack says so on stderr and in `/_local/status`.

Control protocol: the stack writes JSON lines on the child's stdin (first the
setup, then `{"seq": n, "offset_us": microseconds}` per clock move); the child
answers on a pipe of its own (`ready`, `ack <n>`), so that its stdout and
stderr stay the functions' logs, next to the stack's. For the in-process
benchmarks (`bench.local_stack`), which count every AWS call the functions
make, the child also reports each of its calls there (`call <json>`).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from cashmob.clock import OffsetClock

# The functions whose pollers run in the child: the notifier only. The settle
# workers stay in the stack's process: they share one Stripe pacer.
FUNCTIONS = ("NotifierFunction",)
ACK_TIMEOUT = 30.0  # seconds a clock move waits for the child (it may still be starting)


def in_own_process() -> bool:
    """Whether the notifier's pollers run in a child process (the default)."""
    return os.environ.get("CASHMOB_LOCAL_NOTIFIER_PROCESS", "1") != "0"


def _micros(offset: timedelta) -> int:
    return (offset.days * 86400 + offset.seconds) * 1_000_000 + offset.microseconds


class SharedClock(OffsetClock):
    """The stack's clock: an OffsetClock whose moves are also handed to
    `on_move` listeners (the child process), in order, one move at a time;
    `advance` returns once every listener has taken the move."""

    def __init__(self) -> None:
        super().__init__()
        self.offset = timedelta()
        self.on_move: list[Callable[[timedelta], None]] = []
        self._moving = threading.Lock()

    def advance(self, seconds: float) -> datetime:
        with self._moving:
            now = super().advance(seconds)
            self.offset += timedelta(seconds=seconds)  # what OffsetClock added
            for listener in list(self.on_move):
                listener(self.offset)
        return now


class PushedClock:
    """The child's clock: the system clock plus the offset the stack sent."""

    def __init__(self, offset_us: int) -> None:
        self.offset = timedelta(microseconds=offset_us)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def move_to(self, offset_us: int) -> None:
        self.offset = max(self.offset, timedelta(microseconds=offset_us))  # only forward


# ---------------------------------------------------------------- the stack's side


class NotifierProcess:
    """The running child, seen from the stack."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        control: IO[bytes],
        *,
        log: Callable[[str], None],
        on_call: Callable[[str, str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.process = process
        self.on_call = on_call
        self._control = control
        self._log = log
        self._stopping = False
        self._changed = threading.Condition()
        self._ready = False
        self._acked = 0
        self._sent = 0
        self._send_lock = threading.Lock()
        self.ended: int | None = None  # the child's exit code once it has ended
        self._reader = threading.Thread(target=self._read, name="notifier-process", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        for line in self._control:
            word, _, rest = line.decode().strip().partition(" ")
            if word == "call":
                if self.on_call is not None:
                    self.on_call(*json.loads(rest))
                continue
            with self._changed:
                if word == "ready":
                    self._ready = True
                elif word == "ack":
                    self._acked = max(self._acked, int(rest))
                self._changed.notify_all()
        code = self.process.wait()
        with self._changed:
            self.ended = code
            self._changed.notify_all()
        if not self._stopping:
            self._log(
                f"cashmob local: the notifier process (pid {self.pid}) ended with exit code "
                f"{code}: no more emails are sent; restart `cashmob local`"
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._ready or self.ended is not None, timeout)
            if not self._ready:
                raise RuntimeError(
                    "cashmob local: the notifier process did not start"
                    + (f" (exit code {self.ended})" if self.ended is not None else "")
                )

    def move_clock(self, offset: timedelta) -> None:
        """Hands a clock move to the child; returns once it has taken it (or
        has ended: then it sends nothing any more)."""
        with self._send_lock:
            if self.ended is not None or self.process.stdin is None:
                return
            self._sent += 1
            seq = self._sent
            try:
                self.process.stdin.write(
                    json.dumps({"seq": seq, "offset_us": _micros(offset)}).encode() + b"\n"
                )
                self.process.stdin.flush()
            except (BrokenPipeError, ValueError):
                return  # it ended: the reader says so
        with self._changed:
            if not self._changed.wait_for(
                lambda: self._acked >= seq or self.ended is not None, ACK_TIMEOUT
            ):
                self._log(
                    f"cashmob local: the notifier process did not take a clock move in "
                    f"{ACK_TIMEOUT:g} s; its emails may carry the earlier time"
                )

    def status(self) -> dict[str, Any]:
        if self.ended is None:
            return {"pid": self.pid, "running": True}
        return {"pid": self.pid, "running": False, "exit_code": self.ended}

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        if self.process.poll() is None:
            assert self.process.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()  # the child's cue to end
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout)


def start(
    refs: dict[str, str],
    sources: list[dict[str, Any]],
    offset: timedelta,
    *,
    log: Callable[[str], None] | None = None,
    on_call: Callable[[str, str, dict[str, Any]], None] | None = None,
) -> NotifierProcess:
    """Starts the child with the template's `refs` and the event `sources`
    (function, queue_url, queue_arn, batch_size, partial, pollers) it polls;
    it inherits this process's environment (AWS_ENDPOINT_URL, secrets).
    Returns at once: `wait_ready` waits for its pollers. `on_call(service,
    operation, params)` hears each AWS call the child makes (DynamoDB items
    cut to their keys), from the child's reader thread."""
    read_end, write_end = os.pipe()
    try:
        process = subprocess.Popen(  # noqa: S603 - this interpreter, our own module
            [sys.executable, "-m", "cashmob_local.notifier_process", str(write_end)],
            stdin=subprocess.PIPE,
            pass_fds=(write_end,),
        )
    finally:
        os.close(write_end)
    assert process.stdin is not None
    setup = {
        "refs": refs,
        "sources": sources,
        "offset_us": _micros(offset),
        "report_calls": on_call is not None,
    }
    process.stdin.write(json.dumps(setup).encode() + b"\n")
    process.stdin.flush()
    return NotifierProcess(
        process,
        os.fdopen(read_end, "rb"),
        log=log or (lambda message: print(message, file=sys.stderr, flush=True)),
        on_call=on_call,
    )


# What a benchmark's count needs of a DynamoDB item: its key (bench.counting).
_KEYS = ("campaign_id", "pledge_id", "shard", "event_id")


def _keyed(item: Any) -> Any:
    return {k: v for k, v in item.items() if k in _KEYS} if isinstance(item, dict) else item


def _call_line(service: str, operation: str, params: dict[str, Any]) -> str:
    """One AWS call as the child reports it: the table, the keys written."""
    kept: dict[str, Any] = {}
    if service == "dynamodb":
        for name in ("TableName", "Key", "Item"):
            if name in params:
                kept[name] = _keyed(params[name])
        if "TransactItems" in params:
            kept["TransactItems"] = [
                {kind: {k: _keyed(v) for k, v in body.items() if k in ("TableName", "Key", "Item")}}
                for entry in params["TransactItems"]
                for kind, body in entry.items()
            ]
    return "call " + json.dumps([service, operation, kept]) + "\n"


# ---------------------------------------------------------------- the child's side


def main(argv: list[str]) -> None:
    import logging
    import warnings

    from cashmob import container
    from cashmob.container import Services

    from . import runtime
    from .gateway import invoke_in_process
    from .stack import settings_for

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    control = os.fdopen(int(argv[0]), "w", buffering=1)
    setup = json.loads(sys.stdin.readline() or "null")
    if not isinstance(setup, dict):
        os._exit(0)  # the stack let go before saying anything
    clock = PushedClock(setup["offset_us"])
    services = {
        function: Services(settings_for(function, setup["refs"]), clock=clock)
        for function in {source["function"] for source in setup["sources"]}
    }

    def invoke(function: str, event: dict[str, Any]) -> dict[str, Any]:
        with container.scoped(services[function]):
            return invoke_in_process(function, event)

    writing = threading.Lock()  # the pollers report calls on the same pipe
    if setup.get("report_calls"):
        _report_calls(control, writing)
    stop = threading.Event()
    pollers = runtime.queue_pollers(setup["sources"], invoke, stop)
    for poller in pollers:
        poller.start()
    with writing:
        control.write("ready\n")
    for line in sys.stdin:  # clock moves, until the stack lets go
        move = json.loads(line)
        clock.move_to(move["offset_us"])
        with writing:
            control.write(f"ack {move['seq']}\n")
    stop.set()
    runtime.finish_batches(pollers, 5.0)  # the batch in hand, then out
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _report_calls(control: IO[str], writing: threading.Lock) -> None:
    """Reports every AWS call of the clients made from now on, as the
    benchmarks' CallCounter hears them in the stack's process (botocore's
    built-in handlers: PynamoDB makes a session per thread)."""
    from botocore import handlers

    def heard(params: dict[str, Any], model: Any, **_: Any) -> None:
        line = _call_line(model.service_model.service_name, model.name, params)
        with writing:
            control.write(line)

    handlers.BUILTIN_HANDLERS.append(("before-parameter-build", heard))


if __name__ == "__main__":
    main(sys.argv[1:])
