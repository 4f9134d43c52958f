"""The CSV export streams (API.md `pledges.csv`): 10,000 pledges go out
chunk by chunk, the use case never holding more than a page of them."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import replace

from cashmob.domain import Backer, Money, Pledge
from cashmob.service.export import pledges_csv
from tests.service.conftest import ORGANIZER
from tests.unit.factories import pledge as make_pledge

N = 10_000
PAGE = 500  # the store's page (store.pledges.all_pledges) and the export's chunk


class Lazy:
    """The campaign's pledges made one at a time as the export reads them,
    counting how many it has taken."""

    def __init__(self, store) -> None:
        self.store, self.taken = store, 0

    def __getattr__(self, name):
        return getattr(self.store, name)

    def all_pledges(self, campaign_id: str) -> Iterator[Pledge]:
        template = make_pledge(campaign_id=campaign_id)
        for n in range(N):
            self.taken += 1
            yield replace(
                template,
                id=f"plg_{n:05d}",
                amount=Money(300 + n, "gbp"),
                backer=Backer(email=f"b{n}@example.org"),
            )


def test_ten_thousand_pledges_stream_a_page_at_a_time(world):
    cid = world.campaign()
    lazy = Lazy(world.store)
    world.svc.store = lazy
    rows = 0
    ids: set[str] = set()
    for chunk in pledges_csv(world.svc, cid, ORGANIZER):
        got = [r for r in csv.reader(io.StringIO(chunk)) if r and r[0] != "id"]
        rows += len(got)
        ids.update(r[0] for r in got)
        # Never more than a page read ahead of what was already sent.
        assert lazy.taken - rows <= PAGE, (lazy.taken, rows)
        assert len(chunk) < PAGE * 200  # a chunk is a page of rows, not the file
    assert rows == N and len(ids) == N and lazy.taken == N
