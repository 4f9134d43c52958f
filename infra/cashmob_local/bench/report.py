"""docs/BENCHMARKS.md from the figures of one `make bench` run: a summary
table (each figure's ratio to its physical limit first, then what was
measured, the target and whether it is met), how to read it, why each
DynamoDB write, and the raw figures. A section that was not run (`--only`)
is left out and named."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

SECTIONS = ("intake", "settlement", "cold_start", "demo", "hot", "cost")

NOTES = {
    "intake": """\
- **Intake**: a burst of pledges from concurrent HTTP clients against
  `cashmob local --stripe-rate-limit 25` (its pledge-time budget follows the
  limit; one fresh stack per flow, moto and the emulator in processes of
  their own: a deadline 20 days away saves cards, the setup flow; 3 days
  away holds funds, the hold flow). Each client acts as a browser: a fresh `Idempotency-Key`
  per pledge (the same key when it sends the same pledge again), honours
  `Retry-After`, and after a 202 `preparing` polls the pledge until its client
  secret is there. *Accepted/s* counts 201 + 202 answers from the first
  request to the last acceptance; *intents/s* counts the emulator's own log of
  successful intent creations (`POST /v1/setup_intents` or
  `/v1/payment_intents`), between the first and the last; *last client
  secret* runs from the first request to the moment the last client saw its
  secret, against the ideal N / limit. Every 5xx and 503 answer, to the
  pledges and to the polls, is counted.""",
    "settlement": """\
- **Settlement** runs in its own `cashmob local` process against moto and
  the emulator in two more processes, the emulator enforcing 25 requests/s
  per endpoint. The clock runs from the campaign's deadline to
  `succeeded`/`failed`; the bound is N / limit x 1.1 + one sweep interval +
  5 s, and the ratio is to the ideal N / limit. Charges/s counts the settling
  endpoint's successful calls between the first and the last, from the
  emulator's log. Lost pledges and double charges are checked against the
  emulator's own records. Peak memory is the settling process's VmHWM.""",
    "cold_start": """\
- **Cold start**: each function's handler module imported in a fresh
  interpreter, against `import boto3` alone: in-process (timed inside the
  interpreter, as Lambda's init does it) and whole-process (`python -c
  "import app"` against `python -c "import boto3"`, timed from outside);
  tracing off, plus the in-process figure with Powertools' Tracer on, for
  information. Medians of interleaved runs. The *floor* rows time the
  libraries alone in the same rounds (no code of ours): what part of a
  function's ratio no change to our code can remove. The API's floor is
  PynamoDB, Powertools' logger, metrics and event handler with validation,
  and pydantic, which that validation needs. Every function imports with
  the garbage collector paused and freezes what its init made
  (`cashmob.startup`); the floors are timed the same way, and `import boto3`
  once more, paused too, for a like-for-like ratio. The frozen heap also
  shortens the interpreter's exit, which the whole-process figure includes
  and Lambda's init does not.""",
    "demo": """\
- **Demo**: `cashmob demo` end to end (a fresh local stack, its backers
  pledging and confirming through the HTTP API, the clock past the deadline,
  settlement), both variants, timed as a whole process.""",
    "hot": """\
- **Hot campaign**: confirmations plus a tenth of duplicates, 16 at a time,
  as signed webhooks to the whole local stack in this process. The sharding
  target is met when no item takes more than 1/shards of the writes; without
  shards one counter item would take a third of them.""",
    "cost": """\
- **Cost per pledge** counts the calls a pledge's life causes, over 200
  pledges per flow; the benchmark's own polling is not counted. Capacity
  units are not reported: moto does not return them (a transaction's items
  cost two write units each in DynamoDB).""",
}


WHY_EACH_WRITE = """\
## Why each DynamoDB write

Per pledge, over its whole life (the figures above; a transaction's items are
counted one by one, and DynamoDB bills them at twice a plain write):

| when | item written | why it cannot be skipped |
|---|---|---|
| pledge created | the pledge (PutItem, conditional on not existing) | the pledge *is* the idempotency record for its `Idempotency-Key` |
| Stripe object made (at once or by the intake worker) | the pledge, its customer and intent recorded | the pledge was written before Stripe was called (above); the backer's client secret is read from it |
| card confirmed (webhook) | the pledge `pending -> active` | the state change itself, conditional on the state read |
| card confirmed (webhook) | one counter shard (+amount, +1 backer) | progress is shown from shards, updated in the same transaction so it is exact |
| card confirmed (webhook) | the processed-event record | a redelivered event must not apply twice; written in the same transaction |
| settlement, setup flow | the pledge, charge attempt recorded | the attempt (and so the idempotency key) is on disk before Stripe is called |
| settlement | the pledge `active -> collected` | the outcome of the Stripe call |
| pledge created, Stripe called at once | a Stripe budget slot per endpoint the flow calls (conditional PutItem) | the pledge-time budget is shared by every API instance and intake worker: a slot won in DynamoDB is the only proof no other caller uses it |
| pledge created, budget spent | the intake queue counter and the pledge's ticket (then the worker's `served` mark) | arrival order across instances, and the honest `ready_in` |
| each email to the backer (receipt, outcome) | the email's log item: claimed before SES, marked sent after | a redelivered event must not email twice, and a send that died must be retried |

The hold flow has no attempt record (a capture's key is fixed per pledge), so
one write fewer. The campaign's own writes (lock, outcome, totals) are shared
by all its pledges. Measured, by kind of item (`bench/counting.item_kind`):
"""


def _by_kind(results: dict[str, Any]) -> list[str]:
    """Items written per pledge by kind of item, one column per flow."""
    cost = results.get("cost") or {}
    flows = [flow for flow, c in cost.items() if c.get("items_written_by_kind")]
    if not flows:
        return []
    kinds = sorted({k for f in flows for k in cost[f]["items_written_by_kind"]})
    lines = ["| item | " + " | ".join(f"{f} flow" for f in flows) + " |"]
    lines.append("|---|" + "---|" * len(flows))
    for kind in kinds:
        cells = [f"{cost[f]['items_written_by_kind'].get(kind, 0):.2f}" for f in flows]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    totals = [f"{cost[f]['dynamodb_items_written']:.2f}" for f in flows]
    lines.append("| **all** | " + " | ".join(totals) + " |")
    return [*lines, ""]


Row = tuple[str, str, str, str, bool | None]


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _intake_rows(results: dict[str, Any]) -> Iterator[Row]:
    for r in results.get("intake") or []:
        limit = r["rate_limit"]
        head = f"intake {r['flow']}, {r['pledges']:,} pledges from {r['clients']} clients"
        yield (
            f"{head}: intents created/s ÷ Stripe limit (emulator log)",
            _ratio(r["intent_ratio_to_limit"]),
            f"{r['intents_created']:,} at {r['intents_per_second']:.1f}/s ÷ {limit:g}",
            "≥ 0.9",
            r["intent_ratio_to_limit"] >= 0.9,
        )
        yield (
            f"{head}: pledges accepted/s (201 + 202) ÷ Stripe limit",
            _ratio(r["accepted_ratio_to_limit"]),
            f"{r['accepted']:,} ({r['accepted_201']:,} + {r['accepted_202']:,}) in "
            f"{r['accept_seconds']:.1f} s = {r['accepted_per_second']:.1f}/s",
            "—",
            None,
        )
        last = r["last_secret_seconds"]
        yield (
            f"{head}: time to the last client secret ÷ ideal N / limit",
            _ratio(r["last_secret_ratio_to_ideal"]),
            ("no client secret at all" if last is None else f"{last:.1f} s")
            + f" ÷ {r['ideal_seconds']:.1f} s"
            + (" (the clients gave up waiting)" if r.get("gave_up") else ""),
            "—",
            None,
        )
        estimate, waited = r.get("ready_in_median"), r.get("queued_wait_median")
        if estimate and waited:
            yield (
                f"{head}: 202's `ready_in` ÷ the wait it estimates (medians)",
                "—",
                f"{estimate:g} s ÷ {waited:.1f} s = {estimate / waited:.2f}",
                "—",
                None,
            )
        yield (
            f"{head}: answers 5xx / of them 503",
            "—",
            f"{r['http_5xx']} / {r['http_503']} (429s: {r['http_429']})",
            "0 / 0",
            r["http_5xx"] == 0 and r["http_503"] == 0,
        )
        yield (
            f"{head}: pledges without their client secret",
            "—",
            f"{r['missing_secrets']} (failed: {r['failed']})",
            "0",
            r["missing_secrets"] == 0,
        )


def _settlement_rows(results: dict[str, Any]) -> Iterator[Row]:
    runs = results.get("settlement") or []
    limit = results.get("rate_limit", 25)
    for r in runs:
        head = f"settlement {r.get('flow', 'setup')}, {r['pledges']:,}"
        if "deadline_to_terminal_seconds" in r:
            seconds = r["deadline_to_terminal_seconds"]
            first, last = (
                r.get("first_call_after_deadline_seconds"),
                r.get("last_call_to_terminal_seconds"),
            )
            where = (
                ""
                if first is None
                else f" (first call +{first:.1f} s, last call → end {last:.1f} s)"
            )
            yield (
                f"{head}: deadline → terminal ÷ ideal N / limit",
                _ratio(r.get("ratio_to_ideal")),
                f"{seconds:.1f} s ÷ {r['pledges'] / limit:.1f} s{where}",
                f"≤ {r['bound_seconds']:.1f} s",
                r["within_bound"],
            )
        yield (
            f"{head}: charges/s ÷ Stripe limit, first to last charge",
            _ratio(r.get("ratio_to_limit")),
            f"{r['charges_per_second']:.1f}/s ÷ {limit}",
            "—",
            None,
        )
        if "pledges_lost" in r:
            yield (
                f"{head}: pledges lost / double charges",
                "—",
                f"{r['pledges_lost']} / {r['double_charges']} (429s seen: {r['http_429']})",
                "0 / 0",
                r["pledges_lost"] == 0 and r["double_charges"] == 0,
            )
        else:
            yield (
                f"{head}: pledges not collected (429s seen: {r['http_429']})",
                "—",
                str(r["not_collected"]),
                "0",
                r["not_collected"] == 0,
            )
    flows: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        flows.setdefault(r.get("flow", "setup"), []).append(r)
    for flow, by_size in flows.items():
        if len(by_size) < 2:
            continue
        small, big = min(by_size, key=_size), max(by_size, key=_size)
        m = big["peak_rss_mib"] / small["peak_rss_mib"]
        yield (
            f"settlement {flow}: peak memory {big['pledges']:,} ÷ {small['pledges']:,}",
            "—",
            f"{big['peak_rss_mib']:.0f} MiB ÷ {small['peak_rss_mib']:.0f} MiB = {m:.2f}",
            "≤ 1.3",
            m <= 1.3,
        )


def _size(r: dict[str, Any]) -> int:
    return r["pledges"]


def _cold_start_rows(results: dict[str, Any]) -> Iterator[Row]:
    figures = results.get("cold_start") or {}
    base = figures.get("boto3", {})
    for name, c in figures.items():
        if name == "boto3" or not isinstance(c, dict) or "ratio" not in c:
            continue
        yield (
            f"cold start {name} ÷ `import boto3`, in-process",
            _ratio(c["ratio"]),
            f"{c['median_ms']:.0f} ms ÷ {base.get('median_ms', float('nan')):.0f} ms",
            "≤ 1.5",
            c["ratio"] <= 1.5,
        )
        if "whole_process_ratio" in c:
            yield (
                f"cold start {name} ÷ `import boto3`, whole process (`python -c`)",
                _ratio(c["whole_process_ratio"]),
                f"{c['whole_process_ms']:.0f} ms ÷ {base.get('whole_process_ms', float('nan')):.0f} ms",
                "≤ 1.5",
                c["whole_process_ratio"] <= 1.5,
            )
        traced = c.get("with_tracing")
        if isinstance(traced, dict) and "ratio_to_boto3" in traced:
            yield (
                f"cold start {name} ÷ `import boto3`, with tracing on (X-Ray SDK)",
                _ratio(traced["ratio_to_boto3"]),
                f"{traced['median_ms']:.0f} ms",
                "—",
                None,
            )
    for label, c in (figures.get("floors") or {}).items():
        yield (
            f"cold start floor, libraries alone: {label}",
            _ratio(c["ratio"]),
            f"{c['median_ms']:.0f} ms",
            "—",
            None,
        )


def _demo_rows(results: dict[str, Any]) -> Iterator[Row]:
    demo = results.get("demo")
    if demo:
        yield (
            f"`make demo` ({demo['backers']:,} backers, {demo['variant']}): wall time",
            "—",
            f"{demo['seconds'] / 60:.1f} min" + ("" if demo["ok"] else " (**it failed**)"),
            "≤ 3 min",
            demo["ok"] and demo["seconds"] <= 180,
        )


def _hot_rows(results: dict[str, Any]) -> Iterator[Row]:
    hot = results.get("hot")
    if not hot:
        return
    rate = hot["deliveries"] / hot["seconds"]
    yield (
        "hot campaign: webhook confirmations/s, local stack",
        "—",
        f"{hot['deliveries']:,} in {hot['seconds']:.1f} s = {rate:.1f}/s"
        + (f" (CPU {hot['cpu_seconds']:.1f} s)" if hot.get("cpu_seconds") is not None else ""),
        "≥ 60/s",
        rate >= 60,
    )
    yield (
        "hot campaign: confirmations lost / double-counted",
        "—",
        f"{hot['lost']} / {hot['double_counted']} of {hot['confirmations']:,}",
        "0 / 0",
        hot["lost"] == 0 and hot["double_counted"] == 0,
    )
    yield (
        "hot campaign: busiest item's share of item writes",
        "—",
        f"{hot['busiest_writes']} of {hot['items_written']} = {hot['busiest_share']:.1%}",
        f"sharded ({hot['shards']} shards)",
        hot["busiest_share"] < 0.5 / hot["shards"] * 2,
    )


def _cost_rows(results: dict[str, Any]) -> Iterator[Row]:
    for flow, c in (results.get("cost") or {}).items():
        limit = 3 if flow == "setup" else 2
        yield (
            f"cost per pledge, {flow} flow: DynamoDB items written",
            "—",
            f"{c['dynamodb_items_written']:.2f} ({c['dynamodb_write_requests']:.2f} requests)",
            "≤ 8",
            c["dynamodb_items_written"] <= 8,
        )
        yield (
            f"cost per pledge, {flow} flow: DynamoDB read requests",
            "—",
            f"{c['dynamodb_read_requests']:.2f}",
            "≤ 4",
            c["dynamodb_read_requests"] <= 4,
        )
        yield (
            f"cost per pledge, {flow} flow: Stripe calls",
            "—",
            f"{c['stripe_calls']:.2f}",
            f"≤ {limit}",
            c["stripe_calls"] <= limit,
        )


ROWS: dict[str, Callable[[dict[str, Any]], Iterator[Row]]] = {
    "intake": _intake_rows,
    "settlement": _settlement_rows,
    "cold_start": _cold_start_rows,
    "demo": _demo_rows,
    "hot": _hot_rows,
    "cost": _cost_rows,
}


def _met(value: bool | None) -> str:
    return "—" if value is None else "yes" if value else "**no**"


def report(results: dict[str, Any], command: str, seconds: float, header: str | None = None) -> str:
    ran = [name for name in SECTIONS if results.get(name)]
    missing = [name for name in SECTIONS if name not in ran]
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
    ]
    if missing:
        lines += [f"Not run this time: {', '.join(missing)}.", ""]
    lines += [
        "The ratio is to the physical limit: Stripe's rate limit "
        f"({results.get('rate_limit', 25)} requests/s per endpoint) or the ideal time at that "
        "rate for intake and settlement, a bare `import boto3` for cold starts.",
        "",
        "| figure | ratio to the limit | measured | target | met |",
        "|---|---|---|---|---|",
    ]
    for name in ran:
        for figure, ratio, value, target, met in ROWS[name](results):
            lines.append(f"| {figure} | {ratio} | {value} | {target} | {_met(met)} |")
    lines += ["", "## How to read it", ""]
    lines += [NOTES[name] for name in ran]
    lines.append("")
    if "cost" in ran:
        lines.append(WHY_EACH_WRITE)
        lines += _by_kind(results)
    lines += [
        "## Details",
        "",
        "```json",
        json.dumps(results, indent=1, default=str),
        "```",
        "",
    ]
    return "\n".join(lines)
