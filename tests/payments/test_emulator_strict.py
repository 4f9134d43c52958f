"""The emulator refuses what Stripe refuses on the one API version it speaks:
parameters checked against stripe-python's own generated types for each
endpoint, the version pinned, refusals never stored under the key. Every call
goes through stripe-python directly (not the product's gateway)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass

import pytest
import stripe

from cashmob_local.stripe_emulator import API_VERSION, StripeEmulator, schema
from tests.payments.conftest import client_for
from tests.servers import serving


@pytest.fixture
def strict():
    emulator = StripeEmulator(seed=11, delivery_workers=1)
    with serving(emulator) as url:
        emulator.url = url
        yield emulator
    emulator.stop()


@pytest.fixture
def v1(strict):
    return client_for(strict.url).v1


@dataclass
class World:
    customer: str
    seti: str
    open_pi: str
    hold: str
    paid: str
    refunded_pi: str
    refund: str
    charge: str
    event: str
    account: str = ""  # Connect: an onboarded Express account
    transfer: str = ""  # to it


@pytest.fixture
def world(v1, strict) -> World:
    """One object of each kind, made with valid requests."""
    customer = v1.customers.create(params={"email": "ada@example.org"}).id
    seti = v1.setup_intents.create(params={"customer": customer, "usage": "off_session"}).id
    open_pi = v1.payment_intents.create(
        params={"amount": 1000, "currency": "gbp", "customer": customer}
    ).id
    hold = v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "gbp",
            "capture_method": "manual",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    ).id

    def paid_intent() -> stripe.PaymentIntent:
        return v1.payment_intents.create(
            params={
                "amount": 1200,
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": True,
            }
        )

    paid, refunded = paid_intent(), paid_intent()
    refund = v1.refunds.create(params={"payment_intent": refunded.id}).id
    event = v1.events.list(params={"limit": 1}).data[0].id
    world = World(
        customer, seti, open_pi, hold, paid.id, refunded.id, refund, paid.latest_charge, event
    )
    world.account = v1.accounts.create(params={"type": "express"}).id
    strict.complete_onboarding(world.account)
    world.transfer = v1.transfers.create(
        params={"amount": 1000, "currency": "gbp", "destination": world.account}
    ).id
    return world


# Each endpoint the emulator serves, called through stripe-python with valid
# parameters plus `extra`.
CALLS = {
    "create_customer": lambda v1, w, x: v1.customers.create(params={"email": "a@b.org", **x}),
    "get_customer": lambda v1, w, x: v1.customers.retrieve(w.customer, params=x),
    # Erasure: an empty email unsets it (params.EMPTYABLE_DESPITE_TYPES).
    "update_customer": lambda v1, w, x: v1.customers.update(
        w.customer, params={"email": "", **x}, options={"idempotency_key": "erase"}
    ),
    "create_setup_intent": lambda v1, w, x: v1.setup_intents.create(
        params={"customer": w.customer, "usage": "off_session", **x}
    ),
    "get_setup_intent": lambda v1, w, x: v1.setup_intents.retrieve(w.seti, params=x),
    "confirm_setup_intent": lambda v1, w, x: v1.setup_intents.confirm(
        w.seti, params={"payment_method": "pm_card_visa", **x}
    ),
    "cancel_setup_intent": lambda v1, w, x: v1.setup_intents.cancel(w.seti, params=x),
    "create_payment_intent": lambda v1, w, x: v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "gbp",
            "capture_method": "manual",
            "allowed_payment_method_types": ["card"],
            "metadata": {"pledge_id": "plg_1"},
            **x,
        }
    ),
    "list_payment_intents": lambda v1, w, x: v1.payment_intents.list(
        params={"customer": w.customer, "limit": 3, **x}
    ),
    "get_payment_intent": lambda v1, w, x: v1.payment_intents.retrieve(w.open_pi, params=x),
    "update_payment_intent": lambda v1, w, x: v1.payment_intents.update(
        w.open_pi, params={"metadata": {"needs_backer": "true"}, **x}
    ),
    "confirm_payment_intent": lambda v1, w, x: v1.payment_intents.confirm(
        w.open_pi, params={"payment_method": "pm_card_visa", **x}
    ),
    "capture_payment_intent": lambda v1, w, x: v1.payment_intents.capture(
        w.hold, params={"amount_to_capture": 800, **x}
    ),
    "cancel_payment_intent": lambda v1, w, x: v1.payment_intents.cancel(
        w.open_pi, params={"cancellation_reason": "abandoned", **x}
    ),
    "create_refund": lambda v1, w, x: v1.refunds.create(
        params={"payment_intent": w.paid, "amount": 200, **x}
    ),
    "get_refund": lambda v1, w, x: v1.refunds.retrieve(w.refund, params=x),
    "list_refunds": lambda v1, w, x: v1.refunds.list(
        params={"payment_intent": w.refunded_pi, "limit": 5, **x}
    ),
    "get_charge": lambda v1, w, x: v1.charges.retrieve(w.charge, params=x),
    "get_event": lambda v1, w, x: v1.events.retrieve(w.event, params=x),
    "list_events": lambda v1, w, x: v1.events.list(
        params={"limit": 2, "type": "payment_intent.*", **x}
    ),
    "create_account": lambda v1, w, x: v1.accounts.create(
        params={"type": "express", "country": "GB", **x}
    ),
    "get_account": lambda v1, w, x: v1.accounts.retrieve(w.account, params=x),
    "create_account_link": lambda v1, w, x: v1.account_links.create(
        params={
            "account": w.account,
            "type": "account_onboarding",
            "refresh_url": "https://example.org/r",
            "return_url": "https://example.org/d",
            **x,
        }
    ),
    "create_transfer": lambda v1, w, x: v1.transfers.create(
        params={"amount": 500, "currency": "gbp", "destination": w.account, **x}
    ),
    "list_transfers": lambda v1, w, x: v1.transfers.list(
        params={"destination": w.account, "limit": 3, **x}
    ),
    "get_transfer": lambda v1, w, x: v1.transfers.retrieve(w.transfer, params=x),
    "create_transfer_reversal": lambda v1, w, x: v1.transfers.reversals.create(
        w.transfer, params={"amount": 100, **x}
    ),
}


def test_every_route_the_emulator_serves_is_covered_here():
    served = {name for _, _, name in StripeEmulator.ROUTES}
    assert served == set(schema.SDK_METHODS) == set(CALLS)


@pytest.mark.parametrize("endpoint", sorted(CALLS))
def test_a_valid_request_passes_the_checker(v1, world, strict, endpoint):
    CALLS[endpoint](v1, world, {})
    summary = strict.requests_summary()
    assert summary["refused"] == 0, summary["refused_by_code"]
    assert summary["versions"] == {API_VERSION: summary["total"]}


@pytest.mark.parametrize("endpoint", sorted(CALLS))
def test_a_made_up_parameter_is_refused_on_every_endpoint(v1, world, strict, endpoint):
    events = len(strict.events)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        CALLS[endpoint](v1, world, {"made_up_param": "1"})
    error = raised.value
    assert error.http_status == 400
    assert error.code == "parameter_unknown"
    assert error.param == "made_up_param"
    assert error.user_message == "Received unknown parameter: made_up_param"
    assert len(strict.events) == events  # refused before anything executed
    assert strict.requests_summary()["refused_by_code"] == {"parameter_unknown": 1}


def test_a_made_up_nested_parameter_names_its_full_path(v1):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        v1.payment_intents.create(
            params={
                "amount": 1000,
                "currency": "gbp",
                "payment_method_options": {"card": {"request_three_d_secure": "any", "foo": "1"}},
            }
        )
    assert raised.value.code == "parameter_unknown"
    assert raised.value.param == "payment_method_options[card][foo]"
    assert "payment_method_options[card][foo]" in raised.value.user_message


def test_the_schema_is_stripe_pythons_own_types():
    assert schema.params_type("create_payment_intent") is (stripe.params.PaymentIntentCreateParams)
    assert schema.params_type("list_refunds") is stripe.params.RefundListParams
    declared = set(stripe.params.PaymentIntentCaptureParams.__annotations__)
    options = set(stripe.RequestOptions.__annotations__)
    assert set(schema.schema("capture_payment_intent").fields) == declared - options
    assert not options & set(schema.schema("create_payment_intent").fields)
    required = {
        name for name, (_, req) in schema.schema("create_payment_intent").fields.items() if req
    }
    assert required == {"amount", "currency"}


def test_missing_required_params(v1):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        v1.payment_intents.create(params={"currency": "gbp"})
    error = raised.value
    assert (error.http_status, error.code, error.param) == (400, "parameter_missing", "amount")
    assert error.user_message == "Missing required param: amount."
    with pytest.raises(stripe.InvalidRequestError) as raised:
        v1.payment_intents.create(
            params={
                "amount": 1000,
                "currency": "gbp",
                "automatic_payment_methods": {"allow_redirects": "never"},
            }
        )
    assert raised.value.code == "parameter_missing"
    assert raised.value.param == "automatic_payment_methods[enabled]"


@pytest.mark.parametrize("amount", ["12.5", "ten", "1e3"])
def test_a_non_integer_amount_is_refused(v1, strict, amount):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        v1.payment_intents.create(params={"amount": amount, "currency": "gbp"})
    error = raised.value
    assert (error.http_status, error.code, error.param) == (
        400,
        "parameter_invalid_integer",
        "amount",
    )
    assert error.user_message == f"Invalid integer: {amount}"
    assert strict.payment_intents == {}


def test_booleans_enums_and_empty_strings(v1, world):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        v1.payment_intents.create(params={"amount": 1000, "currency": "gbp", "confirm": "yes"})
    assert (raised.value.param, raised.value.user_message) == ("confirm", "Invalid boolean: yes")
    # A Literal-only enum (no `str` fallback in the type): origin is Literal['customer_balance'].
    with pytest.raises(stripe.InvalidRequestError) as raised:
        v1.refunds.create(params={"payment_intent": world.paid, "origin": "bank"})
    assert raised.value.param == "origin"
    assert raised.value.user_message == "Invalid origin: must be one of customer_balance"
    # An enum with a `str` fallback accepts any string (Stripe may add values).
    v1.customers.create(params={"tax_exempt": "some_future_value"})
    # "" unsets a parameter only where the type says it may be unset.
    v1.customers.create(params={"metadata": ""})
    with pytest.raises(stripe.InvalidRequestError) as raised:
        v1.customers.create(params={"description": ""})
    assert (raised.value.code, raised.value.param) == ("parameter_invalid_empty", "description")


@pytest.mark.parametrize(
    "call",
    [
        lambda v1, w: v1.payment_intents.create(
            params={"amount": 1000, "currency": "gbp", "payment_method_types": ["card"]}
        ),
        lambda v1, w: v1.payment_intents.update(
            w.open_pi, params={"payment_method_types": ["card"]}
        ),
        lambda v1, w: v1.payment_intents.confirm(
            w.open_pi, params={"payment_method": "pm_card_visa", "payment_method_types": ["card"]}
        ),
        lambda v1, w: v1.setup_intents.create(
            params={"customer": w.customer, "payment_method_types": ["card"]}
        ),
    ],
    ids=["pi-create", "pi-update", "pi-confirm", "seti-create"],
)
def test_payment_method_types_is_no_longer_supported(v1, world, strict, call):
    before = (len(strict.payment_intents), len(strict.setup_intents), len(strict.events))
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call(v1, world)
    assert raised.value.http_status == 400
    assert raised.value.code == "payment_method_types_no_longer_supported"
    assert raised.value.param == "payment_method_types"
    assert API_VERSION in raised.value.user_message
    assert (len(strict.payment_intents), len(strict.setup_intents), len(strict.events)) == before


def test_allowed_payment_method_types_is_exclusive(v1):
    for other in (
        {"automatic_payment_methods": {"enabled": True}},
        {"excluded_payment_method_types": ["ideal"]},
        {"payment_method_configuration": "pmc_123"},
    ):
        with pytest.raises(stripe.InvalidRequestError) as raised:
            v1.payment_intents.create(
                params={
                    "amount": 1000,
                    "currency": "gbp",
                    "allowed_payment_method_types": ["card"],
                    **other,
                }
            )
        assert raised.value.code == "parameters_exclusive"
        assert raised.value.param == next(iter(other))
    intent = v1.payment_intents.create(
        params={"amount": 1000, "currency": "gbp", "allowed_payment_method_types": ["card"]}
    )
    assert intent.payment_method_types == ["card"]


def test_a_refused_request_is_not_stored_under_its_key(v1, strict):
    options = {"idempotency_key": "pledge:plg_s:customer"}
    with pytest.raises(stripe.InvalidRequestError):
        v1.customers.create(params={"email": "a@b.org", "nope": "1"}, options=options)
    customer = v1.customers.create(params={"email": "a@b.org"}, options=options)
    assert list(strict.customers) == [customer.id]


def test_maps_keep_digit_keys(v1):
    customer = v1.customers.create(params={"metadata": {"0": "zero", "1": "one"}})
    assert customer.metadata.to_dict() == {"0": "zero", "1": "one"}


# ---------------------------------------------------------------- one API version


def test_the_emulator_speaks_the_version_stripe_python_pins():
    assert stripe.api_version == API_VERSION


def test_another_version_is_refused(strict):
    old = stripe.StripeClient(
        "sk_test_local",
        base_addresses={"api": strict.url},
        http_client=stripe.UrllibClient(),
        stripe_version="2024-06-20",
    ).v1
    with pytest.raises(stripe.InvalidRequestError) as raised:
        old.customers.create(params={})
    assert raised.value.http_status == 400
    assert "2024-06-20" in raised.value.user_message
    assert API_VERSION in raised.value.user_message
    assert strict.customers == {}


def test_an_absent_version_is_refused_and_the_log_says_so(strict, v1):
    v1.customers.create(params={})
    request = urllib.request.Request(
        strict.url + "/v1/customers",
        data=b"email=a%40b.org",
        method="POST",
        headers={"Authorization": "Bearer sk_test_local"},
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request)
    body = json.loads(raised.value.read())
    assert raised.value.code == 400
    assert body["error"]["type"] == "invalid_request_error"
    assert f"speaks only Stripe API version {API_VERSION}" in body["error"]["message"]
    with urllib.request.urlopen(strict.url + "/_emulator/requests") as response:
        summary = json.loads(response.read())
    assert summary["versions"] == {API_VERSION: 1, "(none)": 1}
    assert summary["refused"] == 1
    assert len(strict.customers) == 1


def test_card_errors_are_not_counted_as_refusals(v1, strict):
    with pytest.raises(stripe.CardError):
        v1.payment_intents.create(
            params={
                "amount": 1000,
                "currency": "gbp",
                "payment_method": "pm_card_chargeDeclined",
                "confirm": True,
            }
        )
    assert strict.requests_summary()["refused"] == 0
