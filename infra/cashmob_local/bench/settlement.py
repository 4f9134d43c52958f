"""Settlement vs Stripe's rate limit, and scaling (1,000 vs 10,000 pledges):
moto and the Stripe emulator run in their own processes; a fresh
`cashmob local` process per size settles a campaign of N active pledges
while the emulator enforces Stripe's 25 requests/s per endpoint. Charges/s
come from the emulator's request log; peak memory is the settling
process's VmHWM (moto's and the emulator's data live elsewhere)."""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from ..driver import Api, free_port, stripe_client
from .plumbing import fetch_json, peak_rss_mib, quiet_process, wait_http


def settlement(sizes: list[int], rate_limit: int) -> list[dict[str, Any]]:
    """Each size: seed N active setup-flow pledges, then a fresh `cashmob local`
    settles them against the rate-limited emulator."""
    moto_port, emu_port = free_port(), free_port()
    moto_url, emu_url = f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{emu_port}"
    py = sys.executable
    results = []
    with (
        quiet_process(
            [
                py,
                "-c",
                f"import time; from cashmob_local.stack import serve_moto; serve_moto('127.0.0.1', {moto_port}); time.sleep(10**9)",
            ]
        ),
        quiet_process([py, "-m", "cashmob_local.cli", "stripe-emulator", "--port", str(emu_port)]),
    ):
        wait_http(moto_url)
        wait_http(f"{emu_url}/_emulator/faults")
        os.environ["AWS_ENDPOINT_URL"] = moto_url
        for n in sizes:
            campaign_id = _seed(n, emu_url)
            fetch_json(f"{emu_url}/_emulator/faults", {"rate_limit": rate_limit})
            fetch_json(f"{emu_url}/_emulator/reset-log", {})
            results.append(_settle_in_fresh_stack(n, campaign_id, moto_url, emu_url, rate_limit))
            fetch_json(f"{emu_url}/_emulator/faults", {"rate_limit": None})
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

    from .. import template

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
    with quiet_process(args, env) as process:
        api = Api(f"http://127.0.0.1:{port}")
        wait_http(f"{api.base}/campaigns", 90)
        started = time.monotonic()
        while True:
            status = api.ok("GET", f"/campaigns/{campaign_id}")["status"]
            if status in ("succeeded", "failed"):
                break
            if time.monotonic() - started > 3 * 3600:
                raise TimeoutError("settlement took over 3 hours")
            time.sleep(0.5)
        wall = time.monotonic() - started
        peak = peak_rss_mib(process.pid)
        final = api.ok("GET", f"/campaigns/{campaign_id}")
    requests = fetch_json(f"{emu_url}/_emulator/requests")
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
