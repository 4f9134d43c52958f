"""`cashmob demo --variant fixed-price` and `--variant conditional` (issue 16).

fixed-price: the FT ad costs £20,000 and the crowd pledges £26,000, in four
bands of backers. The campaign is `fixed_price`: it succeeds, and each
backer pays the same fraction of their pledge, so that Stripe takes exactly
the price. Half the backers pledge early (cards saved, charged off-session
at the deadline), half in the last five days (funds held, captured in
part). A table shows what each band paid, counted on the Stripe emulator.

conditional: a street party needs £3,000. A few backers pledge outright;
most say "count me in only if 50 of us pledge"; a few more "only if 200
do". The outright pledges alone are far short; the conditional ones meet
each other and the campaign tips; the "200" pledges are released, never
charged. Progress lines show `pledged` and `pledged_if_conditions_met` as
the crowd grows.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .driver import Api

ORGANIZER = "demo-organizer"
# (backers in the default run, pledge in pence): 296 backers, £26,000.
FIXED_PRICE_BANDS = [(100, 2_000), (80, 5_000), (60, 10_000), (56, 25_000)]
FIXED_PRICE_GOAL = 2_000_000  # £20,000
# (backers in the default run, min_backers or None, pledge): 90 backers.
CONDITIONAL_GROUPS = [(10, None, 5_000), (65, 50, 5_000), (15, 200, 5_000)]
CONDITIONAL_GOAL = 300_000  # £3,000
DEFAULT_FIXED_PRICE_BACKERS = sum(n for n, _ in FIXED_PRICE_BANDS)
DEFAULT_CONDITIONAL_BACKERS = sum(n for n, _, _ in CONDITIONAL_GROUPS)


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def money(minor: int) -> str:
    return f"£{minor / 100:,.2f}"


def scaled(counts: Iterable[int], backers: int, default: int) -> list[int]:
    """Each group's count for a run of `backers` (at least one each)."""
    return [max(1, round(n * backers / default)) for n in counts]


@dataclass
class Backer:
    key: str
    amount: int
    condition: int | None = None
    group: str = ""


def create_campaign(api: Api, title: str, goal: int, days: float, **extra: Any) -> dict[str, Any]:
    deadline = _parse(api.now()) + timedelta(days=days)
    body = {
        "title": title,
        "goal": {"amount": goal, "currency": "gbp"},
        "deadline": _iso(deadline),
        "min_pledge": {"amount": 300, "currency": "gbp"},
        **extra,
    }
    return api.ok("POST", "/campaigns", body, api.organizer(ORGANIZER))


def pledge_and_confirm(
    api: Api, client: Any, campaign: dict[str, Any], backer: Backer
) -> dict[str, Any]:
    """One backer: the pledge, then the card confirmed with the emulator (a
    pledge answered 202 "preparing" is read until its Stripe object exists)."""
    body: dict[str, Any] = {
        "amount": backer.amount,
        "currency": "gbp",
        "email": f"{backer.key}@example.org",
        "display_name": backer.key,
    }
    if backer.condition is not None:
        body["condition"] = {"min_backers": backer.condition}
    path = f"/campaigns/{campaign['id']}/pledges"
    status, created = api.call("POST", path, body, {"Idempotency-Key": backer.key})
    if status not in (200, 201, 202):
        raise AssertionError(f"pledge {backer.key} -> {status}: {created}")
    pledge = created["pledge"]
    token = {"X-Pledge-Token": created["pledge_token"]}
    payment = created["payment"]
    for _ in range(600):
        if payment["status"] == "ready":
            break
        time.sleep(0.1)
        payment = api.ok("GET", f"{path}/{pledge['id']}", headers=token)["payment"]
    service = client.setup_intents if payment["flow"] == "setup" else client.payment_intents
    service.confirm(payment["intent_id"], params={"payment_method": "pm_card_visa"})
    return {"id": pledge["id"], "flow": payment["flow"], "token": created["pledge_token"]}


def pledge_all(
    api: Api, client: Any, campaign: dict[str, Any], backers: list[Backer], workers: int
) -> dict[str, dict[str, Any]]:
    """key -> what `pledge_and_confirm` answered; then waits for the webhooks."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        made = list(pool.map(lambda b: pledge_and_confirm(api, client, campaign, b), backers))
    api.wait(api.quiet, timeout=600)
    return {b.key: m for b, m in zip(backers, made, strict=True)}


def settle(api: Api, campaign: dict[str, Any], timeout: float = 900.0) -> dict[str, Any]:
    """The clock past the deadline; the schedule ticked until it is final."""
    deadline = _parse(campaign["deadline"])
    api.advance((deadline - _parse(api.now())).total_seconds() + 120)
    return api.settle(campaign["id"], timeout)


def stripe_took(client: Any, campaign_id: str) -> dict[str, list[int]]:
    """pledge id -> amount_received of each PaymentIntent that took money (the emulator's view)."""
    took: dict[str, list[int]] = {}
    for intent in client.payment_intents.list(params={"limit": 100}).auto_paging_iter():
        meta = intent.metadata.to_dict() if intent.metadata else {}
        if meta.get("campaign_id") == campaign_id and intent.status == "succeeded":
            took.setdefault(meta["pledge_id"], []).append(intent.amount_received)
    return took


def owner_pledges(api: Api, campaign_id: str) -> dict[str, dict[str, Any]]:
    organizer = api.organizer(ORGANIZER)
    found: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        query = f"?limit=100&cursor={cursor}" if cursor else "?limit=100"
        page = api.ok("GET", f"/campaigns/{campaign_id}/pledges{query}", headers=organizer)
        found.update((p["id"], p) for p in page["pledges"])
        cursor = page.get("next_cursor")
        if not cursor:
            return found


# ---------------------------------------------------------------- fixed-price


def run_fixed_price(
    api: Api, client: Any, *, backers: int = DEFAULT_FIXED_PRICE_BACKERS, workers: int = 8
) -> dict[str, Any]:
    started = time.monotonic()
    counts = scaled([n for n, _ in FIXED_PRICE_BANDS], backers, DEFAULT_FIXED_PRICE_BACKERS)
    plan = [
        Backer(f"fp-{amount}-{i}", amount, group=money(amount))
        for (n, (_, amount)) in zip(counts, FIXED_PRICE_BANDS, strict=True)
        for i in range(n)
    ]
    pledged = sum(b.amount for b in plan)
    goal = (
        FIXED_PRICE_GOAL
        if backers == DEFAULT_FIXED_PRICE_BACKERS
        else pledged * FIXED_PRICE_GOAL // 2_600_000
    )
    campaign = create_campaign(
        api, "Full-page ad in the FT on AGM day", goal, days=10, funding_model="fixed_price"
    )
    print(
        f"\n{campaign['title']}: fixed_price campaign {campaign['id']}, price {money(goal)}, "
        f"{len(plan)} backers pledging {money(pledged)}"
    )
    early, late = plan[::2], plan[1::2]
    made = pledge_all(api, client, campaign, early, workers)  # cards saved (setup flow)
    api.advance(5 * 86400)  # five days before the deadline: the next funds are held
    made |= pledge_all(api, client, campaign, late, workers)
    before = api.ok("GET", f"/campaigns/{campaign['id']}")
    print(
        f"  at the deadline: {money(before['pledged']['amount'])} from "
        f"{before['pledged']['backers']} backers ({before['percent_funded']}% of the price)"
    )
    final = settle(api, campaign)
    took = stripe_took(client, campaign["id"])
    views = owner_pledges(api, campaign["id"])
    return {
        "campaign": final,
        "plan": plan,
        "made": made,
        "took": took,
        "views": views,
        "pledged": pledged,
        "goal": goal,
        "seconds": time.monotonic() - started,
    }


def fixed_price_table(result: dict[str, Any]) -> str:
    """What each band of backers paid, as Stripe took it (Markdown)."""
    bands: dict[int, list[int]] = {}
    flows: dict[int, Counter] = {}
    for b in result["plan"]:
        m = result["made"][b.key]
        paid = sum(result["took"].get(m["id"], []))
        bands.setdefault(b.amount, []).append(paid)
        flows.setdefault(b.amount, Counter())[m["flow"]] += 1
    lines = [
        "| pledged | backers | paid each | share of the pledge | band paid |",
        "|---|---|---|---|---|",
    ]
    for amount in sorted(bands):
        paid = bands[amount]
        low, high = min(paid), max(paid)
        each = money(low) if low == high else f"{money(low)} to {money(high)}"
        lines.append(
            f"| {money(amount)} | {len(paid)} | {each} | "
            f"{100 * sum(paid) / (amount * len(paid)):.2f}% | {money(sum(paid))} |"
        )
    total_paid = sum(sum(v) for v in result["took"].values())
    lines.append(
        f"| **all** | **{len(result['plan'])}** | | "
        f"{100 * total_paid / result['pledged']:.2f}% | **{money(total_paid)}** |"
    )
    c = result["campaign"]
    lines += [
        "",
        "| | |",
        "|---|---|",
        f"| outcome | {c['status']} |",
        f"| price (goal) | {money(result['goal'])} |",
        f"| pledged | {money(result['pledged'])} ({c['pledged']['backers']} backers) |",
        f"| collected (settlement) | {money(c['settlement']['collected'])} |",
        f"| Stripe took (emulator) | {money(total_paid)} in "
        f"{sum(len(v) for v in result['took'].values())} payments |",
        f"| campaign wall time | {result['seconds']:.1f} s |",
    ]
    return "\n".join(lines)


def fixed_price_problems(result: dict[str, Any]) -> list[str]:
    found = []
    c = result["campaign"]
    total = sum(sum(v) for v in result["took"].values())
    if c["status"] != "succeeded":
        found.append(f"the campaign ended {c['status']}")
    if total != result["goal"]:
        found.append(f"Stripe took {total}, not the price {result['goal']}")
    for b in result["plan"]:
        pid = result["made"][b.key]["id"]
        took = result["took"].get(pid, [])
        if len(took) != 1:
            found.append(f"{pid} was charged {len(took)} times")
        elif not 0 < took[0] <= b.amount or result["views"][pid]["charged"] != took[0]:
            found.append(f"{pid} paid {took[0]} of {b.amount}")
    return found


# ---------------------------------------------------------------- conditional


def run_conditional(
    api: Api,
    client: Any,
    *,
    backers: int = DEFAULT_CONDITIONAL_BACKERS,
    workers: int = 8,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    started = time.monotonic()
    counts = scaled([n for n, _, _ in CONDITIONAL_GROUPS], backers, DEFAULT_CONDITIONAL_BACKERS)
    groups = []
    for n, (_, condition, amount) in zip(counts, CONDITIONAL_GROUPS, strict=True):
        # thresholds scale with the crowd, so a small run tells the same story
        threshold = None
        if condition is not None:
            threshold = max(2, round(condition * backers / DEFAULT_CONDITIONAL_BACKERS))
        label = "outright" if threshold is None else f"if {threshold} pledge"
        groups.append(
            [
                Backer(f"cd-{label}-{i}".replace(" ", "-"), amount, threshold, label)
                for i in range(n)
            ]
        )
    plan = [b for g in groups for b in g]
    outright = groups[0]
    outright_total = sum(b.amount for b in outright)
    goal = (
        CONDITIONAL_GOAL
        if backers == DEFAULT_CONDITIONAL_BACKERS
        else max(outright_total * 6, 1_000)
    )
    campaign = create_campaign(api, "A street party on Rye Lane", goal, days=2)
    say(
        f"\n{campaign['title']}: campaign {campaign['id']}, goal {money(goal)}, "
        f"{len(plan)} backers, most of them conditional"
    )
    progress = []

    def show(note: str) -> None:
        c = api.ok("GET", f"/campaigns/{campaign['id']}")
        line = (
            f"  {note}: pledged {money(c['pledged']['amount'])} "
            f"({c['pledged']['backers']} backers); if conditions are met "
            f"{money(c['pledged_if_conditions_met']['amount'])} "
            f"({c['pledged_if_conditions_met']['backers']})"
        )
        progress.append(line)
        say(line)

    made = pledge_all(api, client, campaign, outright, workers)
    show("the outright backers")
    middle = groups[1]
    half = len(middle) // 2
    made |= pledge_all(api, client, campaign, middle[:half], workers)
    show(f"half of '{middle[0].group}'")
    made |= pledge_all(api, client, campaign, middle[half:], workers)
    show(f"all of '{middle[0].group}'")
    for group in groups[2:]:
        made |= pledge_all(api, client, campaign, group, workers)
        show(f"and '{group[0].group}'")
    final = settle(api, campaign)
    took = stripe_took(client, campaign["id"])
    views = owner_pledges(api, campaign["id"])
    return {
        "campaign": final,
        "groups": groups,
        "made": made,
        "took": took,
        "views": views,
        "goal": goal,
        "outright": outright_total,
        "progress": progress,
        "seconds": time.monotonic() - started,
    }


def conditional_table(result: dict[str, Any]) -> str:
    lines = [
        "| backers | how many | pledged | ended | Stripe took |",
        "|---|---|---|---|---|",
    ]
    for group in result["groups"]:
        ids = [result["made"][b.key]["id"] for b in group]
        statuses = Counter(result["views"][p]["status"] for p in ids)
        took = sum(sum(result["took"].get(p, [])) for p in ids)
        ended = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
        lines.append(
            f"| {group[0].group} | {len(group)} | {money(sum(b.amount for b in group))} | "
            f"{ended} | {money(took)} |"
        )
    c = result["campaign"]
    lines += [
        "",
        "| | |",
        "|---|---|",
        f"| outcome | {c['status']} |",
        f"| goal | {money(result['goal'])} |",
        f"| outright pledges alone | {money(result['outright'])} |",
        f"| collected | {money(c['settlement']['collected'])} |",
        f"| released, nothing charged | {money(c['settlement']['released'])} |",
        f"| campaign wall time | {result['seconds']:.1f} s |",
    ]
    return "\n".join(lines)


def conditional_problems(result: dict[str, Any]) -> list[str]:
    found = []
    c = result["campaign"]
    if c["status"] != "succeeded":
        found.append(f"the campaign ended {c['status']}")
    if result["outright"] >= result["goal"]:
        found.append("the outright pledges alone reach the goal: nothing to show")
    for group in result["groups"][2:]:  # out of reach: released, never charged
        for b in group:
            pid = result["made"][b.key]["id"]
            if result["took"].get(pid) or result["views"][pid]["status"] != "released":
                found.append(f"{pid} ('{b.group}') was not released untouched")
    for group in result["groups"][:2]:
        for b in group:
            pid = result["made"][b.key]["id"]
            if result["took"].get(pid) != [b.amount]:
                found.append(f"{pid} ('{b.group}') took {result['took'].get(pid)}")
    return found
