"""werkzeug's threaded server with HTTP/1.1 keep-alive, for the local stack's
servers (moto, the API gateway, the Stripe emulator).

werkzeug's development server answers every request with `Connection:
close` (its handler cannot find the next request line after a body it did
not read), so every botocore call to moto, every webhook and every API call
opened a TCP connection of its own: about 4,000 connections per 3,400 calls
in a hot-campaign run. Here a connection serves requests until the client
closes it, asks to (`Connection: close`, or HTTP/1.0), or stays idle for
`IDLE_SECONDS`.

It can, because the request's body is read whole before the application
runs (Content-Length or chunked) and the answer is sent whole with its
Content-Length: the stream is then always at the next request, whatever the
application read, and a client never waits for an end it cannot see. The
local stack's bodies are JSON of at most a few megabytes and none is
streamed. One thread per connection, as before (werkzeug's ThreadingMixIn).
"""

from __future__ import annotations

import io
import logging
import os
import socket
import threading
from collections.abc import Iterable
from typing import Any

from werkzeug import serving
from werkzeug.exceptions import BadRequest, InternalServerError
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

IDLE_SECONDS = 60.0  # a kept-alive connection with no request for this long is closed
_NO_BODY = frozenset({204, 304})
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})
_werkzeug_log = logging.getLogger("werkzeug")


class KeepAliveHandler(WSGIRequestHandler):
    """WSGIRequestHandler speaking HTTP/1.1 with persistent connections."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_SECONDS  # StreamRequestHandler: the socket's timeout, idle waits included

    server: KeepAliveServer

    def setup(self) -> None:
        super().setup()
        self.server.count("connections")
        # Small answers go out at once rather than waiting for the client's ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except TimeoutError:  # idle past IDLE_SECONDS (or a client stalled mid-request)
            self.close_connection = True
        if self.server.closing.is_set():
            self.close_connection = True  # a stopped server serves no further requests

    def log_error(self, format: str, *args: Any) -> None:
        if format.startswith("Request timed out"):
            return  # an idle kept-alive connection closed: routine, not an error
        super().log_error(format, *args)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if _werkzeug_log.isEnabledFor(logging.INFO):  # the stack quiets it; skip the formatting
            super().log_request(code, size)

    def run_wsgi(self) -> None:
        if self.server.closing.is_set():
            # Stopped while this connection waited: no answer, as from a
            # server that is gone (the request was not acted on).
            self.close_connection = True
            return
        self.server.count("requests")
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        try:
            body = _read_body(environ)
        except (ValueError, OSError):
            # A body whose end cannot be found: answer, then close (the
            # stream's position is unknown).
            self.close_connection = True
            self._send(*_run(BadRequest(), environ), head=False)
            return
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("wsgi.input_terminated", None)
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        try:
            answer = _run(self.server.app, environ)
        except Exception:
            if self.server.passthrough_errors:
                raise
            _werkzeug_log.exception("Error on request %s %s", self.command, self.path)
            answer = _run(InternalServerError(), environ)
        self._send(*answer, head=self.command == "HEAD")

    def _send(self, status: str, headers: list[tuple[str, str]], body: bytes, head: bool) -> None:
        code_text, _, message = status.partition(" ")
        code = int(code_text)
        self.send_response(code, message)
        given_length = None
        for key, value in headers:
            name = key.lower()
            if name == "content-length":
                given_length = value
            if name not in _HOP_BY_HOP:
                self.send_header(key, value)
        if code not in _NO_BODY and not 100 <= code < 200:
            # A HEAD answer says how long the GET's body would be.
            length = given_length if head and given_length is not None else str(len(body))
            self.send_header("Content-Length", length)
        if self.close_connection:
            self.send_header("Connection", "close")
        # The status line, the headers and the body in one write: one send
        # (one segment, TCP_NODELAY) where `end_headers()` then a write of the
        # body made two, and a client that reads the headers then the body
        # made two receives of it. Each send and receive lets go of the
        # interpreter lock and waits to take it back, which is what a busy
        # process's threads wait on most (py-spy in the demo's moto).
        self._headers_buffer.append(b"\r\n")
        if body and not head and code not in _NO_BODY:
            self._headers_buffer.append(body)
        self.wfile.write(b"".join(self._headers_buffer))
        self._headers_buffer = []


def _read_body(environ: dict[str, Any]) -> bytes:
    """The request's whole body: chunked (werkzeug's DechunkedInput reads to
    the last chunk) or Content-Length bytes; none without either."""
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):
        return stream.read()
    length = environ.get("CONTENT_LENGTH") or "0"
    if not length.isdigit():
        raise ValueError(f"bad Content-Length {length!r}")
    wanted = int(length)
    body = stream.read(wanted) if wanted else b""
    if len(body) != wanted:
        raise ValueError("the body ended early")
    return body


def _run(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """Calls a WSGI application; its status, headers and whole body."""
    captured: list[Any] = []
    parts: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info and captured:
            raise exc_info[1].with_traceback(exc_info[2])
        captured[:] = [status, headers]
        return parts.append  # the legacy write() callable

    result: Iterable[bytes] = app(environ, start_response)
    try:
        parts.extend(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if not captured:
        raise RuntimeError("the application did not call start_response")
    return captured[0], list(captured[1]), b"".join(parts)


class KeepAliveServer(ThreadedWSGIServer):
    """ThreadedWSGIServer with `KeepAliveHandler`; counts the connections it
    accepted and the requests it served (`counts()`)."""

    def __init__(self, host: str, port: int, app: Any, **kwargs: Any) -> None:
        super().__init__(host, port, app, handler=KeepAliveHandler, **kwargs)
        self.closing = threading.Event()
        self._counts = {"connections": 0, "requests": 0}
        self._counts_lock = threading.Lock()

    def count(self, what: str) -> None:
        with self._counts_lock:
            self._counts[what] += 1

    def counts(self) -> dict[str, int]:
        with self._counts_lock:
            return dict(self._counts)

    def shutdown(self) -> None:
        self.closing.set()  # kept-alive connections end after their current request
        super().shutdown()


def enabled() -> bool:
    """Keep-alive is the default; CASHMOB_LOCAL_KEEPALIVE=0 serves with
    werkzeug's own handler, a connection per request (to compare)."""
    return os.environ.get("CASHMOB_LOCAL_KEEPALIVE", "1") != "0"


def make_server(host: str, port: int, app: Any) -> Any:
    """`werkzeug.serving.make_server(host, port, app, threaded=True)`, kept alive."""
    if not enabled():
        return serving.make_server(host, port, app, threaded=True)
    return KeepAliveServer(host, port, app)
