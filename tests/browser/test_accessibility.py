"""Every page, wide and 360 px narrow: text contrast of at least 4.5:1, every
control named, nothing wider than the screen; the accessible names outside
test suites rely on; a pledge made with the keyboard alone; and the campaign
page following API.md's flash-intake answer (202 `preparing`)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .audit import CLEAN, audit
from .scenario import DESKTOP, NARROW, fill_pledge_form, pay_with

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("viewport", [DESKTOP, NARROW], ids=["desktop", "360px"])
def test_every_page_is_readable_named_and_fits(scenario, viewport):
    campaign = scenario.campaign(title="Full-page ad on AGM day")
    created = scenario.pledge(campaign, 2500, display_name="Ada")

    page = scenario.page(f"/app/?c={campaign['id']}", viewport=viewport)
    for name in ("Amount", "Email", "Name shown to others"):
        expect(page.get_by_role("textbox", name=name, exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Pledge", exact=True)).to_be_visible()
    expect(page.locator("#backers")).to_contain_text("Ada")
    assert audit(page) == CLEAN, "campaign page"
    fill_pledge_form(page, amount="10")
    assert audit(page) == CLEAN, "campaign page, card step"
    pay_with(page, "pm_card_chargeDeclined")
    expect(page.locator("#pay-error")).not_to_be_empty()
    assert audit(page) == CLEAN, "campaign page, card declined"

    page.goto("/app/")
    expect(page.get_by_role("link", name="Full-page ad on AGM day").first).to_be_visible()
    assert audit(page) == CLEAN, "campaign list"

    page.goto(scenario.backer_path(created))
    expect(page.get_by_role("button", name="Cancel my pledge")).to_be_visible()
    assert audit(page) == CLEAN, "backer's page"

    page.goto("/app/organizer.html")
    page.get_by_label("Sign in as", exact=True).fill("alice")
    page.get_by_role("button", name="Sign in", exact=True).click()
    for name in ("Title", "Goal"):
        expect(page.get_by_role("textbox", name=name, exact=True)).to_be_visible()
    expect(page.get_by_label("Deadline", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Create campaign")).to_be_visible()
    card = page.get_by_role("article", name="Full-page ad on AGM day").first
    card.get_by_role("button", name="Show pledges").click()
    expect(card.get_by_role("table")).to_be_visible()
    assert audit(page) == CLEAN, "organizer's desk"

    page.goto(f"/app/widget.html?c={campaign['id']}")
    expect(page.get_by_role("link", name="Pledge")).to_be_visible()
    assert audit(page) == CLEAN, "widget"


def test_a_pledge_can_be_made_with_the_keyboard_alone(scenario):
    campaign = scenario.campaign()
    page = scenario.page(f"/app/?c={campaign['id']}")
    expect(page.get_by_role("button", name="Pledge", exact=True)).to_be_visible()

    def tab_to(locator, limit: int = 40) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if locator.evaluate("el => el === document.activeElement"):
                return
        raise AssertionError(f"Tab never reached {locator}")

    tab_to(page.get_by_label("Amount", exact=True))
    page.keyboard.type("25")
    page.keyboard.press("Tab")
    page.keyboard.type("kim@example.org")
    page.keyboard.press("Tab")
    page.keyboard.type("Kim")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Your card")).to_be_focused()
    card = page.get_by_label("Test card", exact=True)
    tab_to(card)
    page.keyboard.press("ArrowDown")
    expect(card).to_have_value("pm_card_visa")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Confirm pledge")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.locator("#state")).to_contain_text("Active")


def test_the_campaign_page_follows_the_202_preparing_contract_with_simulated_answers(scenario):
    """The backend does not answer 202 yet (flash intake is another issue), so
    the browser plays API.md's answers over the real ones: the POST comes back
    202 `preparing`, the first GET of the pledge still `preparing`, the next
    one `ready` with the client secret. The page waits, says so, and ends
    confirmed."""
    campaign = scenario.campaign()
    page = scenario.page(None)
    reads = []
    made = {}  # the real payment, which the simulated "ready" answer carries

    def preparing(payment: dict, ready_in: int) -> dict:
        return {
            **payment,
            "status": "preparing",
            "intent_id": None,
            "client_secret": None,
            "ready_in": ready_in,
        }

    def create(route):
        if route.request.method != "POST":
            route.continue_()
            return
        answer = route.fetch()
        body = answer.json()
        made.update(body["payment"])
        body["payment"] = preparing(body["payment"], 2)
        route.fulfill(status=202, json=body, headers={"Retry-After": "2"})

    def read(route):
        answer = route.fetch()
        body = answer.json()
        reads.append(body["id"])
        ready = len(reads) >= 2
        body["payment"] = {**made, "status": "ready"} if ready else preparing(made, 1)
        route.fulfill(status=200, json=body)

    page.route(re.compile(r"/campaigns/cmp_[^/]+/pledges$"), create)
    page.route(re.compile(r"/campaigns/cmp_[^/]+/pledges/plg_[^/?]+$"), read)
    page.goto(f"/app/?c={campaign['id']}")

    page.get_by_label("Amount", exact=True).fill("25")
    page.get_by_label("Email", exact=True).fill("lou@example.org")
    page.get_by_role("button", name="Pledge", exact=True).click()
    expect(page.locator("#pledge-status")).to_contain_text("ready in about 2 seconds")
    pay_with(page, "pm_card_visa")

    expect(page.locator("#state")).to_contain_text("Active")
    assert len(reads) >= 2
