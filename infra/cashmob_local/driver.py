"""Drive a running `cashmob local` over HTTP only, as a front end and a
backer's browser would (the demo and the end-to-end tests use it), and start
one as a subprocess on free ports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .http_client import KeptAlive


def stripe_client(url: str, *, retries: int = 2, key: str = "sk_test_local") -> Any:
    """stripe-python, unchanged, pointed at `url` (the emulator): its v1
    services, each thread's requests over a kept-alive connection (requests'
    session per thread; urllib would open a connection per request)."""
    import stripe

    return stripe.StripeClient(
        key,
        base_addresses={"api": url},
        http_client=stripe.RequestsClient(),
        max_network_retries=retries,
    ).v1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Api:
    base: str
    timeout: float = 30.0
    headers: dict[str, str] = field(default_factory=dict)  # sent with every request
    _http: KeptAlive = field(init=False, repr=False, compare=False)
    _prefix: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Each thread's requests over one kept-alive connection.
        origin = urllib.parse.urlsplit(self.base)
        self._http = KeptAlive(f"{origin.scheme}://{origin.netloc}")
        self._prefix = origin.path

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        raw: bytes | None = None,
    ) -> tuple[int, Any]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        status, _, text = self._http.request(
            method,
            self._prefix + path,
            data,
            {"Content-Type": "application/json", **self.headers, **(headers or {})},
            timeout=self.timeout,
        )
        try:
            return status, json.loads(text or b"null")
        except ValueError:
            return status, text.decode(errors="replace")

    def ok(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        status, answer = self.call(method, path, body, headers)
        if status >= 300:
            raise AssertionError(f"{method} {path} -> {status}: {answer}")
        return answer

    # ------------------------------------------------------------ local extras

    def organizer(self, sub: str) -> dict[str, str]:
        token = self.ok("POST", "/_local/token", {"sub": sub})["token"]
        return {"Authorization": f"Bearer {token}"}

    def now(self) -> str:
        return self.ok("GET", "/_local/clock")["now"]

    def advance(self, seconds: float) -> str:
        return self.ok("POST", "/_local/clock", {"advance_seconds": seconds})["now"]

    def tick(self) -> None:
        self.ok("POST", "/_local/tick")

    def status(self) -> dict[str, Any]:
        return self.ok("GET", "/_local/status")

    def quiet(self) -> bool:
        """No webhook waiting and no settlement work queued or in flight."""
        status = self.status()
        queue = status["queues"]["SettlementQueue"]
        busy = queue["ApproximateNumberOfMessages"] + queue["ApproximateNumberOfMessagesNotVisible"]
        return busy == 0 and status.get("stripe", {}).get("webhooks_pending", 0) == 0

    def wait(
        self, condition: Callable[[], bool], timeout: float = 120.0, every: float = 0.25
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(every)
        raise TimeoutError("the local stack did not get there in time")

    def settle(self, campaign_id: str, timeout: float = 300.0) -> dict[str, Any]:
        """Ticks the schedule until the campaign is final and nothing is left in flight."""

        def final() -> bool:
            self.tick()
            campaign = self.ok("GET", f"/campaigns/{campaign_id}")
            return campaign["status"] in ("succeeded", "failed", "cancelled") and self.quiet()

        self.wait(final, timeout, every=0.5)
        return self.ok("GET", f"/campaigns/{campaign_id}")


@dataclass
class Running:
    api: Api
    stripe_url: str
    process: subprocess.Popen
    log_path: str

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as log:
            return log.read()


@contextmanager
def local_stack(
    *extra: str, env: dict[str, str] | None = None, ready_timeout: float = 90.0
) -> Iterator[Running]:
    """`cashmob local` on free ports, its output in a log file."""
    port, stripe_port = free_port(), free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    environment.update(env or {})
    log = tempfile.NamedTemporaryFile(prefix="cashmob-local-", suffix=".log", delete=False)  # noqa: SIM115
    command = [
        sys.executable,
        "-m",
        "cashmob_local.cli",
        "local",
        "--port",
        str(port),
        "--stripe-port",
        str(stripe_port),
        "--tick",
        "3600",
        *extra,
    ]
    process = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)
    running = Running(
        Api(f"http://127.0.0.1:{port}"), f"http://127.0.0.1:{stripe_port}", process, log.name
    )
    deadline = time.monotonic() + ready_timeout
    try:
        while True:
            try:
                if running.api.call("GET", "/campaigns")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"cashmob local did not start:\n{running.log()}")
            time.sleep(0.3)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        if os.environ.get("CASHMOB_KEEP_LOGS") is None:
            os.unlink(log.name)
