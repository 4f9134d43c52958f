"""The benchmark's own machinery: the intake burst's clients behave like
browsers (the same key for the same pledge, Retry-After honoured, polling
until the client secret), and count what the API answers; the report renders
whatever sections a run produced."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from cashmob_local.bench.counting import item_kind
from cashmob_local.bench.intake import Agenda, Backer, burst
from cashmob_local.bench.report import report

RETRY_503 = 0.1
RETRY_202 = 0.3


class FakeStack:
    """An API that refuses each pledge's first attempt with 503, accepts the
    retry with 202 `preparing`, and has the client secret RETRY_202 seconds
    later; and the emulator's control paths, for the burst's log."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.keys: dict[str, list[str]] = {}  # pledge body's email -> keys sent
        self.queued_at: dict[str, float] = {}  # pledge id -> when answered 202
        self.early_polls = 0
        self.first = self.last = 0.0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.route(Request(environ))(environ, start_response)

    def route(self, request: Request) -> Response:
        path = request.path
        if path == "/_emulator/reset-log":
            return Response("{}")
        if path == "/_emulator/requests" and request.args.get("log"):
            # The raw log: an intent per queued pledge, when it was queued (wall clock).
            offset = time.time() - time.monotonic()
            log = [
                {"method": "POST", "path": "/v1/setup_intents", "status": 200, "at": t + offset}
                for t in self.queued_at.values()
            ]
            return Response(_json(log))
        if path == "/_emulator/requests":
            n = len(self.queued_at)
            endpoint = {"count": n, "status": {"200": n}, "first": self.first, "last": self.last}
            body = {"endpoints": {"POST /v1/setup_intents": endpoint}, "by_status": {"200": n}}
            return Response(_json(body))
        if request.method == "POST":
            email = request.get_json()["email"]
            key = request.headers["Idempotency-Key"]
            pledge_id = "plg_" + email.split("@")[0]
            with self.lock:
                sent = self.keys.setdefault(email, [])
                sent.append(key)
                if len(sent) == 1:
                    return Response("{}", 503, headers={"Retry-After": str(RETRY_503)})
                self.queued_at.setdefault(pledge_id, time.monotonic())
            body = {
                "pledge": {"id": pledge_id},
                "pledge_token": "t-" + pledge_id,
                "payment": {
                    "flow": "setup",
                    "status": "preparing",
                    "intent_id": None,
                    "client_secret": None,
                    "ready_in": 1,
                },
            }
            return Response(_json(body), 202, headers={"Retry-After": str(RETRY_202)})
        pledge_id = path.rsplit("/", 1)[1]
        assert request.headers["X-Pledge-Token"] == "t-" + pledge_id
        waited = time.monotonic() - self.queued_at[pledge_id]
        with self.lock:
            if waited < RETRY_202 - 0.01:
                self.early_polls += 1
        if waited < RETRY_202 + 0.1:
            payment = {"status": "preparing", "client_secret": None}
            return Response(_json({"payment": payment}), headers={"Retry-After": "0.05"})
        with self.lock:
            now = time.time()
            self.first, self.last = self.first or now, now
        payment = {"status": "ready", "intent_id": "seti_" + pledge_id, "client_secret": "cs"}
        return Response(_json({"payment": payment}))


def _json(body: Any) -> str:
    return json.dumps(body)


@pytest.fixture
def fake():
    stack = FakeStack()
    server = make_server("127.0.0.1", 0, stack, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stack.url = f"http://127.0.0.1:{server.server_port}"
    yield stack
    server.shutdown()


def test_the_burst_retries_with_the_same_key_honours_retry_after_and_counts_every_503(fake):
    result = burst(fake.url, fake.url, "cmp_x", pledges=24, clients=4, rate_limit=25, flow="setup")

    # Each pledge: one key, sent twice (the 503, then the accepted retry); keys differ.
    assert len(fake.keys) == 24
    assert all(len(keys) == 2 and keys[0] == keys[1] for keys in fake.keys.values())
    assert len({keys[0] for keys in fake.keys.values()}) == 24
    assert fake.early_polls == 0  # no poll before the 202's Retry-After
    assert result["post_answers"] == {"503": 24, "202": 24}
    assert (result["http_5xx"], result["http_503"]) == (24, 24)
    assert (result["accepted"], result["accepted_202"], result["missing_secrets"]) == (24, 24, 0)
    assert result["distinct_intents"] == 24
    assert result["polls"] >= 24
    assert result["last_secret_seconds"] >= RETRY_503 + RETRY_202
    assert sum(result["intents_by_second"]) == 24  # from the emulator's raw log


def test_a_browser_s_timed_request_goes_before_the_burst_s_next_new_pledge():
    backers = [Backer(i) for i in range(3)]
    agenda = Agenda(backers, give_up_at=time.monotonic() + 60)

    assert agenda.take() == ("pledge", backers[0])
    agenda.put(time.monotonic() + 30, "poll", backers[0])  # not due yet
    assert agenda.take() == ("pledge", backers[1])
    agenda.put(time.monotonic() - 1, "poll", backers[1])  # due
    assert agenda.take() == ("poll", backers[1])
    assert agenda.take() == ("pledge", backers[2])
    for _ in backers:
        agenda.finished()
    assert agenda.take() is None  # every backer done: nothing waits for the poll due later


def _intake_figures(**changes: Any) -> dict[str, Any]:
    figures = {
        "flow": "setup",
        "pledges": 2000,
        "clients": 16,
        "rate_limit": 25,
        "intents_created": 2000,
        "intents_per_second": 23.5,
        "intent_ratio_to_limit": 0.94,
        "accepted": 2000,
        "accepted_201": 30,
        "accepted_202": 1970,
        "accept_seconds": 20.0,
        "accepted_per_second": 100.0,
        "accepted_ratio_to_limit": 4.0,
        "last_secret_seconds": 88.0,
        "ideal_seconds": 80.0,
        "last_secret_ratio_to_ideal": 1.1,
        "http_5xx": 0,
        "http_503": 0,
        "http_429": 0,
        "missing_secrets": 0,
        "failed": 0,
        "ready_in_median": 4,
        "queued_wait_median": 40.0,
    }
    return {**figures, **changes}


def test_a_partial_run_renders_its_sections_and_names_the_others():
    text = report({"rate_limit": 25, "intake": [_intake_figures()]}, "bench --only intake", 60)

    assert "Not run this time: settlement, cold_start, demo, hot, cost." in text
    summary = text.split("## How to read it")[0]
    assert (
        "| intake setup, 2,000 pledges from 16 clients: intents created/s ÷ Stripe limit "
        "(emulator log) | 0.94 | 2,000 at 23.5/s ÷ 25 | ≥ 0.9 | yes |" in summary
    )
    assert "| 0 / 0 (429s: 0) | 0 / 0 | yes |" in summary
    assert "`ready_in` ÷ the wait it estimates (medians) | — | 4 s ÷ 40.0 s = 0.10 |" in summary
    assert "settlement" not in summary.split("|---|")[1]
    assert "Why each DynamoDB write" not in text  # only with the cost section


def test_a_figure_that_misses_its_target_says_no():
    bad = _intake_figures(http_5xx=3, http_503=2, missing_secrets=1, intent_ratio_to_limit=0.5)
    summary = report({"rate_limit": 25, "intake": [bad]}, "x", 1).split("## How to read it")[0]

    assert summary.count("**no**") == 3


def test_every_section_renders_ratios_first_and_intake_leads():
    results = {
        "rate_limit": 25,
        "intake": [_intake_figures(), _intake_figures(flow="hold")],
        "settlement": [
            {
                "flow": flow,
                "pledges": n,
                "deadline_to_terminal_seconds": n / 25 * 1.05,
                "bound_seconds": n / 25 * 1.1 + 6,
                "within_bound": True,
                "ratio_to_ideal": 1.05,
                "pledges_lost": 0,
                "double_charges": 0,
                "http_429": 0,
                "charges_per_second": 23.0,
                "ratio_to_limit": 0.92,
                "peak_rss_mib": 150.0 + n / 1000,
            }
            for flow in ("setup", "hold")
            for n in (300, 1000, 10000)
        ],
        "cold_start": {
            "boto3": {
                "median_ms": 100.0,
                "ratio": 1.0,
                "whole_process_ms": 100.0,
                "whole_process_ratio": 1.0,
            },
            "ApiFunction": {
                "median_ms": 140.0,
                "ratio": 1.4,
                "whole_process_ms": 160.0,
                "whole_process_ratio": 1.6,
                "with_tracing": {"median_ms": 250.0, "ratio_to_boto3": 2.5},
            },
            "floors": {"pydantic alone": {"median_ms": 55.0, "ratio": 0.55, "cpu_ratio": 0.56}},
            "method": {"runs": 11},
        },
        "demo": {"backers": 2000, "variant": "both", "seconds": 170.0, "ok": True},
        "hot": {
            "confirmations": 2000,
            "deliveries": 2200,
            "seconds": 30.0,
            "lost": 0,
            "double_counted": 0,
            "busiest_writes": 200,
            "items_written": 6000,
            "busiest_share": 0.033,
            "shards": 10,
        },
        "cost": {
            "setup": {
                "dynamodb_items_written": 6.0,
                "dynamodb_write_requests": 4.0,
                "dynamodb_read_requests": 3.3,
                "stripe_calls": 3.0,
            }
        },
    }
    text = report(results, "make bench", 1200)
    summary = text.split("## How to read it")[0]
    rows = [line for line in summary.splitlines() if line.startswith("| ")][1:]

    assert "Not run" not in summary
    assert rows[0].startswith("| intake setup")
    assert "| settlement hold, 10,000: deadline → terminal ÷ ideal N / limit | 1.05 |" in summary
    assert (
        "| cold start ApiFunction ÷ `import boto3`, in-process | 1.40 | 140 ms ÷ 100 ms "
        "| ≤ 1.5 | yes |" in summary
    )
    assert (
        "| cold start ApiFunction ÷ `import boto3`, whole process (`python -c`) | 1.60 "
        "| 160 ms ÷ 100 ms | ≤ 1.5 | **no** |" in summary
    )
    assert "with tracing on (X-Ray SDK) | 2.50 | 250 ms | — | — |" in summary
    assert "| cold start floor, libraries alone: pydantic alone | 0.55 | 55 ms | — | — |" in summary
    assert (
        "| hot campaign: webhook confirmations/s, local stack | — | 2,200 in 30.0 s = 73.3/s | ≥ 60/s | yes |"
        in summary
    )
    assert "`make demo` (2,000 backers, both): wall time" in summary
    assert "## Why each DynamoDB write" in text


def test_the_cost_section_tabulates_items_written_by_kind_per_flow():
    cost = {
        flow: {
            "dynamodb_items_written": total,
            "dynamodb_write_requests": total,
            "dynamodb_read_requests": 3.0,
            "stripe_calls": 2.0,
            "items_written_by_kind": kinds,
        }
        for flow, total, kinds in (
            ("setup", 3.0, {"pledge": 2.0, "Stripe budget slot": 1.0}),
            ("hold", 1.5, {"pledge": 1.5}),
        )
    }
    text = report({"rate_limit": 25, "cost": cost}, "x", 1)

    assert "| item | setup flow | hold flow |" in text
    assert "| Stripe budget slot | 1.00 | 0.00 |" in text
    assert "| pledge | 2.00 | 1.50 |" in text
    assert "| **all** | 3.00 | 1.50 |" in text


@pytest.mark.parametrize(
    ("table", "key", "kind"),
    [
        ("CampaignsTable", {"campaign_id": {"S": "cmp_1"}}, "campaign"),
        ("PledgesTable", {"campaign_id": {"S": "cmp_1"}, "pledge_id": {"S": "p"}}, "pledge"),
        ("CountersTable", {"campaign_id": {"S": "budget#customers#9"}}, "Stripe budget slot"),
        ("CountersTable", {"campaign_id": {"S": "intake#queue"}}, "intake queue counter"),
        ("CountersTable", {"campaign_id": {"S": "intake#cmp_1#p"}}, "intake ticket"),
        ("CountersTable", {"campaign_id": {"S": "cmp_1"}}, "progress counter shard"),
        ("ProcessedEventsTable", {"event_id": {"S": "email:p:receipt"}}, "email log"),
        ("ProcessedEventsTable", {"event_id": {"S": "evt_1"}}, "processed Stripe event"),
    ],
)
def test_each_written_item_is_named_by_what_it_is(table, key, kind):
    assert item_kind(table, key) == kind
