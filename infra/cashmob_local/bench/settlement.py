"""Settlement end to end: from a campaign's deadline to its terminal status,
for both flows (hold: one capture per pledge; setup: one off-session charge
per pledge), against the emulator limited to Stripe's 25 requests/s per
endpoint.

moto and the Stripe emulator run in their own processes. Each case seeds a
live campaign of N active pledges straight into the store (DynamoDB batch
writes) and the emulator (a customer with a saved card, or a confirmed
manual-capture PaymentIntent, per pledge, before the rate limit is set), then
starts a fresh `cashmob local` whose schedule ticks every `tick` seconds
(told the emulator's limit, so its one shared pacer settles one below it:
stack.settlement_budget) and moves the campaign's deadline a few seconds
ahead. The clock runs from that deadline to `succeeded`/`failed`; the bound
is N / limit x 1.1 + one sweep interval (the tick) + 5 s. Money is checked
against the emulator's own records: a pledge with no succeeded PaymentIntent
is lost, one with more than one is a double charge. Peak memory is the settling process's VmHWM (moto's
and the emulator's data live elsewhere).

`python -m cashmob_local.bench.settlement --sizes 300 --flows hold` runs it alone."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..driver import free_port, stripe_client
from .plumbing import fetch_json, peak_rss_mib, quiet_process, wait_http

FLOWS = ("hold", "setup")
# The Stripe endpoint each flow settles through (the emulator's request log names).
SETTLING_ENDPOINT = {
    "hold": "POST /v1/payment_intents/*/capture",
    "setup": "POST /v1/payment_intents",
}
DEADLINE_AHEAD = 3.0  # seconds between moving the deadline and the deadline
AMOUNT = 1000
NO_EMAIL_LAUNCH = (
    "import sys; from cashmob_local import mail; mail.start = lambda *a, **k: []; "
    "from cashmob_local.cli import main; sys.exit(main(sys.argv[1:]))"
)
TIMELINE_STEP = 5.0  # seconds between samples of the settling calls made so far


def settlement(
    sizes: list[int],
    rate_limit: int,
    *,
    flows: tuple[str, ...] = FLOWS,
    tick: float = 1.0,
    latency_ms: float = 0.0,
    email: bool = True,
    stock_sqs: bool = False,
    log_dir: str | None = None,
) -> list[dict[str, Any]]:
    """One result per (flow, size), each settled by a fresh `cashmob local`;
    `latency_ms`: how long the emulator takes to answer each request while
    settling (Stripe's own takes hundreds of milliseconds). `stock_sqs`:
    moto's SQS without `moto_speedups.install_sqs` (a diagnosis). `log_dir`:
    each case's emulator request log is written there as JSON (a diagnosis:
    each request's `arrived` time shows where the pace broke)."""
    moto_port, emu_port = free_port(), free_port()
    moto_url, emu_url = f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{emu_port}"
    py = sys.executable
    results = []
    keep_sqs = "from cashmob_local import moto_speedups as s; s.install_sqs = lambda: False; "
    with (
        quiet_process(
            [
                py,
                "-c",
                f"import time; {keep_sqs if stock_sqs else ''}"
                "from cashmob_local.stack import serve_moto; "
                f"serve_moto('127.0.0.1', {moto_port}); time.sleep(10**9)",
            ]
        ) as moto,
        quiet_process([py, "-m", "cashmob_local.cli", "stripe-emulator", "--port", str(emu_port)]),
    ):
        wait_http(moto_url)
        wait_http(f"{emu_url}/_emulator/faults")
        os.environ["AWS_ENDPOINT_URL"] = moto_url
        try:
            for flow in flows:
                for n in sizes:
                    fetch_json(f"{emu_url}/_emulator/faults", {"rate_limit": None})
                    campaign_id = _seed(n, flow, emu_url)
                    results.append(
                        _settle_in_fresh_stack(
                            n,
                            flow,
                            campaign_id,
                            moto_url,
                            emu_url,
                            rate_limit,
                            tick,
                            latency_ms,
                            email=email,
                            moto_pid=moto.pid,
                            log_dir=log_dir,
                        )
                    )
                    if stock_sqs:
                        results[-1]["stock_sqs"] = True
                    print(json.dumps(results[-1]), file=sys.stderr, flush=True)
        finally:
            del os.environ["AWS_ENDPOINT_URL"]
    return results


def _store() -> Any:
    import boto3

    from cashmob.config import Settings
    from cashmob.store import Store
    from cashmob.store.models import build_models

    from .. import template

    build_models.cache_clear()  # models bind their connection to the endpoint of first use
    template.create_tables(boto3.client("dynamodb"))
    return Store(Settings())


def _seed(n: int, flow: str, emu_url: str) -> str:
    """A live campaign (deadline a day away) of `n` active pledges, written in
    DynamoDB batches; the Stripe side made on the unthrottled emulator."""
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
    from cashmob.store.mapping import pledge_item

    store = _store()
    client = stripe_client(emu_url, retries=2)
    now = datetime.now(UTC).replace(microsecond=0)
    campaign_id = f"cmp_bench_{flow}{n}_{int(time.time())}"
    deadline = now + timedelta(days=1)
    store.create_campaign(
        Campaign(
            id=campaign_id,
            title=f"bench {flow} {n}",
            description="",
            organizer="bench",
            goal=Money(100, "gbp"),
            min_backers=0,
            min_pledge=Money(300, "gbp"),
            funding_model=FundingModel.ALL_OR_NOTHING,
            deadline=deadline,
            next_check_at=deadline,  # the sweep's index, as new_campaign sets it
            status=CampaignStatus.LIVE,
            created_at=now - timedelta(days=1),
        )
    )

    def payment(pid: str) -> Payment:
        meta = {"campaign_id": campaign_id, "pledge_id": pid}
        if flow == "setup":
            customer = client.customers.create(params={"metadata": meta})
            return Payment(
                flow=PaymentFlow.SETUP,
                intent_id=f"seti_bench_{pid}",
                client_secret="x",
                customer_id=customer.id,
                payment_method="pm_card_visa",
                intent_open=False,
            )
        intent = client.payment_intents.create(
            params={
                "amount": AMOUNT,
                "currency": "gbp",
                "capture_method": "manual",
                "confirm": True,
                "payment_method": "pm_card_visa",
                "allowed_payment_method_types": ["card"],
                "metadata": meta,
            }
        )
        assert intent.status == "requires_capture", intent.status
        return Payment(
            flow=PaymentFlow.HOLD,
            intent_id=intent.id,
            client_secret=intent.client_secret,
            payment_method="pm_card_visa",
        )

    def one(i: int) -> Any:
        pid = f"plg_{flow}{n}_{i:05}"
        pledge = Pledge(
            id=pid,
            campaign_id=campaign_id,
            amount=Money(AMOUNT, "gbp"),
            backer=Backer(email=f"b{i}@example.org"),
            status=PledgeStatus.ACTIVE,
            created_at=now - timedelta(hours=1),
            activated_at=now - timedelta(hours=1),
            payment=payment(pid),
            token_hash="-",
            request_hash="-",
            counter_shard=i % store.settings.counter_shards,
        )
        return pledge_item(store.models, replace(pledge, revision=None))

    with ThreadPoolExecutor(8) as pool:
        items = list(pool.map(one, range(n)))
    with store.models.Pledge.batch_write() as batch:
        for item in items:
            batch.save(item)
    Counter = store.models.Counter
    with Counter.batch_write() as batch:
        for shard in range(store.settings.counter_shards):
            backers = len(range(shard, n, store.settings.counter_shards))
            batch.save(Counter(campaign_id, shard, amount=backers * AMOUNT, backers=backers))
    return campaign_id


def _move_deadline(store: Any, campaign_id: str) -> datetime:
    """The deadline, a few whole seconds from now (the store keeps seconds)."""
    campaign = store.get_campaign(campaign_id)
    deadline = datetime.fromtimestamp(math.ceil(time.time() + DEADLINE_AHEAD), UTC)
    store.save_campaign(campaign, replace(campaign, deadline=deadline, next_check_at=deadline))
    return deadline


def _settle_in_fresh_stack(
    n: int,
    flow: str,
    campaign_id: str,
    moto_url: str,
    emu_url: str,
    rate_limit: int,
    tick: float,
    latency_ms: float,
    *,
    email: bool = True,
    moto_pid: int | None = None,
    log_dir: str | None = None,
) -> dict[str, Any]:
    port = free_port()
    env = {
        "CASHMOB_LOCAL_AWS_ENDPOINT": moto_url,
        "STRIPE_SECRET_KEY": "sk_test_local",
        "STRIPE_WEBHOOK_SECRET": "whsec_local",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        # From the deadline itself, not after the minute left for late webhooks.
        "SETTLEMENT_DELAY_SECONDS": "0",
    }
    # Without emails (`--no-email`): the stack's notifier rules are not put on
    # the bus, to tell the notifier's cost (its queue lives in the same moto)
    # from settlement's own. A diagnosis, not the benchmark's figure.
    launch = ["-m", "cashmob_local.cli"] if email else ["-c", NO_EMAIL_LAUNCH]
    args = [
        sys.executable,
        *launch,
        "local",
        "--port",
        str(port),
        "--tick",
        str(tick),
        "--stripe-api-base",
        emu_url,
        # The limit this benchmark sets on that emulator: the stack paces
        # settlement one below it (stack.settlement_budget).
        "--stripe-rate-limit",
        str(rate_limit),
    ]
    store = _store()
    with quiet_process(args, env) as process:
        wait_http(f"http://127.0.0.1:{port}/campaigns", 90)
        fetch_json(
            f"{emu_url}/_emulator/faults", {"rate_limit": rate_limit, "latency_ms": latency_ms}
        )
        fetch_json(f"{emu_url}/_emulator/reset-log", {})
        deadline = _move_deadline(store, campaign_id).timestamp()
        cpu_at_deadline = {"stack": cpu_seconds(process.pid), "moto": cpu_seconds(moto_pid)}
        timeline: list[tuple[float, int]] = []  # (seconds after the deadline, settling calls)
        sampled = 0.0
        while True:
            campaign = store.get_campaign(campaign_id)
            if campaign.status.value in ("succeeded", "failed"):
                break
            now = time.time()
            if now - deadline > 3 * 3600:
                raise TimeoutError("settlement took over 3 hours")
            if now >= sampled + TIMELINE_STEP:
                sampled = now
                summary = fetch_json(f"{emu_url}/_emulator/requests")["endpoints"]
                count = summary.get(SETTLING_ENDPOINT[flow], {}).get("count", 0)
                timeline.append((now - deadline, count))
            time.sleep(0.25)
        elapsed = time.time() - deadline
        cpu = {
            name: round(cpu_seconds(pid) - cpu_at_deadline[name], 1)
            for name, pid in (("stack", process.pid), ("moto", moto_pid))
        }
        peak = peak_rss_mib(process.pid)
        fetch_json(f"{emu_url}/_emulator/faults", {"rate_limit": None, "latency_ms": 0})
    requests = fetch_json(f"{emu_url}/_emulator/requests")
    if log_dir is not None:
        log = fetch_json(f"{emu_url}/_emulator/requests?log=1")
        Path(log_dir, f"settlement-{flow}-{n}.json").write_text(json.dumps(log))
    calls = requests["endpoints"].get(
        SETTLING_ENDPOINT[flow], {"count": 0, "status": {}, "first": 0, "last": 0}
    )
    ok = calls["status"].get("200", 0)
    span = max(calls["last"] - calls["first"], 1e-9)
    charged = fetch_json(f"{emu_url}/_emulator/charges")
    ours = [f"plg_{flow}{n}_{i:05}" for i in range(n)]
    statuses = [p.status.value for p in store.all_pledges(campaign_id)]
    ideal = n / rate_limit
    bound = ideal * 1.1 + tick + 5
    return {
        "flow": flow,
        "pledges": n,
        "sweep_interval_seconds": tick,
        "stripe_latency_ms": latency_ms,
        "emails": email,
        "deadline_to_terminal_seconds": round(elapsed, 2),
        "bound_seconds": round(bound, 2),
        "within_bound": elapsed <= bound,
        "ratio_to_ideal": round(elapsed / ideal, 3),
        # Where the time went (the store keeps whole seconds): the sweep's
        # lock, the last page sent, the first and last Stripe call.
        "locked_after_deadline_seconds": _after(campaign.locked_at, deadline),
        "fanned_out_after_deadline_seconds": _after(campaign.fanned_out_at, deadline),
        "first_call_after_deadline_seconds": round(calls["first"] - deadline, 2)
        if calls["count"]
        else None,
        "last_call_after_deadline_seconds": round(calls["last"] - deadline, 2)
        if calls["count"]
        else None,
        "last_call_to_terminal_seconds": round(deadline + elapsed - calls["last"], 2)
        if calls["count"]
        else None,
        "pledges_lost": sum(1 for p in ours if charged.get(p, 0) == 0),
        "double_charges": sum(charged.get(p, 0) - 1 for p in ours if charged.get(p, 0) > 1),
        "not_collected": sum(1 for s in statuses if s != "collected"),
        "http_429": calls["status"].get("429", 0),
        "charges": ok,
        "charges_per_second": ok / span,
        "ratio_to_limit": ok / span / rate_limit,
        "wall_seconds": elapsed,
        # Settling calls in each TIMELINE_STEP after the deadline (sampled
        # while waiting): where the pace dropped below the budget.
        "calls_per_step": _per_step(timeline),
        "timeline_step_seconds": TIMELINE_STEP,
        "peak_rss_mib": peak,
        # CPU seconds from the deadline to terminal: the settling `cashmob
        # local` process (one interpreter lock; a child process of its own
        # apart) and moto's. Near the elapsed time, that process was the
        # bottleneck.
        "cpu_seconds": cpu,
        "status": campaign.status.value,
    }


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a live process so far (0 if unknown)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _per_step(timeline: list[tuple[float, int]]) -> list[int]:
    """The calls of each step, from the cumulative counts sampled at its end."""
    counts = [count for _, count in timeline]
    return [b - a for a, b in zip([0, *counts], counts, strict=False)]


def _after(moment: datetime | None, deadline: float) -> float | None:
    return None if moment is None else round(moment.timestamp() - deadline, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cashmob-bench-settlement", description=__doc__)
    parser.add_argument("--sizes", default="300,1000,10000")
    parser.add_argument("--flows", default=",".join(FLOWS))
    parser.add_argument("--rate-limit", type=int, default=25)
    parser.add_argument("--tick", type=float, default=1.0, help="seconds between sweeps")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="the emulator's answer time")
    parser.add_argument(
        "--no-email",
        action="store_true",
        help="diagnosis: no notifier rules on the bus (the notifier's cost apart)",
    )
    parser.add_argument(
        "--stock-sqs",
        action="store_true",
        help="diagnosis: moto's own SQS, without the local stack's speed-up",
    )
    parser.add_argument(
        "--log-dir", help="diagnosis: write each case's emulator request log there (JSON)"
    )
    args = parser.parse_args(argv)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
    }.items():
        os.environ.setdefault(name, value)
    results = settlement(
        [int(s) for s in args.sizes.split(",")],
        args.rate_limit,
        flows=tuple(args.flows.split(",")),
        tick=args.tick,
        latency_ms=args.latency_ms,
        email=not args.no_email,
        stock_sqs=args.stock_sqs,
        log_dir=args.log_dir,
    )
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
