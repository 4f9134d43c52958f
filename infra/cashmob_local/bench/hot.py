"""Hot campaign: confirmations of one campaign's pledges delivered
concurrently as signed webhooks; lost/double counts and the busiest
DynamoDB item's share of the writes."""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
import urllib.parse
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from .. import moto_profile
from ..driver import Api
from .counting import CallCounter


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
    moto_pid = getattr(getattr(getattr(stack, "aws", None), "process", None), "pid", None)
    moto_profile.mark(moto_pid, start=True)  # CASHMOB_LOCAL_MOTO_PROFILE: the deliveries only
    started, cpu_started, moto_cpu_started = time.monotonic(), cpu_time(stack), moto_cpu(stack)

    # One kept-alive connection per sender, as Stripe's webhook senders keep theirs.
    api = urllib.parse.urlsplit(stack.api_url)
    connections = threading.local()

    def deliver(payload: str) -> int:
        headers = {
            "Content-Type": "application/json",
            "Stripe-Signature": emulator.signature_header(payload),
        }
        for attempt in (1, 2):
            if getattr(connections, "http", None) is None:
                connections.http = http.client.HTTPConnection(api.hostname, api.port, timeout=60)
            try:
                connections.http.request("POST", "/webhooks/stripe", payload.encode(), headers)
                response = connections.http.getresponse()
                response.read()
                return response.status
            except (ConnectionError, http.client.HTTPException):
                connections.http.close()  # the server closed a kept-alive connection
                connections.http = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    with ThreadPoolExecutor(workers) as pool:
        statuses = Counter(pool.map(deliver, deliveries))
    seconds = time.monotonic() - started
    # The stack's CPU seconds per confirmation hold still on a busy machine
    # where the wall clock does not.
    cpu_seconds = cpu_time(stack) - cpu_started
    moto_cpu_seconds = moto_cpu(stack) - moto_cpu_started
    moto_profile.mark(moto_pid, start=False)
    counter.on = False
    shown = driver.ok("GET", f"/campaigns/{campaign['id']}")["pledged"]
    exact = recount(svc, campaign["id"])
    busiest, most = counter.item_writes.most_common(1)[0]
    return {
        "confirmations": n,
        "deliveries": len(deliveries),
        "http": dict(statuses),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "moto_cpu_seconds": moto_cpu_seconds,
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


def cpu_time(stack: Any) -> float:
    """CPU seconds used so far by this process (the functions, the gateway,
    the emulator, the senders) and by moto's own process when it has one."""
    return time.process_time() + moto_cpu(stack)


def moto_cpu(stack: Any) -> float:
    """CPU seconds used so far by moto's own process; 0 when moto runs in this
    one, NaN where /proc cannot tell (not Linux: no figure rather than half of one)."""
    moto = getattr(getattr(stack, "aws", None), "process", None)
    if moto is None:
        return 0.0
    try:
        fields = Path(f"/proc/{moto.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")
