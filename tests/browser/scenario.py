"""What the browser scenarios share: a campaign and pledges made through the
API (when a scenario is about something else), and pages opened in fresh
browser contexts that fail the test on any uncaught script error."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timedelta
from typing import Any

from cashmob_local.driver import Running, stripe_client

DESKTOP = {"width": 1280, "height": 860}
NARROW = {"width": 360, "height": 780}
TIMEOUT_MS = 20_000
_keys = itertools.count()


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Scenario:
    def __init__(self, browser: Any, running: Running) -> None:
        self.browser = browser
        self.running = running
        self.api = running.api
        self.contexts: list[Any] = []
        self.errors: list[str] = []

    def __enter__(self) -> Scenario:
        return self

    def __exit__(self, *exc: object) -> None:
        for context in self.contexts:
            # A test's route handlers may be mid-fetch for a page that keeps
            # polling: drop them first, so closing never waits on one.
            for page in context.pages:
                page.unroute_all(behavior="ignoreErrors")
            context.close()
        if exc[0] is None:
            assert not self.errors, f"script errors on the pages: {self.errors}"

    # ------------------------------------------------------------ pages

    def page(self, path: str = "/app/", *, viewport: dict[str, int] = DESKTOP) -> Any:
        """A page of the stack in a fresh context (its own localStorage)."""
        context = self.browser.new_context(
            base_url=self.api.base, viewport=viewport, locale="en-GB", timezone_id="UTC"
        )
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        if path:
            page.goto(path)
        return page

    # ------------------------------------------------------------ the API

    def now(self) -> datetime:
        return datetime.strptime(self.api.now(), "%Y-%m-%dT%H:%M:%SZ")

    def campaign(
        self,
        *,
        days: float = 20,
        goal: int = 5000,
        title: str = "Full-page ad on AGM day",
        by: str = "alice",
        **extra: Any,
    ) -> dict[str, Any]:
        """A campaign `days` from the stack's now (past 6 days: the setup flow,
        a card saved; within them: the hold flow, funds held)."""
        body = {
            "title": title,
            "description": "A full-page ad in the paper on the morning of the AGM.",
            "goal": {"amount": goal, "currency": "gbp"},
            "deadline": iso(self.now() + timedelta(days=days)),
            **extra,
        }
        return self.api.ok("POST", "/campaigns", body, self.api.organizer(by))

    def pledge(
        self,
        campaign: dict[str, Any],
        amount: int = 2500,
        *,
        card: str | None = "pm_card_visa",
        **extra: Any,
    ) -> dict[str, Any]:
        """A pledge made through the API and confirmed with stripe-python, as
        the pages would; waits until Stripe's word has made it active."""
        body = {"amount": amount, "currency": "gbp", "email": "bea@example.org", **extra}
        status, created = self.api.call(
            "POST",
            f"/campaigns/{campaign['id']}/pledges",
            body,
            {"Idempotency-Key": f"browser-{uuid.uuid4()}-{next(_keys)}"},
        )
        assert status == 201, created
        if card:
            payment = created["payment"]
            v1 = stripe_client(self.running.stripe_url, retries=0)
            service = v1.setup_intents if payment["flow"] == "setup" else v1.payment_intents
            service.confirm(payment["intent_id"], params={"payment_method": card})
            self.api.wait(lambda: self.pledge_status(created) == "active", timeout=30)
        return created

    def pledge_at_once(
        self, campaign: dict[str, Any], amount: int = 2500, **extra: Any
    ) -> tuple[int, dict[str, Any]]:
        """A pledge through the API, not confirmed: (201 ready | 202 preparing, body)."""
        body = {"amount": amount, "currency": "gbp", "email": "bea@example.org", **extra}
        status, created = self.api.call(
            "POST",
            f"/campaigns/{campaign['id']}/pledges",
            body,
            {"Idempotency-Key": f"browser-{uuid.uuid4()}-{next(_keys)}"},
        )
        assert status in (201, 202), created
        return status, created

    def pledge_status(self, created: dict[str, Any]) -> str:
        p = created["pledge"]
        answer = self.api.ok(
            "GET",
            f"/campaigns/{p['campaign_id']}/pledges/{p['id']}",
            headers={"X-Pledge-Token": created["pledge_token"]},
        )
        return answer["status"]

    def backer_path(self, created: dict[str, Any]) -> str:
        p = created["pledge"]
        return f"/app/pledge.html#c={p['campaign_id']}&p={p['id']}&t={created['pledge_token']}"

    def progress(self, campaign: dict[str, Any]) -> dict[str, Any]:
        return self.api.ok("GET", f"/campaigns/{campaign['id']}")["pledged"]

    def owner_pledges(self, campaign: dict[str, Any], by: str = "alice") -> list[dict[str, Any]]:
        return self.api.ok(
            "GET", f"/campaigns/{campaign['id']}/pledges", headers=self.api.organizer(by)
        )["pledges"]


def fill_pledge_form(
    page: Any, *, amount: str = "25", email: str = "ada@example.org", name: str = "Ada"
) -> None:
    """The campaign page's pledge form, filled and sent: the card form opens."""
    page.get_by_label("Amount", exact=True).fill(amount)
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Name shown to others", exact=True).fill(name)
    page.get_by_role("button", name="Pledge", exact=True).click()
    page.get_by_label("Test card", exact=True).wait_for()


def pay_with(page: Any, card: str, button: str = "Confirm pledge") -> None:
    page.get_by_label("Test card", exact=True).select_option(card)
    page.get_by_role("button", name=button, exact=True).click()
