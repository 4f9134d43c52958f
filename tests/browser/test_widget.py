"""The embeddable widget: one script tag on a page of another origin renders
the campaign's progress card with a Pledge link to the campaign page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from werkzeug.wrappers import Response

from tests.servers import serving

pytestmark = pytest.mark.browser


def host_page(script_src: str, campaign_id: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>The Parish News</title></head>"
        "<body><h1>The Parish News</h1><p>Help us fund the ad:</p>"
        f'<script src="{script_src}" data-campaign="{campaign_id}" async></script>'
        "<p>Thank you.</p></body></html>"
    )


def test_the_widget_renders_on_a_page_of_another_origin(scenario):
    campaign = scenario.campaign(title="Full-page ad", goal=4000)
    scenario.pledge(campaign, 1000)
    html = host_page(f"{scenario.api.base}/app/embed.js", campaign["id"])

    def app(environ, start_response):
        return Response(html, mimetype="text/html")(environ, start_response)

    with serving(app) as other_origin:
        other_origin = other_origin.replace("127.0.0.1", "localhost")  # another host, too
        assert not other_origin.startswith(scenario.api.base)
        page = scenario.page(None)
        page.goto(other_origin)

        frame = page.locator("iframe[data-cashmob-campaign]")
        expect(frame).to_have_attribute("title", "Full-page ad: campaign progress")
        card = page.frame_locator("iframe[data-cashmob-campaign]")
        expect(card.get_by_role("heading", name="Full-page ad")).to_be_visible()
        expect(card.get_by_text("£10.00 of £40.00 · 1 backer · 25%")).to_be_visible()
        pledge = card.get_by_role("link", name="Pledge")
        expect(pledge).to_have_attribute("href", re.compile(rf"/app/\?c={campaign['id']}$"))

        with page.expect_popup() as opened:
            pledge.click()
        campaign_page = opened.value
        expect(campaign_page.get_by_role("heading", name="Full-page ad", level=1)).to_be_visible()
        expect(campaign_page.get_by_role("button", name="Pledge", exact=True)).to_be_visible()
