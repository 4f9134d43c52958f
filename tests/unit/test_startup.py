"""cashmob.startup pauses the collector when it is first imported, in a fresh
interpreter as Lambda's init is (what every handler's import does with it:
test_cold_imports)."""

from __future__ import annotations

from tests.probes import probe

RUN = """
import gc, json
{before}
import cashmob.startup
paused = not gc.isenabled()
cashmob.startup.done()
frozen = gc.get_freeze_count()
cashmob.startup.done()
print(json.dumps({{"paused": paused, "enabled": gc.isenabled(), "frozen": frozen,
                  "frozen_again": gc.get_freeze_count()}}))
"""


def test_it_pauses_the_collector_until_done_which_freezes_what_was_made():
    found = probe(RUN.format(before=""))

    assert found["paused"]
    assert found["enabled"]
    assert found["frozen"] > 1_000  # the interpreter's own objects, at least
    assert found["frozen_again"] == found["frozen"]  # a second `done()` does nothing


def test_a_collector_that_was_off_stays_off_and_nothing_is_frozen():
    found = probe(RUN.format(before="gc.disable()"))

    assert found["paused"]
    assert not found["enabled"]
    assert found["frozen"] == found["frozen_again"] == 0
