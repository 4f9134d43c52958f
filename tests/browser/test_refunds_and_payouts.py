"""The organizer's desk and the backer's page for issue #15's fields and
routes (API.md: `POST /campaigns/{id}/refund`, the campaign's `refunding` /
`refunded`, `settlement.refunded` and `payout`, `GET /organizers/me`, `POST
/organizers/me/payouts`, the pledge's `refunded_amount`): "Refund everyone"
with a required reason and a confirmation step, "Get paid" through Stripe's
onboarding link, and both quiet or plainly refused when the server has no
such route. Campaigns here succeed, which moves the clock: this module has a
`cashmob local` of its own."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from cashmob_local.driver import local_stack

from .audit import CLEAN, audit
from .scenario import DESKTOP, NARROW, Scenario

pytestmark = pytest.mark.browser

NOT_FOUND = {"error": {"code": "not_found", "message": "Not found."}}


@pytest.fixture(scope="module")
def own_stack():
    with local_stack() as running:
        yield running


@pytest.fixture
def s(browser, own_stack):
    with Scenario(browser, own_stack) as scenario:
        yield scenario


def has_route(s: Scenario, path: str, method: str) -> bool:
    """Whether the API this stack runs has the route (its live OpenAPI document)."""
    paths = s.api.ok("GET", "/openapi.json")["paths"]
    return any(p.endswith(path) and method in ops for p, ops in paths.items())


def succeeded_campaign(s: Scenario, organizer: str, title: str) -> tuple[dict, dict]:
    """A campaign of `organizer` that succeeded, with one collected £25 pledge."""
    campaign = s.campaign(days=8, goal=2000, by=organizer, title=title)
    created = s.pledge(campaign, 2500, display_name="Ada")
    s.api.advance(9 * 86400)
    final = s.api.settle(campaign["id"])
    assert final["status"] == "succeeded", final
    return final, created


def sign_in(s: Scenario, name: str, viewport: dict[str, int] = DESKTOP):
    page = s.page("/app/organizer.html", viewport=viewport)
    page.get_by_label("Sign in as", exact=True).fill(name)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_text(f"Signed in as {name}.")).to_be_visible()
    return page


def answer(route, status: int, body: Any) -> None:
    route.fulfill(status=status, content_type="application/json", body=json.dumps(body))


# ---------------------------------------------------------------- refunds


@pytest.mark.parametrize("viewport", [DESKTOP, NARROW], ids=["desktop", "360px"])
def test_refund_everyone_needs_a_reason_and_a_confirmation(s, viewport):
    organizer = f"org-{uuid.uuid4().hex[:8]}"
    campaign, _ = succeeded_campaign(s, organizer, "The ad the paper refused")
    page = sign_in(s, organizer, viewport)
    card = page.get_by_role("article", name="The ad the paper refused")
    expect(card).to_contain_text("Succeeded")
    # Any refund request the page makes is answered 404: this test is about the form.
    sent: list[dict[str, Any]] = []

    def refuse(route) -> None:
        sent.append(json.loads(route.request.post_data))
        answer(route, 404, NOT_FOUND)

    page.route(f"**/campaigns/{campaign['id']}/refund", refuse)

    # When the organizer asks to refund everyone, a confirmation opens at the reason
    card.get_by_role("button", name="Refund everyone").click()
    reason = card.get_by_label("Reason for the refund", exact=True)
    expect(reason).to_be_focused()
    expect(card.locator(".confirm").last).to_contain_text(
        "Each collected pledge is given back in full"
    )
    assert audit(page) == CLEAN, "the refund confirmation"

    # Without a reason nothing is sent and the page says why
    card.get_by_role("button", name="Yes, refund every backer").click()
    expect(card.get_by_role("alert").filter(has_text="Say why you refund everyone")).to_be_visible()
    expect(reason).to_have_attribute("aria-invalid", "true")
    assert sent == []

    # With one, the request goes out; a server without the route is said plainly
    reason.fill("The newspaper refused the ad")
    card.get_by_role("button", name="Yes, refund every backer").click()
    expect(
        card.get_by_role("alert").filter(has_text="Refunds are not available from this server yet.")
    ).to_be_visible()
    assert sent == [{"reason": "The newspaper refused the ad"}]

    # "Do not refund" closes the confirmation and gives the focus back
    card.get_by_role("button", name="Do not refund").click()
    expect(reason).to_be_hidden()
    expect(card.get_by_role("button", name="Refund everyone")).to_be_focused()


def test_the_organizer_refunds_everyone_and_the_backer_sees_it(s):
    if not has_route(s, "/refund", "post"):
        pytest.skip("POST /campaigns/{id}/refund is not in this server's API yet (issue #15)")
    organizer = f"org-{uuid.uuid4().hex[:8]}"
    campaign, created = succeeded_campaign(s, organizer, "Refused ad, refunded")
    page = sign_in(s, organizer)
    card = page.get_by_role("article", name="Refused ad, refunded")

    card.get_by_role("button", name="Refund everyone").click()
    card.get_by_label("Reason for the refund", exact=True).fill("The newspaper refused the ad")
    card.get_by_role("button", name="Yes, refund every backer").click()

    # Then the campaign is refunding, then refunded, with what went back
    expect(card.locator(".tag")).to_have_text("Refunded", timeout=90_000)
    expect(card).to_contain_text("£25.00 refunded")
    expect(card.get_by_role("button", name="Refund everyone")).to_be_hidden()
    final = s.api.ok("GET", f"/campaigns/{campaign['id']}")
    assert final["status"] == "refunded" and final["settlement"]["refunded"] == 2500

    # And the backer's page says the money went back
    backer = s.page(s.backer_path(created))
    expect(backer.locator("#state")).to_have_text("Refunded: £25.00 was given back to your card.")
    expect(backer.locator("#refunded")).to_have_text("£25.00")
    assert audit(backer) == CLEAN


# ---------------------------------------------------------------- payouts


def test_get_paid_opens_stripe_s_onboarding_and_shows_the_payout(s):
    organizer = f"org-{uuid.uuid4().hex[:8]}"
    campaign, _ = succeeded_campaign(s, organizer, "Paid-out ad")
    page = s.page("/app/organizer.html")
    # The API as API.md writes it, whatever this server has built so far.
    onboarding = f"{s.api.base}/app/?onboarding=acct_test"
    posted: list[dict[str, Any]] = []

    def me(route) -> None:
        answer(route, 200, {"id": organizer, "payouts": {"status": "none", "account_id": None}})

    def link(route) -> None:
        posted.append(json.loads(route.request.post_data))
        answer(route, 200, {"url": onboarding})

    def with_payout(route) -> None:
        listed = route.fetch().json()
        for c in listed["campaigns"]:
            if c["id"] == campaign["id"]:
                c["payout"] = {
                    "status": "not_ready",
                    "amount": 2375,
                    "fee": 125,
                    "transfer_id": None,
                }
        answer(route, 200, listed)

    page.route("**/organizers/me", me)
    page.route("**/organizers/me/payouts", link)
    page.route("**/campaigns?*", with_payout)
    page.get_by_label("Sign in as", exact=True).fill(organizer)
    page.get_by_role("button", name="Sign in", exact=True).click()

    section = page.get_by_role("region", name="Get paid")
    expect(section).to_contain_text("Connect a Stripe account")
    card = page.get_by_role("article", name="Paid-out ad")
    expect(card).to_contain_text(
        "Payout: £23.75 after a £1.25 platform fee, waiting until the collection is complete "
        "and your Stripe account is enabled."
    )
    assert audit(page) == CLEAN

    section.get_by_role("button", name="Set up payouts with Stripe").click()
    page.wait_for_url(onboarding)
    assert posted == [{"return_url": f"{s.api.base}/app/organizer.html"}]
    # The stand-in onboarding page lists campaigns too: no handler may still
    # be fetching when the page is closed.
    page.unroute_all(behavior="wait")


def test_without_payout_routes_the_desk_shows_no_get_paid(s):
    page = s.page("/app/organizer.html")
    page.route("**/organizers/me", lambda route: answer(route, 404, NOT_FOUND))
    name = f"org-{uuid.uuid4().hex[:8]}"
    page.get_by_label("Sign in as", exact=True).fill(name)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_text(f"Signed in as {name}.")).to_be_visible()
    expect(page.get_by_role("button", name="Create campaign")).to_be_visible()
    expect(page.get_by_role("region", name="Get paid")).to_be_hidden()
    assert s.errors == []


def test_an_enabled_account_is_named_and_needs_no_button(s):
    page = s.page("/app/organizer.html")
    page.route(
        "**/organizers/me",
        lambda route: answer(
            route, 200, {"id": "x", "payouts": {"status": "enabled", "account_id": "acct_123"}}
        ),
    )
    page.get_by_label("Sign in as", exact=True).fill(f"org-{uuid.uuid4().hex[:8]}")
    page.get_by_role("button", name="Sign in", exact=True).click()
    section = page.get_by_role("region", name="Get paid")
    expect(section).to_contain_text("Payouts are on")
    expect(section).to_contain_text("(acct_123)")
    expect(section.get_by_role("button")).to_have_count(0)


def test_a_partly_refunded_pledge_says_how_much_came_back(s):
    campaign = s.campaign(goal=2000)
    created = s.pledge(campaign, 2500)
    page = s.page(None)
    pledge_id = created["pledge"]["id"]

    def partly_refunded(route) -> None:
        body = route.fetch().json()
        body.update(status="collected", charged=2500, refunded_amount=1000, payment=None)
        route.fulfill(json=body)

    page.route(f"**/pledges/{pledge_id}", partly_refunded)
    page.goto(s.backer_path(created))
    expect(page.locator("#state")).to_have_text(
        "Collected: you paid £25.00. Thank you! £10.00 of it was refunded to your card."
    )
    expect(page.locator("#refunded")).to_have_text("£10.00")
    expect(page.locator("#charged")).to_be_hidden()
    assert audit(page) == CLEAN


def test_with_payouts_off_the_desk_offers_no_onboarding(s):
    if not has_route(s, "/organizers/me/payouts", "post"):
        pytest.skip("POST /organizers/me/payouts is not in this server's API yet (issue #15)")
    organizer = f"org-{uuid.uuid4().hex[:8]}"
    me = s.api.ok("GET", "/organizers/me", headers=s.api.organizer(organizer))
    assert me["payouts"]["available"] is False  # `cashmob local` without --payouts
    page = sign_in(s, organizer)
    expect(page.get_by_role("heading", name="Your campaigns")).to_be_visible()
    expect(page.get_by_role("region", name="Get paid")).to_have_count(0)
    expect(page.get_by_role("button", name="Set up payouts with Stripe")).to_have_count(0)


def test_a_409_from_onboarding_says_payouts_are_not_available(s):
    """A server whose organizer view does not say payouts are off (no
    `available`) but whose onboarding refuses them: the page says so and
    leaves nothing to press again."""
    page = s.page("/app/organizer.html")
    page.route(
        "**/organizers/me",
        lambda route: answer(
            route, 200, {"id": "x", "payouts": {"status": "none", "account_id": None}}
        ),
    )
    refused = {
        "error": {"code": "conflict", "message": "Payouts are not enabled on this platform."}
    }
    page.route("**/organizers/me/payouts", lambda route: answer(route, 409, refused))
    page.get_by_label("Sign in as", exact=True).fill(f"org-{uuid.uuid4().hex[:8]}")
    page.get_by_role("button", name="Sign in", exact=True).click()
    section = page.get_by_role("region", name="Get paid")
    section.get_by_role("button", name="Set up payouts with Stripe").click()
    expect(section.get_by_role("alert")).to_have_text(
        "Payouts are not available here: Payouts are not enabled on this platform."
    )
    expect(section.get_by_role("button")).to_have_count(0)


# ---------------------------------------------------------------- payouts on


@pytest.fixture(scope="module")
def payouts_stack():
    with local_stack("--payouts") as running:
        yield running


def test_an_organizer_onboards_with_stripe_and_sees_the_campaign_paid_out(browser, payouts_stack):
    with Scenario(browser, payouts_stack) as s:
        if not has_route(s, "/organizers/me/payouts", "post"):
            pytest.skip("POST /organizers/me/payouts is not in this server's API yet (issue #15)")
        organizer = f"org-{uuid.uuid4().hex[:8]}"
        page = sign_in(s, organizer)
        # Stripe's hosted onboarding is another site: a stand-in page answers for it.
        page.route(
            "https://connect.stripe.com/**",
            lambda route: route.fulfill(
                content_type="text/html", body="<title>Stripe onboarding</title><h1>Stripe</h1>"
            ),
        )
        section = page.get_by_role("region", name="Get paid")
        expect(section).to_contain_text("Connect a Stripe account")

        # When they set up payouts, the desk sends them to Stripe's onboarding link
        with page.expect_request("**/organizers/me/payouts") as asked:
            section.get_by_role("button", name="Set up payouts with Stripe").click()
        page.wait_for_url("https://connect.stripe.com/setup/**")
        assert json.loads(asked.value.post_data) == {
            "return_url": f"{s.api.base}/app/organizer.html"
        }
        me = s.api.ok("GET", "/organizers/me", headers=s.api.organizer(organizer))
        account = me["payouts"]["account_id"]
        assert me["payouts"]["status"] == "onboarding" and account.startswith("acct_")

        # Back on the desk before finishing, it says payouts wait
        page.goto("/app/organizer.html")
        expect(section).to_contain_text("Your Stripe account is not finished yet")
        expect(section.get_by_role("button", name="Continue setting up payouts")).to_be_visible()

        # When Stripe says onboarding is complete (account.updated), payouts are on
        status, _ = _emulator(s, f"/_emulator/accounts/{account}/complete_onboarding")
        assert status == 200
        s.api.wait(
            lambda: (
                s.api.ok("GET", "/organizers/me", headers=s.api.organizer(organizer))["payouts"][
                    "status"
                ]
                == "enabled"
            ),
            timeout=30,
        )
        campaign, _ = succeeded_campaign(s, organizer, "Paid-out poster")
        s.api.wait(
            lambda: (
                (s.api.ok("GET", f"/campaigns/{campaign['id']}")["payout"] or {}).get("status")
                == "paid"
            ),
            timeout=60,
        )
        payout = s.api.ok("GET", f"/campaigns/{campaign['id']}")["payout"]

        # (signed in again: the clock has moved past the first sign-in's expiry)
        page = sign_in(s, organizer)
        section = page.get_by_role("region", name="Get paid")
        expect(section).to_contain_text("Payouts are on")
        expect(section).to_contain_text(f"({account})")
        expect(section.get_by_role("button")).to_have_count(0)
        card = page.get_by_role("article", name="Paid-out poster")
        fee = f" after a {_pounds(payout['fee'])} platform fee" if payout["fee"] else ""
        expect(card).to_contain_text(
            f"Payout: {_pounds(payout['amount'])}{fee}, paid to your Stripe account."
        )
        assert audit(page) == CLEAN


def _pounds(minor: int) -> str:
    return f"£{minor // 100:,}.{minor % 100:02d}"


def _emulator(s: Scenario, path: str) -> tuple[int, Any]:
    """A control call to the stack's Stripe emulator."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(s.running.stripe_url + path, data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_the_organizer_refunds_one_pledge_in_part_then_in_full(s):
    if not has_route(s, "/pledges/{pledge_id}/refund", "post"):
        pytest.skip("POST .../pledges/{pledge_id}/refund is not in this server's API yet (#15)")
    organizer = f"org-{uuid.uuid4().hex[:8]}"
    _, created = succeeded_campaign(s, organizer, "One refund at a time")
    page = sign_in(s, organizer)
    card = page.get_by_role("article", name="One refund at a time")
    card.get_by_role("button", name="Show pledges").click()
    table = card.get_by_role("region", name="Pledges to One refund at a time")

    # When the organizer gives £10 of Ada's £25 back
    table.get_by_role("button", name="Refund Ada").click()
    form = table.get_by_role("form", name="Refund Ada")
    amount = form.get_by_label("Amount to refund", exact=True)
    expect(amount).to_be_focused()
    expect(form).to_contain_text("Empty: all of it, £25.00.")
    amount.fill("30")
    form.get_by_role("button", name="Refund", exact=True).click()
    expect(form.get_by_role("alert")).to_contain_text("Enter an amount up to £25.00")
    amount.fill("10")
    form.get_by_role("button", name="Refund", exact=True).click()
    expect(form.get_by_role("alert")).to_have_text("Say why you refund this pledge.")
    form.get_by_label("Reason", exact=True).fill("Half the print run was lost")
    assert audit(page) == CLEAN, "the pledge's refund form"
    form.get_by_role("button", name="Refund", exact=True).click()

    # Then the row says so, and so does the backer's page
    row = table.get_by_role("row").filter(has_text="bea@example.org")
    expect(row).to_contain_text("£25.00, refunded £10.00")
    expect(row).to_contain_text("collected")
    backer = s.page(s.backer_path(created))
    expect(backer.locator("#state")).to_have_text(
        "Collected: you paid £25.00. Thank you! £10.00 of it was refunded to your card."
    )

    # When the rest goes back too, the pledge is refunded and leaves nothing to refund
    table.get_by_role("button", name="Refund Ada").click()
    form = table.get_by_role("form", name="Refund Ada")
    expect(form).to_contain_text("Empty: all of it, £15.00.")
    form.get_by_label("Reason", exact=True).fill("The rest of it")
    form.get_by_role("button", name="Refund", exact=True).click()
    expect(row).to_contain_text("refunded £25.00")
    expect(row.get_by_role("cell").nth(3)).to_have_text("refunded")
    expect(table.get_by_role("button", name="Refund Ada")).to_have_count(0)
    p = created["pledge"]
    answer = s.api.ok(
        "GET",
        f"/campaigns/{p['campaign_id']}/pledges/{p['id']}",
        headers={"X-Pledge-Token": created["pledge_token"]},
    )
    assert answer["status"] == "refunded" and answer["refunded_amount"] == 2500
