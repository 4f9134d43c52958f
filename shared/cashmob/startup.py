"""A function's init with the cyclic garbage collector paused: imported first
by every handler module, whose last line calls `done()`.

Lambda's init is the import of the handler module. What it makes (modules,
classes, functions, the resolver and its routes) lives as long as the
instance, yet while it is being made the collector scans it again and again,
one young collection every few thousand allocations (36 in the API's
import), for cycles that are not there. Without them the API imports in
221 ms instead of 241, the other functions in 9-14 ms less (the cold-start
benchmark with `--baseline`, side by side with the tree before). Importing
this module stops the collector; `done()` moves everything made so far into
the permanent generation (`gc.freeze`), where no collection looks again, and
starts the collector for what requests make. The scans are skipped, not
postponed: starting the collector again without the freeze would hand them
all to the first request. This is the pattern CPython documents for
`gc.freeze` before a fork (disable early, freeze, enable), the first request
standing in for the child.

What it costs: cyclic garbage made during the init is frozen with the rest
and never freed (a few hundred objects for the API). A process that imports
several handler modules (the tests, the local stack) pauses at the first,
the module being imported once; a collector that was off already is left
off.
"""

from __future__ import annotations

import gc

# Whether this import turned the collector off (so `done()` turns it on).
_paused = gc.isenabled()
gc.disable()


def done() -> None:
    """The init is over: freeze what it made, collect again from here on."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
