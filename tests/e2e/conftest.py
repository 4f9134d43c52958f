"""One `cashmob local` per test module (module scope), driven over HTTP."""

from __future__ import annotations

import pytest

from cashmob_local.driver import local_stack, stripe_client


@pytest.fixture(scope="module")
def running():
    with local_stack() as running:
        yield running


@pytest.fixture(scope="module")
def api(running):
    return running.api


@pytest.fixture(scope="module")
def stripe_v1(running):
    """stripe-python against this stack's emulator, as a backer's browser would."""
    return stripe_client(running.stripe_url, retries=0)
