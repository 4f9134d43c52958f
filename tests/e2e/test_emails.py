"""Emails to backers through the local stack (moto's SES, `GET /_local/mail`),
and erasure of a backer's personal data, driven over HTTP and through
stripe-python against the stack's emulator."""

from __future__ import annotations

import csv
import io
import itertools
import urllib.request
from collections import Counter
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from cashmob.notify.emails import kind_of_subject
from tests.e2e.test_local_stack import confirm, new_campaign, past_deadline, pledge_status

pytestmark = pytest.mark.e2e
_keys = itertools.count()
HOURS = 3600


def pledge(api, campaign, amount, email, **extra):
    body = {"amount": amount, "currency": "gbp", "email": email, **extra}
    status, answer = api.call(
        "POST",
        f"/campaigns/{campaign['id']}/pledges",
        body,
        {"Idempotency-Key": f"mail-{next(_keys)}"},
    )
    assert status == 201, answer
    return answer


def quiet(api) -> bool:
    """Nothing in flight: webhooks, settlement work, notifications."""
    queues = api.status()["queues"]
    busy = sum(
        queues[name]["ApproximateNumberOfMessages"]
        + queues[name]["ApproximateNumberOfMessagesNotVisible"]
        for name in ("SettlementQueue", "NotificationQueue")
    )
    return busy == 0 and api.quiet()


def mail(api, to: str, count: int = 0) -> list[dict]:
    """The emails `to` received, oldest first: once there are at least
    `count` and nothing is in flight."""

    def received() -> list[dict]:
        return [m for m in api.ok("GET", "/_local/mail")["messages"] if m["to"] == to]

    api.wait(lambda: len(received()) >= count and quiet(api))
    return received()


def kinds(api, to: str, count: int = 0) -> Counter:
    return Counter(kind_of_subject(m["subject"]) for m in mail(api, to, count))


def link_of(message: dict) -> dict[str, str]:
    """The backer page link of an email: its campaign, pledge and token."""
    (url,) = [w for w in message["text"].split() if "/pledge.html#" in w]
    assert url in message["html"].replace("&amp;", "&")
    parts = urlsplit(url)
    assert parts.path.endswith("/app/pledge.html") and not parts.query
    return {k: v[0] for k, v in parse_qs(parts.fragment).items()}


def tick_after(api, hours: float) -> None:
    api.advance(hours * HOURS)
    api.tick()
    api.wait(lambda: quiet(api))


# ---------------------------------------------------------------- the emails


def test_a_backer_who_must_act_gets_the_link_follows_it_and_pays(api, stripe_v1):
    campaign = new_campaign(api, hours=10 * 24, goal=1000)
    good = pledge(api, campaign, 1000, "good@example.org", display_name="Grace")
    late = pledge(api, campaign, 600, "late@example.org", display_name="Lee")
    never = pledge(api, campaign, 500, "never@example.org")
    confirm(stripe_v1, good)
    for declined in (late, never):
        confirm(stripe_v1, declined, "pm_card_chargeCustomerFail")  # saves, declines charges
    # Each backer has a receipt once their pledge counts, naming them and the amount
    (receipt,) = mail(api, "late@example.org", 1)
    assert kind_of_subject(receipt["subject"]) == "receipt"
    assert "Hello Lee," in receipt["text"] and "£6.00" in receipt["text"]
    assert "Hello there," in mail(api, "never@example.org", 1)[0]["text"]

    final = past_deadline(api, campaign)
    assert final["status"] == "succeeded" and final["settlement"]["pending_action"] == 1100

    # The declined backer is asked to finish the payment, with a link to their page
    asked = mail(api, "late@example.org", 2)[-1]
    assert kind_of_subject(asked["subject"]) == "finish_payment"
    link = link_of(asked)
    assert (link["c"], link["p"]) == (campaign["id"], late["pledge"]["id"])
    assert link["t"] == late["pledge_token"]  # the token the backer got when pledging
    # A reminder 48 hours on, with the same link
    tick_after(api, 49)
    reminder = mail(api, "late@example.org", 3)[-1]
    assert kind_of_subject(reminder["subject"]) == "reminder" and link_of(reminder) == link

    # They follow it: the page reads the pledge with the token from the link ...
    page = api.ok(
        "GET",
        f"/campaigns/{link['c']}/pledges/{link['p']}",
        headers={"X-Pledge-Token": link["t"]},
    )
    assert page["status"] == "action_required"
    # ... and Stripe.js confirms the charge with its client secret and a working card
    intent_id = page["payment"]["client_secret"].split("_secret_")[0]
    stripe_v1.payment_intents.confirm(intent_id, params={"payment_method": "pm_card_visa"})
    api.wait(lambda: pledge_status(api, late)["status"] == "collected")
    assert kinds(api, "late@example.org", 4) == Counter(
        {"receipt": 1, "finish_payment": 1, "reminder": 1, "collected": 1}
    )
    assert kinds(api, "good@example.org", 2) == Counter({"receipt": 1, "collected": 1})

    # The one who never acts is reminded every 48 hours, then told it lapsed
    for _ in range(3):
        tick_after(api, 49)
    assert pledge_status(api, never)["status"] == "failed"
    assert kinds(api, "never@example.org", 6) == Counter(
        {"receipt": 1, "finish_payment": 1, "reminder": 3, "failed": 1}
    )
    # Newest last, each with its time
    messages = api.ok("GET", "/_local/mail")["messages"]
    times = [datetime.strptime(m["sent_at"], "%Y-%m-%dT%H:%M:%SZ") for m in messages]
    assert times == sorted(times)
    assert set(messages[0]) == {"to", "subject", "text", "html", "sent_at"}


def test_a_failed_campaign_tells_each_backer_nothing_was_charged(api, stripe_v1):
    campaign = new_campaign(api, hours=3, goal=100_000)
    first = pledge(api, campaign, 700, "first@example.org")
    confirm(stripe_v1, first)
    # The receipt: the pledge is active before the deadline (on a fresh stack
    # the first webhook can still be in flight when the clock moves)
    mail(api, "first@example.org", 1)
    final = past_deadline(api, campaign)
    assert final["status"] == "failed"
    assert kinds(api, "first@example.org", 2) == Counter({"receipt": 1, "released": 1})
    (released,) = [m for m in mail(api, "first@example.org") if "Nothing" in m["subject"]]
    assert link_of(released)["t"] == first["pledge_token"]


def test_a_refund_is_emailed_once(api, stripe_v1):
    campaign = new_campaign(api, hours=10 * 24, goal=500)
    paid = pledge(api, campaign, 900, "refund@example.org")
    confirm(stripe_v1, paid)
    mail(api, "refund@example.org", 1)  # the receipt: the pledge counts
    assert past_deadline(api, campaign)["status"] == "succeeded"
    assert kinds(api, "refund@example.org", 2) == Counter({"receipt": 1, "collected": 1})
    p = paid["pledge"]
    refunded = api.ok(
        "POST",
        f"/campaigns/{p['campaign_id']}/pledges/{p['id']}/refund",
        {"amount": 400, "reason": "requested_by_customer"},
        api.organizer("alice"),
    )
    assert refunded["refunded_amount"] == 400
    api.wait(lambda: pledge_status(api, paid).get("refunded_amount") == 400)
    (email,) = [m for m in mail(api, "refund@example.org", 3) if "refunded" in m["subject"]]
    assert (
        email["subject"].startswith("£4.00 refunded") and "£4.00 refunded in all" in email["text"]
    )


# ---------------------------------------------------------------- erasure


def erase(api, created, token=None):
    p = created["pledge"]
    return api.call(
        "POST",
        f"/campaigns/{p['campaign_id']}/pledges/{p['id']}/erase",
        None,
        {"X-Pledge-Token": token or created["pledge_token"]},
    )


def csv_rows(api, campaign_id, headers):
    request = urllib.request.Request(
        f"{api.base}/campaigns/{campaign_id}/pledges.csv", headers=headers
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return list(csv.DictReader(io.StringIO(response.read().decode())))


def test_erasure_forgets_the_backer_everywhere_and_keeps_the_money(api, stripe_v1):
    campaign = new_campaign(api, hours=10 * 24, goal=1000)  # setup flow: Stripe Customers
    ada = pledge(api, campaign, 1200, "ada@example.org", display_name="Ada", message="Go!")
    bob = pledge(api, campaign, 800, "bob@example.org", display_name="Bob")
    for created in (ada, bob):
        confirm(stripe_v1, created)
    for backer in ("ada@example.org", "bob@example.org"):
        mail(api, backer, 1)  # the receipts
    customer = stripe_v1.setup_intents.retrieve(ada["payment"]["intent_id"]).customer
    assert stripe_v1.customers.retrieve(customer).email == "ada@example.org"

    # Not with another pledge's token
    status, refused = erase(api, ada, token=bob["pledge_token"])
    assert status == 403, refused
    # The backer erases their data
    status, erased = erase(api, ada)
    assert status == 200, erased
    assert erased["email"] is None and erased["display_name"] is None
    assert erased["message"] is None
    assert (erased["amount"], erased["status"]) == (1200, "active")
    assert erase(api, ada) == (200, erased)  # again: the same answer

    # Gone from the organizer's list, the CSV export, the public list and Stripe
    owner = api.organizer("alice")
    listed = api.ok("GET", f"/campaigns/{campaign['id']}/pledges", headers=owner)["pledges"]
    mine = next(p for p in listed if p["id"] == ada["pledge"]["id"])
    assert (mine["email"], mine["display_name"], mine["message"]) == (None, None, None)
    rows = csv_rows(api, campaign["id"], owner)
    row = next(r for r in rows if r["id"] == ada["pledge"]["id"])
    assert (row["email"], row["display_name"], row["message"], row["amount"]) == (
        "",
        "",
        "",
        "1200",
    )
    assert not any("ada@example.org" in ",".join(r.values()) for r in rows)
    backers = api.ok("GET", f"/campaigns/{campaign['id']}/backers")["backers"]
    assert sorted(b["name"] for b in backers) == ["Anonymous", "Bob"]
    assert stripe_v1.customers.retrieve(customer).email is None

    # The money still moves: the erased pledge is collected, and nobody is emailed about it
    final = past_deadline(api, campaign)
    assert final["settlement"]["collected"] == 2000
    assert pledge_status(api, ada)["status"] == "collected"
    assert kinds(api, "bob@example.org", 2)["collected"] == 1
    assert kinds(api, "ada@example.org") == Counter({"receipt": 1})
    assert kinds(api, "bob@example.org", 2) == Counter({"receipt": 1, "collected": 1})


def test_erasure_answers_401_without_a_token_and_404_for_no_pledge(api):
    campaign = new_campaign(api, hours=4)
    path = f"/campaigns/{campaign['id']}/pledges/plg_nope/erase"
    assert api.call("POST", path, None)[0] == 401
    assert api.call("POST", path, None, {"X-Pledge-Token": "t"})[0] == 404


def test_personal_data_is_erased_once_its_retention_has_passed_and_not_before(api, stripe_v1):
    """Last in this module: it moves the clock by months."""
    older = new_campaign(api, hours=10 * 24, goal=500)
    old = pledge(api, older, 500, "old@example.org", display_name="Olga")
    confirm(stripe_v1, old)
    # The card's webhook is delivered on its own thread: active before the deadline passes.
    api.wait(lambda: pledge_status(api, old)["status"] == "active")
    assert past_deadline(api, older)["status"] == "succeeded"  # day 0: the older one ends
    tick_after(api, 30 * 24)
    newer = new_campaign(api, hours=10 * 24, goal=500)
    new = pledge(api, newer, 500, "new@example.org", display_name="Nina")
    confirm(stripe_v1, new)
    api.wait(lambda: pledge_status(api, new)["status"] == "active")
    assert past_deadline(api, newer)["status"] == "succeeded"  # day 40: the newer one ends

    def email_of(campaign, created):
        owner = api.organizer("alice")  # a token of the (moved) hour
        listed = api.ok("GET", f"/campaigns/{campaign['id']}/pledges", headers=owner)["pledges"]
        return next(p for p in listed if p["id"] == created["pledge"]["id"])["email"]

    # Day 89: nothing is due yet (PersonalDataRetentionDays: 90)
    tick_after(api, 49 * 24)
    assert email_of(older, old) == "old@example.org"
    # Day 91: the older campaign's backers only
    tick_after(api, 2 * 24)
    assert email_of(older, old) is None
    assert email_of(newer, new) == "new@example.org"
    names = [b["name"] for b in api.ok("GET", f"/campaigns/{older['id']}/backers")["backers"]]
    assert names == ["Anonymous"]
    customer = stripe_v1.setup_intents.retrieve(old["payment"]["intent_id"]).customer
    assert stripe_v1.customers.retrieve(customer).email is None
    newer_customer = stripe_v1.setup_intents.retrieve(new["payment"]["intent_id"]).customer
    assert stripe_v1.customers.retrieve(newer_customer).email == "new@example.org"
    # Day 131: the newer one's turn; the accounts are as they were
    tick_after(api, 40 * 24)
    assert email_of(newer, new) is None
    assert stripe_v1.customers.retrieve(newer_customer).email is None
    assert api.ok("GET", f"/campaigns/{older['id']}")["settlement"]["collected"] == 500
