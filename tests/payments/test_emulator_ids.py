"""The emulator's object ids and client secrets: Stripe's shape (prefix, then
letters and digits), every character equally likely at every position, and
drawn with one read of the OS's random source each (not one per character)."""

from __future__ import annotations

import re
import secrets
import string
from collections import Counter

from cashmob_local.stripe_emulator import objects


def test_ids_have_stripes_shape_and_do_not_repeat():
    ids = [objects.new_id("seti") for _ in range(2000)]
    assert all(re.fullmatch(r"seti_[A-Za-z0-9]{24}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert re.fullmatch(
        r"pi_[A-Za-z0-9]{24}_secret_[A-Za-z0-9]{25}", objects._secret("pi_" + "a" * 24)
    )


def test_every_character_is_used_at_every_position():
    ids = [objects.new_id("x", 6)[2:] for _ in range(6000)]
    for position in (0, 5):  # the first digit drawn and the last (the draw's top end)
        seen = Counter(i[position] for i in ids)
        assert set(seen) == set(string.ascii_letters + string.digits)
        expected = len(ids) / 62
        assert max(seen.values()) < 2 * expected and min(seen.values()) > expected / 2


def test_one_draw_per_id(monkeypatch):
    draws = []
    real = secrets.randbelow

    def counted(n: int) -> int:
        draws.append(n)
        return real(n)

    monkeypatch.setattr(secrets, "randbelow", counted)
    monkeypatch.setattr(
        secrets, "choice", lambda _: (_ for _ in ()).throw(AssertionError("per char"))
    )
    objects.new_id("cus")
    objects._secret("seti_x")
    assert draws == [62**24, 62**25]
