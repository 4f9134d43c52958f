"""Functions in processes of their own: the notifier's queue pollers
(`cashmob local`'s default; CASHMOB_LOCAL_NOTIFIER_PROCESS=0 keeps them in
the stack's process), and, with `cashmob local --api-instances N`, N
instances of the API function.

Deployed, each function is a Lambda of its own. Locally the notifier ran
under the same interpreter lock as the webhook, the API and the settle
worker, and every capture or confirmation then paid for an email there (a
claim write, an SES send, a mark that it was sent). In a child process that
work runs on another core, as moto's does (`moto_process`).

**API instances.** A Lambda instance handles one request at a time, and
Powertools' resolver keeps the request being handled on the router (class
attributes), so in one process the API takes one request at a time
(`gateway.RESOLVER_FUNCTIONS`). In a 1,000-backer demo that instance was
busy 98 % of the pledging phase and requests queued 300-700 ms for it,
while the machine had CPU to spare. Deployed, API Gateway starts as many
instances as there are requests in flight; `--api-instances N` gives the
stack N of them, each a child process that handles one invocation at a time
(the stack hands each request to an idle one, or waits for one).

The child reaches moto at AWS_ENDPOINT_URL and takes its secrets from the
environment the stack set before starting it; the stack sends it the
template's references (its Settings are `settings_for(function, refs)`),
the queues to poll, the functions it serves, and the clock.

**One clock.** The stack's clock is real time plus an offset that only grows
(`POST /_local/clock`). The child keeps the same offset over the same system
clock: each move is sent to the child, and the move returns only once the
child has acknowledged it. So an email the child sends after a move returns
carries the moved time, as it would in the stack's process; an email in
flight during the move may carry either, as it would there too.

**Lifetime.** The child ends when its stdin closes: on `stop()` (its pollers
finish the batch in hand), and when the stack dies however it dies. If the
child ends on its own, the stack says so on stderr and in `/_local/status`;
an invocation it had in hand, and any after, fail (a 500, as a crashed
Lambda's would be a 502).

Control protocol: the stack writes JSON lines on the child's stdin (first the
setup, then `{"seq": n, "offset_us": microseconds}` per clock move); the child
answers on a pipe of its own (`ready`, `ack <n>`, `result <json>`), so that
its stdout and stderr stay the functions' logs, next to the stack's.
Invocations go to the child on a third pipe, one JSON line each
(`{"function", "event"}`), answered by one `result` line. For the in-process
benchmarks (`bench.local_stack`), which count every AWS call the functions
make, the child also reports each of its calls there (`call <json>`).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
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


class FunctionProcess:
    """The running child, seen from the stack."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        control: IO[bytes],
        *,
        log: Callable[[str], None],
        on_call: Callable[[str, str, dict[str, Any]], None] | None = None,
        invocations: IO[bytes] | None = None,
        name: str = "notifier process",
    ) -> None:
        self.process = process
        self.name = name
        self._invocations = invocations
        self._invoking = threading.Lock()  # one invocation at a time: one Lambda instance
        self._result: dict[str, Any] | None = None
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
        self._reader = threading.Thread(target=self._read, name=name, daemon=True)
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
                elif word == "result":
                    self._result = json.loads(rest)
                self._changed.notify_all()
        code = self.process.wait()
        with self._changed:
            self.ended = code
            self._changed.notify_all()
        if not self._stopping:
            what = "its requests fail" if self._invocations else "no more emails are sent"
            self._log(
                f"cashmob local: the {self.name} (pid {self.pid}) ended with exit code "
                f"{code}: {what}; restart `cashmob local`"
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._ready or self.ended is not None, timeout)
            if not self._ready:
                raise RuntimeError(
                    f"cashmob local: the {self.name} did not start"
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
                    f"cashmob local: the {self.name} did not take a clock move in "
                    f"{ACK_TIMEOUT:g} s; its emails may carry the earlier time"
                )

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        """Invokes `function` (one the child serves) in the child, as Lambda
        invokes an instance: one invocation at a time. Raises
        `InvocationFailed` if the handler raised there, or the child ended."""
        assert self._invocations is not None, "this child serves no invocations"
        with self._invoking:
            with self._changed:
                if self.ended is not None:
                    raise InvocationFailed(f"the {self.name} has ended (exit code {self.ended})")
                self._result = None
            try:
                line = json.dumps({"function": function, "event": event}).encode() + b"\n"
                self._invocations.write(line)
                self._invocations.flush()
            except (BrokenPipeError, ValueError) as error:
                raise InvocationFailed(f"the {self.name} has ended") from error
            with self._changed:
                self._changed.wait_for(lambda: self._result is not None or self.ended is not None)
                result, self._result = self._result, None
        if result is None:
            raise InvocationFailed(f"the {self.name} ended during the invocation")
        if "error" in result:
            raise InvocationFailed(f"{function} raised in the {self.name}:\n{result['error']}")
        return result["ok"]

    def status(self) -> dict[str, Any]:
        if self.ended is None:
            return {"pid": self.pid, "running": True}
        return {"pid": self.pid, "running": False, "exit_code": self.ended}

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        if self._invocations is not None:
            with contextlib.suppress(BrokenPipeError, ValueError):
                self._invocations.close()
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
    serves: tuple[str, ...] = (),
    name: str = "notifier process",
    log: Callable[[str], None] | None = None,
    on_call: Callable[[str, str, dict[str, Any]], None] | None = None,
) -> FunctionProcess:
    """Starts the child with the template's `refs`, the event `sources`
    (function, queue_url, queue_arn, batch_size, partial, pollers) it polls
    and the functions it `serves` (`FunctionProcess.invoke`); it inherits
    this process's environment (AWS_ENDPOINT_URL, secrets). Returns at once:
    `wait_ready` waits for its pollers. `on_call(service, operation,
    params)` hears each AWS call the child makes (DynamoDB items cut to
    their keys), from the child's reader thread."""
    read_end, write_end = os.pipe()
    fds = [write_end]
    invocations_read = invocations_write = None
    if serves:
        invocations_read, invocations_write = os.pipe()
        fds.append(invocations_read)
    try:
        process = subprocess.Popen(  # noqa: S603 - this interpreter, our own module
            [sys.executable, "-m", "cashmob_local.function_process", *map(str, fds)],
            stdin=subprocess.PIPE,
            pass_fds=tuple(fds),
        )
    finally:
        os.close(write_end)
        if invocations_read is not None:
            os.close(invocations_read)
    assert process.stdin is not None
    setup = {
        "refs": refs,
        "sources": sources,
        "serves": list(serves),
        "offset_us": _micros(offset),
        "report_calls": on_call is not None,
    }
    process.stdin.write(json.dumps(setup).encode() + b"\n")
    process.stdin.flush()
    return FunctionProcess(
        process,
        os.fdopen(read_end, "rb"),
        log=log or (lambda message: print(message, file=sys.stderr, flush=True)),
        on_call=on_call,
        invocations=None if invocations_write is None else os.fdopen(invocations_write, "wb"),
        name=name,
    )


class InvocationFailed(RuntimeError):
    """An invocation in a child process raised, or the child ended."""


class Instances:
    """N children that each serve `function`, one invocation at a time: an
    invocation takes an idle one, or waits for one, as a request waits for
    a Lambda instance at a function's concurrency limit."""

    def __init__(self, children: list[FunctionProcess]) -> None:
        self.children = children
        self._idle: queue.SimpleQueue[FunctionProcess] = queue.SimpleQueue()
        for child in children:
            self._idle.put(child)

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        child = self._idle.get()
        try:
            return child.invoke(function, event)
        finally:
            self._idle.put(child)


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
    serves = setup.get("serves", [])
    services = {
        function: Services(settings_for(function, setup["refs"]), clock=clock)
        for function in {source["function"] for source in setup["sources"]} | set(serves)
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
    if serves:
        threading.Thread(
            target=_serve,
            args=(os.fdopen(int(argv[1]), "rb"), invoke, control, writing),
            daemon=True,
        ).start()
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


def _serve(
    invocations: IO[bytes],
    invoke: Callable[[str, dict[str, Any]], dict[str, Any]],
    control: IO[str],
    writing: threading.Lock,
) -> None:
    """Answers the stack's invocations, one at a time, until it lets go."""
    import traceback

    for line in invocations:
        request = json.loads(line)
        try:
            answer = {"ok": invoke(request["function"], request["event"])}
        except Exception:
            answer = {"error": traceback.format_exc()}
        with writing:
            control.write("result " + json.dumps(answer) + "\n")


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
