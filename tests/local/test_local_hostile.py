"""The local stack's own routes and JWT authorizer against hostile input:
`POST /_local/clock` refuses what would break the clock (422, clock
unchanged), and the authorizer checks exp, nbf and iat against the stack's
clock as API Gateway does (401)."""

from __future__ import annotations

import json
from argparse import Namespace
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from werkzeug.test import Client, EnvironBuilder
from werkzeug.wrappers import Request

from cashmob.clock import FrozenClock, OffsetClock
from cashmob_local.gateway import LOCAL_AUDIENCE, LOCAL_ISSUER, Gateway, JwtAuthorizer
from cashmob_local.stack import Stack

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
TEN_YEARS = 10 * 365 * 86400

# ---------------------------------------------------------------- /_local/clock


@pytest.fixture(scope="module")
def routes():
    """The stack's /_local routes, without starting the stack: its clock is
    an offset on a frozen base, so any move shows."""
    stack = Stack(Namespace())
    stack.clock = OffsetClock(base=FrozenClock(NOW))
    stack.authorizer = None
    return stack, stack.local_routes()


def move(routes, raw: bytes | str, method: str = "POST"):
    _, handlers = routes
    environ = EnvironBuilder(
        path="/_local/clock",
        method=method,
        data=raw,
        headers={"Content-Type": "application/x-www-form-urlencoded"},  # as curl -d sends
    ).get_environ()
    response = handlers["/_local/clock"](Request(environ))
    return response.status_code, json.loads(response.get_data(as_text=True))


HOSTILE_ADVANCES = {
    "a trillion seconds": b'{"advance_seconds": 1000000000000}',
    "1e12 as a float": b'{"advance_seconds": 1e12}',
    "1e400 (parses to inf)": b'{"advance_seconds": 1e400}',
    "Infinity": b'{"advance_seconds": Infinity}',
    "-Infinity": b'{"advance_seconds": -Infinity}',
    "NaN": b'{"advance_seconds": NaN}',
    "an integer of 400 digits": b'{"advance_seconds": ' + b"9" * 400 + b"}",
    "ten years and a second": f'{{"advance_seconds": {TEN_YEARS + 1}}}'.encode(),
    "negative": b'{"advance_seconds": -1}',
    "a string": b'{"advance_seconds": "60"}',
    "true": b'{"advance_seconds": true}',
    "false": b'{"advance_seconds": false}',
    "null": b'{"advance_seconds": null}',
    "a list": b'{"advance_seconds": [60]}',
    "missing": b"{}",
    "body an array": b"[60]",
    "body a number": b"60",
    "body not json": b"advance_seconds=60",
}


@pytest.mark.parametrize("case", list(HOSTILE_ADVANCES))
def test_hostile_clock_moves_are_422_and_leave_the_clock_alone(routes, case):
    stack, _ = routes
    before = stack.clock.now()
    status, body = move(routes, HOSTILE_ADVANCES[case])
    assert status == 422, (case, body)
    assert set(body) == {"error"} and body["error"]["code"] == "validation_failed"
    assert body["error"]["message"]
    assert stack.clock.now() == before
    assert move(routes, b"", method="GET") == (200, {"now": "2026-11-26T12:00:00Z"})


def test_the_refusal_names_the_maximum(routes):
    _, body = move(routes, b'{"advance_seconds": 1e12}')
    assert "315360000" in body["error"]["message"] and "10 years" in body["error"]["message"]


def test_up_to_ten_years_moves_the_clock():
    stack = Stack(Namespace())
    stack.clock = OffsetClock(base=FrozenClock(NOW))
    stack.authorizer = None
    handlers = (stack, stack.local_routes())
    assert move(handlers, b'{"advance_seconds": 0.5}')[0] == 200
    status, body = move(handlers, f'{{"advance_seconds": {TEN_YEARS}}}'.encode())
    assert status == 200
    assert stack.clock.now() == NOW + timedelta(seconds=TEN_YEARS + 0.5)
    assert body["now"].startswith("2036-")


def test_the_clock_cannot_be_walked_past_what_datetime_can_hold():
    stack = Stack(Namespace())
    stack.clock = OffsetClock(base=FrozenClock(datetime(8995, 1, 1, tzinfo=UTC)))
    stack.authorizer = None
    handlers = (stack, stack.local_routes())
    before = stack.clock.now()
    status, body = move(handlers, f'{{"advance_seconds": {TEN_YEARS}}}'.encode())
    assert status == 422 and "9000-01-01" in body["error"]["message"]
    assert stack.clock.now() == before


# ---------------------------------------------------------------- the JWT authorizer

SECRET = "local-authorizer-test-key-0123456789abcdef"


class Clock:
    def __init__(self) -> None:
        self.at = NOW.timestamp()

    def __call__(self) -> float:
        return self.at


@pytest.fixture
def authorizer():
    return JwtAuthorizer(secret=SECRET, now=Clock())


def bearer(**claims) -> str:
    base = {
        "sub": "alice",
        "iss": LOCAL_ISSUER,
        "aud": LOCAL_AUDIENCE,
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 3600,
    }
    base.update(claims)
    return "Bearer " + jwt.encode({k: v for k, v in base.items() if v is not ...}, SECRET)


T = int(NOW.timestamp())
REFUSED = {
    "nbf an hour ahead": {"nbf": T + 3600},
    "nbf beyond the leeway": {"nbf": T + 61},
    "nbf a string": {"nbf": "now"},
    "nbf a bool": {"nbf": True},
    "nbf NaN": {"nbf": float("nan")},
    "nbf null": {"nbf": None},
    "iat an hour ahead": {"iat": T + 3600},
    "iat a string": {"iat": "today"},
    "exp passed": {"exp": T - 61},
    "exp NaN": {"exp": float("nan")},
    "exp infinite": {"exp": float("inf")},
    "exp a string": {"exp": str(T + 3600)},
    "exp a bool": {"exp": True},
    "exp missing": {"exp": ...},
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_tokens_outside_their_time_are_refused(authorizer, case):
    assert authorizer.verify(bearer(**REFUSED[case])) is None


@pytest.mark.parametrize(
    "claims",
    [{}, {"nbf": T}, {"nbf": T - 3600}, {"nbf": T + 30}, {"iat": ...}, {"nbf": float(T)}],
)
def test_tokens_within_their_time_pass(authorizer, claims):
    assert authorizer.verify(bearer(**claims))["sub"] == "alice"


def test_nbf_and_exp_follow_the_stacks_clock(authorizer):
    token = bearer(nbf=T + 3600, exp=T + 7200)
    assert authorizer.verify(token) is None
    authorizer.now.at += 3600  # POST /_local/clock
    assert authorizer.verify(token)["sub"] == "alice"
    authorizer.now.at += 3600 + 61
    assert authorizer.verify(token) is None


def test_the_gateway_answers_401_for_a_token_not_yet_valid(authorizer):
    reached = []

    def invoke(function, event):
        reached.append(event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"])
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}

    http = Client(Gateway(authorizer, invoke=invoke))
    early = http.get("/campaigns/cmp_x/pledges", headers={"Authorization": bearer(nbf=T + 3600)})
    assert early.status_code == 401
    assert early.get_json()["error"]["code"] == "unauthorized"
    assert reached == []
    valid = http.get("/campaigns/cmp_x/pledges", headers={"Authorization": bearer(nbf=T)})
    assert valid.status_code == 200 and reached == ["alice"]
