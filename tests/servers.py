"""Run a WSGI app (the Stripe emulator, a webhook receiver) on a free local port."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


@contextmanager
def serving(app: Callable[..., Any]) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


class Receiver:
    """Collects webhook deliveries; answers 500 to the first `fail_first`."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.deliveries: list[tuple[str, str]] = []  # (payload, Stripe-Signature)
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        with self._lock:
            if self.fail_first > 0:
                self.fail_first -= 1
                return Response("busy", 500)(environ, start_response)
            self.deliveries.append(
                (request.get_data(as_text=True), request.headers.get("Stripe-Signature", ""))
            )
        return Response("{}", 200, mimetype="application/json")(environ, start_response)
