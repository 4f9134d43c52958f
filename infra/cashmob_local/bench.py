"""`make bench`: cashmob's figures, measured side by side in one run.

1. Settlement vs Stripe's rate limit, and scaling (1,000 vs 10,000 pledges):
   moto and the Stripe emulator run in their own processes; a fresh
   `cashmob local` process per size settles a campaign of N active pledges
   while the emulator enforces Stripe's 25 requests/s per endpoint. Charges/s
   come from the emulator's request log; peak memory is the settling
   process's VmHWM (moto's and the emulator's data live elsewhere).
2. Cost per pledge: the whole local stack in this process; every botocore
   call is counted (a hook on the client) and the emulator logs every Stripe
   request, over each pledge's whole life (create, confirm, settle).
3. Cold start: importing and initialising each handler module in a fresh
   interpreter vs `import boto3` alone, median of 11.
4. Hot campaign: 2,000 confirmations of one campaign's pledges delivered
   concurrently; lost/double counts and the busiest DynamoDB item's share.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .driver import Api, free_port, stripe_client

ROOT = Path(__file__).resolve().parents[2]
READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


# ---------------------------------------------------------------- plumbing


def _json(url: str, data: Any = None) -> Any:
    request = urllib.request.Request(
        url,
        data=None if data is None else json.dumps(data).encode(),
        method="POST" if data is not None else "GET",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(url)


@contextmanager
def _process(args: list[str], env: dict[str, str] | None = None):
    """A quiet subprocess, stopped on exit. It never inherits this process's
    AWS_ENDPOINT_URL (set while seeding): each one is told its endpoint."""
    inherited = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    log = open(os.devnull, "wb")  # noqa: SIM115
    process = subprocess.Popen(args, env={**inherited, **(env or {})}, stdout=log, stderr=log)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


OBSERVER = "X-Bench-Observer"
_thread = threading.local()


class ObserverMarker:
    """WSGI middleware: the benchmark's own GETs (polling for progress) are
    not part of any pledge's cost, so calls made while serving them are not
    counted. Its POSTs (the tick standing in for the schedule) are."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        _thread.observer = (
            environ.get("HTTP_X_BENCH_OBSERVER") == "1" and environ["REQUEST_METHOD"] == "GET"
        )
        try:
            return self.app(environ, start_response)
        finally:
            _thread.observer = False


class CallCounter:
    """Counts botocore API calls (service, operation) and the DynamoDB items
    each write touches, by hooking every client's request path."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.item_writes: Counter[str] = Counter()
        self.write_items = 0
        self.on = False
        self._lock = threading.Lock()

    def install(self) -> None:
        from botocore.client import BaseClient

        original = BaseClient._make_api_call
        counter = self

        def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
            if counter.on and not getattr(_thread, "observer", False):
                counter.record(client.meta.service_model.service_name, operation, params)
            return original(client, operation, params)

        BaseClient._make_api_call = counted  # type: ignore[method-assign]

    def record(self, service: str, operation: str, params: dict[str, Any]) -> None:
        with self._lock:
            self.calls[(service, operation)] += 1
            if service != "dynamodb" or operation not in WRITES:
                return
            items = []
            if operation == "TransactWriteItems":
                for entry in params["TransactItems"]:
                    ((kind, body),) = entry.items()
                    if kind != "ConditionCheck":
                        items.append((body["TableName"], body.get("Key") or body.get("Item")))
            elif operation in ("PutItem", "UpdateItem", "DeleteItem"):
                items.append((params["TableName"], params.get("Key") or params.get("Item")))
            for table, key in items:
                self.write_items += 1
                ident = {
                    k: v
                    for k, v in key.items()
                    if k in ("campaign_id", "pledge_id", "shard", "event_id")
                }
                self.item_writes[f"{table}:{json.dumps(ident, sort_keys=True)}"] += 1

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.item_writes.clear()
            self.write_items = 0

    def dynamodb(self) -> tuple[int, int, int]:
        """(read requests, write requests, items written)."""
        reads = sum(n for (s, op), n in self.calls.items() if s == "dynamodb" and op in READS)
        writes = sum(n for (s, op), n in self.calls.items() if s == "dynamodb" and op in WRITES)
        return reads, writes, self.write_items


# ---------------------------------------------------------------- 1. settlement


def settlement(sizes: list[int], rate_limit: int) -> list[dict[str, Any]]:
    """Each size: seed N active setup-flow pledges, then a fresh `cashmob local`
    settles them against the rate-limited emulator."""
    moto_port, emu_port = free_port(), free_port()
    moto_url, emu_url = f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{emu_port}"
    py = sys.executable
    results = []
    with (
        _process(
            [
                py,
                "-c",
                f"import time; from cashmob_local.stack import serve_moto; serve_moto('127.0.0.1', {moto_port}); time.sleep(10**9)",
            ]
        ),
        _process([py, "-m", "cashmob_local.cli", "stripe-emulator", "--port", str(emu_port)]),
    ):
        _wait_http(moto_url)
        _wait_http(f"{emu_url}/_emulator/faults")
        os.environ["AWS_ENDPOINT_URL"] = moto_url
        for n in sizes:
            campaign_id = _seed(n, emu_url)
            _json(f"{emu_url}/_emulator/faults", {"rate_limit": rate_limit})
            _json(f"{emu_url}/_emulator/reset-log", {})
            results.append(_settle_in_fresh_stack(n, campaign_id, moto_url, emu_url, rate_limit))
            _json(f"{emu_url}/_emulator/faults", {"rate_limit": None})
        del os.environ["AWS_ENDPOINT_URL"]
    return results


def _seed(n: int, emu_url: str) -> str:
    import boto3

    from cashmob.store.models import build_models

    build_models.cache_clear()  # models bind their connection to the endpoint of first use

    from cashmob.config import Settings
    from cashmob.domain import (
        Backer,
        Campaign,
        CampaignStatus,
        FundingModel,
        Money,
        Payment,
        PaymentFlow,
        Pledge,
        PledgeStatus,
    )
    from cashmob.store import Store

    from . import template

    template.create_tables(boto3.client("dynamodb"))
    store = Store(Settings())
    client = stripe_client(emu_url, retries=0)
    now = datetime.now(UTC).replace(microsecond=0)
    campaign_id = f"cmp_bench{n}_{int(time.time())}"
    store.create_campaign(
        Campaign(
            id=campaign_id,
            title=f"bench {n}",
            description="",
            organizer="bench",
            goal=Money(100, "gbp"),
            min_backers=0,
            min_pledge=Money(300, "gbp"),
            funding_model=FundingModel.ALL_OR_NOTHING,
            deadline=now + timedelta(seconds=5),
            next_check_at=now + timedelta(seconds=5),  # the sweep's index, as new_campaign sets it
            status=CampaignStatus.LIVE,
            created_at=now - timedelta(days=1),
        )
    )

    def one(i: int) -> None:
        pid = f"plg_{campaign_id}_{i:05}"
        customer = client.customers.create(params={"metadata": {"pledge_id": pid}})
        store.create_pledge(
            Pledge(
                id=pid,
                campaign_id=campaign_id,
                amount=Money(1000, "gbp"),
                backer=Backer(email=f"b{i}@example.org"),
                status=PledgeStatus.ACTIVE,
                created_at=now - timedelta(hours=1),
                activated_at=now - timedelta(hours=1),
                payment=Payment(
                    flow=PaymentFlow.SETUP,
                    intent_id=f"seti_bench_{i}",
                    client_secret="x",
                    customer_id=customer.id,
                    payment_method="pm_card_visa",
                    intent_open=False,
                ),
                token_hash="-",
                request_hash="-",
                counter_shard=i % 10,
            )
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(n)))
    time.sleep(6)  # the deadline passes
    return campaign_id


def _settle_in_fresh_stack(
    n: int, campaign_id: str, moto_url: str, emu_url: str, rate_limit: int
) -> dict[str, Any]:
    port = free_port()
    env = {
        "CASHMOB_LOCAL_AWS_ENDPOINT": moto_url,
        "STRIPE_SECRET_KEY": "sk_test_local",
        "STRIPE_WEBHOOK_SECRET": "whsec_local",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        # Measure settlement itself, not the grace minute for late webhooks.
        "SETTLEMENT_DELAY_SECONDS": "0",
    }
    args = [
        sys.executable,
        "-m",
        "cashmob_local.cli",
        "local",
        "--port",
        str(port),
        "--tick",
        "1",
        "--stripe-api-base",
        emu_url,
    ]
    with _process(args, env) as process:
        api = Api(f"http://127.0.0.1:{port}")
        _wait_http(f"{api.base}/campaigns", 90)
        started = time.monotonic()
        while True:
            status = api.ok("GET", f"/campaigns/{campaign_id}")["status"]
            if status in ("succeeded", "failed"):
                break
            if time.monotonic() - started > 3 * 3600:
                raise TimeoutError("settlement took over 3 hours")
            time.sleep(0.5)
        wall = time.monotonic() - started
        peak = _peak_rss_mib(process.pid)
        final = api.ok("GET", f"/campaigns/{campaign_id}")
    requests = _json(f"{emu_url}/_emulator/requests")
    charges = requests["endpoints"].get(
        "POST /v1/payment_intents", {"count": 0, "status": {}, "first": 0, "last": 0}
    )
    ok = charges["status"].get("200", 0)
    span = max(charges["last"] - charges["first"], 1e-9)
    return {
        "pledges": n,
        "wall_seconds": wall,
        "charges": ok,
        "charges_per_second": ok / span,
        "ratio_to_limit": ok / span / rate_limit,
        "http_429": charges["status"].get("429", 0),
        "not_collected": n - (final["settlement"] or {}).get("collected", 0) // 1000,
        "peak_rss_mib": peak,
        "status": final["status"],
    }


# ---------------------------------------------------------------- 2 and 4: in-process stack


def in_process_stack() -> Any:
    from cashmob.store.models import build_models

    from .stack import Stack

    build_models.cache_clear()  # models bind their connection to the endpoint of first use

    args = argparse.Namespace(
        host="127.0.0.1",
        port=0,
        tick=3600.0,
        stripe_port=0,
        stripe_api_base=None,
        webhook_forward_to=None,
        stripe_rate_limit=None,
        stripe_latency_ms=0.0,
    )
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    stack = Stack(args)
    stack.start()
    api_server = next(
        server for server in stack.servers if server.app.__class__.__name__ == "Gateway"
    )
    api_server.app = ObserverMarker(api_server.app)
    return stack


def cost_per_pledge(stack: Any, counter: CallCounter, n: int = 200) -> dict[str, dict[str, float]]:

    api = stack.api_url
    client = stripe_client(os.environ["STRIPE_API_BASE"], retries=0)
    out = {}
    driver = Api(api)  # the backers and the organizer: counted
    observer = Api(api, headers={OBSERVER: "1"})  # polling for progress: not counted
    for flow, hours in (("setup", 30 * 24), ("hold", 2)):
        organizer = driver.organizer("bench")
        now = datetime.strptime(driver.now(), "%Y-%m-%dT%H:%M:%SZ")
        campaign = driver.ok(
            "POST",
            "/campaigns",
            {
                "title": f"cost {flow}",
                "goal": {"amount": 1000, "currency": "gbp"},
                "deadline": (now + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            organizer,
        )
        driver.wait(driver.quiet)
        counter.reset()
        log_start = len(stack.emulator.request_log)
        counter.on = True
        for i in range(n):
            created = driver.ok(
                "POST",
                f"/campaigns/{campaign['id']}/pledges",
                {"amount": 1000, "currency": "gbp", "email": f"c{i}@example.org"},
                {"Idempotency-Key": f"cost-{flow}-{i}"},
            )
            service = client.setup_intents if flow == "setup" else client.payment_intents
            service.confirm(
                created["payment"]["intent_id"], params={"payment_method": "pm_card_visa"}
            )
        observer.wait(observer.quiet)
        observer.advance(hours * 3600 + 120)
        observer.settle(campaign["id"])
        counter.on = False
        stripe_calls = [
            r
            for r in stack.emulator.request_log[log_start:]
            if r["method"] == "POST" and not r["path"].endswith("/confirm")
        ]
        reads, writes, items = counter.dynamodb()
        out[flow] = {
            "dynamodb_read_requests": reads / n,
            "dynamodb_write_requests": writes / n,
            "dynamodb_items_written": items / n,
            "stripe_calls": len(stripe_calls) / n,
            "breakdown": {
                f"{s}.{op}": round(c / n, 2)
                for (s, op), c in sorted(counter.calls.items())
                if s == "dynamodb"
            },
            "stripe_breakdown": dict(
                Counter(f"{r['method']} {r['path'].split('/')[2]}" for r in stripe_calls)
            ),
        }
    return out


def hot_campaign(
    stack: Any, counter: CallCounter, n: int = 2000, workers: int = 16
) -> dict[str, Any]:
    """n pending pledges on one campaign, then all their confirmations as signed
    webhooks at once (what a flash crowd confirming its cards looks like)."""
    from cashmob.clock import to_rfc3339
    from cashmob.domain import Backer, Money, Payment, PaymentFlow, Pledge, PledgeStatus
    from cashmob.service.settlement import recount

    svc = stack.services["ApiFunction"]
    driver = Api(stack.api_url)
    organizer = driver.organizer("bench")
    now = svc.clock.now()
    campaign = driver.ok(
        "POST",
        "/campaigns",
        {
            "title": "hot",
            "goal": {"amount": 10**7, "currency": "gbp"},
            "deadline": to_rfc3339(now + timedelta(days=20)),
        },
        organizer,
    )
    shards = svc.settings.counter_shards
    for i in range(n):
        svc.store.create_pledge(
            Pledge(
                id=f"plg_hot_{i:05}",
                campaign_id=campaign["id"],
                amount=Money(700, "gbp"),
                backer=Backer(email=f"h{i}@example.org"),
                status=PledgeStatus.PENDING,
                created_at=now,
                payment=Payment(
                    flow=PaymentFlow.SETUP,
                    intent_id=f"seti_hot_{i}",
                    client_secret="x",
                    customer_id=f"cus_hot_{i}",
                ),
                token_hash="-",
                request_hash="-",
                counter_shard=i % shards,
            )
        )
    emulator = stack.emulator
    events = []
    for i in range(n):
        obj = {
            "id": f"seti_hot_{i}",
            "object": "setup_intent",
            "status": "succeeded",
            "payment_method": "pm_card_visa",
            "metadata": {"campaign_id": campaign["id"], "pledge_id": f"plg_hot_{i:05}"},
        }
        events.append(
            json.dumps(
                {
                    "id": f"evt_hot_{i}",
                    "object": "event",
                    "type": "setup_intent.succeeded",
                    "created": int(now.timestamp()),
                    "data": {"object": obj},
                }
            )
        )
    # Every confirmation once, and a tenth of them twice (Stripe duplicates).
    deliveries = events + events[: n // 10]
    counter.reset()
    counter.on = True
    started = time.monotonic()

    def deliver(payload: str) -> int:
        request = urllib.request.Request(
            f"{stack.api_url}/webhooks/stripe",
            data=payload.encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": emulator.signature_header(payload),
            },
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status

    with ThreadPoolExecutor(workers) as pool:
        statuses = Counter(pool.map(deliver, deliveries))
    seconds = time.monotonic() - started
    counter.on = False
    shown = driver.ok("GET", f"/campaigns/{campaign['id']}")["pledged"]
    exact = recount(svc, campaign["id"])
    busiest, most = counter.item_writes.most_common(1)[0]
    return {
        "confirmations": n,
        "deliveries": len(deliveries),
        "http": dict(statuses),
        "seconds": seconds,
        "shown": (shown["amount"], shown["backers"]),
        "recount": (exact.amount, exact.backers),
        "lost": n - exact.backers,
        "double_counted": shown["backers"] - exact.backers,
        "busiest_item": busiest,
        "busiest_writes": most,
        "items_written": counter.write_items,
        "busiest_share": most / max(counter.write_items, 1),
        "shards": shards,
    }


# ---------------------------------------------------------------- 3. cold start

HANDLERS = ["ApiFunction", "StripeWebhookFunction", "SettlementFunction", "SettleWorkerFunction"]


def cold_start(runs: int = 11) -> dict[str, dict[str, float]]:
    env = {
        **os.environ,
        "POWERTOOLS_TRACE_DISABLED": "1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }
    functions = __import__("cashmob_local.template", fromlist=["resources"]).resources(
        "AWS::Serverless::Function"
    )
    # As Lambda's init does it: the function's folder on sys.path, import the module.
    code = {
        "boto3": "import boto3",
        **{
            name: f"import sys; sys.path.insert(0, {str(ROOT / functions[name]['CodeUri'])!r}); import app"
            for name in HANDLERS
        },
    }
    timed = (
        "import time, sys; t = time.perf_counter(); exec(sys.argv[1]); "
        "print(time.perf_counter() - t)"
    )
    samples: dict[str, list[float]] = {name: [] for name in code}
    for _ in range(runs):
        for name, snippet in code.items():  # interleaved: the machine's noise hits all alike
            out = subprocess.run(
                [sys.executable, "-c", timed, snippet],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            samples[name].append(float(out.stdout.strip().splitlines()[-1]))
    base = statistics.median(samples["boto3"])
    return {
        name: {"median_ms": statistics.median(v) * 1000, "ratio": statistics.median(v) / base}
        for name, v in samples.items()
    }


# ---------------------------------------------------------------- report


NOTES = """\
## How to read it

- **Settlement** runs in its own `cashmob local` process against moto and
  the emulator in two more processes; the emulator enforces 25 requests/s
  per endpoint and the worker paces itself at the template's
  `StripeRequestsPerSecond` (23/s, all workers together). Charges/s is the
  number of successful `POST /v1/payment_intents` between the first and the
  last, from the emulator's log. Wall time runs from the stack's start (the
  campaign already due; the settlement delay set to 0) to `succeeded`. Peak
  memory is the settling process's VmHWM: its pledges stream page by page.
- **Cost per pledge** counts the calls a pledge's life causes, over 200
  pledges per flow; the benchmark's own polling is not counted. Capacity
  units are not reported: moto does not return them (a transaction's items
  cost two write units each in DynamoDB).
- **Hot campaign**: 2,000 confirmations plus 200 duplicates, 16 at a time,
  as signed webhooks. The target is met when no item takes more than
  1/shards of the writes; without shards one counter item would take a
  third of them.
- **Cold start is not met** (about 3.1-3.6x). What the handlers import
  beyond boto3 itself: the AWS X-Ray SDK under Powertools Tracer (about 110
  ms, imported even with tracing disabled), Powertools' event-handler package
  (its `__init__` loads every resolver), pydantic and pydantic-settings, and
  PynamoDB. Stripe is already deferred (the API's read routes and the sweep
  never import it; the webhook verifies signatures without it). Getting to
  2x would mean dropping Tracer or Powertools' resolver, which the project
  chose to keep.
"""


WHY_EACH_WRITE = """\
## Why each DynamoDB write

Per pledge, over its whole life (the figures above; a transaction's items are
counted one by one, and DynamoDB bills them at twice a plain write):

| when | item written | why it cannot be skipped |
|---|---|---|
| pledge created | the pledge (PutItem, conditional on not existing) | the pledge *is* the idempotency record for its `Idempotency-Key` |
| card confirmed (webhook) | the pledge `pending -> active` | the state change itself, conditional on the state read |
| card confirmed (webhook) | one counter shard (+amount, +1 backer) | progress is shown from shards, updated in the same transaction so it is exact |
| card confirmed (webhook) | the processed-event record | a redelivered event must not apply twice; written in the same transaction |
| settlement, setup flow | the pledge, charge attempt recorded | the attempt (and so the idempotency key) is on disk before Stripe is called |
| settlement | the pledge `active -> collected` | the outcome of the Stripe call |

The hold flow has no attempt record (a capture's key is fixed per pledge), so
one write fewer. The remaining fraction is the campaign's own writes (lock,
outcome, totals) shared by all its pledges.
"""


def report(results: dict[str, Any], command: str, seconds: float, header: str | None = None) -> str:
    lines = [
        "# Benchmarks",
        "",
        header
        or f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `{command}` in {seconds / 60:.1f} min on "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()} "
        f"({platform.platform()}). Everything below comes from that one run; this machine is "
        "shared and noisy, so ratios matter more than absolute times.",
        "",
        "## Summary",
        "",
        "| figure | measured | target | met |",
        "|---|---|---|---|",
    ]
    rows = []
    settle = {r["pledges"]: r for r in results.get("settlement", [])}
    for n, r in settle.items():
        rows.append(
            (
                f"settlement of {n:,}: charges/s ÷ Stripe limit",
                f"{r['charges_per_second']:.1f}/s ÷ {results['rate_limit']} = {r['ratio_to_limit']:.2f}",
                "≥ 0.8",
                r["ratio_to_limit"] >= 0.8,
            )
        )
        rows.append(
            (
                f"settlement of {n:,}: pledges not collected (429s seen: {r['http_429']})",
                str(r["not_collected"]),
                "0",
                r["not_collected"] == 0,
            )
        )
    if len(settle) == 2:
        small, big = (settle[k] for k in sorted(settle))
        t = big["wall_seconds"] / small["wall_seconds"]
        m = big["peak_rss_mib"] / small["peak_rss_mib"]
        rows.append(
            (
                f"scaling: wall time {big['pledges']:,} ÷ {small['pledges']:,}",
                f"{big['wall_seconds']:.0f} s ÷ {small['wall_seconds']:.0f} s = {t:.2f}",
                "≤ 12",
                t <= 12,
            )
        )
        rows.append(
            (
                f"scaling: peak memory {big['pledges']:,} ÷ {small['pledges']:,}",
                f"{big['peak_rss_mib']:.0f} MiB ÷ {small['peak_rss_mib']:.0f} MiB = {m:.2f}",
                "≤ 1.3",
                m <= 1.3,
            )
        )
    for flow, c in results.get("cost", {}).items():
        limit = 3 if flow == "setup" else 2
        rows.append(
            (
                f"cost per pledge, {flow} flow: DynamoDB items written",
                f"{c['dynamodb_items_written']:.2f} ({c['dynamodb_write_requests']:.2f} requests)",
                "≤ 8",
                c["dynamodb_items_written"] <= 8,
            )
        )
        rows.append(
            (
                f"cost per pledge, {flow} flow: DynamoDB read requests",
                f"{c['dynamodb_read_requests']:.2f}",
                "≤ 4",
                c["dynamodb_read_requests"] <= 4,
            )
        )
        rows.append(
            (
                f"cost per pledge, {flow} flow: Stripe calls",
                f"{c['stripe_calls']:.2f}",
                f"≤ {limit}",
                c["stripe_calls"] <= limit,
            )
        )
    for name, c in results.get("cold_start", {}).items():
        if name != "boto3":
            rows.append(
                (
                    f"cold start {name} ÷ `import boto3`",
                    f"{c['median_ms']:.0f} ms ÷ {results['cold_start']['boto3']['median_ms']:.0f} ms = {c['ratio']:.2f}",
                    "≤ 2.0",
                    c["ratio"] <= 2.0,
                )
            )
    hot = results.get("hot")
    if hot:
        rows.append(
            (
                "hot campaign: confirmations lost / double-counted",
                f"{hot['lost']} / {hot['double_counted']} of {hot['confirmations']:,}",
                "0 / 0",
                hot["lost"] == 0 and hot["double_counted"] == 0,
            )
        )
        rows.append(
            (
                "hot campaign: busiest item's share of item writes",
                f"{hot['busiest_writes']} of {hot['items_written']} = {hot['busiest_share']:.1%}",
                f"sharded ({hot['shards']} shards)",
                hot["busiest_share"] < 0.5 / hot["shards"] * 2,
            )
        )
    for name, value, target, met in rows:
        lines.append(f"| {name} | {value} | {target} | {'yes' if met else '**no**'} |")
    lines += [
        "",
        NOTES,
        WHY_EACH_WRITE,
        "## Details",
        "",
        "```json",
        json.dumps(results, indent=1, default=str),
        "```",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cashmob-bench", description=__doc__)
    parser.add_argument("--sizes", default="1000,10000", help="settlement campaign sizes")
    parser.add_argument("--rate-limit", type=int, default=25)
    parser.add_argument("--hot", type=int, default=2000)
    parser.add_argument("--only", default="settlement,cost,hot,cold_start")
    parser.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    parser.add_argument(
        "--render", action="store_true", help="re-render --out from the figures it already holds"
    )
    args = parser.parse_args(argv)
    if args.render:
        old = Path(args.out).read_text()
        results = json.loads(old.split("```json", 1)[1].split("```", 1)[0])
        header = old.split("\n")[2]
        Path(args.out).write_text(report(results, "", 0, header=header))
        return 0
    only = set(args.only.split(","))
    for name, value in {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
    }.items():
        os.environ.setdefault(name, value)
    started = time.monotonic()
    results: dict[str, Any] = {"rate_limit": args.rate_limit}
    steps: list[tuple[str, Callable[[], Any]]] = []
    if "cold_start" in only:
        steps.append(("cold_start", cold_start))
    if "settlement" in only:
        steps.append(
            (
                "settlement",
                lambda: settlement([int(s) for s in args.sizes.split(",")], args.rate_limit),
            )
        )
    for name, step in steps:
        print(f"bench: {name} ...", flush=True)
        results[name] = step()
    if only & {"cost", "hot"}:
        counter = CallCounter()
        counter.install()
        stack = in_process_stack()
        try:
            if "cost" in only:
                print("bench: cost ...", flush=True)
                results["cost"] = cost_per_pledge(stack, counter)
            if "hot" in only:
                print("bench: hot ...", flush=True)
                results["hot"] = hot_campaign(stack, counter, n=args.hot)
        finally:
            stack.stop()
    command = (
        "make bench"
        if argv is None and len(sys.argv) == 1
        else "python -m cashmob_local.bench " + " ".join(sys.argv[1:] if argv is None else argv)
    )
    text = report(results, command, time.monotonic() - started)
    Path(args.out).write_text(text)
    print(text.split("## Details")[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
