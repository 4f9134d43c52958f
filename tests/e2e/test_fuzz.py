"""Fuzzing and hostile input against a running `cashmob local`, over HTTP.

schemathesis generates requests for every operation of docs/openapi.json
(FUZZ_CASES in all: `make test` runs a few hundred, `make fuzz` 2,500): no
5xx, and every response fits the schema. Then hand-written hostile inputs.
"""

from __future__ import annotations

import os
import urllib.parse
import urllib.request
from datetime import datetime, timedelta
from xml.etree import ElementTree

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cashmob.clock import to_rfc3339
from cashmob_local.template import ROOT

pytestmark = pytest.mark.e2e
CASES = int(os.environ.get("FUZZ_CASES", "300"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_schemathesis_against_the_running_stack(api):
    schema = schemathesis.openapi.from_path(ROOT / "docs" / "openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    token = api.organizer("fuzzer")["Authorization"]
    per_operation = -(-CASES // len(operations))
    sent = 0
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=per_operation,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case):
            nonlocal sent
            case.headers = {**(case.headers or {}), "Authorization": token}
            case.call_and_validate(base_url=api.base, checks=CHECKS)
            sent += 1

        run()
    print(f"schemathesis: {sent} requests over {len(operations)} operations")
    assert sent >= CASES * 0.9, f"only {sent} requests were generated"


# ---------------------------------------------------------------- hostile input


def _campaign(api, **fields):
    now = datetime.fromisoformat(api.now())  # the stack's clock, not the host's
    body = {
        "title": "Hostile",
        "goal": {"amount": 5000, "currency": "gbp"},
        "deadline": to_rfc3339(now + timedelta(days=30)),
        **fields,
    }
    return api.call("POST", "/campaigns", body, api.organizer("mallory"))


def test_huge_and_deep_bodies_are_4xx(api):
    status, body = api.call(
        "POST",
        "/campaigns",
        raw=b'{"title": "' + b"x" * 2_000_000 + b'"}',
        headers=api.organizer("m"),
    )
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    deep = "[" * 5000 + "]" * 5000
    status, body = api.call("POST", "/campaigns", raw=deep.encode(), headers=api.organizer("m"))
    assert 400 <= status < 500, body


@pytest.mark.parametrize(
    "amount", [0, -1, -(2**63), 2**63, 10**30, 1.5, "1000", None, True, [], {}]
)
def test_bad_amounts_are_422_and_write_nothing(api, amount):
    status, created = _campaign(api)
    assert status == 201
    path = f"/campaigns/{created['id']}/pledges"
    body = {"amount": amount, "currency": "gbp", "email": "m@example.org"}
    status, answer = api.call("POST", path, body, {"Idempotency-Key": f"bad-{amount!r}"})
    assert status == 422, answer
    assert api.ok("GET", f"/campaigns/{created['id']}")["pledged"]["backers"] == 0


@pytest.mark.parametrize("currency", ["xxx", "GBPX", "", "😀", "usd; drop table"])
def test_unknown_currencies_are_422(api, currency):
    status, body = _campaign(api, goal={"amount": 5000, "currency": currency})
    assert status == 422, body


@pytest.mark.parametrize(
    "field",
    [
        {"title": 5},
        {"goal": "lots"},
        {"deadline": "tomorrow"},
        {"min_backers": -3},
        {"funding_model": "hope"},
    ],
)
def test_wrong_types_are_422(api, field):
    status, body = _campaign(api, **field)
    assert status == 422 and body["error"]["code"] == "validation_failed", body


def test_unicode_everywhere_round_trips(api):
    title, description = "Zoë's 🎪 fund — 日本語 \u202e RTL", "ß" * 100
    status, campaign = _campaign(api, title=title, description=description)
    assert status == 201 and campaign["title"] == title
    cid = campaign["id"]
    fetched = api.ok("GET", f"/campaigns/{cid}")
    assert (fetched["title"], fetched["description"]) == (title, description)
    body = {
        "amount": 500,
        "currency": "gbp",
        "email": "zoë@example.org",
        "display_name": "Zoë 🎪",
        "message": "✓ 日本語 \u202e",
    }
    status, created = api.call(
        "POST", f"/campaigns/{cid}/pledges", body, {"Idempotency-Key": "unicode-key-1"}
    )
    assert status == 201, created
    pid, token = created["pledge"]["id"], created["pledge_token"]
    # Read back as the organizer sees it: every string exactly as sent.
    owner = api.ok("GET", f"/campaigns/{cid}/pledges", headers=api.organizer("mallory"))
    (stored,) = owner["pledges"]
    assert stored["id"] == pid
    assert {k: stored[k] for k in ("email", "display_name", "message")} == {
        k: body[k] for k in ("email", "display_name", "message")
    }
    # And as the backer sees it, with the token.
    mine = api.ok("GET", f"/campaigns/{cid}/pledges/{pid}", headers={"X-Pledge-Token": token})
    assert (mine["id"], mine["amount"], mine["currency"]) == (pid, 500, "gbp")
    # The same key and body replay the same pledge (the key compared as sent).
    status, again = api.call(
        "POST", f"/campaigns/{cid}/pledges", body, {"Idempotency-Key": "unicode-key-1"}
    )
    assert status == 200 and again["pledge"]["id"] == pid


def _live_campaigns(api):
    """Every live campaign, page by page."""
    listed, cursor = [], None
    while True:
        query = {"status": "live", "limit": "100", **({"cursor": cursor} if cursor else {})}
        page = api.ok("GET", "/campaigns?" + urllib.parse.urlencode(query))
        listed += page["campaigns"]
        cursor = page["next_cursor"]
        if cursor is None:
            return listed


def test_sql_and_html_in_titles_are_escaped_in_the_badge(api):
    title = '<script>alert(1)</script>\' OR 1=1; -- & "quotes"'
    status, campaign = _campaign(api, title=title)
    assert status == 201 and campaign["title"] == title  # stored as given
    with urllib.request.urlopen(
        f"{api.base}/campaigns/{campaign['id']}/badge.svg", timeout=10
    ) as r:
        svg = r.read().decode()
        assert r.headers["Content-Type"].startswith("image/svg+xml")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&amp;" in svg
    # It is well-formed XML whose title text is the organizer's title, verbatim.
    root = ElementTree.fromstring(svg)
    titles = [e.text for e in root.iter() if e.tag.endswith("title")]
    assert titles and titles[0].startswith(title + ":")
    # The listing carries it verbatim too, once, among live campaigns only.
    listed = _live_campaigns(api)
    assert [c["title"] for c in listed if c["id"] == campaign["id"]] == [title]
    assert {c["status"] for c in listed} == {"live"}
    assert len({c["id"] for c in listed}) == len(listed)
