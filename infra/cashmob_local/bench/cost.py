"""Cost per pledge: the whole local stack in this process; every botocore
call is counted and the emulator logs every Stripe request, over each
pledge's whole life (create, confirm, settle)."""

from __future__ import annotations

import os
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from ..driver import Api, stripe_client
from .counting import OBSERVER, CallCounter


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
        # The backers' emails follow the outcome through the notification
        # queue: a pledge's cost includes them, so wait for them too.
        observer.wait(lambda: _drained(observer, "NotificationQueue"))
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
            "items_written_by_kind": {
                kind: round(c / n, 2) for kind, c in counter.kind_writes.most_common()
            },
            "stripe_breakdown": dict(
                Counter(f"{r['method']} {r['path'].split('/')[2]}" for r in stripe_calls)
            ),
        }
    return out


def _drained(api: Api, queue: str) -> bool:
    depth = api.status()["queues"][queue]
    return (
        depth["ApproximateNumberOfMessages"] + depth["ApproximateNumberOfMessagesNotVisible"] == 0
    )
