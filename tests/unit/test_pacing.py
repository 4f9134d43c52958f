"""The settlement pacer (`cashmob.pacing.RateLimiter`): its calls go out
within their slots, so a stall of the process does not send the calls it held
back together with the next second's (more than the limit in one second:
Stripe's 429, as the settlement benchmark saw at 3,000 and 10,000 pledges)."""

from __future__ import annotations

import threading
import time

import pytest

from cashmob.pacing import RateLimiter


def busiest_second(moments: list[float]) -> int:
    ordered = sorted(moments)
    first, most = 0, 0
    for last, moment in enumerate(ordered):
        while ordered[first] <= moment - 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_calls_held_back_by_a_stall_are_not_sent_in_a_burst():
    """Six workers share a pacer at 10/s; the process stalls from 1.0 s to
    1.5 s (no thread runs: each sleeper wakes at 1.5 s at the earliest)."""
    rate, start = 10.0, time.monotonic()
    stall = (start + 1.0, start + 1.5)

    def sleep(seconds: float) -> None:
        time.sleep(seconds)
        now = time.monotonic()
        if stall[0] <= now < stall[1]:
            time.sleep(stall[1] - now)

    limiter = RateLimiter(rate, sleep=sleep)
    sent: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        while time.monotonic() < start + 3.5:
            limiter.acquire()
            with lock:
                sent.append(time.monotonic())

    workers = [threading.Thread(target=worker) for _ in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(10)
    assert len(sent) > 25
    assert limiter.forfeited >= 1  # the slots the stall held back were given up
    # Calls of at most rate + 1 slots in any second (held back, the stall's
    # slots went out with the next second's: ~15).
    assert busiest_second(sent) <= rate + 1


def test_a_slot_whose_thread_wakes_late_is_given_up_for_the_next():
    now = [100.0]
    late = [0.25]  # the first sleep overshoots by a quarter second

    def sleep(seconds: float) -> None:
        now[0] += seconds + late.pop() if late else seconds

    limiter = RateLimiter(10, monotonic=lambda: now[0], sleep=sleep)
    assert limiter.acquire() == 0.0  # slot 100.0, at once
    # Slot 100.1 ends at 100.2; woken at 100.35, it takes 100.35 instead.
    assert limiter.acquire() == pytest.approx(0.35)
    assert limiter.forfeited == 1
    assert now[0] == pytest.approx(100.35)
    assert limiter.acquire() == pytest.approx(0.1)  # then evenly again
    assert now[0] == pytest.approx(100.45)


def test_a_share_of_a_rate_paces_each_process_at_its_part_and_zero_is_unpaced():
    from cashmob.pacing import share_of

    one_of_two = share_of(14, 2)
    assert one_of_two is not None and one_of_two.interval == pytest.approx(1 / 7)
    alone = share_of(5)
    assert alone is not None and alone.interval == pytest.approx(0.2)
    assert share_of(0, 12) is None
