"""`cashmob stripe-emulator` runs the emulator alone, as API.md describes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import stripe

from cashmob_local.driver import free_port, stripe_client
from tests.servers import Receiver, serving

pytestmark = pytest.mark.e2e


def test_the_emulator_alone_serves_stripe_python_and_forwards_signed_events():
    receiver = Receiver()
    with serving(receiver) as hook:
        port = free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cashmob_local.cli",
                "stripe-emulator",
                "--port",
                str(port),
                "--forward-to",
                hook,
                "--rate-limit",
                "50",
                "--latency-ms",
                "1",
            ],
            env={**os.environ},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            client = stripe_client(f"http://127.0.0.1:{port}", retries=5)
            deadline = time.monotonic() + 30
            while True:
                try:
                    intent = client.payment_intents.create(
                        params={
                            "amount": 500,
                            "currency": "usd",
                            "payment_method": "pm_card_visa",
                            "confirm": True,
                        }
                    )
                    break
                except stripe.APIConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.3)
            assert intent.status == "succeeded"
            deadline = time.monotonic() + 20
            while len(receiver.deliveries) < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            process.terminate()
            process.wait(timeout=20)
    types = set()
    for payload, header in receiver.deliveries:
        event = stripe.Webhook.construct_event(payload, header, "whsec_local")
        types.add(json.loads(payload)["type"])
        assert event.id.startswith("evt_")
    assert {"payment_intent.created", "payment_intent.succeeded", "charge.succeeded"} <= types
