"""`cashmob demo`: a cashmob happening on this machine.

An organizer creates a campaign; thousands of backers pledge through the HTTP
API and confirm their cards with stripe-python against the Stripe emulator
(a few cards decline, a few need authentication, a few backers cancel); the
clock jumps past the deadline; settlement runs; a table shows what moved.
The second variant misses its goal and nobody is charged. Both variants run
side by side, and the clock jumps once, past both deadlines.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import stripe

from . import mail
from .driver import Api, local_stack, stripe_client

DEFAULT_BACKERS = 2000  # `cashmob demo --backers`
# What the demo's backers do: (share, payment method, what happens).
BACKERS = [
    (0.88, "pm_card_visa", "pays"),
    (0.02, "pm_card_mastercard", "cancels"),
    (0.03, "pm_card_chargeDeclined", "declined when saving: never confirmed"),
    (0.04, "pm_card_chargeCustomerFail", "saved, declined at the deadline"),
    (0.03, "pm_card_authenticationRequired", "3-D Secure now, again at the deadline"),
]


@dataclass
class Tally:
    pledged: int = 0
    confirmed: int = 0
    cancelled: int = 0
    errors: Counter = field(default_factory=Counter)
    tokens: list[str] = field(default_factory=list)  # kept for checks, never printed
    lock: threading.Lock = field(default_factory=threading.Lock)


class Bar:
    """A progress bar on a terminal; a line per tenth otherwise (logs, CI)."""

    def __init__(self, label: str, total: int, *, tty: bool | None = None) -> None:
        self.label, self.total, self.done = label, total, 0
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._drawn = 0.0
        self.tty = sys.stderr.isatty() if tty is None else tty
        self._tenth = 0

    def step(self, n: int = 1) -> None:
        with self._lock:
            self.done += n
            if self.tty and time.monotonic() - self._drawn > 0.1:
                self.draw()
            elif not self.tty and self.done * 10 // max(self.total, 1) > self._tenth:
                self._tenth = self.done * 10 // max(self.total, 1)
                self.draw()
                sys.stderr.write("\n")

    def draw(self, note: str = "") -> None:
        self._drawn = time.monotonic()
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        rate = self.done / max(time.monotonic() - self.started, 1e-6)
        sys.stderr.write(
            f"\r  {self.label:<22} [{'#' * filled}{'.' * (width - filled)}] "
            f"{self.done}/{self.total}  {rate:6.1f}/s {note}   "
        )
        sys.stderr.flush()

    def close(self) -> None:
        self.draw()
        sys.stderr.write("\n")


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


class SharedDeadline:
    """Campaigns run side by side reach their deadlines together: when every
    one of them has its pledges in, the clock moves once, past the latest
    deadline (moving it per campaign would age the others' pledges too)."""

    def __init__(self, api: Api, campaigns: int) -> None:
        self.api = api
        self.deadlines: list[datetime] = []
        self.barrier = threading.Barrier(campaigns, action=self._advance)

    def _advance(self) -> None:
        latest = max(self.deadlines)
        self.api.advance((latest - _parse(self.api.now())).total_seconds() + 120)

    def __call__(self, deadline: datetime) -> None:
        self.deadlines.append(deadline)
        self.barrier.wait(timeout=1800)


def run_campaign(
    api: Api,
    client: Any,
    *,
    title: str,
    backers: int,
    goal: int,
    seed: int,
    workers: int,
    at_deadline: Callable[[datetime], None] | None = None,
    tag: str = "",
    mix: list[tuple[float, str, str]] | None = None,
) -> dict[str, Any]:
    """One campaign from its creation to its settlement; `at_deadline(deadline)`
    moves the clock past its deadline (by default, straight away). `mix`: what
    the backers do (default BACKERS)."""
    started = time.monotonic()
    rng = random.Random(seed)
    now = _parse(api.now())
    deadline = now + timedelta(days=10)  # more than 6 days away: cards are saved (setup flow)
    campaign = api.ok(
        "POST",
        "/campaigns",
        {
            "title": title,
            "goal": {"amount": goal, "currency": "gbp"},
            "deadline": deadline.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "min_pledge": {"amount": 300, "currency": "gbp"},
        },
        api.organizer("demo-organizer"),
    )
    print(f"\n{title}: campaign {campaign['id']}, goal £{goal / 100:,.2f}, {backers} backers")
    plans = []
    mix = BACKERS if mix is None else mix
    weights = [share for share, _, _ in mix]
    for i in range(backers):
        _, pm, fate = rng.choices(mix, weights=weights)[0]
        plans.append((i, rng.choice([300, 500, 1000, 1500, 2500]), pm, fate))
    tally = Tally()
    tty = None if not tag else False  # side by side: a line per tenth, not two bars on one line
    bar = Bar(f"{tag}pledging + confirming", backers, tty=tty)

    def backer(plan: tuple[int, int, str, str]) -> None:
        i, amount, pm, fate = plan
        body = {
            "amount": amount,
            "currency": "gbp",
            "email": f"backer{i}@example.org",
            "display_name": f"Backer {i}",
            "anonymous": i % 7 == 0,
        }
        path = f"/campaigns/{campaign['id']}/pledges"
        for attempt in range(6):
            status, created = api.call("POST", path, body, {"Idempotency-Key": f"demo-{seed}-{i}"})
            if status != 503:
                break
            time.sleep(0.2 * (attempt + 1))  # Retry-After: the same key resumes safely
        if status not in (200, 201):
            with tally.lock:
                tally.errors[f"pledge {status}"] += 1
            bar.step()
            return
        intent = created["payment"]["intent_id"]
        try:
            client.setup_intents.confirm(intent, params={"payment_method": pm})
            if pm == "pm_card_authenticationRequired":
                client.setup_intents.confirm(intent)  # the backer passes 3-D Secure
            with tally.lock:
                tally.confirmed += 1
        except stripe.CardError:
            pass
        if fate == "cancels":
            p = created["pledge"]
            api.ok(
                "DELETE",
                f"/campaigns/{p['campaign_id']}/pledges/{p['id']}",
                headers={"X-Pledge-Token": created["pledge_token"]},
            )
            with tally.lock:
                tally.cancelled += 1
        with tally.lock:
            tally.pledged += 1
            tally.tokens.append(created["pledge_token"])
        bar.step()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(backer, plans))
    bar.close()
    api.wait(api.quiet, timeout=600)
    before = api.ok("GET", f"/campaigns/{campaign['id']}")
    print(
        f"  {tag}at the deadline: £{before['pledged']['amount'] / 100:,.2f} from "
        f"{before['pledged']['backers']} backers ({before['percent_funded']}% funded)"
    )
    if at_deadline is None:
        api.advance((deadline - _parse(api.now())).total_seconds() + 120)
    else:
        at_deadline(deadline)
    settle_started = time.monotonic()
    final = _settle(api, campaign["id"], Bar(f"{tag}settling", 1, tty=tty))
    settle_seconds = time.monotonic() - settle_started
    charges = Counter()
    for intent in client.payment_intents.list(params={"limit": 100}).auto_paging_iter():
        meta = intent.metadata.to_dict() if intent.metadata else {}
        if meta.get("campaign_id") == campaign["id"] and intent.status == "succeeded":
            charges[meta["pledge_id"]] += 1
    statuses = Counter()
    organizer = api.organizer("demo-organizer")
    cursor = None
    while True:
        query = f"?limit=100&cursor={cursor}" if cursor else "?limit=100"
        page = api.ok("GET", f"/campaigns/{campaign['id']}/pledges{query}", headers=organizer)
        statuses.update(p["status"] for p in page["pledges"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return {
        "at_deadline": before["pledged"],
        "campaign": final,
        "statuses": statuses,
        "charges": charges,
        "tally": tally,
        "tokens": tally.tokens,
        "settle_seconds": settle_seconds,
        "seconds": time.monotonic() - started,
        "backers": backers,
    }


def _settle(api: Api, campaign_id: str, bar: Bar) -> dict[str, Any]:
    deadline = time.monotonic() + 1200
    while time.monotonic() < deadline:
        api.tick()
        campaign = api.ok("GET", f"/campaigns/{campaign_id}")
        queue = api.status()["queues"]["SettlementQueue"]
        waiting = (
            queue["ApproximateNumberOfMessages"] + queue["ApproximateNumberOfMessagesNotVisible"]
        )
        if bar.tty:
            bar.draw(f"status {campaign['status']}, {waiting} queued")
        if campaign["status"] in ("succeeded", "failed") and api.quiet():
            bar.done = 1
            bar.close()
            return campaign
        time.sleep(1.0)
    raise TimeoutError("settlement did not finish in 20 minutes")


def table(result: dict[str, Any]) -> str:
    """The outcome as a Markdown table (the README quotes it)."""
    c, s, charges = result["campaign"], result["statuses"], result["charges"]
    st = c["settlement"] or {}
    at_deadline = result["at_deadline"]

    def money(minor: int) -> str:
        return f"£{minor / 100:,.2f}"

    rows = [
        ("outcome", c["status"]),
        ("backers", str(result["backers"])),
        (
            "pledged at the deadline",
            f"{money(at_deadline['amount'])} from {at_deadline['backers']} active pledges",
        ),
        ("collected", f"{money(st.get('collected', 0))} from {s['collected']} pledges"),
        ("released, nothing charged", f"{money(st.get('released', 0))}, {s['released']} pledges"),
        (
            "action required (grace period)",
            f"{money(st.get('pending_action', 0))}, {s['action_required']} pledges",
        ),
        ("expired (card never confirmed)", f"{s['expired']} pledges"),
        ("cancelled by the backer", f"{s['cancelled']} pledges"),
        (
            "Stripe charges made",
            f"{sum(charges.values())} (at most {max(charges.values(), default=0)} per pledge)",
        ),
        ("settlement wall time", f"{result['settle_seconds']:.1f} s"),
        ("campaign wall time", f"{result['seconds']:.1f} s"),
    ]
    lines = ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines)


@contextmanager
def _stack(url: str | None, *options: str, api_instances: int = 1) -> Iterator[tuple[Api, str]]:
    """`url`'s stack as it is, else a new `cashmob local` with `options` and
    `api_instances` instances of the API."""
    if url:
        api = Api(url)
        yield api, api.status()["stripe"]["url"]
        return
    print("starting cashmob local (use --url to run against one already running) ...")
    with local_stack(*options, "--api-instances", str(api_instances)) as running:
        yield running.api, running.stripe_url


def _side_by_side(
    api: Api, client: Any, variants: list[dict[str, Any]], workers: int
) -> list[dict[str, Any]]:
    shared = SharedDeadline(api, len(variants))

    def run(variant: dict[str, Any]) -> dict[str, Any]:
        try:
            return run_campaign(api, client, workers=workers, at_deadline=shared, **variant)
        except BaseException:
            shared.barrier.abort()  # the others stop waiting for this one
            raise

    with ThreadPoolExecutor(len(variants)) as pool:
        return list(pool.map(run, variants))


def main(args: argparse.Namespace) -> int:
    if args.variant == "refused":
        return _refused(args)
    if args.variant in ("fixed-price", "conditional"):
        return _fair(args)
    started = time.monotonic()
    variants = []
    if args.variant in ("success", "both"):
        variants.append(
            {
                "title": "Full-page ad on AGM day",
                "backers": args.backers,
                "goal": args.backers * 500,
                "seed": 1,
                "tag": "funded: ",
            }
        )
    if args.variant in ("missed", "both"):
        variants.append(
            {
                "title": "A playground nobody funded",
                "backers": max(args.backers // 10, 10),
                "goal": args.backers * 10_000,
                "seed": 2,
                "tag": "missed: ",
            }
        )
    with _stack(args.url, api_instances=args.api_instances) as (api, stripe_url):
        # A tick runs the schedule inside the request: on a busy machine, past 30 s.
        api.timeout = max(api.timeout, 120.0)
        client = stripe_client(stripe_url)
        if len(variants) == 1:
            variant = {**variants[0], "tag": ""}
            results = [run_campaign(api, client, workers=args.workers, **variant)]
        else:
            results = _side_by_side(api, client, variants, args.workers)
        emails = mail.summary(api)  # what the notifier sent, by kind
    print(f"\n{emails}")
    for result in results:
        print(f"\n{result['campaign']['title']}\n")
        print(table(result))
        doubles = [p for p, n in result["charges"].items() if n > 1]
        wrong = result["campaign"]["status"] == "failed" and sum(result["charges"].values())
        if doubles or wrong:
            print(f"\nERROR: double charges {doubles}, charges on a failed campaign: {wrong}")
            return 1
    print(f"\ndemo finished in {time.monotonic() - started:.0f} s")
    return 0


# `--variant refused` plays about this many backers unless --backers says otherwise.
REFUSED_BACKERS = 200


def _refused(args: argparse.Namespace) -> int:
    """The FT ad the newspaper refused: collected, then every backer refunded.
    Its own stack has payouts on (the payout is reversed, then reconciled);
    with --url it plays whatever that stack has."""
    from . import refused

    started = time.monotonic()
    backers = REFUSED_BACKERS if args.backers == DEFAULT_BACKERS else args.backers
    # Payouts on: the refused ad's payout is reversed too.
    with _stack(args.url, "--payouts", api_instances=args.api_instances) as (api, stripe_url):
        api.timeout = max(api.timeout, 120.0)
        client = stripe_client(stripe_url)
        result = refused.run(api, client, stripe_url, backers=backers, workers=args.workers)
    print(f"\n{result['campaign']['title']}: {refused.REASON}\n")
    print(refused.table(result))
    found = refused.problems(result)
    if found:
        print("\nERROR: " + "; ".join(found))
        return 1
    print(f"\ndemo finished in {time.monotonic() - started:.0f} s")
    return 0


def _fair(args: argparse.Namespace) -> int:
    """Issue 16's stories (`fair_demo`): `fixed-price`, the FT ad overfunded
    and each backer charged a fair share; `conditional`, a campaign that
    tips only because conditional pledges meet each other."""
    from . import fair_demo

    started = time.monotonic()
    fixed = args.variant == "fixed-price"
    default = (
        fair_demo.DEFAULT_FIXED_PRICE_BACKERS if fixed else fair_demo.DEFAULT_CONDITIONAL_BACKERS
    )
    backers = default if args.backers == DEFAULT_BACKERS else args.backers
    with _stack(args.url, api_instances=args.api_instances) as (api, stripe_url):
        api.timeout = max(api.timeout, 120.0)
        client = stripe_client(stripe_url)
        if fixed:
            result = fair_demo.run_fixed_price(api, client, backers=backers, workers=args.workers)
            table, found = fair_demo.fixed_price_table, fair_demo.fixed_price_problems
        else:
            result = fair_demo.run_conditional(api, client, backers=backers, workers=args.workers)
            table, found = fair_demo.conditional_table, fair_demo.conditional_problems
    print(f"\n{result['campaign']['title']}\n")
    print(table(result))
    problems = found(result)
    if problems:
        print("\nERROR: " + "; ".join(problems))
        return 1
    print(f"\ndemo finished in {time.monotonic() - started:.0f} s")
    return 0
