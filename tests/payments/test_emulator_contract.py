"""stripe-python, unchanged, against the emulator: every supported call, every
test PaymentMethod of API.md, idempotency, events and their signatures, and
the shape of every object compared with Stripe's own fixtures."""

from __future__ import annotations

import json
import time

import pytest
import stripe

from cashmob_local.stripe_emulator import CARDS, StripeEmulator
from tests.payments.conftest import HANDBOOK, SUBSET, client_for
from tests.servers import Receiver, serving

JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer"}


def _kind(value):
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    return JSON_TYPES.get(type(value), type(value).__name__)


def shape_problems(ours: dict, reference: dict, path: str = "", *, top: bool = True) -> list[str]:
    """Our object must carry every field of Stripe's fixture (and, at the top,
    no other); a non-null value must have the fixture's type where the fixture
    has one. Nested objects may omit fields Stripe fills only for features we
    do not emulate, but may not invent any (an empty fixture object, like
    `payment_method_options: {}`, says nothing about its fields)."""
    problems = []
    missing = reference.keys() - ours.keys()
    extra = ours.keys() - reference.keys()
    if top and missing:
        problems.append(f"{path or '.'}: missing {sorted(missing)}")
    if extra and (top or reference):
        problems.append(f"{path or '.'}: not in Stripe's fixture {sorted(extra)}")
    for key in ours.keys() & reference.keys():
        mine, theirs = ours[key], reference[key]
        if mine is None or theirs is None:
            continue
        if _kind(mine) != _kind(theirs):
            problems.append(f"{path}.{key}: {_kind(mine)} where Stripe has {_kind(theirs)}")
        elif isinstance(mine, dict) and key not in ("metadata", "data"):
            problems += shape_problems(mine, theirs, f"{path}.{key}", top=False)
    return problems


def as_json(obj) -> dict:
    return json.loads(str(obj)) if not isinstance(obj, dict) else obj


def test_the_subset_in_the_repo_is_stripes_fixture():
    if not HANDBOOK.exists():
        pytest.skip("the handbook's fixtures3.json is not beside this clone")
    full = json.loads(HANDBOOK.read_text())["resources"]
    subset = json.loads(SUBSET.read_text())["resources"]
    assert subset == {name: full[name] for name in subset}


def _setup(client, pm="pm_card_visa", **extra):
    customer = client.customers.create(params={"email": "ada@example.org"})
    intent = client.setup_intents.create(
        params={
            "customer": customer.id,
            "usage": "off_session",
            "metadata": {"pledge_id": "plg_1"},
            **extra,
        }
    )
    return customer, intent


def test_every_object_has_stripes_shape(client, emulator, stripe_fixtures):
    customer, seti = _setup(client)
    seti = client.setup_intents.confirm(seti.id, params={"payment_method": "pm_card_visa"})
    hold = client.payment_intents.create(
        params={"amount": 1500, "currency": "gbp", "capture_method": "manual"}
    )
    hold = client.payment_intents.confirm(hold.id, params={"payment_method": "pm_card_visa"})
    captured = client.payment_intents.capture(hold.id)
    refund = client.refunds.create(params={"payment_intent": captured.id})
    event = client.events.list(params={"limit": 1}).data[0]
    charge = emulator.charges[captured.latest_charge]
    objects = {
        "customer": customer,
        "setup_intent": seti,
        "payment_intent": captured,
        "refund": refund,
        "event": event,
        "charge": charge,
    }
    for name, obj in objects.items():
        data = as_json(obj)
        reference = stripe_fixtures[name]
        assert data["object"] == reference["object"]
        assert data["id"].split("_")[0] == reference["id"].split("_")[0]
        assert shape_problems(data, reference) == [], name
    # Events carry snapshots of these same objects, with the same shape.
    for stripe_event in emulator.events:
        inner = stripe_event["data"]["object"]
        assert shape_problems(inner, stripe_fixtures[inner["object"]]) == [], stripe_event["type"]


def test_shape_check_catches_a_wrong_type_or_a_missing_field(stripe_fixtures):
    good = dict(stripe_fixtures["refund"])
    assert shape_problems(good, stripe_fixtures["refund"]) == []
    assert shape_problems({**good, "amount": "100"}, stripe_fixtures["refund"])
    del good["charge"]
    assert shape_problems(good, stripe_fixtures["refund"])


# ---------------------------------------------------------------- test cards


@pytest.mark.parametrize(
    ("pm", "status", "error"),
    [
        ("pm_card_visa", "succeeded", None),
        ("pm_card_mastercard", "succeeded", None),
        ("pm_card_chargeDeclined", "requires_payment_method", "card_declined"),
        ("pm_card_chargeDeclinedInsufficientFunds", "requires_payment_method", "card_declined"),
        ("pm_card_chargeCustomerFail", "succeeded", None),
        ("pm_card_authenticationRequired", "requires_action", None),
    ],
)
def test_saving_each_test_card(client, pm, status, error):
    _, intent = _setup(client)
    if error:
        with pytest.raises(stripe.CardError) as raised:
            client.setup_intents.confirm(intent.id, params={"payment_method": pm})
        assert raised.value.code == error
        assert raised.value.http_status == 402
    else:
        client.setup_intents.confirm(intent.id, params={"payment_method": pm})
    assert client.setup_intents.retrieve(intent.id).status == status


@pytest.mark.parametrize(
    ("pm", "on_session", "off_session"),
    [
        ("pm_card_visa", "succeeded", "succeeded"),
        ("pm_card_mastercard", "succeeded", "succeeded"),
        ("pm_card_chargeDeclined", "card_declined", "card_declined"),
        ("pm_card_chargeDeclinedInsufficientFunds", "card_declined", "card_declined"),
        ("pm_card_chargeCustomerFail", "card_declined", "card_declined"),
        ("pm_card_authenticationRequired", "requires_action", "authentication_required"),
    ],
)
def test_charging_each_test_card(client, pm, on_session, off_session):
    customer = client.customers.create(params={})
    for off, expected in ((False, on_session), (True, off_session)):
        params = {
            "amount": 1000,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": pm,
            "confirm": True,
            "off_session": off,
        }
        if expected in ("succeeded", "requires_action"):
            assert client.payment_intents.create(params=params).status == expected
        else:
            with pytest.raises(stripe.CardError) as raised:
                client.payment_intents.create(params=params)
            assert raised.value.code == expected
            intent = raised.value.error.payment_intent
            assert intent["status"] == "requires_payment_method"
            assert intent["last_payment_error"]["code"] == expected
            assert intent["client_secret"].startswith(intent["id"] + "_secret_")


def test_api_md_test_cards_are_all_emulated():
    assert set(CARDS) == {
        "pm_card_visa",
        "pm_card_mastercard",
        "pm_card_chargeDeclined",
        "pm_card_chargeDeclinedInsufficientFunds",
        "pm_card_chargeCustomerFail",
        "pm_card_authenticationRequired",
    }


def test_authentication_then_completion(client):
    intent = client.payment_intents.create(
        params={"amount": 700, "currency": "eur", "capture_method": "manual"}
    )
    intent = client.payment_intents.confirm(
        intent.id, params={"payment_method": "pm_card_authenticationRequired"}
    )
    assert intent.status == "requires_action"
    assert intent.next_action.type == "use_stripe_sdk"
    intent = client.payment_intents.confirm(intent.id)  # the backer passed 3-D Secure
    assert intent.status == "requires_capture"
    assert intent.amount_capturable == 700


# ---------------------------------------------------------------- state machines


def test_payment_intent_status_machine(client):
    intent = client.payment_intents.create(
        params={"amount": 1000, "currency": "gbp", "capture_method": "manual"}
    )
    assert intent.status == "requires_payment_method"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.payment_intents.capture(intent.id)
    assert raised.value.code == "payment_intent_unexpected_state"
    intent = client.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "gbp",
            "capture_method": "manual",
            "payment_method": "pm_card_visa",
        }
    )
    assert intent.status == "requires_confirmation"
    intent = client.payment_intents.confirm(intent.id)
    assert (intent.status, intent.amount_capturable) == ("requires_capture", 1000)
    intent = client.payment_intents.capture(intent.id)
    assert (intent.status, intent.amount_received) == ("succeeded", 1000)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.payment_intents.cancel(intent.id)
    assert raised.value.code == "payment_intent_unexpected_state"
    other = client.payment_intents.create(params={"amount": 500, "currency": "gbp"})
    other = client.payment_intents.cancel(other.id)
    assert other.status == "canceled" and other.canceled_at


def test_setup_intent_cancel_and_missing_objects(client):
    _, intent = _setup(client)
    assert client.setup_intents.cancel(intent.id).status == "canceled"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.setup_intents.cancel(intent.id)
    assert raised.value.code == "setup_intent_unexpected_state"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.payment_intents.retrieve("pi_missing")
    assert raised.value.http_status == 404 and raised.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.payment_intents.create(params={"currency": "gbp"})
    assert raised.value.code == "parameter_missing"


def test_list_payment_intents_by_customer_with_pagination(client):
    customer = client.customers.create(params={})
    made = [
        client.payment_intents.create(
            params={"amount": 100 + i, "currency": "usd", "customer": customer.id}
        ).id
        for i in range(5)
    ]
    client.payment_intents.create(params={"amount": 999, "currency": "usd"})  # someone else's
    first = client.payment_intents.list(params={"customer": customer.id, "limit": 2})
    assert len(first.data) == 2 and first.has_more
    seen = [i.id for i in first.auto_paging_iter()]
    assert sorted(seen) == sorted(made)


def test_refunds_emit_charge_refunded(client, emulator):
    intent = client.payment_intents.create(
        params={
            "amount": 1200,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    refund = client.refunds.create(params={"payment_intent": intent.id})
    assert (refund.status, refund.amount, refund.payment_intent) == ("succeeded", 1200, intent.id)
    refunded = [e for e in emulator.events if e["type"] == "charge.refunded"]
    assert refunded and refunded[-1]["data"]["object"]["refunded"] is True
    with pytest.raises(stripe.InvalidRequestError):
        client.refunds.create(params={"payment_intent": intent.id})


def test_bad_api_key_is_401(emulator):
    bad = stripe.StripeClient(
        "sk_test_wrong", base_addresses={"api": emulator.url}, http_client=stripe.UrllibClient()
    )
    with pytest.raises(stripe.AuthenticationError):
        bad.v1.customers.create(params={})


# ---------------------------------------------------------------- idempotency


def test_idempotent_replay_returns_the_first_response(client, emulator):
    options = {"idempotency_key": "pledge:plg_1:hold"}
    params = {"amount": 1000, "currency": "gbp", "capture_method": "manual"}
    first = client.payment_intents.create(params=params, options=options)
    again = client.payment_intents.create(params=params, options=options)
    assert again.id == first.id
    assert len(emulator.payment_intents) == 1


def test_idempotent_replay_of_a_decline_is_the_same_decline(client, emulator):
    options = {"idempotency_key": "pledge:plg_2:charge:1"}
    params = {
        "amount": 1000,
        "currency": "gbp",
        "payment_method": "pm_card_chargeDeclined",
        "confirm": True,
    }
    ids = []
    for _ in range(2):
        with pytest.raises(stripe.CardError) as raised:
            client.payment_intents.create(params=params, options=options)
        ids.append(raised.value.error.payment_intent["id"])
    assert ids[0] == ids[1] and len(emulator.payment_intents) == 1


def test_a_reused_key_with_other_params_is_an_idempotency_error(client):
    options = {"idempotency_key": "pledge:plg_3:customer"}
    client.customers.create(params={"email": "a@example.org"}, options=options)
    with pytest.raises(stripe.IdempotencyError):
        client.customers.create(params={"email": "b@example.org"}, options=options)


# ---------------------------------------------------------------- events and webhooks


def test_every_state_change_emits_its_event(client, emulator):
    _, seti = _setup(client)
    client.setup_intents.confirm(seti.id, params={"payment_method": "pm_card_visa"})
    _, failing = _setup(client)
    with pytest.raises(stripe.CardError):
        client.setup_intents.confirm(
            failing.id, params={"payment_method": "pm_card_chargeDeclined"}
        )
    hold = client.payment_intents.create(
        params={
            "amount": 900,
            "currency": "gbp",
            "capture_method": "manual",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    client.payment_intents.capture(hold.id)
    released = client.payment_intents.create(
        params={
            "amount": 900,
            "currency": "gbp",
            "capture_method": "manual",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    client.payment_intents.cancel(released.id)
    with pytest.raises(stripe.CardError):
        client.payment_intents.create(
            params={
                "amount": 900,
                "currency": "gbp",
                "payment_method": "pm_card_chargeDeclined",
                "confirm": True,
            }
        )
    client.payment_intents.create(
        params={
            "amount": 900,
            "currency": "gbp",
            "payment_method": "pm_card_authenticationRequired",
            "confirm": True,
        }
    )
    client.refunds.create(params={"payment_intent": hold.id})
    types = {e.type for e in client.events.list(params={"limit": 100}).auto_paging_iter()}
    assert {
        "setup_intent.succeeded",
        "setup_intent.setup_failed",
        "payment_intent.amount_capturable_updated",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
        "payment_intent.requires_action",
        "charge.refunded",
    } <= types
    one = client.events.list(params={"type": "payment_intent.canceled"}).data[0]
    assert client.events.retrieve(one.id).data.object.id == released.id


def test_deliveries_are_signed_like_stripe(client, emulator, receiver):
    _, seti = _setup(client)
    client.setup_intents.confirm(seti.id, params={"payment_method": "pm_card_visa"})
    assert emulator.wait_for_deliveries(10)
    assert len(receiver.deliveries) == len(emulator.events)
    for payload, header in receiver.deliveries:
        event = stripe.Webhook.construct_event(payload, header, "whsec_local")
        assert event.id.startswith("evt_")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            receiver.deliveries[0][0], receiver.deliveries[0][1], "whsec_other"
        )


def test_failed_deliveries_are_retried_with_backoff():
    receiver = Receiver(fail_first=3)
    with serving(receiver) as hook_url:
        emulator = StripeEmulator(forward_to=hook_url, delivery_workers=1)
        with serving(emulator) as url:
            client_for(url).v1.customers.create(params={})
            started = time.monotonic()
            assert emulator.wait_for_deliveries(20)
            waited = time.monotonic() - started
        emulator.stop()
    assert [json.loads(p)["type"] for p, _ in receiver.deliveries] == ["customer.created"]
    assert waited >= 0.25 + 0.5 + 1.0  # three failures, each retried later than the last


def test_only_enabled_event_types_are_delivered_and_all_are_recorded(receiver):
    # As a webhook endpoint's enabled events: the Customer and the intent's
    # creation are not delivered, its success is; the events list keeps all.
    emulator = StripeEmulator(forward_to=receiver.url, enabled_events={"setup_intent.succeeded"})
    with serving(emulator) as url:
        client = client_for(url).v1
        customer = client.customers.create(params={})
        intent = client.setup_intents.create(
            params={"customer": customer.id, "usage": "off_session"}
        )
        client.setup_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
        assert emulator.wait_for_deliveries(10)
        recorded = [event.type for event in client.events.list(params={"limit": 100})]
    emulator.stop()
    assert [json.loads(p)["type"] for p, _ in receiver.deliveries] == ["setup_intent.succeeded"]
    assert {"customer.created", "setup_intent.created", "setup_intent.succeeded"} <= set(recorded)


@pytest.mark.parametrize(
    "event_type",
    ["customer.created", "setup_intent.created", "payment_intent.created", "charge.succeeded"],
)
def test_what_the_local_stack_does_not_subscribe_to_the_webhook_ignores(event_type):
    # So leaving these out of the deliveries (`cashmob local` subscribes to
    # ENABLED_EVENTS) loses nothing: the webhook answers them "ignored".
    from cashmob.service.webhooks import ENABLED_EVENTS, process

    assert event_type not in ENABLED_EVENTS
    meta = {"campaign_id": "cmp_1", "pledge_id": "plg_1"}
    event = {"id": "evt_1", "type": event_type, "data": {"object": {"metadata": meta}}}
    assert process(None, event) == "ignored"  # type: ignore[arg-type]


# ---------------------------------------------------------------- faults


def test_rate_limit_answers_stripes_429_per_endpoint(client, emulator):
    emulator.faults.update({"rate_limit": 3})
    for _ in range(3):
        client.customers.create(params={})
    with pytest.raises(stripe.RateLimitError) as raised:
        client.customers.create(params={})
    assert raised.value.http_status == 429
    assert raised.value.json_body["error"]["code"] == "rate_limit"
    client.payment_intents.create(params={"amount": 100, "currency": "usd"})  # another endpoint


def test_injected_500s_are_not_stored_under_the_key(client, emulator):
    emulator.faults.update({"share_500": 1.0})
    options = {"idempotency_key": "pledge:plg_9:customer"}
    with pytest.raises(stripe.APIError):
        client.customers.create(params={}, options=options)
    emulator.faults.update({"share_500": 0.0})
    assert client.customers.create(params={}, options=options).id.startswith("cus_")
    assert len(emulator.customers) == 1


def test_webhook_duplication_and_delay(receiver):
    emulator = StripeEmulator(forward_to=receiver.url, seed=1)
    emulator.faults.update({"webhook_duplicate": 1.0, "webhook_delay_ms": 50})
    with serving(emulator) as url:
        for _ in range(5):
            client_for(url).v1.customers.create(params={})
        assert emulator.wait_for_deliveries(10)
    emulator.stop()
    ids = [json.loads(p)["id"] for p, _ in receiver.deliveries]
    assert len(ids) == 10 and len(set(ids)) == 5


def test_fault_knobs_over_http(emulator):
    import urllib.request

    request = urllib.request.Request(
        emulator.url + "/_emulator/faults",
        data=json.dumps({"share_429": 0.5, "latency_ms": 1}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        knobs = json.loads(response.read())
    assert knobs["share_429"] == 0.5 and emulator.faults.latency_ms == 1
