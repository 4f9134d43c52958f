"""`cashmob demo --variant refused`: the seed's own story, to its end.

About 200 people fund a full-page ad in the FT; the campaign succeeds and
every card is charged; then the newspaper refuses to print the ad. The
organizer refunds the campaign with that reason; every backer is refunded
exactly once (counted on the Stripe emulator, by pledge), and the campaign
ends `refunded`. On a stack with payouts on (`cashmob local --payouts`) the
organizer onboards with Stripe Connect first: the campaign pays out once
(one transfer, transfer_group = the campaign) and the refund reverses that
transfer in full. Reconciliation of the campaign then finds no drift. A
table shows what moved.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from .driver import Api

REASON = "the newspaper refused the ad"
ORGANIZER = "demo-organizer"
# Everyone pays: the story is about giving the money back.
PAYING = [(1.0, "pm_card_visa", "pays")]


def emulator_refunds(stripe_url: str) -> dict[str, list[int]]:
    """pledge id -> the amounts of its refunds (`GET /_emulator/refunds`)."""
    return Api(stripe_url).ok("GET", "/_emulator/refunds")


def owner_pledges(api: Api, campaign_id: str) -> list[dict[str, Any]]:
    organizer = api.organizer(ORGANIZER)
    pledges: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = f"?limit=100&cursor={cursor}" if cursor else "?limit=100"
        page = api.ok("GET", f"/campaigns/{campaign_id}/pledges{query}", headers=organizer)
        pledges.extend(page["pledges"])
        cursor = page.get("next_cursor")
        if not cursor:
            return pledges


def refund(api: Api, campaign_id: str, timeout: float = 900.0) -> tuple[int, dict[str, Any]]:
    """The organizer's refund: its first answer's status, then the campaign
    once it is `refunded` and nothing is left in flight."""
    status, answer = api.call(
        "POST",
        f"/campaigns/{campaign_id}/refund",
        {"reason": REASON},
        api.organizer(ORGANIZER),
    )
    if status not in (200, 202):
        raise AssertionError(f"refund -> {status}: {answer}")

    def refunded() -> bool:
        api.tick()
        campaign = api.ok("GET", f"/campaigns/{campaign_id}")
        return campaign["status"] == "refunded" and api.quiet()

    api.wait(refunded, timeout, every=0.5)
    return status, api.ok("GET", f"/campaigns/{campaign_id}")


def payouts_available(api: Api) -> bool:
    """Whether this stack pays organizers out (`GET /organizers/me`)."""
    me = api.ok("GET", "/organizers/me", headers=api.organizer(ORGANIZER))
    return bool(me["payouts"]["available"])


def onboard(api: Api, stripe_url: str, timeout: float = 120.0) -> str:
    """The organizer's Stripe Connect onboarding, as in `test_payouts_local`:
    the account link, the emulator's onboarding, then `enabled` once the
    `account.updated` webhook landed. Its account id."""
    organizer = api.organizer(ORGANIZER)
    me = api.ok("GET", "/organizers/me", headers=organizer)["payouts"]
    if me["status"] != "enabled":
        api.ok("POST", "/organizers/me/payouts", {"return_url": "https://x.org/done"}, organizer)
        me = api.ok("GET", "/organizers/me", headers=organizer)["payouts"]
        done = Api(stripe_url).ok(
            "POST", f"/_emulator/accounts/{me['account_id']}/complete_onboarding"
        )
        if done.get("payouts_enabled") is not True:
            raise AssertionError(f"the emulator's onboarding did not enable payouts: {done}")

        def enabled() -> bool:
            return (
                api.ok("GET", "/organizers/me", headers=organizer)["payouts"]["status"] == "enabled"
            )

        api.wait(enabled, timeout)
    return me["account_id"]


def payout_reaching(
    api: Api, campaign_id: str, status: str, timeout: float = 300.0
) -> dict[str, Any]:
    """The campaign's payout once its status is `status` (ticking the schedule)."""

    def there() -> bool:
        api.tick()
        payout = api.ok("GET", f"/campaigns/{campaign_id}")["payout"]
        return bool(payout) and payout["status"] == status and api.quiet()

    try:
        api.wait(there, timeout, every=0.5)
    except TimeoutError:
        payout = api.ok("GET", f"/campaigns/{campaign_id}")["payout"]
        raise AssertionError(f"the payout never became {status}: {payout}") from None
    return api.ok("GET", f"/campaigns/{campaign_id}")["payout"]


def transfers(client: Any, campaign_id: str) -> list[dict[str, Any]]:
    """The campaign's transfers on Stripe (transfer_group = its id)."""
    found = client.transfers.list(params={"transfer_group": campaign_id, "limit": 100})
    return [
        {
            "id": t.id,
            "amount": t.amount,
            "amount_reversed": t.amount_reversed,
            "reversed": t.reversed,
            "destination": t.destination,
        }
        for t in found.auto_paging_iter()
    ]


def reconcile(api: Api, campaign_id: str) -> dict[str, Any]:
    """What `cashmob reconcile --url URL --campaign ID` asks the stack:
    the report (JSON, with its `table`)."""
    slow = Api(api.base, timeout=600, headers=api.headers)
    return slow.ok(
        "POST", "/_local/reconcile", {"campaign": campaign_id, "since": None, "fix": False}
    )


def run(api: Api, client: Any, stripe_url: str, *, backers: int, workers: int) -> dict[str, Any]:
    """The story from the first pledge to the last refund (and, with payouts
    on, the payout and its reversal), then reconciliation."""
    from .demo import run_campaign

    payouts = payouts_available(api)
    account = None
    if payouts:
        print(f"  payouts are on: {ORGANIZER} onboards with Stripe Connect ...")
        account = onboard(api, stripe_url)
    settled = run_campaign(
        api,
        client,
        title="Full-page ad in the FT",
        backers=backers,
        goal=backers * 900,  # ~1,160 a backer on average: overfunded, as the FT ad was
        seed=3,
        workers=workers,
        mix=PAYING,
    )
    campaign = settled["campaign"]
    if campaign["status"] != "succeeded":
        raise AssertionError(f"the campaign did not succeed: {campaign['status']}")
    paid = paid_transfers = None
    payout_started = time.monotonic()
    if payouts:
        paid = payout_reaching(api, campaign["id"], "paid")
        paid_transfers = transfers(client, campaign["id"])
        print(f"  paid out £{paid['amount'] / 100:,.2f} (fee £{paid['fee'] / 100:,.2f})")
    payout_seconds = time.monotonic() - payout_started
    print(f"  the newspaper refused the ad: refunding {campaign['id']} ...")
    started = time.monotonic()
    first, final = refund(api, campaign["id"])
    again, repeated = api.call(
        "POST", f"/campaigns/{campaign['id']}/refund", {"reason": REASON}, api.organizer(ORGANIZER)
    )
    refund_seconds = time.monotonic() - started
    reversed_ = reversed_transfers = None
    if payouts:
        reversed_ = payout_reaching(api, campaign["id"], "reversed")
        reversed_transfers = transfers(client, campaign["id"])
        final = api.ok("GET", f"/campaigns/{campaign['id']}")
    pledges = owner_pledges(api, campaign["id"])
    by_pledge = emulator_refunds(stripe_url)
    mine = {p["id"]: by_pledge.get(p["id"], []) for p in pledges}
    print(f"  reconciling {campaign['id']} ...")
    reconcile_started = time.monotonic()
    report = reconcile(api, campaign["id"])
    reconcile_seconds = time.monotonic() - reconcile_started
    return {
        "settled": settled,
        "campaign": final,
        "first_status": first,
        "again_status": again,
        "again_status_is": repeated.get("status") if isinstance(repeated, dict) else None,
        "statuses": Counter(p["status"] for p in pledges),
        "charged": {p["id"]: p["charged"] for p in pledges if p["charged"]},
        "refunded_amounts": {p["id"]: p.get("refunded_amount", 0) for p in pledges},
        "refunds": mine,
        "refund_seconds": refund_seconds,
        "payouts": payouts,
        "account": account,
        "payout_paid": paid,
        "transfers_paid": paid_transfers,
        "payout_reversed": reversed_,
        "transfers_reversed": reversed_transfers,
        "drift": report["drift"],
        "reconciliation": report["table"],
        "payout_seconds": payout_seconds,
        "reconcile_seconds": reconcile_seconds,
    }


def problems(result: dict[str, Any]) -> list[str]:
    """What the story must show; empty when it does."""
    found = []
    charged, refunds = result["charged"], result["refunds"]
    if result["campaign"]["status"] != "refunded":
        found.append(f"the campaign is {result['campaign']['status']}, not refunded")
    twice = sorted(p for p, amounts in refunds.items() if len(amounts) > 1)
    if twice:
        found.append(f"refunded more than once: {twice[:5]}")
    missed = sorted(p for p in charged if refunds.get(p) != [charged[p]])
    if missed:
        found.append(f"not refunded exactly what was charged: {missed[:5]}")
    strays = sorted(p for p, amounts in refunds.items() if amounts and p not in charged)
    if strays:
        found.append(f"refunds of pledges never charged: {strays[:5]}")
    total = result["campaign"]["settlement"]["refunded"]
    if total != sum(charged.values()):
        found.append(f"settlement.refunded {total} != charged {sum(charged.values())}")
    if result["payouts"]:
        found.extend(payout_problems(result))
    elif result["campaign"].get("payout") is not None:
        found.append(f"a payout on a stack without payouts: {result['campaign']['payout']}")
    if result["drift"]:
        kinds = Counter(d["kind"] for d in result["drift"])
        found.append(f"reconciliation found {len(result['drift'])} drift: {dict(kinds)}")
    return found


def payout_problems(result: dict[str, Any]) -> list[str]:
    """The payout went out once, in one transfer, and came back in full."""
    found = []
    paid, back = result["payout_paid"], result["payout_reversed"]
    collected = result["campaign"]["settlement"]["collected"]
    if paid["amount"] + paid["fee"] != collected:
        found.append(f"payout {paid['amount']} + fee {paid['fee']} != collected {collected}")
    before = result["transfers_paid"]
    if [(t["id"], t["amount"], t["destination"]) for t in before] != [
        (paid["transfer_id"], paid["amount"], result["account"])
    ]:
        found.append(f"not one transfer of the payout to the organizer: {before}")
    if back["status"] != "reversed" or back["transfer_id"] != paid["transfer_id"]:
        found.append(f"the payout was not reversed: {back}")
    after = result["transfers_reversed"]
    if [t["id"] for t in after] != [t["id"] for t in before]:
        found.append(f"the transfers changed after the refund: {before} -> {after}")
    partly = [t for t in after if t["amount_reversed"] != t["amount"] or not t["reversed"]]
    if partly:
        found.append(f"transfers not reversed in full: {partly}")
    return found


def table(result: dict[str, Any]) -> str:
    """The story's end as a Markdown table (the README quotes it)."""
    c, s = result["campaign"], result["statuses"]
    st = c["settlement"]
    refunds = result["refunds"]
    counts = Counter(len(a) for a in refunds.values() if a)

    def money(minor: int) -> str:
        return f"£{minor / 100:,.2f}"

    rows = [
        ("backers", str(result["settled"]["backers"])),
        ("collected", f"{money(st['collected'])} from {len(result['charged'])} pledges"),
        (
            "organizer's refund",
            f'"{REASON}": {result["first_status"]}, asked again: {result["again_status"]}',
        ),
        ("outcome", c["status"]),
        ("settlement.refunded", money(st["refunded"])),
        ("pledges refunded", f"{s.get('refunded', 0)}"),
        (
            "Stripe refunds made",
            f"{sum(counts.values())} (at most {max(counts, default=0)} per pledge)",
        ),
        ("settlement wall time", f"{result['settled']['settle_seconds']:.1f} s"),
        ("refund wall time", f"{result['refund_seconds']:.1f} s"),
    ]
    if result["payouts"]:
        paid, back = result["payout_paid"], result["payout_reversed"]
        after = result["transfers_reversed"]
        reversed_total = sum(t["amount_reversed"] for t in after)
        rows[2:2] = [
            (
                "payout",
                f"{money(paid['amount'])} (fee {money(paid['fee'])}): "
                f"{paid['status']} → {back['status']}",
            ),
            (
                "Stripe transfers",
                f"{len(after)}, {money(sum(t['amount'] for t in after))} out, "
                f"{money(reversed_total)} reversed",
            ),
        ]
    else:
        rows.append(("payout", "payouts off on this stack"))
    drift = result["drift"]
    rows.append(("reconciliation", "no drift" if not drift else f"{len(drift)} drifted"))
    if result["payouts"]:
        rows.append(("payout wall time", f"{result['payout_seconds']:.1f} s"))
    rows.append(("reconciliation wall time", f"{result['reconcile_seconds']:.1f} s"))
    lines = ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines)
