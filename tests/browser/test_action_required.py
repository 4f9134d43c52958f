"""After the deadline: a backer whose saved card is declined when charged
finishes the payment from their own page. This module moves the clock, so it
has a `cashmob local` of its own."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from cashmob_local.driver import local_stack

from .scenario import Scenario, pay_with

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def own_stack():
    with local_stack() as running:
        yield running


def test_an_action_required_backer_finishes_payment_and_the_pledge_is_collected(browser, own_stack):
    with Scenario(browser, own_stack) as scenario:
        api = scenario.api
        # Given a card saved 8 days before the deadline that declines when charged
        campaign = scenario.campaign(days=8, goal=2000)
        created = scenario.pledge(campaign, 2500, card="pm_card_chargeCustomerFail")
        # When the clock passes the deadline and the campaign settles
        api.advance(9 * 86400)
        api.tick()
        api.wait(lambda: scenario.pledge_status(created) == "action_required", timeout=60)

        # Then the backer's page asks them to finish the payment
        page = scenario.page(scenario.backer_path(created))
        expect(page.locator("#state")).to_contain_text(
            "Payment needed: the charge at the deadline did not go through"
        )
        expect(page.get_by_role("heading", name="Finish your payment")).to_be_visible()
        expect(page.get_by_role("button", name="Cancel my pledge")).to_be_hidden()

        pay_with(page, "pm_card_visa", button="Finish payment")

        expect(page.locator("#state")).to_have_text("Collected: you paid £25.00. Thank you!")
        assert scenario.pledge_status(created) == "collected"
