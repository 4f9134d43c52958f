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
from cashmob.service import budget as budget_module
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
            self.local.slot, self.local.key = slot, endpoint
        else:
            self.lost += 1  # (racy count; only "some" matters)
        return won

    def taken_slots(self, endpoint, first, count):
        return self.store.taken_slots(endpoint, first, count)


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


def test_each_endpoint_keeps_its_pace_when_both_flows_take_slots_at_once(counters):
    """One slot per flow: a setup grant sends one Customer and one SetupIntent
    request, a hold grant one PaymentIntent. Per endpoint, each slot is still
    granted once and no second holds more than r + 1 requests; the two flows,
    having no endpoint in common, use the same slots side by side."""
    recorder = Recorder(counters)
    budget = StripeBudget(recorder, RATE, wall=recorder.wall)
    grants: list[tuple[PaymentFlow, int, float]] = []
    keys: set[tuple[PaymentFlow, str]] = set()  # (flow, the ledger key its grants were under)
    lock = threading.Lock()
    flows = [PaymentFlow.SETUP, PaymentFlow.HOLD] * ((API_THREADS + WORKER_THREADS) // 2)
    start = threading.Barrier(len(flows))
    give_up = time.time() + PATIENCE_SECONDS

    def wanted(flow: PaymentFlow) -> bool:
        with lock:
            mine = sum(1 for f, _, _ in grants if f is flow)
            return mine < GRANTS and time.time() < give_up

    def taker(index: int, flow: PaymentFlow) -> None:
        start.wait()
        while wanted(flow):
            if index < API_THREADS:
                if not budget.take_now(flow):
                    continue
            else:
                budget.take_next(flow)
            slot = recorder.local.slot
            with lock:
                grants.append((flow, slot, recorder.decided_at(slot)))
                keys.add((flow, recorder.local.key))

    threads = [threading.Thread(target=taker, args=(i, f)) for i, f in enumerate(flows)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=PATIENCE_SECONDS + 10)

    assert keys == {(flow, budget_module.slot_key(flow)) for flow in PaymentFlow}
    requests: dict[str, list[tuple[int, float]]] = {}  # per endpoint: (slot, sent at)
    for flow, slot, decided in grants:
        for endpoint in budget_module.ENDPOINTS[flow]:
            requests.setdefault(endpoint, []).append((slot, decided))
    assert set(requests) == {"customers", "setup_intents", "payment_intents"}
    for endpoint, sent in requests.items():
        slots = [slot for slot, _ in sent]
        assert len(slots) == len(set(slots)), (endpoint, Counter(slots).most_common(3))
        for slot, decided in sent:
            assert slot / RATE - 0.001 <= decided < (slot + 1) / RATE, (endpoint, slot, decided)
        times = sorted(decided for _, decided in sent)
        for i, first in enumerate(times):
            within = [t for t in times[i:] if t < first + 1.0]
            assert len(within) <= RATE + 1, (endpoint, first, len(within))
        assert len(slots) >= GRANTS, endpoint
    # Both flows were granted some of the same slots: one flow's pace costs the other nothing
    by_flow = {flow: {slot for f, slot, _ in grants if f is flow} for flow in PaymentFlow}
    assert by_flow[PaymentFlow.SETUP] & by_flow[PaymentFlow.HOLD]
    # One item per granted slot of a flow, whatever its number of endpoints
    scan = boto3.client("dynamodb", region_name="us-east-1").scan(
        TableName=counters.settings.counters_table
    )
    stored = {item["campaign_id"]["S"] for item in scan["Items"]}
    for flow, slot, _ in grants:
        assert f"budget#{budget_module.slot_key(flow)}#{slot}" in stored
    assert not any(key.startswith(("budget#customers#", "budget#setup_intents#")) for key in stored)
