"""A backer on the campaign page: pledges with a test card, is refused, passes
or fails 3-D Secure, and cancels from their own page."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from .scenario import fill_pledge_form, pay_with

pytestmark = pytest.mark.browser


def test_a_backer_pledges_with_a_visa_card_and_the_progress_moves(scenario):
    # Given a campaign whose page someone is watching
    campaign = scenario.campaign(goal=5000)
    watcher = scenario.page(f"/app/?c={campaign['id']}")
    expect(watcher.get_by_role("heading", name=campaign["title"], level=1)).to_be_visible()
    expect(watcher.locator("#pledged")).to_have_text("£0.00")
    expect(watcher.locator("#numbers")).to_have_text("0 backers · 0% funded")

    # When a backer pledges £25 with Stripe's Visa test card
    backer = scenario.page(f"/app/?c={campaign['id']}")
    fill_pledge_form(backer, amount="25", name="Ada")
    pay_with(backer, "pm_card_visa")

    # Then they land on their pledge's page, active
    expect(backer).to_have_url(re.compile(r"/app/pledge\.html#c=cmp_.+&p=plg_.+&t=.+"))
    expect(backer.locator("#state")).to_contain_text("Active: your card is saved")
    expect(backer.locator("#amount")).to_have_text("£25.00")
    # And the watching page moves on its own
    expect(watcher.locator("#pledged")).to_have_text("£25.00")
    expect(watcher.locator("#numbers")).to_have_text("1 backer · 50% funded")
    expect(watcher.locator("#backers")).to_contain_text("Ada")
    assert scenario.progress(campaign) == {"amount": 2500, "currency": "gbp", "backers": 1}


def test_a_declined_card_shows_an_error_and_nothing_becomes_active(scenario):
    campaign = scenario.campaign()
    page = scenario.page(f"/app/?c={campaign['id']}")
    fill_pledge_form(page, amount="12.50", email="dan@example.org", name="Dan")

    pay_with(page, "pm_card_chargeDeclined")

    alert = page.locator("#pay-error")
    expect(alert).to_have_attribute("role", "alert")
    expect(alert).to_have_text(re.compile(r"Your card was declined\..*choose another card"))
    expect(page).to_have_url(re.compile(r"\?c=cmp_"))  # still on the campaign page
    assert scenario.progress(campaign)["backers"] == 0
    assert [p["status"] for p in scenario.owner_pledges(campaign)] == ["pending"]


def test_3d_secure_passed_holds_the_funds(scenario):
    # Given a campaign that ends within the hold window (funds held, confirmPayment)
    campaign = scenario.campaign(days=3)
    page = scenario.page(f"/app/?c={campaign['id']}")
    fill_pledge_form(page, amount="30", name="Eve")

    pay_with(page, "pm_card_authenticationRequired")
    dialog = page.get_by_role("dialog", name="3D Secure 2 Test Page")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Complete authentication").click()

    expect(page.locator("#state")).to_contain_text("Active: £30.00 is held on your card")
    assert scenario.progress(campaign)["amount"] == 3000


def test_3d_secure_failed_says_so_and_another_try_can_succeed(scenario):
    campaign = scenario.campaign(days=20)
    page = scenario.page(f"/app/?c={campaign['id']}")
    fill_pledge_form(page, amount="20", name="Fay")

    pay_with(page, "pm_card_authenticationRequired")
    page.get_by_role("dialog", name="3D Secure 2 Test Page").get_by_role(
        "button", name="Fail authentication"
    ).click()

    expect(page.get_by_role("alert").filter(has_text="3-D Secure failed")).to_be_visible()
    assert [p["status"] for p in scenario.owner_pledges(campaign)] == ["pending"]
    # The same pledge goes through with another card.
    pay_with(page, "pm_card_visa")
    expect(page.locator("#state")).to_contain_text("Active")
    assert scenario.progress(campaign)["backers"] == 1


def test_one_idempotency_key_per_attempt_kept_across_its_retries(scenario):
    """The first answer is lost (the page retries by itself), then the API
    refuses the name (422) twice, the backer pressing Pledge again unchanged:
    one attempt, one key. They change the name: a new attempt, a new key."""
    campaign = scenario.campaign()
    page = scenario.page(None)
    keys = []
    refused = {
        "error": {
            "code": "validation_failed",
            "message": "Some fields are not valid.",
            "details": [{"field": "display_name", "in": "body", "problem": "is not allowed"}],
        }
    }

    def pledges(route):
        if route.request.method != "POST":
            route.continue_()
            return
        keys.append(route.request.headers["idempotency-key"])
        if len(keys) == 1:
            route.abort("connectionreset")
        elif len(keys) in (2, 3):
            route.fulfill(status=422, json=refused)
        else:
            route.continue_()

    page.route(re.compile(r"/campaigns/cmp_[^/]+/pledges$"), pledges)
    page.goto(f"/app/?c={campaign['id']}")
    page.get_by_label("Amount", exact=True).fill("25")
    page.get_by_label("Email", exact=True).fill("hal@example.org")
    page.get_by_label("Name shown to others", exact=True).fill("Hal")
    pledge = page.get_by_role("button", name="Pledge", exact=True)
    alert = page.locator("#pledge-error")

    pledge.click()
    expect(alert).to_have_text("Please check: Name shown to others: is not allowed.")
    expect(page.get_by_label("Name shown to others", exact=True)).to_have_attribute(
        "aria-invalid", "true"
    )
    pledge.click()  # the same pledge again: the same attempt
    expect(alert).to_have_text("Please check: Name shown to others: is not allowed.")
    page.get_by_label("Name shown to others", exact=True).fill("Hal B.")
    pledge.click()

    expect(page.get_by_label("Test card", exact=True)).to_be_visible()
    assert len(keys) == 4, keys
    assert keys[0] == keys[1] == keys[2] != keys[3]


def test_the_backer_cancels_from_their_page(scenario):
    campaign = scenario.campaign()
    created = scenario.pledge(campaign, 2500)
    assert scenario.progress(campaign)["backers"] == 1
    page = scenario.page(scenario.backer_path(created))
    expect(page.locator("#state")).to_contain_text("Active")
    expect(page.get_by_text("This page's address is the key to your pledge.")).to_be_visible()

    page.get_by_role("button", name="Cancel my pledge").click()

    expect(page.locator("#state")).to_have_text(
        "Cancelled: you cancelled this pledge. Nothing was charged."
    )
    expect(page.get_by_role("button", name="Cancel my pledge")).to_be_hidden()
    assert scenario.pledge_status(created) == "cancelled"
    assert scenario.progress(campaign)["backers"] == 0


def test_the_pledge_page_remembers_the_pledge_in_this_browser(scenario):
    campaign = scenario.campaign(title="Playground benches")
    created = scenario.pledge(campaign, 1500)
    page = scenario.page(scenario.backer_path(created))
    expect(page.locator("#state")).to_contain_text("Active")

    page.goto("/app/pledge.html")

    link = page.get_by_role("link", name="Playground benches")
    expect(link).to_be_visible()
    expect(page.get_by_text("£15.00 · Active")).to_be_visible()
    link.click()
    expect(page.locator("#state")).to_contain_text("Active")


def test_a_pledge_accepted_as_preparing_under_a_stripe_rate_limit_still_ends_confirmed(browser):
    """A stack whose emulator takes 2 requests/s per endpoint (its pledge-time
    budget: 1/s). A burst of backers through the API queues pledges; the next
    backer's pledge is answered 202 `preparing`: the page says so with the
    queue's estimate, mounts the card form once the payment is ready, and the
    backer confirms and lands on their page, active."""
    from cashmob_local.driver import local_stack

    from .scenario import Scenario

    with local_stack("--stripe-rate-limit", "2") as running, Scenario(browser, running) as s:
        campaign = s.campaign()
        page = s.page(f"/app/?c={campaign['id']}")
        answers = []
        posted = []  # (when, the answer to the page's pledge)
        polls = []  # when the page asked for its pledge

        def note(response):
            if response.request.method == "POST" and response.url.endswith("/pledges"):
                posted.append((time.monotonic(), response))

        def poll(request):
            if request.method == "GET" and "/pledges/plg_" in request.url:
                polls.append(time.monotonic())

        page.on("response", note)
        page.on("request", poll)
        for _ in range(6):  # a burst: more than one Stripe slot's worth in this second
            status, _ = s.pledge_at_once(campaign, 500)
            answers.append(status)
        assert 202 in answers, answers  # the budget is spent: the burst queues

        page.get_by_label("Amount", exact=True).fill("25")
        page.get_by_label("Email", exact=True).fill("gus@example.org")
        page.get_by_label("Name shown to others", exact=True).fill("Gus")
        page.get_by_role("button", name="Pledge", exact=True).click()

        status = page.locator("#pledge-status")
        expect(status).to_contain_text(
            re.compile(r"Your pledge is recorded\..*ready in about \d+ seconds?")
        )
        [(answered, response)] = posted
        assert response.status == 202
        retry_after = int(response.header_value("retry-after"))
        assert retry_after >= 1
        # The payment is prepared at Stripe's pace, then the card form opens.
        pay_with(page, "pm_card_visa")
        expect(page).to_have_url(re.compile(r"/app/pledge\.html#c=cmp_.+&p=plg_.+&t=.+"))
        expect(page.locator("#state")).to_contain_text("Active: your card is saved")
        pledges = {p["email"]: p["status"] for p in s.owner_pledges(campaign)}
        assert pledges["gus@example.org"] == "active"
        # The page waited as long as the 202's Retry-After asked before asking again.
        assert polls and polls[0] - answered >= retry_after - 0.25, (retry_after, polls)


def test_a_payment_stripe_will_not_prepare_says_so_and_the_form_comes_back(scenario):
    """Flash intake's `failed` (API.md): Stripe refused the pledge's object.
    The page says why and gives the form back; the next try is a new pledge."""
    campaign = scenario.campaign()
    page = scenario.page(None)
    keys = []

    def pledges(route):
        if route.request.method != "POST":
            route.continue_()
            return
        keys.append(route.request.headers["idempotency-key"])
        if len(keys) > 1:
            route.continue_()
            return
        refused = {
            "pledge": {
                "id": "plg_refused",
                "campaign_id": campaign["id"],
                "amount": 2500,
                "currency": "gbp",
                "status": "pending",
                "created_at": campaign["created_at"],
            },
            "pledge_token": "token",
            "payment": {
                "flow": "setup",
                "status": "failed",
                "intent_id": None,
                "client_secret": None,
                "publishable_key": "pk_test_local",
                "error": {
                    "code": "amount_too_small",
                    "message": "Stripe could not prepare this payment; pledge again with other details.",
                },
            },
        }
        route.fulfill(status=201, json=refused)

    page.route(re.compile(r"/campaigns/cmp_[^/]+/pledges$"), pledges)
    page.goto(f"/app/?c={campaign['id']}")
    page.get_by_label("Amount", exact=True).fill("25")
    page.get_by_label("Email", exact=True).fill("ivy@example.org")
    page.get_by_role("button", name="Pledge", exact=True).click()

    expect(page.locator("#pledge-error")).to_have_text(
        "Stripe could not prepare this payment; pledge again with other details."
    )
    expect(page.get_by_label("Test card", exact=True)).to_be_hidden()
    expect(page.get_by_label("Amount", exact=True)).to_be_enabled()
    page.get_by_role("button", name="Pledge", exact=True).click()

    expect(page.get_by_label("Test card", exact=True)).to_be_visible()
    assert len(keys) == 2 and keys[0] != keys[1]
