"""The pledge-time Stripe budget shared under concurrency: many threads, as
many API functions and intake workers would, take slots through one DynamoDB
table (moto in server mode behind the local stack's one-request-at-a-time
DynamoDB, over HTTP): each slot is granted once, no grant is used before its
slot starts, so any second holds at most r + 1 requests per endpoint."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import boto3
import pytest

from cashmob.config import Settings
from cashmob.domain import PaymentFlow
from cashmob.service.budget import StripeBudget
from cashmob.store import Store
from cashmob_local import template
from cashmob_local.stack import serve_moto

# Slots of 200 ms: a claim that comes back after its slot has ended is not
# used, so on a loaded machine (CI runs the suite in parallel) slots as short
# as Stripe's 40 ms would mostly be lost to latency and the test would measure
# the machine, not the budget
RATE = 5.0
GRANTS = int(2 * RATE)  # two seconds' worth, however slow the machine
PATIENCE_SECONDS = 60
API_THREADS = 8
WORKER_THREADS = 2


@pytest.fixture
def counters(monkeypatch):
    """A counters table of its own on a moto server; its Store."""
    server = serve_moto("127.0.0.1", 0)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_port}")
    name = f"Counters-{uuid.uuid4().hex[:8]}"
    spec = {**template.table_definitions()["CountersTable"], "TableName": name}
    boto3.client("dynamodb", region_name="us-east-1").create_table(**spec)
    yield Store(Settings(counters_table=name))
    server.shutdown()


class Recorder:
    """The store as the budget sees it, remembering each thread's last slot."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.local = threading.local()
        self.lost = 0

    def wall(self) -> float:
        """time.time(), remembering the budget's last reading in this thread."""
        self.local.read = time.time()
        return self.local.read

    def decided_at(self, slot: int) -> float:
        """When the budget last checked the clock before granting `slot`: the
        moment it decided the slot was (or was about to be) current."""
        return max(self.local.read, slot / RATE)

    def claim_slot(self, endpoint, slot, expires_at):
        won = self.store.claim_slot(endpoint, slot, expires_at)
        if won:
            self.local.slot = slot
        else:
            self.lost += 1  # (racy count; only "some" matters)
        return won


def test_concurrent_takers_never_share_a_slot_nor_send_before_it(counters):
    recorder = Recorder(counters)
    budget = StripeBudget(recorder, RATE, wall=recorder.wall)  # real time, real sleeps
    grants: list[tuple[int, float]] = []  # (slot, when the budget granted it)
    refused = Counter()
    lock = threading.Lock()
    start = threading.Barrier(API_THREADS + WORKER_THREADS)
    give_up = time.time() + PATIENCE_SECONDS

    def wanted() -> bool:
        with lock:
            return len(grants) < GRANTS and time.time() < give_up

    def api():
        start.wait()
        while wanted():
            if budget.take_now(PaymentFlow.HOLD):
                slot = recorder.local.slot
                with lock:
                    grants.append((slot, recorder.decided_at(slot)))
            else:
                refused["api"] += 1

    def worker():
        start.wait()
        while wanted():
            budget.take_next(PaymentFlow.HOLD)
            slot = recorder.local.slot
            with lock:
                grants.append((slot, recorder.decided_at(slot)))

    threads = [threading.Thread(target=api) for _ in range(API_THREADS)]
    threads += [threading.Thread(target=worker) for _ in range(WORKER_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=PATIENCE_SECONDS + 10)

    slots = [slot for slot, _ in grants]
    # Each slot is granted once, whoever raced for it
    assert len(slots) == len(set(slots)), Counter(slots).most_common(3)
    # Each is granted within its slot: not before it starts (the caller
    # sleeps), not after it ends (a claim that came back late is not used)
    for slot, decided in grants:
        assert slot / RATE - 0.001 <= decided < (slot + 1) / RATE, (slot, decided)
    # So any second holds at most r + 1 grants (Stripe's limit, with r = limit - 1)
    times = sorted(decided for _, decided in grants)
    for i, first in enumerate(times):
        within = [t for t in times[i:] if t < first + 1.0]
        assert len(within) <= RATE + 1, (first, len(within))
    assert len(slots) >= GRANTS
    # Ten takers wanted more than r/s: races were lost, and the API was told "spent"
    assert recorder.lost > 0 and refused["api"] > 0
    # And DynamoDB holds every granted slot
    scan = boto3.client("dynamodb", region_name="us-east-1").scan(
        TableName=counters.settings.counters_table
    )
    stored = {int(item["campaign_id"]["S"].rsplit("#", 1)[1]) for item in scan["Items"]}
    assert set(slots) <= stored  # (the rest: claims that came back too late, unused)
