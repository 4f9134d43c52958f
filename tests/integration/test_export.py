"""The organizer's CSV export: every pledge, with a header row, only for the
owner, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

from cashmob.domain import Backer, Money
from tests.integration.test_api import activate, assert_error, call, new_campaign, pledge
from tests.unit.factories import pledge as make_pledge

HEADER = [
    "id",
    "created_at",
    "status",
    "amount",
    "charged",
    "currency",
    "email",
    "display_name",
    "anonymous",
    "message",
]


def _csv(cid, sub="alice"):
    status, body, response = call("GET", f"/campaigns/{cid}/pledges.csv", sub=sub)
    return status, body, response


def test_the_owner_downloads_every_pledge_as_csv(gateway, store):
    cid = new_campaign()["id"]
    _, first, _ = pledge(cid, key="k1", display_name="Ada", message='=HYPERLINK("x")')
    _, second, _ = pledge(cid, key="k2", amount=700, display_name="Zoë 🎉", anonymous=True)
    activate(store, cid, first["pledge"]["id"])
    status, text, response = _csv(cid)
    assert status == 200, text
    assert response["headers"]["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == HEADER
    by_id = {row[0]: dict(zip(HEADER, row, strict=True)) for row in rows[1:]}
    assert set(by_id) == {first["pledge"]["id"], second["pledge"]["id"]}
    ada = by_id[first["pledge"]["id"]]
    assert (ada["status"], ada["amount"], ada["charged"], ada["currency"]) == (
        "active",
        "1000",
        "0",
        "gbp",
    )
    assert (ada["email"], ada["display_name"]) == ("ada@example.org", "Ada")
    assert ada["message"] == '\'=HYPERLINK("x")'  # never a formula in a spreadsheet
    zoe = by_id[second["pledge"]["id"]]
    assert (zoe["display_name"], zoe["anonymous"], zoe["amount"]) == ("Zoë 🎉", "true", "700")


def test_only_the_owner_may_download_it(gateway):
    cid = new_campaign()["id"]
    status, body, _ = _csv(cid, sub="mallory")
    assert_error(status, body, 403)
    status, body, _ = call("GET", f"/campaigns/{cid}/pledges.csv")
    assert_error(status, body, 401)
    status, body, _ = _csv("cmp_nope")
    assert_error(status, body, 404)


def test_a_large_campaign_exports_every_pledge_once(gateway, store):
    cid = new_campaign()["id"]
    template = make_pledge(campaign_id=cid)
    for n in range(1203):  # more than two chunks of 500 rows
        store.create_pledge(
            replace(
                template,
                id=f"plg_{n:05d}",
                amount=Money(300 + n, "gbp"),
                backer=Backer(email=f"b{n}@example.org"),
            )
        )
    status, text, _ = _csv(cid)
    assert status == 200
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == HEADER and rows.count(HEADER) == 1
    assert sorted(row[0] for row in rows[1:]) == [f"plg_{n:05d}" for n in range(1203)]
    assert sum(int(row[3]) for row in rows[1:]) == sum(300 + n for n in range(1203))
