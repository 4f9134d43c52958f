"""Inputs a hostile client sends on purpose: forged pagination cursors,
control characters, bodies that are JSON but not objects. Each answer is a
4xx in API.md's error body with nothing written, never a 5xx."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import timedelta

import pytest

from cashmob.clock import to_rfc3339
from cashmob.domain import Tally
from cashmob.service import badge
from cashmob.store import cursor as store_cursor
from tests.integration.test_api import activate, assert_error, call, new_campaign, pledge
from tests.unit.factories import NOW

# ---------------------------------------------------------------- cursors


def _b64(data) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _flip(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


def _listings(store):
    """Four listings with more than one page each: (path, query, sub, store scope)."""
    cid = new_campaign()["id"]
    for i in range(5):
        new_campaign()
        _, created, _ = pledge(
            cid, key=f"k{i}", email=f"b{i}@example.org", display_name=f"Backer {i}"
        )
        activate(store, cid, created["pledge"]["id"])
    backers = ",".join(sorted(("action_required", "active", "collected")))
    return cid, {
        "all campaigns": ("/campaigns", {}, None, "campaigns:*"),
        "live campaigns": ("/campaigns", {"status": "live"}, None, "campaigns:live"),
        "backers": (f"/campaigns/{cid}/backers", {}, None, f"pledges:{cid}:{backers}"),
        "owner's pledges": (f"/campaigns/{cid}/pledges", {}, "alice", f"pledges:{cid}:"),
    }


def _page(path, query, sub, cursor=None):
    query = {**query, "limit": "2", **({"cursor": cursor} if cursor is not None else {})}
    return call("GET", path, query=query, sub=sub)


def _items(body):
    (name,) = set(body) - {"next_cursor"}
    return [item.get("id") or item["pledged_at"] + item["name"] for item in body[name]]


def _walk(path, query, sub):
    seen, cursor = [], None
    while True:
        status, body, _ = _page(path, query, sub, cursor)
        assert status == 200, body
        seen += _items(body)
        cursor = body["next_cursor"]
        if cursor is None:
            return seen


LISTINGS = ["all campaigns", "live campaigns", "backers", "owner's pledges"]


@pytest.mark.parametrize("listing", LISTINGS)
def test_genuine_cursors_still_page_through_every_listing(gateway, store, listing):
    _, listings = _listings(store)
    path, query, sub, _ = listings[listing]
    seen = _walk(path, query, sub)
    status, everything, _ = call("GET", path, query={**query, "limit": "100"}, sub=sub)
    assert status == 200
    assert len(seen) == len(set(seen)) == len(_items(everything)) >= 5
    assert sorted(seen) == sorted(_items(everything))


def _forgeries(listings, listing, genuine):
    _, _, _, scope = listings[listing]
    mac_at = genuine.rindex(".") + 3
    payload_at = 5
    other = {"all campaigns": "live campaigns", "live campaigns": "all campaigns"}.get(
        listing, "backers" if listing != "backers" else "owner's pledges"
    )
    return {
        # Unsigned cursors in the store's own format: what a client could
        # forge before cursors were signed (a 500 from DynamoDB then).
        "wrong attribute name": store_cursor.encode({"nope": {"S": "x"}}, scope),
        "wrong attribute type": store_cursor.encode(
            {"campaign_id": {"N": "1"}, "pledge_id": {"N": "2"}}, scope
        ),
        "wrong value type": _b64({"k": {"campaign_id": {"S": 1}}, "s": scope}),
        "key not an object": _b64({"k": ["campaign_id"], "s": scope}),
        "json not an object": _b64([1, 2]),
        "not json": _b64(b"\xff\xfe not json"),
        "not base64": "!!!not-base64!!!",
        "not ascii": "cursor-\u00e9\u2603",
        "truncated": genuine[: len(genuine) // 2],
        "signature cut short": genuine[:-4],
        "signature removed": genuine.rsplit(".", 1)[0],
        "tampered signature": _flip(genuine, mac_at),
        "tampered payload": _flip(genuine, payload_at),
        "store cursor re-signed with a guess": store_cursor.sign(
            store_cursor.encode({"nope": {"S": "x"}}, scope), listing, b"guess"
        ),
        "from another listing": other,
    }


@pytest.mark.parametrize("listing", LISTINGS)
def test_forged_cursors_are_400_on_every_listing(gateway, store, listing):
    cid, listings = _listings(store)
    path, query, sub, _ = listings[listing]
    status, first, _ = _page(path, query, sub)
    assert status == 200 and first["next_cursor"]
    forgeries = _forgeries(listings, listing, first["next_cursor"])
    other_path, other_query, other_sub, _ = listings[forgeries["from another listing"]]
    forgeries["from another listing"] = _page(other_path, other_query, other_sub)[1]["next_cursor"]
    # The same listing of another campaign is another listing too.
    if "/backers" in path or "/pledges" in path:
        twin = new_campaign()["id"]
        for i in range(3):
            _, created, _ = pledge(twin, key=f"t{i}", email=f"t{i}@example.org")
            activate(store, twin, created["pledge"]["id"])
        twin_cursor = _page(path.replace(cid, twin), query, sub)[1]["next_cursor"]
        assert twin_cursor
        forgeries["from another campaign"] = twin_cursor
    before = store.list_campaigns(status=None, limit=100, after=None).items
    for name, forged in forgeries.items():
        assert forged and forged != first["next_cursor"], name
        status, body, _ = _page(path, query, sub, forged)
        assert status == 400, (name, body)
        assert_error(status, body, 400, "bad_request")
        assert body["error"]["details"] == [{"field": "cursor"}], name
    assert store.list_campaigns(status=None, limit=100, after=None).items == before


def test_an_empty_cursor_is_the_first_page(gateway, store):
    new_campaign()
    status, body, _ = call("GET", "/campaigns", query={"cursor": ""})
    assert status == 200 and len(body["campaigns"]) == 1


# ---------------------------------------------------------------- control characters

HOSTILE_TITLES = [
    "bell\x07",
    "nul\x00byte",
    "escape \x1b[31mred",
    "vertical\x0btab",
    "form\x0cfeed",
    "line\nbreak",
    "tab\there",
    "carriage\rreturn",
    "delete\x7f",
    "c1 next line\x85",
    "c1 csi\x9b",
    "lone surrogate \ud800",
    "not a character \ufffe",
]


def _campaign_body(**fields):
    return {
        "title": "Full-page ad in the FT",
        "goal": {"amount": 10_000, "currency": "gbp"},
        "deadline": to_rfc3339(NOW + timedelta(days=30)),
        **fields,
    }


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_control_characters_in_a_title_are_422_and_write_nothing(gateway, store, title):
    status, body, _ = call("POST", "/campaigns", body=_campaign_body(title=title), sub="alice")
    assert_error(status, body, 422, "validation_failed")
    assert [d["field"] for d in body["error"]["details"]] == ["title"]
    assert store.list_campaigns(status=None, limit=10, after=None).items == []


@pytest.mark.parametrize("text", ["nul\x00", "bell\x07", "c1\x85", "escape\x1b", "\ufffe"])
def test_control_characters_in_a_description_are_422(gateway, store, text):
    status, body, _ = call("POST", "/campaigns", body=_campaign_body(description=text), sub="alice")
    assert_error(status, body, 422, "validation_failed")
    assert store.list_campaigns(status=None, limit=10, after=None).items == []


def test_descriptions_and_messages_may_hold_tabs_and_line_breaks(gateway, store):
    text = "Line one\n\tindented\r\nline three"
    campaign = new_campaign(description=text)
    assert campaign["description"] == text
    status, created, _ = pledge(campaign["id"], message=text)
    assert status == 201, created


@pytest.mark.parametrize(
    "fields",
    [
        {"display_name": "Ada\x00"},
        {"display_name": "Ada\nLovelace"},
        {"display_name": "Ada\x9b"},
        {"message": "hello\x07"},
        {"message": "hello\x1b[2J"},
        {"email": "ada\x00@example.org"},
    ],
)
def test_control_characters_in_a_pledge_are_422_and_write_nothing(gateway, store, fields):
    cid = new_campaign()["id"]
    status, body, _ = pledge(cid, **fields)
    assert_error(status, body, 422, "validation_failed")
    assert store.pledges(cid, limit=10, after=None).items == []


def _storable(title):
    return not any(0xD800 <= ord(ch) <= 0xDFFF for ch in title)  # DynamoDB refuses these


def _parse_badge(svg: str):
    root = ET.fromstring(svg.encode("utf-8", "surrogatepass"))
    assert all(ch in "\t\n\r" or ord(ch) >= 0x20 for ch in svg)
    return root.find("{http://www.w3.org/2000/svg}title").text


@pytest.mark.parametrize("title", [t for t in HOSTILE_TITLES if _storable(t)])
def test_the_badge_parses_as_xml_whatever_the_stored_title(gateway, store, title):
    """Titles stored before input was checked (or by another writer) still
    give a well-formed badge: the badge drops what XML 1.0 cannot carry."""
    cid = new_campaign(title="placeholder")["id"]
    stored = store.get_campaign(cid)
    store.save_campaign(stored, replace(stored, title=title))
    assert store.get_campaign(cid).title == title
    status, svg, _ = call("GET", f"/campaigns/{cid}/badge.svg")
    assert status == 200
    assert _parse_badge(svg).startswith(title[:3])


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_the_badge_renderer_drops_what_xml_cannot_carry(gateway, store, title):
    campaign = store.get_campaign(new_campaign()["id"])
    svg = badge.render(replace(campaign, title=title), Tally(), NOW)
    assert _parse_badge(svg).startswith(title[:3])


# ---------------------------------------------------------------- bodies that are not objects

NOT_OBJECTS = {
    "array led by a valid body": None,  # filled in per route
    "empty array": [],
    "string": "junk",
    "number": 42,
    "null": None,
    "true": True,
}


def _not_objects(valid):
    bodies = {**NOT_OBJECTS, "array led by a valid body": [valid, "junk"]}
    raws = {name: json.dumps(body) for name, body in bodies.items()}
    raws["number too large to read"] = "1" * 5000
    raws["integer too long inside an object"] = (
        json.dumps(valid)[:-1] + ', "x": ' + "9" * 5000 + "}"
    )
    return raws


@pytest.mark.parametrize("name", [*NOT_OBJECTS, "number too large to read"])
def test_a_campaign_body_that_is_not_an_object_is_422_and_writes_nothing(gateway, store, name):
    raw = _not_objects(_campaign_body())[name]
    status, body, _ = call("POST", "/campaigns", raw_body=raw, sub="alice")
    assert_error(status, body, 422, "validation_failed")
    assert store.list_campaigns(status=None, limit=10, after=None).items == []


def test_an_integer_too_long_to_read_is_422_not_500(gateway, store):
    raw = _not_objects(_campaign_body())["integer too long inside an object"]
    status, body, _ = call("POST", "/campaigns", raw_body=raw, sub="alice")
    assert_error(status, body, 422, "validation_failed")
    assert store.list_campaigns(status=None, limit=10, after=None).items == []


@pytest.mark.parametrize("name", [*NOT_OBJECTS, "number too large to read"])
def test_a_pledge_body_that_is_not_an_object_is_422_and_writes_nothing(gateway, store, name):
    cid = new_campaign()["id"]
    valid = {"amount": 1000, "currency": "gbp", "email": "ada@example.org"}
    raw = _not_objects(valid)[name]
    status, body, _ = call(
        "POST",
        f"/campaigns/{cid}/pledges",
        raw_body=raw,
        headers={"Idempotency-Key": "k-1"},
    )
    assert_error(status, body, 422, "validation_failed")
    assert store.pledges(cid, limit=10, after=None).items == []
    # The key was not spent: the valid body is then accepted under it.
    status, created, _ = call(
        "POST", f"/campaigns/{cid}/pledges", body=valid, headers={"Idempotency-Key": "k-1"}
    )
    assert status == 201, created


def test_an_unauthenticated_array_body_is_still_401(gateway, store):
    status, body, _ = call("POST", "/campaigns", body=[_campaign_body()])
    assert_error(status, body, 401, "unauthorized")


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        ("[1]", 422, "validation_failed"),
        ('"junk"', 422, "validation_failed"),
        ("[", 400, "invalid_json"),
    ],
)
def test_routes_without_a_body_refuse_one_that_is_not_an_object(gateway, raw, status, code):
    """The rule is one for every route: a non-empty body on POST, PUT, PATCH or
    DELETE is a JSON object. (Routes that take no body used to ignore any.)"""
    cid = new_campaign()["id"]
    answer, body, _ = call("POST", f"/campaigns/{cid}/cancel", raw_body=raw, sub="alice")
    assert_error(answer, body, status, code)
    assert call("GET", f"/campaigns/{cid}")[1]["status"] == "live"
    _, created, _ = pledge(cid)
    pid, token = created["pledge"]["id"], created["pledge_token"]
    path = f"/campaigns/{cid}/pledges/{pid}"
    answer, body, _ = call("DELETE", path, raw_body=raw, headers={"X-Pledge-Token": token})
    assert_error(answer, body, status, code)
    assert call("GET", path, headers={"X-Pledge-Token": token})[1]["status"] == "pending"


def test_routes_without_a_body_ignore_an_object_as_before(gateway):
    cid = new_campaign()["id"]
    status, body, _ = call("POST", f"/campaigns/{cid}/cancel", raw_body='{"x": 1}', sub="alice")
    assert status == 200 and body["status"] == "cancelled"


def test_a_body_on_a_read_is_ignored_as_before(gateway):
    cid = new_campaign()["id"]
    status, body, _ = call("GET", f"/campaigns/{cid}", raw_body="[1]")
    assert status == 200 and body["id"] == cid


# ---------------------------------------------------------------- the request guard


def test_bodies_in_another_media_type_are_400_and_text_plain_is_json(gateway, store):
    raw = json.dumps(_campaign_body())
    for media in ("application/xml", "multipart/form-data; boundary=x", "image/png"):
        status, body, response = call(
            "POST", "/campaigns", raw_body=raw, headers={"Content-Type": media}, sub="alice"
        )
        assert_error(status, body, 400, "unsupported_content_type")
        assert response["headers"]["Access-Control-Allow-Origin"] == "*"
    assert store.list_campaigns(status=None, limit=10, after=None).items == []
    headers = {"Content-Type": "text/plain;charset=UTF-8"}  # a browser avoiding a preflight
    status, created, _ = call("POST", "/campaigns", raw_body=raw, headers=headers, sub="alice")
    assert status == 201 and created["title"] == _campaign_body()["title"]


def test_base64_bodies_are_decoded_and_bad_base64_is_400(gateway, store):
    raw = base64.b64encode(json.dumps(_campaign_body(title="Zoë 🎪")).encode()).decode()
    status, body, _ = call("POST", "/campaigns", raw_body=raw[:-2] + "!!", base64=True, sub="a")
    assert_error(status, body, 400, "bad_encoding")
    assert store.list_campaigns(status=None, limit=10, after=None).items == []
    status, created, _ = call("POST", "/campaigns", raw_body=raw, base64=True, sub="alice")
    assert status == 201 and created["title"] == "Zoë 🎪"


def test_the_size_limit_counts_the_decoded_bytes(gateway, store, settings):
    def encoded(description):
        raw = json.dumps(_campaign_body(description=description), ensure_ascii=False).encode()
        return len(raw), base64.b64encode(raw).decode()

    room = settings.max_body_bytes - encoded("")[0]
    (fits, fitting), (over, too_big) = encoded("é" * (room // 2)), encoded("é" * (room // 2 + 1))
    assert fits <= settings.max_body_bytes < over and len(fitting) > settings.max_body_bytes
    status, body, _ = call("POST", "/campaigns", raw_body=too_big, base64=True, sub="alice")
    assert_error(status, body, 413, "payload_too_large")
    assert store.list_campaigns(status=None, limit=10, after=None).items == []
    status, body, _ = call("POST", "/campaigns", raw_body=fitting, base64=True, sub="alice")
    assert_error(status, body, 422, "validation_failed")  # read, then held to 5,000 characters
    assert [d["field"] for d in body["error"]["details"]] == ["description"]


@pytest.mark.parametrize("raw", ["[1]", "[", '"junk"', "1" * 5000])
def test_an_organizer_route_is_401_before_its_body_is_read(gateway, raw):
    cid = new_campaign()["id"]
    for path in ("/campaigns", f"/campaigns/{cid}/cancel"):
        status, body, _ = call("POST", path, raw_body=raw)
        assert_error(status, body, 401, "unauthorized")


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "/campaigns"), ("DELETE", "/campaigns/cmp_x"), ("GET", "/campaigns/cmp_x/cancel")],
)
def test_another_method_on_a_route_is_405(gateway, method, path):
    status, body, _ = call(method, path, sub="alice")
    assert_error(status, body, 405, "method_not_allowed")
    status, body, _ = call(method, "/nowhere" + path, sub="alice")
    assert_error(status, body, 404, "not_found")


@pytest.mark.parametrize(
    ("raw", "encoded"), [("x" * (512 * 1024 + 1), False), ("not base64!", True)]
)
def test_the_webhook_refuses_bodies_the_guard_refuses_with_400(services, raw, encoded):
    from cashmob_local import template
    from tests.events import FakeContext, http_event

    webhook = template.load_handler("StripeWebhookFunction")
    event = http_event(
        "POST",
        "/webhooks/stripe",
        raw_body=raw,
        headers={"Stripe-Signature": "t=1,v1=00"},
        base64=encoded,
    )
    response = webhook(event, FakeContext())
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["code"] == "bad_request"
