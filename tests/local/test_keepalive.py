"""The local stack's servers keep connections alive (`keepalive`): many
requests over one connection, and no answer lost or left hanging whatever
its shape (no Content-Length, 204, HEAD, errors, large bodies, chunked
requests, a body the application never read)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config

from cashmob_local import keepalive

BIG = b"x" * (3 * 1024 * 1024 + 7)


def app(environ, start_response):
    """A WSGI app answering each path in a different shape."""
    path = environ["PATH_INFO"]
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    if path == "/echo":  # the request's body back, with the app's own Content-Length
        start_response(
            "200 OK",
            [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))],
        )
        return [body]
    if path == "/unsized":  # several parts and no Content-Length
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"one,", b"two,", b"three"]
    if path == "/generator":  # a generator, closed after use
        start_response("201 Created", [("Content-Type", "text/plain")])
        return (part for part in (b"made", b"!"))
    if path == "/write":  # the legacy write() callable
        write = start_response("200 OK", [])
        write(b"written;")
        return [b"returned"]
    if path == "/empty":
        start_response("204 No Content", [])
        return []
    if path == "/big":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [BIG[: len(BIG) // 2], BIG[len(BIG) // 2 :]]
    if path == "/boom":
        raise RuntimeError("the application failed")
    if path == "/unread":  # ignores the request's body
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ignored"]
    start_response("404 Not Found", [("Content-Type", "application/json")])
    return [json.dumps({"error": {"code": "not_found"}}).encode()]


def unread_app(environ, start_response):
    """Never reads the request's body."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["PATH_INFO"].encode()]


@pytest.fixture
def server():
    started = keepalive.KeepAliveServer("127.0.0.1", 0, app)
    thread = threading.Thread(target=started.serve_forever, daemon=True)
    thread.start()
    yield started
    started.shutdown()
    started.server_close()


def connect(server, timeout=10):
    return http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=timeout)


def ask(conn, method, path, body=None, headers=None):
    conn.request(method, path, body, headers or {})
    response = conn.getresponse()
    return response, response.read()


def test_many_requests_over_one_connection(server):
    conn = connect(server)
    for i in range(50):
        response, body = ask(conn, "POST", "/echo", f"request {i}".encode())
        assert (response.status, body) == (200, f"request {i}".encode())
        assert response.getheader("Connection") is None
        assert not response.will_close
    assert server.counts() == {"connections": 1, "requests": 50}


def test_every_shape_of_answer_arrives_whole_on_one_connection(server):
    conn = connect(server)
    seen = []
    for _ in range(2):  # the second round proves each answer ended where it said
        seen.append(ask(conn, "GET", "/unsized"))
        seen.append(ask(conn, "GET", "/generator"))
        seen.append(ask(conn, "GET", "/write"))
        seen.append(ask(conn, "DELETE", "/empty"))
        seen.append(ask(conn, "GET", "/big"))
        seen.append(ask(conn, "GET", "/nowhere"))
        seen.append(ask(conn, "POST", "/echo", b""))
    answers = [(r.status, body) for r, body in seen]
    expected = [
        (200, b"one,two,three"),
        (201, b"made!"),
        (200, b"written;returned"),
        (204, b""),
        (200, BIG),
        (404, b'{"error": {"code": "not_found"}}'),
        (200, b""),
    ]
    assert answers == expected * 2
    unsized = seen[0][0]
    assert unsized.getheader("Content-Length") == "13"
    assert unsized.getheader("Transfer-Encoding") is None
    assert seen[3][0].getheader("Content-Length") is None  # a 204 has no body nor length
    assert server.counts() == {"connections": 1, "requests": 14}


def test_each_answer_goes_out_in_one_write(server, monkeypatch):
    """Status line, headers and body in one send: each send and receive
    costs a busy process a wait for its interpreter lock."""
    writes: list[bytes] = []
    setup = keepalive.KeepAliveHandler.setup

    class Counted:
        def __init__(self, wfile):
            self.wfile = wfile

        def write(self, data):
            writes.append(bytes(data))
            return self.wfile.write(data)

        def __getattr__(self, name):
            return getattr(self.wfile, name)

    def counted_setup(handler):
        setup(handler)
        handler.wfile = Counted(handler.wfile)

    monkeypatch.setattr(keepalive.KeepAliveHandler, "setup", counted_setup)
    conn = connect(server)
    for method, path, body, status, answer in [
        ("POST", "/echo", b"pledge", 200, b"pledge"),
        ("GET", "/big", None, 200, BIG),
        ("DELETE", "/empty", None, 204, b""),
        ("GET", "/nowhere", None, 404, b'{"error": {"code": "not_found"}}'),
        ("HEAD", "/echo", None, 200, b""),
    ]:
        writes.clear()
        response, got = ask(conn, method, path, body)
        assert (response.status, got) == (status, answer)
        assert len(writes) == 1, (method, path, [w[:40] for w in writes])
        assert writes[0].startswith(b"HTTP/1.1 %d " % status)
        assert writes[0].endswith(b"\r\n\r\n" + answer)


def test_an_application_error_is_a_500_and_the_connection_goes_on(server):
    conn = connect(server)
    response, body = ask(conn, "GET", "/boom")
    assert response.status == 500
    assert int(response.getheader("Content-Length")) == len(body) > 0
    assert ask(conn, "POST", "/echo", b"after")[1] == b"after"
    assert server.counts()["connections"] == 1


def test_a_body_the_application_did_not_read_does_not_become_the_next_request(server):
    conn = connect(server)
    payload = b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n" * 20  # looks like requests
    response, body = ask(conn, "POST", "/unread", payload)
    assert (response.status, body) == (200, b"ignored")
    assert ask(conn, "POST", "/echo", b"next")[1] == b"next"
    assert server.counts() == {"connections": 1, "requests": 2}


def test_chunked_requests(server):
    conn = connect(server)
    for _ in range(3):
        conn.request(
            "POST",
            "/echo",
            body=iter([b"chunk one ", b"chunk two"]),
            encode_chunked=True,
            headers={"Transfer-Encoding": "chunked"},
        )
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"chunk one chunk two")
    assert server.counts()["connections"] == 1


def test_head_says_the_length_and_sends_no_body(server):
    conn = connect(server)
    response, body = ask(conn, "HEAD", "/unsized")
    assert (response.status, body, response.getheader("Content-Length")) == (200, b"", "13")
    assert ask(conn, "GET", "/unsized")[1] == b"one,two,three"


def test_connection_close_and_http_1_0_are_honoured(server):
    conn = connect(server)
    response, _ = ask(conn, "GET", "/unsized", headers={"Connection": "close"})
    assert response.getheader("Connection") == "close"
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=5) as raw:
        raw.sendall(b"GET /unsized HTTP/1.0\r\n\r\n")
        received = b""
        while chunk := raw.recv(65536):  # the server closes: recv returns b""
            received += chunk
    assert received.endswith(b"one,two,three")
    assert b"Connection: close" in received


def test_a_body_cut_short_is_a_400_and_the_connection_closes(server):
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=5) as raw:
        raw.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        raw.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := raw.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 400")


def test_idle_connections_are_closed(monkeypatch):
    monkeypatch.setattr(keepalive.KeepAliveHandler, "timeout", 0.3)
    server = keepalive.KeepAliveServer("127.0.0.1", 0, app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=5) as raw:
            raw.sendall(b"GET /unsized HTTP/1.1\r\nHost: x\r\n\r\n")
            started = time.monotonic()
            received = b""
            while chunk := raw.recv(65536):
                received += chunk
            assert received.endswith(b"one,two,three")
            assert 0.2 < time.monotonic() - started < 5  # closed once idle, not at once
    finally:
        server.shutdown()
        server.server_close()


def test_a_stopped_server_answers_no_more_on_a_kept_connection(server):
    conn = connect(server)
    assert ask(conn, "GET", "/unsized")[1] == b"one,two,three"
    server.shutdown()
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        ask(conn, "GET", "/unsized")


def test_concurrent_clients_each_keep_their_connection(server):
    def client(i):
        conn = connect(server)
        return [ask(conn, "POST", "/echo", f"{i}.{j}".encode())[1] for j in range(20)]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(client, range(8)))
    assert results == [[f"{i}.{j}".encode() for j in range(20)] for i in range(8)]
    assert server.counts() == {"connections": 8, "requests": 160}


def test_botocore_reuses_its_connections_against_moto():
    """moto as the stack serves it, and a botocore client with 8 threads on
    a pool of 8: 400 calls over at most 8 connections."""
    from cashmob_local.stack import serve_moto

    moto = serve_moto("127.0.0.1", 0)
    try:
        endpoint = f"http://127.0.0.1:{moto.server_port}"
        sqs = boto3.client(
            "sqs",
            endpoint_url=endpoint,
            region_name="us-east-1",
            config=Config(max_pool_connections=8),
        )
        url = sqs.create_queue(QueueName="keepalive")["QueueUrl"]
        before = moto.counts()

        def calls(i):
            for j in range(50):
                sqs.send_message(QueueUrl=url, MessageBody=f"{i}.{j}")

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(calls, range(8)))
        after = moto.counts()
        assert after["requests"] - before["requests"] == 400
        assert after["connections"] - before["connections"] <= 8
        got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        assert got["Attributes"]["ApproximateNumberOfMessages"] == "400"
    finally:
        moto.shutdown()
        moto.server_close()


def test_werkzeug_fallback_when_turned_off(monkeypatch):
    monkeypatch.setenv("CASHMOB_LOCAL_KEEPALIVE", "0")
    server = keepalive.make_server("127.0.0.1", 0, app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        response, body = ask(connect(server), "GET", "/unsized")
        assert (body, response.getheader("Connection")) == (b"one,two,three", "close")
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- the clients


def test_the_driver_keeps_one_connection_per_thread(server):
    from cashmob_local.driver import Api

    api = Api(f"http://127.0.0.1:{server.server_port}")
    assert [api.call("GET", "/nowhere")[0] for _ in range(20)] == [404] * 20
    assert api.call("POST", "/echo", {"n": 1}) == (200, {"n": 1})
    assert api.call("DELETE", "/empty") == (204, None)
    assert server.counts() == {"connections": 1, "requests": 22}


def test_a_kept_connection_the_server_closed_is_replaced(monkeypatch):
    from cashmob_local.http_client import KeptAlive

    monkeypatch.setattr(keepalive.KeepAliveHandler, "timeout", 0.2)
    server = keepalive.KeepAliveServer("127.0.0.1", 0, app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = KeptAlive(f"http://127.0.0.1:{server.server_port}")
        assert client.request("POST", "/echo", b"first")[2] == b"first"
        time.sleep(0.6)  # the server closes the idle connection
        assert client.request("POST", "/echo", b"second")[2] == b"second"
        assert server.counts() == {"connections": 2, "requests": 2}
    finally:
        server.shutdown()
        server.server_close()


def test_a_request_the_server_never_read_is_sent_once_more():
    """A server that closes a kept connection just as a request arrives on
    it, without answering: the request goes again on a new connection."""
    from cashmob_local.http_client import KeptAlive

    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []

    def serve():
        first, _ = listener.accept()
        seen.append(first.recv(65536))
        first.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none")
        seen.append(first.recv(65536))  # the second request: closed unanswered
        first.close()
        second, _ = listener.accept()
        seen.append(second.recv(65536))
        second.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo")
        second.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        client = KeptAlive(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=5)
        assert client.request("GET", "/a")[2] == b"one"
        assert client.request("GET", "/b")[2] == b"two"
        thread.join(5)
        assert [request.split(b" ")[1] for request in seen] == [b"/a", b"/b", b"/b"]
    finally:
        listener.close()


def test_a_fresh_connection_refused_is_raised_not_retried():
    from cashmob_local.driver import free_port
    from cashmob_local.http_client import KeptAlive

    with pytest.raises(ConnectionRefusedError):
        KeptAlive(f"http://127.0.0.1:{free_port()}").request("GET", "/")


def test_webhook_senders_keep_their_connection(server):
    import random

    from cashmob_local.stripe_emulator.faults import Faults
    from cashmob_local.stripe_emulator.webhooks import WebhookDeliverer

    deliverer = WebhookDeliverer(
        forward_to=f"http://127.0.0.1:{server.server_port}/echo",
        webhook_secret="whsec_test",
        now=time.time,
        faults=Faults(),
        random=random.Random(1),
        workers=2,
    )
    try:
        for i in range(30):
            deliverer.send({"id": f"evt_{i}", "type": "setup_intent.succeeded"})
        assert deliverer.wait(10)
        assert deliverer.counts() == {"deliveries": 30, "failed": 0, "pending": 0}
        counts = server.counts()
        assert counts["requests"] == 30 and counts["connections"] <= 2
    finally:
        deliverer.stop()


def test_the_stacks_clients_keep_enough_connections_for_its_threads(monkeypatch):
    import pynamodb.settings
    from pynamodb.connection import Connection

    from cashmob_local import stack

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.setitem(pynamodb.settings.default_settings_dict, "max_pool_connections", 10)
    assert boto3.client("sqs").meta.config.max_pool_connections == 10  # botocore's default
    stack.size_client_pools(48)
    assert boto3.client("sqs").meta.config.max_pool_connections == 48
    assert boto3.client("events").meta.config.max_pool_connections == 48
    dynamodb = Connection(region="us-east-1").client
    assert dynamodb.meta.config.max_pool_connections == 48
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # the next tests: boto3's own again
