"""The Stripe emulator on a free port, and stripe-python pointed at it."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import stripe

from cashmob_local.stripe_emulator import StripeEmulator
from tests.servers import Receiver, serving

SUBSET = Path(__file__).with_name("fixtures") / "stripe_fixtures_subset.json"
HANDBOOK = Path(__file__).resolve().parents[3] / "shared" / "stripe" / "fixtures3.json"

logging.getLogger("werkzeug").setLevel(logging.ERROR)


@pytest.fixture(scope="session")
def stripe_fixtures() -> dict:
    """Stripe's own example object per resource the emulator serves."""
    return json.loads(SUBSET.read_text())["resources"]


@pytest.fixture
def receiver():
    receiver = Receiver()
    with serving(receiver) as url:
        receiver.url = url
        yield receiver


@pytest.fixture
def emulator(receiver):
    emulator = StripeEmulator(forward_to=receiver.url, seed=7)
    with serving(emulator) as url:
        emulator.url = url
        yield emulator
    emulator.stop()


def client_for(url: str, retries: int = 0) -> stripe.StripeClient:
    return stripe.StripeClient(
        "sk_test_local",
        base_addresses={"api": url},
        http_client=stripe.UrllibClient(),
        max_network_retries=retries,
    )


@pytest.fixture
def client(emulator):
    return client_for(emulator.url).v1
