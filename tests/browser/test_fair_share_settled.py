"""After a `fixed_price` campaign overfunded by a quarter settles, each
backer's page says what they were charged: their fair share (API.md "Fair
share", the pledge's `charged`), not the amount they pledged. This module
moves the clock, so it has a `cashmob local` of its own."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from cashmob_local.driver import local_stack

from .audit import CLEAN, audit
from .scenario import Scenario

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def own_stack():
    with local_stack() as running:
        yield running


def test_each_backer_sees_the_fair_share_they_were_charged(browser, own_stack):
    with Scenario(browser, own_stack) as s:
        # Given a £40 price and £50 pledged: every backer pays 80 % of their pledge
        campaign = s.campaign(days=8, goal=4000, funding_model="fixed_price")
        small = s.pledge(campaign, 2000, display_name="Ada")
        large = s.pledge(campaign, 3000, display_name="Grace")
        # When the deadline passes and the campaign settles
        s.api.advance(9 * 86400)
        final = s.api.settle(campaign["id"])
        assert final["status"] == "succeeded", final

        # Then each backer's page shows the share beside the pledge
        for created, pledged, charged in [(small, "£20.00", "£16.00"), (large, "£30.00", "£24.00")]:
            page = s.page(s.backer_path(created))
            expect(page.locator("#state")).to_have_text(
                f"Collected: you were charged {charged} of your {pledged} — the fair share of "
                "the fixed price. Thank you!"
            )
            expect(page.locator("#amount")).to_have_text(pledged)
            expect(page.locator("#charged")).to_have_text(f"{charged}, the fair share")
            assert audit(page) == CLEAN
