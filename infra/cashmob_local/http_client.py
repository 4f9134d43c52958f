"""An HTTP client that keeps its connection: one `http.client` connection
per thread to one origin, reused request after request (urllib.request
sends `Connection: close` and opens a connection per request). The demo's
backers, the end-to-end tests' driver and the emulator's webhook senders use
it against the local stack's kept-alive servers (`keepalive`)."""

from __future__ import annotations

import http.client
import select
import threading
import urllib.parse
from collections.abc import Mapping


class KeptAlive:
    """Requests to `origin` (http or https, scheme://host[:port]), each
    thread over a connection of its own, kept between requests."""

    def __init__(self, origin: str, timeout: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) origin: {origin!r}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port
        self.timeout = timeout
        self._local = threading.local()

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        timeout: float | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """Status, headers and body. A kept connection the server has closed
        meanwhile is replaced before use; one that fails before any answer
        (the server closed it as the request left) is replaced and the
        request sent once more: our servers close a connection only between
        requests, so the first one was not acted on. Any other failure
        (a timeout, a fresh connection refused) is raised."""
        timeout = self.timeout if timeout is None else timeout
        for attempt in (1, 2):
            conn, reused = self._connection(timeout)
            try:
                conn.request(method, path, body, dict(headers or {}))
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if not reused or attempt == 2:
                    raise
                continue
            except BaseException:
                self.close()  # its state is unknown: never reused
                raise
            if response.will_close:
                self.close()
            return response.status, response.headers, data
        raise AssertionError("unreachable")

    def close(self) -> None:
        """This thread's connection, closed (the next request opens another)."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def _connection(self, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None and (conn.sock is None or _dropped(conn.sock)):
            self.close()
            conn = None
        if conn is not None:
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            return conn, True
        kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        conn = kind(self.host, self.port, timeout=timeout)
        self._local.conn = conn
        return conn, False


def _dropped(sock: object) -> bool:
    """Whether an idle connection was closed by the server (readable with
    nothing to say but its end), as urllib3 checks before reusing one."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
