"""`make screenshots`: PNGs of every page of the web front end, 1280 px wide
and 360 px narrow, taken in headless Chromium from a `cashmob local` filled
with a small story (a campaign with backers, a backer's page, a payment to
finish after the deadline, the organizer's desk, the widget on another site).

    .venv/bin/python -m tests.browser.screenshots docs/screenshots
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Response

from cashmob_local.driver import local_stack
from tests.servers import serving

from .scenario import DESKTOP, NARROW, Scenario, fill_pledge_form
from .test_widget import host_page

SIZES = {"desktop": DESKTOP, "narrow": NARROW}


def shoot(page: Any, out: Path, name: str, size: str, *, whole: bool = True) -> None:
    """The whole page (or, `whole=False`, what the screen shows: a modal dialog)."""
    path = out / f"{name}-{size}.png"
    page.screenshot(path=str(path), full_page=whole, animations="disabled", caret="hide")
    print(f"  {path}")


def other_site(html: str) -> Any:
    """A WSGI app for another site's page (the widget's host)."""

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        return Response(html, mimetype="text/html")(environ, start_response)

    return app


def story(s: Scenario) -> dict[str, Any]:
    """The campaigns and pledges the pictures show."""
    ad = s.campaign(
        days=12.3,
        goal=250000,
        title="Full-page ad in the Herald on AGM day",
        description=(
            "On the morning of the AGM, every shareholder opens the Herald to one question: "
            "why is the river still brown?\n\n"
            "A full page costs £2,500. If we reach it by the deadline, the ad runs and each "
            "card is charged; if not, nobody pays a penny."
        ),
        min_pledge={"amount": 500, "currency": "gbp"},
    )
    for amount, name, extra in [
        (5000, "Ada", {}),
        (2500, "Grace", {}),
        (10000, "Ken", {"hide_amount": True}),
        (1500, "Linus", {"anonymous": True}),
        (7500, "Barbara", {}),
    ]:
        mine = s.pledge(ad, amount, email=f"{name.lower()}@example.org", display_name=name, **extra)
    s.campaign(days=40, goal=80000, title="New benches for Riverside Park")
    s.campaign(days=5, goal=30000, title="Legal fund: keep the library open")
    # A fixed price, overfunded, with money waiting on a crowd condition.
    fixed = s.campaign(
        days=9.2,
        goal=20000,
        title="Quarter-page ad in the Gazette",
        description="A quarter page costs exactly £200: if we pledge more, everyone pays less.",
        funding_model="fixed_price",
    )
    for amount, name in [(10000, "Nia"), (8000, "Omar"), (6000, "Pat")]:
        s.pledge(fixed, amount, email=f"{name.lower()}@example.org", display_name=name)
    conditional = s.pledge(
        fixed, 2000, email="quinn@example.org", display_name="Quinn", condition={"min_backers": 10}
    )
    return {"ad": ad, "mine": mine, "fixed": fixed, "conditional": conditional}


def main(out: Path) -> int:
    import logging

    from playwright.sync_api import expect, sync_playwright

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the other site's request log
    out.mkdir(parents=True, exist_ok=True)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("make screenshots: Chromium is missing (make browser)", file=sys.stderr)
        return 1
    expect.set_options(timeout=20_000)
    with local_stack() as running, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        with Scenario(browser, running) as s:
            data = story(s)
            ad = data["ad"]
            for size, viewport in SIZES.items():
                page = s.page("/app/", viewport=viewport)
                expect(page.get_by_role("link", name=ad["title"])).to_be_visible()
                shoot(page, out, "campaigns", size)

                page.goto(f"/app/?c={ad['id']}")
                expect(page.locator("#backers")).to_contain_text("Barbara")
                shoot(page, out, "campaign", size)
                fill_pledge_form(page, amount="20", email="you@example.org", name="You")
                page.get_by_label("Test card", exact=True).select_option(
                    "pm_card_authenticationRequired"
                )
                page.get_by_role("button", name="Confirm pledge").click()
                expect(page.get_by_role("dialog")).to_be_visible()
                shoot(page, out, "campaign-3d-secure", size, whole=False)

                page = s.page(s.backer_path(data["mine"]), viewport=viewport)
                expect(page.get_by_role("button", name="Cancel my pledge")).to_be_visible()
                shoot(page, out, "pledge", size)

                page = s.page(f"/app/?c={data['fixed']['id']}", viewport=viewport)
                expect(page.locator("#backers")).to_contain_text("Quinn")
                page.get_by_label("Amount", exact=True).fill("10")
                page.get_by_label(
                    "Count me in only if at least this many backers pledge in all", exact=True
                ).fill("10")
                expect(page.locator("#fair-share")).to_contain_text("If it closed now")
                shoot(page, out, "campaign-fixed-price", size)

                page = s.page(s.backer_path(data["conditional"]), viewport=viewport)
                expect(page.locator("#condition")).to_be_visible()
                shoot(page, out, "pledge-conditional", size)

                page = s.page("/app/organizer.html", viewport=viewport)
                page.get_by_label("Sign in as", exact=True).fill("alice")
                page.get_by_role("button", name="Sign in", exact=True).click()
                card = page.get_by_role("article", name=ad["title"])
                card.get_by_role("button", name="Show pledges").click()
                expect(card.get_by_role("table")).to_be_visible()
                shoot(page, out, "organizer", size)

                with serving(
                    other_site(host_page(f"{running.api.base}/app/embed.js", ad["id"]))
                ) as other_site_url:
                    page = s.page(None, viewport=viewport)
                    page.goto(other_site_url.replace("127.0.0.1", "localhost"))
                    frame = page.frame_locator("iframe[data-cashmob-campaign]")
                    expect(frame.get_by_role("link", name="Pledge")).to_be_visible()
                    path = out / f"widget-{size}.png"
                    page.locator("body").screenshot(path=str(path), animations="disabled")
                    print(f"  {path}")

            # Last, as it moves the clock: a payment to finish after the deadline.
            late = s.campaign(days=8, goal=2000, title="Flowers for the station platform")
            owed = s.pledge(late, 2500, card="pm_card_chargeCustomerFail", display_name="Sam")
            s.api.advance(9 * 86400)
            s.api.tick()
            s.api.wait(lambda: s.pledge_status(owed) == "action_required", timeout=60)
            for size, viewport in SIZES.items():
                page = s.page(s.backer_path(owed), viewport=viewport)
                expect(page.get_by_role("button", name="Finish payment")).to_be_visible()
                expect(page.get_by_label("Test card", exact=True)).to_be_visible()
                shoot(page, out, "pledge-finish-payment", size)
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")))
