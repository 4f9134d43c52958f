"""Browser scenarios: headless Chromium (Debian's package; Playwright's own
browser download cannot be reached here) driven by Playwright for Python
against `cashmob local` on free ports, through the pages under /app/.

Without Chromium or Playwright the scenarios are skipped with the reason (and
how to install them) — except in CI (`CI` set), where that is a failure:
`make test` installs Chromium first (`make browser`)."""

from __future__ import annotations

import os
import shutil

import pytest

from cashmob_local.driver import local_stack

from .scenario import TIMEOUT_MS, Scenario

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed: `.venv/bin/pip install -e '.[dev]'`"
    if CHROMIUM is None:
        return (
            "Chromium is not installed: run `make browser` (as root it runs "
            "`apt-get install -y chromium`; otherwise install Debian's chromium package)"
        )
    return None


@pytest.fixture(scope="session")
def browser():
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the browser tests must run in CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)  # waits for what the page shows, never a fixed sleep
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def stack():
    """One `cashmob local` for the scenarios that do not move its clock."""
    with local_stack() as running:
        yield running


@pytest.fixture
def scenario(browser, stack):
    with Scenario(browser, stack) as s:
        yield s
