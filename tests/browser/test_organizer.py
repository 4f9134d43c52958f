"""The organizer's desk: local sign-in, a campaign with every field, its
pledges, the CSV, cancelling, and the snippets to embed it."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect
from werkzeug.wrappers import Request, Response

from tests.servers import serving

pytestmark = pytest.mark.browser


def sign_in(scenario, name: str):
    page = scenario.page("/app/organizer.html")
    page.get_by_label("Sign in as", exact=True).fill(name)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_text(f"Signed in as {name}.")).to_be_visible()
    return page


def own_campaign(scenario, by: str, title: str):
    return next(
        c
        for c in scenario.api.ok("GET", "/campaigns?limit=100")["campaigns"]
        if c["organizer"] == by and c["title"] == title
    )


def test_the_organizer_signs_in_creates_a_campaign_and_sees_the_pledge(scenario):
    organizer = f"org-{uuid.uuid4().hex[:8]}"
    page = sign_in(scenario, organizer)

    page.get_by_label("Title", exact=True).fill("New roof for the scout hut")
    page.get_by_label("Description", exact=True).fill("The old one leaks.\n\nQuotes attached.")
    page.get_by_label("Goal", exact=True).fill("40")
    page.get_by_label("Currency", exact=True).select_option("gbp")
    expect(page.get_by_label("Deadline", exact=True)).not_to_have_value("")  # a month ahead
    page.get_by_label("Keep what you raise").check()
    page.get_by_label("Minimum backers", exact=True).fill("2")
    page.get_by_label("Minimum pledge", exact=True).fill("5")
    page.get_by_role("button", name="Create campaign").click()

    expect(
        page.get_by_role("status").filter(has_text="Created “New roof for the scout hut”")
    ).to_be_visible()
    card = page.get_by_role("article", name="New roof for the scout hut")
    expect(card).to_contain_text("£0.00 of £40.00 · 0 backers · 0% funded")
    campaign = own_campaign(scenario, organizer, "New roof for the scout hut")
    assert campaign["description"] == "The old one leaks.\n\nQuotes attached."
    assert campaign["funding_model"] == "keep_what_you_raise"
    assert campaign["min_backers"] == 2
    assert campaign["min_pledge"] == {"amount": 500, "currency": "gbp"}

    # A backer pledges (through the API: the pledge pages have their own scenarios).
    scenario.pledge(campaign, 1200, email="bea@example.org", display_name="Bea")

    page.get_by_role("button", name="Refresh").click()
    expect(card).to_contain_text("£12.00 of £40.00 · 1 backer · 30% funded")
    card.get_by_role("button", name="Show pledges").click()
    table = card.get_by_role("region", name="Pledges to New roof for the scout hut")
    expect(table.get_by_role("row").filter(has_text="bea@example.org")).to_contain_text("£12.00")
    expect(table).to_contain_text("active")


def test_a_refused_campaign_says_which_field_is_wrong(scenario):
    page = sign_in(scenario, f"org-{uuid.uuid4().hex[:8]}")
    page.get_by_label("Title", exact=True).fill("Too small")
    page.get_by_label("Goal", exact=True).fill("0.10")  # below Stripe's minimum charge
    page.get_by_role("button", name="Create campaign").click()

    expect(page.locator("#create-error")).to_have_attribute("role", "alert")
    expect(page.locator("#create-error")).not_to_be_empty()
    expect(page.get_by_role("article")).to_have_count(0)


def test_the_organizer_cancels_a_campaign(scenario):
    organizer = f"org-{uuid.uuid4().hex[:8]}"
    campaign = scenario.campaign(title="Mural on the station wall", by=organizer)
    page = sign_in(scenario, organizer)
    card = page.get_by_role("article", name="Mural on the station wall")

    card.get_by_role("button", name="Cancel campaign").click()
    card.get_by_role("button", name="Yes, cancel the campaign").click()

    expect(card.locator(".tag")).to_have_text("Cancelled by the organizer")
    assert scenario.api.ok("GET", f"/campaigns/{campaign['id']}")["status"] == "cancelled"


def test_the_desk_offers_the_widget_and_badge_snippets(scenario):
    organizer = f"org-{uuid.uuid4().hex[:8]}"
    campaign = scenario.campaign(title="Bench by the pond", by=organizer)
    page = sign_in(scenario, organizer)
    card = page.get_by_role("article", name="Bench by the pond")

    card.get_by_text("Put this campaign on another site").click()

    widget = card.get_by_label("Widget code", exact=True)
    expect(widget).to_have_value(
        re.compile(
            rf'<script src="http://127\.0\.0\.1:\d+/app/embed\.js" data-campaign="{campaign["id"]}" async></script>'
        )
    )
    expect(card.get_by_label("Badge code", exact=True)).to_have_value(
        re.compile(rf"/campaigns/{campaign['id']}/badge\.svg")
    )
    expect(card.get_by_role("img", name="Badge preview: Bench by the pond")).to_be_visible()


def test_the_organizer_downloads_the_pledges_as_csv(scenario):
    organizer = f"org-{uuid.uuid4().hex[:8]}"
    campaign = scenario.campaign(title="Village hall piano", by=organizer)
    scenario.pledge(campaign, 2000, email="cy@example.org", display_name="Cy")
    page = sign_in(scenario, organizer)
    card = page.get_by_role("article", name="Village hall piano")

    with page.expect_download() as download:
        card.get_by_role("button", name="Download CSV").click()

    assert download.value.suggested_filename == f"{campaign['id']}-pledges.csv"
    text = Path(download.value.path()).read_text(encoding="utf-8")
    header, *rows = text.splitlines()
    assert header.split(",")[:3] == ["id", "created_at", "status"]
    assert any("cy@example.org" in row for row in rows)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_deployed_sign_in_is_oidc_authorization_code_with_pkce(scenario):
    """With config.js naming an OIDC provider (played by a small one on
    another origin), the desk sends the organizer there with an S256 PKCE
    challenge, trades the code for the token with the verifier, and signs
    them in with the token's claims."""
    seen: dict = {}
    cors = {"Access-Control-Allow-Origin": "*"}

    def provider(environ, start_response):
        request = Request(environ)
        base = seen["base"]
        if request.path == "/.well-known/openid-configuration":
            body = {
                "issuer": base,
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token",
            }
            response = Response(json.dumps(body), mimetype="application/json", headers=cors)
        elif request.path == "/authorize":
            seen["authorize"] = dict(request.args)
            back = f"{request.args['redirect_uri']}?code=the-code&state={request.args['state']}"
            response = Response(status=302, headers={"Location": back})
        else:  # /token
            seen["token"] = dict(request.form)
            verifier = request.form.get("code_verifier", "")
            matches = (
                _b64url(hashlib.sha256(verifier.encode()).digest())
                == seen["authorize"]["code_challenge"]
            )
            claims = _b64url(json.dumps({"sub": "org-oidc", "email": "olga@example.org"}).encode())
            body = {"id_token": f"e30.{claims}.sig", "token_type": "Bearer"}
            if not (matches and request.form.get("code") == "the-code"):
                body = {"error": "invalid_grant", "error_description": "PKCE check failed"}
            response = Response(
                json.dumps(body),
                200 if "id_token" in body else 400,
                mimetype="application/json",
                headers=cors,
            )
        return response(environ, start_response)

    with serving(provider) as base:
        seen["base"] = base
        config = {
            "apiBase": scenario.api.base,
            "stripePublishableKey": "pk_test_local",
            "stripeJsUrl": f"{scenario.running.stripe_url}/v3/",
            "auth": {
                "mode": "oidc",
                "providerName": "Test IdP",
                "issuer": base,
                "clientId": "cashmob-web",
                "scope": "openid email",
                "redirectPath": "organizer.html",
                "useToken": "id_token",
            },
            "clockUrl": None,
        }
        page = scenario.page(None)
        page.route(
            "**/app/config.js",
            lambda route: route.fulfill(
                body=f"export default {json.dumps(config)};", content_type="text/javascript"
            ),
        )
        page.goto("/app/organizer.html")

        page.get_by_role("button", name="Sign in with Test IdP").click()

        expect(page.get_by_text("Signed in as olga@example.org.")).to_be_visible()
        expect(page).to_have_url(
            re.compile(r"/app/organizer\.html$")
        )  # the code is gone from the address
        asked = seen["authorize"]
        assert (asked["response_type"], asked["client_id"], asked["code_challenge_method"]) == (
            "code",
            "cashmob-web",
            "S256",
        )
        assert asked["redirect_uri"] == f"{scenario.api.base}/app/organizer.html"
        assert seen["token"]["grant_type"] == "authorization_code"
