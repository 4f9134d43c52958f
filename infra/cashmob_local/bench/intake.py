"""Flash intake: a burst of N pledges from C concurrent HTTP clients against
`cashmob local --stripe-rate-limit R` (the emulator enforcing R requests/s
per endpoint, the stack's pledge-time budget following it), per flow, each
on a fresh stack: by default moto and the emulator run in processes of their
own, as the settlement benchmark does (`--layout one`: all in one process).

Each client behaves like a backer's browser: a fresh `Idempotency-Key` per
pledge (kept when it sends the same pledge again after a 429 or a 5xx),
`Retry-After` honoured, and after a 202 `preparing` it polls `GET` on the
pledge with its token until `payment.status` is `ready` (the client secret)
or `failed`. The clients share one agenda (`Agenda`): each poll (or pledge
sent again) when its `Retry-After` says, and the burst's new pledges, in
arrival order, as fast as C connections carry them in between.

Figures: pledges accepted (201 + 202) per second ÷ the limit; intents
created per second ÷ the limit, from the emulator's own request log; the
time from the burst's first request to the last client secret ÷ the ideal
N / limit; every 5xx and 503 answer (the target is none); pledges left
without a client secret.

`python -m cashmob_local.bench.intake --pledges 200 --flows setup` runs it alone."""

from __future__ import annotations

import argparse
import heapq
import http.client
import itertools
import json
import statistics
import sys
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..driver import Api, free_port, local_stack
from .plumbing import fetch_json, quiet_process, wait_http

FLOWS = ("setup", "hold")
# Days from now to the deadline: past the 6-day hold window the card is saved
# (setup flow), within it the funds are held (hold flow).
DEADLINE_DAYS = {"setup": 20, "hold": 3}
# The Stripe endpoint whose objects carry the client secret, per flow.
INTENT_ENDPOINT = {"setup": "POST /v1/setup_intents", "hold": "POST /v1/payment_intents"}
AMOUNT = 500


@dataclass
class Backer:
    """One pledge's story, as its browser saw it."""

    index: int
    key: str = field(default_factory=lambda: f"bench-{uuid.uuid4()}")
    pledge_id: str | None = None
    token: str | None = None
    flow: str | None = None
    accepted_at: float | None = None
    answered_in: float | None = None  # the accepting POST's own latency
    ready_in: float | None = None  # the 202's estimate
    secret_at: float | None = None
    intent_id: str | None = None
    failed: str | None = None

    @property
    def done(self) -> bool:
        return self.secret_at is not None or self.failed is not None


class Agenda:
    """What the clients do next, shared by them: a request a browser has timed
    (a poll, or the same pledge again, when Retry-After said) as soon as it is
    due, else the burst's next new pledge, in arrival order. Each backer's
    browser keeps its own time, however busy the burst keeps the clients.
    `take` answers None once every backer is done (or the clients give up)."""

    def __init__(self, backers: list[Backer], give_up_at: float) -> None:
        self._timed: list[tuple[float, int, str, Backer]] = []
        self._arrivals = deque(backers)
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._open = len(backers)
        self._give_up_at = give_up_at

    def put(self, due: float, kind: str, backer: Backer) -> None:
        with self._cond:
            heapq.heappush(self._timed, (due, next(self._seq), kind, backer))
            self._cond.notify()

    def finished(self) -> None:
        with self._cond:
            self._open -= 1
            if self._open == 0:
                self._cond.notify_all()

    def take(self) -> tuple[str, Backer] | None:
        with self._cond:
            while True:
                now = time.monotonic()
                if self._open == 0 or now > self._give_up_at:
                    self._cond.notify_all()
                    return None
                if self._timed and self._timed[0][0] <= now:
                    _, _, kind, backer = heapq.heappop(self._timed)
                    return kind, backer
                if self._arrivals:
                    return "pledge", self._arrivals.popleft()
                wait = self._timed[0][0] - now if self._timed else 1.0
                self._cond.wait(min(wait, 1.0))


class Client:
    """One keep-alive HTTP connection, like a browser's."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.conn: http.client.HTTPConnection | None = None

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], Any]:
        """(status, headers, JSON body); status 0 when the connection failed."""
        data = None if body is None else json.dumps(body).encode()
        for attempt in range(2):  # a keep-alive connection the server closed: once more
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                self.conn.request(
                    method, path, data, {"Content-Type": "application/json", **(headers or {})}
                )
                response = self.conn.getresponse()
                raw = response.read()
                answer = {k.lower(): v for k, v in response.getheaders()}
                if answer.get("connection", "").lower() == "close":
                    self.close()
                try:
                    return response.status, answer, json.loads(raw or b"null")
                except ValueError:
                    return response.status, answer, raw.decode(errors="replace")
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt:
                    return 0, {}, None
        return 0, {}, None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _retry_after(headers: dict[str, str], default: float) -> float:
    try:
        return max(0.0, float(headers["retry-after"]))
    except (KeyError, ValueError):
        return default


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def burst(
    api_base: str,
    stripe_url: str,
    campaign_id: str,
    *,
    pledges: int,
    clients: int,
    rate_limit: float,
    flow: str,
) -> dict[str, Any]:
    """The burst against a running stack whose emulator log this empties first."""
    backers = [Backer(i) for i in range(pledges)]
    ideal = pledges / rate_limit
    post_answers: Counter[str] = Counter()
    poll_answers: Counter[str] = Counter()
    lock = threading.Lock()
    fetch_json(f"{stripe_url}/_emulator/reset-log", {})
    started_wall, started = time.time(), time.monotonic()
    agenda = Agenda(backers, give_up_at=started + 5 * ideal + 60)
    pledges_path = f"/campaigns/{campaign_id}/pledges"

    def tally(counter: Counter[str], status: int) -> None:
        with lock:
            counter[str(status)] += 1

    def ready(b: Backer, payment: dict[str, Any]) -> bool:
        """Records the client secret or the failure; False while preparing."""
        if payment.get("status") == "failed":
            b.failed = "payment failed: " + json.dumps(payment.get("error"))
        elif payment.get("client_secret") and payment.get("status", "ready") != "preparing":
            b.secret_at, b.intent_id = time.monotonic(), payment.get("intent_id")
        else:
            return False
        agenda.finished()
        return True

    def pledge(client: Client, b: Backer) -> None:
        sent = time.monotonic()
        status, headers, answer = client.call(
            "POST",
            pledges_path,
            {
                "amount": AMOUNT,
                "currency": "gbp",
                "email": f"backer{b.index}@example.org",
                "display_name": f"Backer {b.index}",
            },
            {"Idempotency-Key": b.key},
        )
        tally(post_answers, status)
        if status in (200, 201, 202):
            b.accepted_at, b.answered_in = time.monotonic(), time.monotonic() - sent
            b.pledge_id, b.token = answer["pledge"]["id"], answer["pledge_token"]
            payment = answer["payment"]
            b.flow = payment.get("flow")
            if status == 202 or not ready(b, payment):
                b.ready_in = payment.get("ready_in")
                wait = _retry_after(headers, float(b.ready_in or 1.0))
                agenda.put(time.monotonic() + wait, "poll", b)
        elif status == 0 or status == 429 or status >= 500:
            # The same attempt again, with the same key, when the server says.
            agenda.put(time.monotonic() + _retry_after(headers, 1.0), "pledge", b)
        else:
            b.failed = f"POST answered {status}: {answer}"
            agenda.finished()

    def poll(client: Client, b: Backer) -> None:
        status, headers, answer = client.call(
            "GET", f"{pledges_path}/{b.pledge_id}", headers={"X-Pledge-Token": b.token or ""}
        )
        tally(poll_answers, status)
        if status == 200 and ready(b, answer.get("payment") or {}):
            return
        if status == 200 or status == 0 or status == 429 or status >= 500:
            estimate = ((answer or {}).get("payment") or {}).get("ready_in") if status else None
            wait = _retry_after(headers, float(estimate or 1.0))
            agenda.put(time.monotonic() + wait, "poll", b)
        else:
            b.failed = f"GET answered {status}: {answer}"
            agenda.finished()

    def run() -> None:
        client = Client(api_base)
        try:
            while (job := agenda.take()) is not None:
                kind, b = job
                (pledge if kind == "pledge" else poll)(client, b)
        finally:
            client.close()

    threads = [
        threading.Thread(target=run, name=f"client-{i}", daemon=True) for i in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    log = fetch_json(f"{stripe_url}/_emulator/requests")
    by_second = _by_second(
        fetch_json(f"{stripe_url}/_emulator/requests?log=1"), INTENT_ENDPOINT[flow]
    )
    accepted = [b for b in backers if b.accepted_at is not None]
    accepted_at = [b.accepted_at for b in backers if b.accepted_at is not None]
    answered_in = [b.answered_in for b in backers if b.answered_in is not None]
    with_secret = [b for b in backers if b.secret_at is not None]
    secret_at = [b.secret_at for b in backers if b.secret_at is not None]
    last_accept = max(accepted_at, default=started) - started
    last_secret = max(secret_at) - started if secret_at else None
    intents = log["endpoints"].get(INTENT_ENDPOINT[flow], {"status": {}, "first": 0, "last": 0})
    created = intents["status"].get("200", 0)
    span = max(intents["last"] - intents["first"], 1e-9)
    since_start = max(intents["last"] - started_wall, 1e-9)
    every = Counter(post_answers) + Counter(poll_answers)
    ready_in = [b.ready_in for b in accepted if b.ready_in is not None]
    waits = [
        b.secret_at - b.accepted_at
        for b in accepted
        if b.ready_in is not None and b.secret_at is not None and b.accepted_at is not None
    ]
    return {
        "flow": flow,
        "flows_seen": dict(Counter(b.flow for b in accepted)),
        "pledges": pledges,
        "clients": clients,
        "rate_limit": rate_limit,
        "post_answers": dict(post_answers),
        "poll_answers": dict(poll_answers),
        "http_5xx": sum(v for k, v in every.items() if k.startswith("5")),
        "http_503": every.get("503", 0),
        "http_429": every.get("429", 0),
        "connection_errors": every.get("0", 0),
        "accepted": len(accepted),
        "accepted_201": post_answers.get("201", 0),
        "accepted_202": post_answers.get("202", 0),
        "accept_seconds": last_accept,
        "accepted_per_second": len(accepted) / max(last_accept, 1e-9),
        "accepted_ratio_to_limit": len(accepted) / max(last_accept, 1e-9) / rate_limit,
        "answer_ms_median": 1000 * statistics.median(answered_in) if answered_in else None,
        "answer_ms_p99": 1000 * (_percentile(answered_in, 0.99) or 0),
        "intent_endpoint": INTENT_ENDPOINT[flow],
        "intents_created": created,
        "intents_per_second": created / span,
        "intent_ratio_to_limit": created / span / rate_limit,
        # From the burst's first request, not from the first intent: the end-to-end rate.
        "intents_per_second_from_start": created / since_start,
        "intent_ratio_from_start": created / since_start / rate_limit,
        # Intents created in each second from the first (where the pace
        # fell below the budget: a slow start, stalls, the tail).
        "intents_by_second": by_second,
        "stripe_answers": log["by_status"],
        "stripe_429": log["by_status"].get("429", 0),
        "distinct_intents": len({b.intent_id for b in with_secret if b.intent_id}),
        "ideal_seconds": ideal,
        "last_secret_seconds": last_secret,
        "last_secret_ratio_to_ideal": None if last_secret is None else last_secret / ideal,
        "ready_in_median": statistics.median(ready_in) if ready_in else None,
        "queued_wait_median": statistics.median(waits) if waits else None,
        "polls": sum(poll_answers.values()),
        "missing_secrets": pledges - len(with_secret),
        # The clients stopped waiting (5 x ideal + 1 min) with pledges still preparing.
        "gave_up": any(not b.done for b in backers),
        "failed": sum(1 for b in backers if b.failed),
        "failures": sorted({b.failed for b in backers if b.failed})[:5],
    }


def _by_second(log: list[dict[str, Any]], endpoint: str) -> list[int]:
    """The endpoint's successful requests in each second from its first
    (the emulator's raw log: `arrived`, wall-clock seconds)."""
    method, path = endpoint.split(" ", 1)
    times = [
        r.get("arrived", r["at"])
        for r in log
        if r["method"] == method and r["path"] == path and r["status"] == 200
    ]
    if not times:
        return []
    first = min(times)
    counts = Counter(int(t - first) for t in times)
    return [counts.get(i, 0) for i in range(max(counts) + 1)]


LAYOUTS = ("processes", "one")


@contextmanager
def _stack(rate_limit: int, layout: str) -> Iterator[tuple[Api, str]]:
    """(the API, the emulator's URL) of a fresh stack whose pledge-time budget
    follows `--stripe-rate-limit`. "one": `cashmob local --stripe-rate-limit`
    alone, everything in its process, as a newcomer runs it. "processes": moto
    and the emulator in processes of their own (as DynamoDB and Stripe are not
    in the API's), like the settlement benchmark."""
    quiet = {"POWERTOOLS_LOG_LEVEL": "WARNING"}
    if layout == "one":
        with local_stack("--stripe-rate-limit", str(rate_limit), env=quiet) as running:
            yield running.api, running.stripe_url
        return
    py = sys.executable
    moto_port, emu_port, api_port = free_port(), free_port(), free_port()
    moto_url, emu_url = f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{emu_port}"
    api = Api(f"http://127.0.0.1:{api_port}")
    # Quiet, as `cashmob local`'s own moto process is (`moto_process`): a
    # request log line per DynamoDB call was about a tenth of moto's CPU.
    serve = (
        "import logging, time; from cashmob_local.stack import serve_moto; "
        "logging.getLogger('werkzeug').setLevel(logging.WARNING); "
        f"serve_moto('127.0.0.1', {moto_port}); time.sleep(10**9)"
    )
    emulator = [py, "-m", "cashmob_local.cli", "stripe-emulator", "--port", str(emu_port)]
    emulator += ["--rate-limit", str(rate_limit), "--forward-to", f"{api.base}/webhooks/stripe"]
    from cashmob.service.webhooks import ENABLED_EVENTS  # as `cashmob local` subscribes

    emulator += ["--events", ",".join(sorted(ENABLED_EVENTS))]
    local = [py, "-m", "cashmob_local.cli", "local", "--port", str(api_port), "--tick", "3600"]
    local += ["--stripe-api-base", emu_url, "--stripe-rate-limit", str(rate_limit)]
    env = {
        **quiet,
        "CASHMOB_LOCAL_AWS_ENDPOINT": moto_url,
        "STRIPE_SECRET_KEY": "sk_test_local",
        "STRIPE_WEBHOOK_SECRET": "whsec_local",
    }
    with quiet_process([py, "-c", serve]), quiet_process(emulator):
        wait_http(moto_url)
        wait_http(f"{emu_url}/_emulator/faults")
        with quiet_process(local, env):
            wait_http(f"{api.base}/campaigns", 90)
            yield api, emu_url


def intake(
    pledges: int = 2000,
    clients: int = 16,
    rate_limit: int = 25,
    flows: tuple[str, ...] = FLOWS,
    layout: str = "processes",
    log_dir: str | None = None,
) -> list[dict[str, Any]]:
    """One result per flow, each against a fresh stack (`_stack`). `log_dir`:
    each burst's emulator request log is written there as JSON (a diagnosis)."""
    results = []
    for flow in flows:
        with _stack(rate_limit, layout) as (api, stripe_url):
            now = datetime.strptime(api.now(), "%Y-%m-%dT%H:%M:%SZ")
            campaign = api.ok(
                "POST",
                "/campaigns",
                {
                    "title": f"intake burst ({flow})",
                    "goal": {"amount": pledges * AMOUNT, "currency": "gbp"},
                    "deadline": (now + timedelta(days=DEADLINE_DAYS[flow])).strftime(
                        "%Y-%m-%dT%H:%M:%SZ"
                    ),
                },
                api.organizer("bench"),
            )
            result = burst(
                api.base,
                stripe_url,
                campaign["id"],
                pledges=pledges,
                clients=clients,
                rate_limit=rate_limit,
                flow=flow,
            )
            result["recorded"] = _recorded(api, campaign["id"])
            if log_dir is not None:
                log = fetch_json(f"{stripe_url}/_emulator/requests?log=1")
                Path(log_dir, f"intake-{flow}-{pledges}.json").write_text(json.dumps(log))
            result["layout"] = layout
            results.append(result)
    return results


def _recorded(api: Api, campaign_id: str) -> int:
    """The pledges the organizer's list shows: every accepted pledge is recorded."""
    organizer = api.organizer("bench")
    count, cursor = 0, None
    while True:
        page = api.ok(
            "GET",
            f"/campaigns/{campaign_id}/pledges?limit=100" + (f"&cursor={cursor}" if cursor else ""),
            headers=organizer,
        )
        count += len(page["pledges"])
        cursor = page.get("next_cursor")
        if not cursor:
            return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cashmob-bench-intake", description=__doc__)
    parser.add_argument("--pledges", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rate-limit", type=int, default=25)
    parser.add_argument("--flows", default=",".join(FLOWS))
    parser.add_argument("--layout", choices=LAYOUTS, default="processes")
    parser.add_argument(
        "--log-dir", help="diagnosis: write each burst's emulator request log there (JSON)"
    )
    args = parser.parse_args(argv)
    results = intake(
        args.pledges,
        args.clients,
        args.rate_limit,
        tuple(args.flows.split(",")),
        args.layout,
        log_dir=args.log_dir,
    )
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
