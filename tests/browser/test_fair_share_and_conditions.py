"""The campaign page for issue #16's fields (API.md "Fair share", the
pledge's `condition`, the campaign's `pledged_if_conditions_met`): the
fair-share estimate beside the amount on a `fixed_price` campaign, the
condition field with the current crowd size, what the form sends, and the
accessibility audit with all of it on screen."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import expect

from .audit import CLEAN, audit
from .scenario import DESKTOP, NARROW

pytestmark = pytest.mark.browser


def pledge_bodies(page) -> list[dict[str, Any]]:
    """Every pledge body the page POSTs, as sent."""
    sent: list[dict[str, Any]] = []

    def seen(request) -> None:
        if request.method == "POST" and request.url.endswith("/pledges"):
            sent.append(json.loads(request.post_data))

    page.on("request", seen)
    return sent


@pytest.mark.parametrize("viewport", [DESKTOP, NARROW], ids=["desktop", "360px"])
def test_a_fixed_price_campaign_shows_the_fair_share_estimate(scenario, viewport):
    # Given a £200 fixed-price ad with £149.74 pledged
    campaign = scenario.campaign(goal=20000, funding_model="fixed_price", title="Fixed-price ad")
    assert campaign["funding_model"] == "fixed_price"
    scenario.pledge(campaign, 14974, display_name="Ada")
    page = scenario.page(f"/app/?c={campaign['id']}", viewport=viewport)
    expect(page.locator("#backers")).to_contain_text("Ada")
    estimate = page.locator("#fair-share")
    expect(estimate).to_contain_text(
        "Fixed price: if the crowd pledges more than the £200.00 price"
    )

    # When a backer types £50, the total (£199.74) stays under the price
    amount = page.get_by_label("Amount", exact=True)
    amount.fill("50")
    # Then they would pay all of it
    expect(estimate).to_have_text(
        "If it closed now you would pay all of it: the crowd would not be over the £200.00 price."
    )

    # When they type £100 instead: £249.74 in all, 80.08 % of each pledge
    amount.fill("100")
    # Then floor(10000 * 20000 / 24974) = 8008 minor units
    expect(estimate).to_contain_text("If it closed now you would pay £80.08 of your £100.00")
    # the estimate is part of the amount field's description
    expect(amount).to_have_attribute("aria-describedby", "amount-hint fair-share")
    assert audit(page) == CLEAN


def test_ten_pounds_on_a_price_overfunded_by_a_quarter_pays_seven_seventy(scenario):
    # £249.74 on a £200 price: a £10 pledge would pay floor(1000 * 20000 / 25974) = £7.70
    campaign = scenario.campaign(goal=20000, funding_model="fixed_price")
    scenario.pledge(campaign, 24974)
    page = scenario.page(f"/app/?c={campaign['id']}")
    page.get_by_label("Amount", exact=True).fill("10")
    expect(page.locator("#fair-share")).to_contain_text(
        "If it closed now you would pay £7.70 of your £10.00"
    )


def test_an_all_or_nothing_campaign_has_no_estimate(scenario):
    campaign = scenario.campaign(goal=2000)
    scenario.pledge(campaign, 2500)
    page = scenario.page(f"/app/?c={campaign['id']}")
    page.get_by_label("Amount", exact=True).fill("10")
    expect(page.get_by_role("button", name="Pledge", exact=True)).to_be_visible()
    expect(page.locator("#fair-share")).to_be_hidden()


def test_a_backer_pledges_on_a_condition_and_the_crowd_sees_it(scenario):
    # Given a campaign two backers have pledged to
    campaign = scenario.campaign(goal=20000, title="Benches if enough of us")
    scenario.pledge(campaign, 2500, display_name="Ada")
    scenario.pledge(campaign, 2500, display_name="Grace")
    page = scenario.page(f"/app/?c={campaign['id']}")
    sent = pledge_bodies(page)
    condition = page.get_by_label(
        "Count me in only if at least this many backers pledge in all", exact=True
    )
    # Then the condition field shows the crowd so far
    expect(page.locator("#condition-hint")).to_contain_text("So far: 2 backers.")
    expect(condition).to_have_attribute("aria-describedby", "condition-hint")

    # When the backer asks for a condition that is no condition at all
    page.get_by_label("Amount", exact=True).fill("10")
    page.get_by_label("Email", exact=True).fill("cy@example.org")
    condition.fill("1")
    page.get_by_role("button", name="Pledge", exact=True).click()
    # Then the page says what is wrong, marks the field, and sends nothing
    expect(page.get_by_role("alert").filter(has_text="at least 2")).to_be_visible()
    expect(condition).to_have_attribute("aria-invalid", "true")
    expect(condition).to_be_focused()
    assert sent == []

    # When they count themselves in only if 50 pledge in all
    condition.fill("50")
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/pledges")
    ) as answer:
        page.get_by_role("button", name="Pledge", exact=True).click()
    # Then the pledge carries the condition, as API.md spells it
    assert sent[-1]["condition"] == {"min_backers": 50}
    assert answer.value.status == 201, answer.value.text()
    created = answer.value.json()
    expect(page.locator("#pay-terms")).to_contain_text(
        "Your pledge counts only if at least 50 backers pledge in all."
    )
    pledge = created["pledge"]
    stored = scenario.api.ok(
        "GET",
        f"/campaigns/{campaign['id']}/pledges/{pledge['id']}",
        headers={"X-Pledge-Token": created["pledge_token"]},
    )
    assert stored["condition"] == {"min_backers": 50}

    # When they confirm their card, the pledge is active on its condition
    page.get_by_label("Test card", exact=True).select_option("pm_card_visa")
    page.get_by_role("button", name="Confirm pledge", exact=True).click()
    expect(page.locator("#state")).to_contain_text(
        "It counts only if at least 50 backers pledge in all."
    )
    expect(page.locator("#condition")).to_have_text(
        "Only if at least 50 backers pledge in all (you included)"
    )
    assert audit(page) == CLEAN, "backer's page with a condition"

    # And the campaign shows the £10 that waits on it beside what counts now
    page.goto(f"/app/?c={campaign['id']}")
    expect(page.locator("#pledged")).to_have_text("£50.00")
    expect(page.locator("#conditional")).to_have_text(
        "£10.00 more pledged on conditions: it counts once enough backers join."
    )
    expect(page.locator("#condition-hint")).to_contain_text("So far: 2 backers.")
    assert audit(page) == CLEAN, "campaign page with conditional money"


def test_without_a_condition_the_pledge_sends_none(scenario):
    campaign = scenario.campaign()
    page = scenario.page(f"/app/?c={campaign['id']}")
    sent = pledge_bodies(page)
    page.get_by_label("Amount", exact=True).fill("12")
    page.get_by_label("Email", exact=True).fill("dee@example.org")
    page.get_by_role("button", name="Pledge", exact=True).click()
    page.get_by_label("Test card", exact=True).wait_for()
    assert len(sent) == 1 and "condition" not in sent[0]
    assert sent[0]["amount"] == 1200


def as_settled(page, created: dict[str, Any], **fields: Any) -> None:
    """Serves the backer's pledge with the fields a settled pledge carries
    (API.md), over what the server answers for it now."""
    pledge_id = created["pledge"]["id"]

    def settled(route) -> None:
        body = route.fetch().json()
        body.update(fields, payment=None)
        route.fulfill(json=body)

    page.route(f"**/pledges/{pledge_id}", settled)


def test_the_backer_sees_the_fair_share_they_were_charged(scenario):
    campaign = scenario.campaign(goal=20000, funding_model="fixed_price")
    created = scenario.pledge(campaign, 1000)
    page = scenario.page(None)
    as_settled(page, created, status="collected", charged=770)
    page.goto(scenario.backer_path(created))

    expect(page.locator("#state")).to_have_text(
        "Collected: you were charged £7.70 of your £10.00 — the fair share of the fixed price. "
        "Thank you!"
    )
    expect(page.locator("#amount")).to_have_text("£10.00")
    expect(page.locator("#charged")).to_have_text("£7.70, the fair share")
    expect(page.locator("#refunded")).to_be_hidden()
    expect(page.locator("#condition")).to_be_hidden()
    assert audit(page) == CLEAN


def test_an_active_pledge_s_zero_charged_is_not_a_fair_share(scenario):
    # API.md's `charged` is 0 until the collection: the page must not say "£0.00 charged"
    campaign = scenario.campaign(goal=20000, funding_model="fixed_price")
    created = scenario.pledge(campaign, 1000)
    page = scenario.page(None)
    as_settled(page, created, status="active", charged=0)
    page.goto(scenario.backer_path(created))
    expect(page.locator("#state")).to_contain_text("You will be charged £10.00")
    expect(page.locator("#state")).to_contain_text("you pay only your fair share of it")
    expect(page.locator("#charged")).to_be_hidden()


def test_a_server_without_conditions_gets_no_condition_field(scenario):
    # A campaign as a server before issue #16 answers it: no `pledged_if_conditions_met`
    campaign = scenario.campaign()
    page = scenario.page(None)

    def older(route) -> None:
        body = route.fetch().json()
        body.pop("pledged_if_conditions_met", None)
        route.fulfill(json=body)

    page.route(f"**/campaigns/{campaign['id']}", older)
    sent = pledge_bodies(page)
    page.goto(f"/app/?c={campaign['id']}")
    expect(page.get_by_role("button", name="Pledge", exact=True)).to_be_visible()
    expect(page.locator("#condition-field")).to_be_hidden()
    expect(page.locator("#conditional")).to_be_hidden()
    page.get_by_label("Amount", exact=True).fill("12")
    page.get_by_label("Email", exact=True).fill("eve@example.org")
    page.get_by_role("button", name="Pledge", exact=True).click()
    page.get_by_label("Test card", exact=True).wait_for()
    assert len(sent) == 1 and "condition" not in sent[0]
