"""Handlers and the store against moto, with tables and queues built from template.yaml."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from cashmob import container
from cashmob.clock import FrozenClock
from cashmob.config import Settings
from cashmob.container import Services
from cashmob.payments.stripe_gateway import StripeGateway
from cashmob_local import template
from cashmob_local.driver import stripe_client
from cashmob_local.stripe_emulator import StripeEmulator
from tests.fakes import FakeGateway
from tests.servers import serving
from tests.unit.factories import NOW


@pytest.fixture
def aws():
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        template.create_tables(dynamodb)
        queues = template.create_queues(boto3.client("sqs"))
        bus = boto3.client("events").create_event_bus(Name="cashmob-test-events")["EventBusArn"]
        yield {"queues": queues, "bus": bus.rsplit("/", 1)[-1]}


@pytest.fixture
def clock():
    return FrozenClock(NOW)


@pytest.fixture
def settings(aws):
    return Settings(
        settlement_queue_url=aws["queues"]["SettlementQueue"],
        intake_queue_url=aws["queues"]["IntakeQueue"],
        event_bus_name=aws["bus"],
        stripe_secret_key="sk_test_unit",
        stripe_webhook_secret="whsec_unit",
        pledge_token_secret="pledge-token-secret-for-tests",
        settlement_delay_seconds=0,
    )


@pytest.fixture
def services(settings, clock):
    svc = Services(settings, clock=clock)
    container.use(svc)
    yield svc
    container.use(None)


@pytest.fixture
def store(services):
    return services.store


@pytest.fixture
def gateway(services):
    """The Stripe gateway fake, installed in the services the handlers use."""
    fake = FakeGateway()
    services.payments = fake
    return fake


@pytest.fixture
def emulator():
    """The Stripe emulator on a free port (stripe-python talks to it unchanged)."""
    emulator = StripeEmulator(seed=3)
    with serving(emulator) as url:
        emulator.url = url
        yield emulator
    emulator.stop()


@pytest.fixture
def real_stripe(services, emulator):
    """The real Stripe gateway against the emulator, installed in the services;
    and stripe-python as a backer's browser would use it."""
    settings = services.settings.model_copy(
        update={"stripe_api_base": emulator.url, "stripe_secret_key": "sk_test_local"}
    )
    services.settings = settings
    gateway = StripeGateway(settings, services.secrets)
    services.payments = gateway
    return gateway, stripe_client(emulator.url, retries=0)
