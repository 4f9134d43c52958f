"""Settlement against the Stripe emulator through the real gateway: the
worker crashing at every step boundary, and Stripe answering 429s and 500s.
The proof is Stripe's side: the emulator's succeeded PaymentIntents."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from datetime import timedelta

import boto3
import pytest

from cashmob.domain import CampaignStatus, Money, PaymentFlow, PledgeStatus
from cashmob.payments.stripe_gateway import StripeGateway
from cashmob.service.settlement import recount
from cashmob_local.driver import stripe_client
from cashmob_local.stripe_emulator import StripeEmulator
from tests.events import FakeContext
from tests.integration.settling import drain, sweep_handler
from tests.servers import serving
from tests.unit.factories import campaign, pledge

logging.getLogger("werkzeug").setLevel(logging.ERROR)


class Crash(Exception):
    """The Lambda died here."""


class Crasher:
    """Counts step boundaries; raises at the armed one, once."""

    def __init__(self) -> None:
        self.count = 0
        self.armed: int | None = None
        self.points: list[str] = []

    def point(self, name: str) -> None:
        self.count += 1
        self.points.append(name)
        if self.armed is not None and self.count == self.armed:
            self.armed = None
            raise Crash(name)


class Boundaries:
    """A proxy that marks a boundary before and after each listed call."""

    def __init__(self, target, crasher: Crasher, methods: set[str]) -> None:
        self._target, self._crasher, self._methods = target, crasher, methods

    def __getattr__(self, name):
        attr = getattr(self._target, name)
        if name not in self._methods:
            return attr

        def call(*args, **kwargs):
            self._crasher.point(f"before {name}")
            result = attr(*args, **kwargs)
            self._crasher.point(f"after {name}")
            return result

        return call


@pytest.fixture
def emulator():
    emulator = StripeEmulator(seed=3)
    with serving(emulator) as url:
        emulator.url = url
        yield emulator
    emulator.stop()


@pytest.fixture
def real_stripe(services, emulator):
    settings = services.settings.model_copy(
        update={"stripe_api_base": emulator.url, "stripe_secret_key": "sk_test_local"}
    )
    services.settings = settings
    gateway = StripeGateway(settings, services.secrets)
    services.payments_override = gateway
    services.__dict__.pop("payments", None)
    return gateway, stripe_client(emulator.url, retries=0)


def seed_real(services, gateway, client, plan, *, run="a", goal=1000):
    """Pledges with real Stripe objects; `plan` is [(flow, test card or None), ...].
    Ids carry `run`, so the emulator's records of several runs stay apart."""
    store = services.store
    now = services.clock.now()
    c = store.create_campaign(
        campaign(
            id=f"cmp_{run}",
            goal=Money(goal, "gbp"),
            created_at=now,
            deadline=now + timedelta(hours=1),
            next_check_at=now,
        )
    )
    for i, (flow, pm) in enumerate(plan):
        pid = f"plg_{run}_{i:04}"
        start = gateway.start_hold if flow is PaymentFlow.HOLD else gateway.start_setup
        ref = start(
            campaign_id=c.id, pledge_id=pid, email="a@example.org", amount=Money(1000, "gbp")
        )
        p = pledge(id=pid, campaign_id=c.id, flow=flow, counter_shard=i % 3)
        p = store.create_pledge(
            replace(
                p,
                payment=replace(
                    p.payment,
                    intent_id=ref.intent_id,
                    client_secret=ref.client_secret,
                    customer_id=ref.customer_id,
                ),
            )
        )
        if pm is None:
            continue
        confirm = client.payment_intents if flow is PaymentFlow.HOLD else client.setup_intents
        confirm.confirm(ref.intent_id, params={"payment_method": pm})
        payment = replace(p.payment, payment_method=pm, intent_open=flow is PaymentFlow.HOLD)
        store.save_pledge(
            p,
            p.moved_to(PledgeStatus.ACTIVE, activated_at=now, payment=payment),
            open_campaign_at=now,
        )
    return c


def settle_until_final(services, settings, clock, campaign_id, rounds=30):
    for _ in range(rounds):
        with contextlib.suppress(Crash):  # the schedule fires again
            sweep_handler({}, FakeContext())
        drain(settings, max_rounds=500)
        c = services.store.get_campaign(campaign_id)
        if (
            c.status in (CampaignStatus.SUCCEEDED, CampaignStatus.FAILED)
            and c.next_check_at is None
        ):
            return c
        clock.advance(120)
    raise AssertionError("settlement never finished")


PLAN = [
    (PaymentFlow.SETUP, "pm_card_visa"),
    (PaymentFlow.HOLD, "pm_card_visa"),
    (PaymentFlow.SETUP, None),  # never confirmed: expires
]


def _instrument(services, crasher):
    services.payments_override = Boundaries(
        services.payments_override, crasher, {"charge", "capture", "cancel"}
    )
    services.__dict__.pop("payments", None)
    services.__dict__["store"] = Boundaries(
        services.store, crasher, {"save_pledge", "save_campaign"}
    )


def test_a_crash_at_any_step_boundary_never_charges_twice(
    aws, services, settings, clock, real_stripe, emulator
):
    """For k = 1, 2, ...: a fresh campaign settles with the Lambda dying at the
    k-th boundary (before or after a Stripe call or a DynamoDB write), then
    the schedule and SQS redeliver. It ends when k passes the last boundary."""
    gateway, client = real_stripe
    crasher = Crasher()
    _instrument(services, crasher)
    store = services.store._target
    for k in range(1, 200):
        run = f"k{k}"
        c = seed_real(services, gateway, client, PLAN, run=run)
        crasher.count, crasher.points, crasher.armed = 0, [], k
        clock.advance(2 * 3600)
        final = settle_until_final(services, settings, clock, c.id)
        where = (
            f"crash at boundary {k}: {crasher.points[k - 1] if k <= len(crasher.points) else '-'}"
        )
        assert final.status is CampaignStatus.SUCCEEDED, where
        statuses = [store.get_pledge(c.id, f"plg_{run}_{i:04}").status for i in range(3)]
        assert statuses == [PledgeStatus.COLLECTED, PledgeStatus.COLLECTED, PledgeStatus.EXPIRED], (
            where
        )
        charges = {
            p: n for p, n in emulator.succeeded_charges().items() if p.startswith(f"plg_{run}_")
        }
        assert charges == {f"plg_{run}_0000": 1, f"plg_{run}_0001": 1}, where
        assert final.settlement.collected == 2000, where
        if crasher.armed is not None:  # k was past the last boundary: all were tried
            break
    else:
        raise AssertionError("the boundaries never ran out")
    stripe_points = [p for p in crasher.points if p.split()[1] in ("charge", "capture", "cancel")]
    assert k > 20 and len(stripe_points) >= 6, crasher.points


@pytest.mark.parametrize("n", [150, pytest.param(1000, marks=pytest.mark.slow)])
def test_settling_through_429s_and_500s_charges_each_pledge_once(
    aws, services, settings, clock, real_stripe, emulator, n
):
    """10% of Stripe calls answer 429 and 5% answer 500 (`make chaos` runs 1,000)."""
    gateway, client = real_stripe
    plan = [(PaymentFlow.SETUP if i % 2 else PaymentFlow.HOLD, "pm_card_visa") for i in range(n)]
    c = seed_real(services, gateway, client, plan, run="big", goal=n * 500)
    emulator.faults.update({"share_429": 0.10, "share_500": 0.05})
    clock.advance(2 * 3600)
    final = settle_until_final(services, settings, clock, c.id, rounds=60)
    assert final.status is CampaignStatus.SUCCEEDED
    charges = emulator.succeeded_charges()
    assert len(charges) == n and set(charges.values()) == {1}
    statuses = {p.status for p in services.store.all_pledges(c.id)}
    assert statuses == {PledgeStatus.COLLECTED}
    assert final.settlement.collected == n * 1000
    throttled = sum(1 for r in emulator.request_log if r["status"] == 429)
    failed = sum(1 for r in emulator.request_log if r["status"] == 500)
    assert throttled > n // 20 and failed > n // 50  # the faults really happened
    assert recount(services, c.id).backers == 0  # none left active
    assert (
        boto3.client("sqs").get_queue_attributes(
            QueueUrl=aws["queues"]["SettlementDeadLetterQueue"],
            AttributeNames=["ApproximateNumberOfMessages"],
        )["Attributes"]["ApproximateNumberOfMessages"]
        == "0"
    )
