"""The emulator's rate limit counts each request when it arrives, as Stripe's
limiter does (requests per second, per endpoint: docs.stripe.com/rate-limits),
not when the emulator's one lock lets it be decided: a pace under the limit is
never refused because the emulator itself was busy."""

from __future__ import annotations

import threading
import time

import stripe

from cashmob_local.stripe_emulator import StripeEmulator
from cashmob_local.stripe_emulator.faults import RateWindows
from tests.payments.conftest import client_for
from tests.servers import serving

ENDPOINT = "POST /v1/customers"


def test_the_window_refuses_the_limit_plus_one_in_any_second():
    windows = RateWindows()
    assert [windows.throttled(ENDPOINT, 3, at) for at in (10.0, 10.3, 10.6, 10.9)] == [
        False,
        False,
        False,
        True,
    ]
    assert not windows.throttled(ENDPOINT, 3, 11.05)  # 10.0 has left the window
    assert not windows.throttled("POST /v1/payment_intents", 3, 11.06)  # per endpoint
    assert not windows.throttled(ENDPOINT, None, 11.07)  # no limit


def test_a_request_decided_after_later_arrivals_counts_in_every_window_it_falls_in():
    windows = RateWindows()
    for at in (20.5, 20.9, 21.3):
        assert not windows.throttled(ENDPOINT, 3, at)
    # Arrived at 20.4, decided last: (20.3, 21.3] would hold four.
    assert windows.throttled(ENDPOINT, 3, 20.4)
    # Arrived at 19.6, decided last: each second holding it holds at most three.
    assert not windows.throttled(ENDPOINT, 3, 19.6)


def test_without_a_time_the_request_is_counted_now():
    windows = RateWindows()
    now = time.monotonic()
    assert not windows.throttled(ENDPOINT, 1, now - 0.5)
    assert windows.throttled(ENDPOINT, 1)  # now: within the second after now - 0.5


def test_a_pace_under_the_limit_is_not_refused_when_the_emulator_was_busy():
    """20 requests/s against a limit of 25, while the emulator is held busy
    for 0.4 s: the requests that arrived meanwhile wait, then are decided in a
    burst. Counted when decided, they and the next second's would make ~28 in
    a second; counted when they arrived, no second holds more than ~21."""
    emulator = StripeEmulator(seed=3)
    emulator.faults.update({"rate_limit": 25})
    answers: list[int] = []
    lock = threading.Lock()

    def create(client: stripe.StripeClient) -> None:
        try:
            client.v1.customers.create(params={})
            status = 200
        except stripe.RateLimitError:
            status = 429
        with lock:
            answers.append(status)

    def busy() -> None:
        with emulator._lock:  # what a slow request or a webhook's bookkeeping does
            time.sleep(0.4)

    with serving(emulator) as url:
        clients = [client_for(url) for _ in range(32)]
        for c in clients[:2]:
            c.v1.customers.create(params={})  # imports warm
        emulator.reset_log()
        threads = [threading.Thread(target=create, args=(c,)) for c in clients]
        start = time.monotonic()
        for i, thread in enumerate(threads):
            if i == 4:
                threading.Thread(target=busy).start()
            time.sleep(max(0.0, start + i / 20 - time.monotonic()))
            thread.start()
        for thread in threads:
            thread.join(10)
    emulator.stop()
    assert len(answers) == 32
    assert answers.count(429) == 0
