"""Flash intake on the real local stack (`cashmob local --stripe-rate-limit`):
a burst of backers faster than the emulator's per-endpoint limit gets no 5xx
and no 503, each pledge is answered at once (201 ready or 202 preparing with
Retry-After), and every pledge gets its client secret from the intake worker,
each about when `ready_in` said."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest

from cashmob_local.driver import local_stack

pytestmark = pytest.mark.e2e

LIMIT = 6  # the emulator's requests/s per endpoint; the budget is LIMIT - 1
BACKERS = 30
CLIENTS = 6


@pytest.fixture(scope="module")
def running():
    with local_stack("--stripe-rate-limit", str(LIMIT)) as running:
        yield running


def test_a_burst_faster_than_stripe_gets_no_503_and_every_client_secret(running):
    api = running.api
    now = datetime.strptime(api.now(), "%Y-%m-%dT%H:%M:%SZ")
    campaign = api.ok(
        "POST",
        "/campaigns",
        {
            "title": "Flash mob",
            "goal": {"amount": 100_000, "currency": "gbp"},
            "deadline": (now + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        api.organizer("alice"),
    )
    path = f"/campaigns/{campaign['id']}/pledges"

    def back(i):
        body = {"amount": 500 + i, "currency": "gbp", "email": f"b{i}@example.org"}
        return api.call("POST", path, body, {"Idempotency-Key": f"flash-{i}"})

    began = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(back, range(BACKERS)))
    statuses = [status for status, _ in answers]
    assert all(status in (201, 202) for status in statuses), statuses  # no 5xx, no 503
    queued = [body for status, body in answers if status == 202]
    assert queued, "the burst outran the budget: some pledges were queued"
    for body in queued:
        assert body["payment"]["status"] == "preparing"
        assert body["payment"]["client_secret"] is None and body["payment"]["ready_in"] >= 1
    promised = max(body["payment"]["ready_in"] for body in queued)

    def secret(body):
        status, seen = api.call(
            "GET",
            f"{path}/{body['pledge']['id']}",
            headers={"X-Pledge-Token": body["pledge_token"]},
        )
        assert status == 200, seen
        return seen["payment"]["client_secret"] if seen["payment"]["status"] == "ready" else None

    waiting = {body["pledge"]["id"]: body for _, body in answers}
    deadline = time.monotonic() + promised + 30
    while waiting and time.monotonic() < deadline:
        for pid, body in list(waiting.items()):
            if secret(body):
                del waiting[pid]
        time.sleep(0.2)
    assert not waiting, f"{len(waiting)} pledges never got their client secret"
    took = time.monotonic() - began
    # Stripe's pace bounds it from below: a hold is one PaymentIntent each
    assert took >= (BACKERS - LIMIT) / LIMIT * 0.8
    # And the estimate was honest: everything was ready by the longest promise (+ slack)
    assert took <= promised + 10, (took, promised)
