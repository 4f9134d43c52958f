"""`cashmob local` as a newcomer starts it: a subprocess, driven over HTTP only."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(url, method="GET", body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture(scope="module")
def stack():
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    process = subprocess.Popen(
        [sys.executable, "-m", "cashmob_local.cli", "local", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if _call(f"{base}/campaigns")[0] == 200:
                break
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail(process.stdout.read().decode())
    yield base
    process.terminate()
    process.wait(timeout=20)


def test_an_organizer_creates_a_campaign_and_the_public_reads_it(stack):
    status, minted = _call(f"{stack}/_local/token", "POST", {"sub": "alice"})
    assert status == 200
    auth = {"Authorization": f"Bearer {minted['token']}"}
    _, now = _call(f"{stack}/_local/clock")
    body = {
        "title": "Playground",
        "goal": {"amount": 50_000, "currency": "eur"},
        "deadline": "2027-06-01T12:00:00Z",
    }
    status, campaign = _call(f"{stack}/campaigns", "POST", body, auth)
    assert status == 201 and campaign["organizer"] == "alice" and campaign["status"] == "live"
    status, listed = _call(f"{stack}/campaigns?status=live")
    assert status == 200 and [c["id"] for c in listed["campaigns"]] == [campaign["id"]]
    assert now["now"].endswith("Z")


def test_the_local_authorizer_protects_organizer_routes(stack):
    body = {
        "title": "x",
        "goal": {"amount": 5000, "currency": "eur"},
        "deadline": "2027-06-01T12:00:00Z",
    }
    assert _call(f"{stack}/campaigns", "POST", body)[0] == 401
    assert (
        _call(f"{stack}/campaigns", "POST", body, {"Authorization": "Bearer forged.token.value"})[0]
        == 401
    )


def test_the_clock_only_moves_forward(stack):
    _, before = _call(f"{stack}/_local/clock")
    status, after = _call(f"{stack}/_local/clock", "POST", {"advance_seconds": 7 * 86400})
    assert status == 200 and after["now"] > before["now"]
    assert _call(f"{stack}/_local/clock", "POST", {"advance_seconds": -1})[0] == 422


def test_swagger_ui_and_the_openapi_document_are_served(stack):
    with urllib.request.urlopen(f"{stack}/docs", timeout=10) as response:
        page = response.read().decode()
    assert response.headers["Content-Type"].startswith("text/html")
    assert "SwaggerUIBundle" in page and "/campaigns/{campaign_id}/pledges" in page
    status, spec = _call(f"{stack}/openapi.json")
    assert status == 200 and "/campaigns" in spec["paths"]
