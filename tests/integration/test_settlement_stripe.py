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
import stripe

from cashmob.domain import CampaignStatus, Money, PaymentFlow, PledgeStatus
from cashmob.payments import ChargeResult, ChargeStatus
from cashmob.payments.stripe_gateway import StripeGateway
from cashmob.service.settlement import recount
from cashmob.views import pledge_json
from cashmob_local.driver import stripe_client
from cashmob_local.stripe_emulator import StripeEmulator
from tests.events import FakeContext
from tests.fakes import FakeEvents
from tests.integration.settling import drain, send_webhook, sweep_handler, to_grace_end
from tests.servers import serving
from tests.unit.factories import campaign, pledge

logging.getLogger("werkzeug").setLevel(logging.ERROR)


@pytest.fixture(autouse=True)
def events(services):
    """Every test's events are checked against their schemas (FakeEvents)."""
    fake = FakeEvents()
    services.events = fake
    return fake


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


def seed_real(services, gateway, client, plan, *, run="a", goal=1000):
    """Pledges with real Stripe objects; `plan` is [(flow, test card or None[,
    amount]), ...].
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
    for i, (flow, pm, *rest) in enumerate(plan):
        pid = f"plg_{run}_{i:04}"
        amount = Money(rest[0] if rest else 1000, "gbp")
        start = gateway.start_hold if flow is PaymentFlow.HOLD else gateway.start_setup
        ref = start(campaign_id=c.id, pledge_id=pid, email="a@example.org", amount=amount)
        p = pledge(id=pid, campaign_id=c.id, flow=flow, counter_shard=i % 3, amount=amount)
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
    services.payments = Boundaries(services.payments, crasher, {"charge", "capture", "cancel"})
    services.store = Boundaries(services.store, crasher, {"save_pledge", "save_campaign"})


def test_a_crash_at_any_step_boundary_never_charges_twice(
    aws, services, settings, clock, real_stripe, emulator
):
    """For k = 1, 2, ...: a fresh campaign settles with the Lambda dying at the
    k-th boundary (before or after a Stripe call or a DynamoDB write), then
    the schedule and SQS redeliver. It ends when k passes the last boundary."""
    gateway, client = real_stripe
    crasher = Crasher()
    store = services.store  # the real one, before the crash points wrap it
    _instrument(services, crasher)
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


# ---------------------------------------------------------------- Stripe's answers, end to end
# The emulator runs on the tests' clock here: grace periods, the 24 h key
# memory and the 7-day hold expiry all happen as Stripe would have them.


@pytest.fixture
def stripe_on_our_clock(services, clock):
    emulator = StripeEmulator(seed=5, now=lambda: clock.now().timestamp())
    with serving(emulator) as url:
        settings = services.settings.model_copy(
            update={"stripe_api_base": url, "stripe_secret_key": "sk_test_local"}
        )
        services.settings = settings
        gateway = StripeGateway(settings, services.secrets)
        services.payments = gateway
        yield gateway, stripe_client(url, retries=0), emulator
    emulator.stop()


def intents_of(emulator, pledge_id):
    return {
        i["id"]: i
        for i in emulator.payment_intents.values()
        if (i["metadata"] or {}).get("pledge_id") == pledge_id
    }


def emitted(emulator, event_type, object_id):
    (event,) = [
        e
        for e in emulator.events
        if e["type"] == event_type and e["data"]["object"].get("id") == object_id
    ]
    return event


def dead_letters(aws):
    return boto3.client("sqs").get_queue_attributes(
        QueueUrl=aws["queues"]["SettlementDeadLetterQueue"],
        AttributeNames=["ApproximateNumberOfMessages"],
    )["Attributes"]["ApproximateNumberOfMessages"]


def declined_then_grace_over(services, settings, clock, store, gateway, client, run):
    """A setup-flow pledge whose card declines at the deadline, through to the
    end of its grace period; returns (campaign, the charge the backer was sent)."""
    plan = [(PaymentFlow.SETUP, "pm_card_visa"), (PaymentFlow.SETUP, "pm_card_chargeCustomerFail")]
    c = seed_real(services, gateway, client, plan, run=run)
    clock.advance(2 * 3600)
    for _ in range(2):  # settle, then the completion check
        sweep_handler({}, FakeContext())
        drain(settings)
        clock.advance(120)
    stuck = store.get_pledge(c.id, f"plg_{run}_0001")
    assert stuck.status is PledgeStatus.ACTION_REQUIRED
    sent = stuck.payment.charge_intent_id
    assert sent and stuck.client_secret_for_backer
    to_grace_end(settings, clock)
    return c, sent


def test_the_end_of_a_grace_period_closes_the_charge_at_stripe(
    aws, services, settings, clock, stripe_on_our_clock
):
    """Money taken, never recorded (regression, Stripe's side): when the grace
    period ends, every charge of the pledge is cancelled at Stripe, so the
    backer paying it later is refused by Stripe itself."""
    gateway, client, emulator = stripe_on_our_clock
    store = services.store
    c, sent = declined_then_grace_over(services, settings, clock, store, gateway, client, "g1")
    failed = store.get_pledge(c.id, "plg_g1_0001")
    assert (failed.status, failed.failure_reason) == (PledgeStatus.FAILED, "grace_period_ended")
    charges = intents_of(emulator, "plg_g1_0001")
    assert len(charges) == 2 and sent in charges  # the one sent, and the last attempt
    assert {i["status"] for i in charges.values()} == {"canceled"}
    with pytest.raises(stripe.InvalidRequestError):  # the backer pays, too late
        client.payment_intents.confirm(sent, params={"payment_method": "pm_card_visa"})
    assert emulator.succeeded_charges() == {"plg_g1_0000": 1}


def test_a_charge_paid_after_its_pledge_failed_is_refunded_at_stripe(
    aws, services, settings, clock, stripe_on_our_clock, monkeypatch
):
    """A pledge failed with its charge still open (as the old code left them,
    forced here): the backer pays it. Stripe's `payment_intent.succeeded`
    reaches the webhook, the worker refunds it at Stripe, and the pledge
    shows it. Redeliveries refund nothing more."""
    gateway, client, emulator = stripe_on_our_clock
    store = services.store
    cancel_payment = gateway.cancel_payment
    left_open: list[str] = []

    def never_reaches_stripe(pledge, intent_id):
        if pledge.payment.charge_intent_id == intent_id:
            left_open.append(intent_id)
            return ChargeResult(ChargeStatus.CANCELED, intent_id)
        return cancel_payment(pledge, intent_id)

    monkeypatch.setattr(gateway, "cancel_payment", never_reaches_stripe)
    c, sent = declined_then_grace_over(services, settings, clock, store, gateway, client, "g2")
    assert left_open == [sent]
    assert store.get_pledge(c.id, "plg_g2_0001").status is PledgeStatus.FAILED

    paid = client.payment_intents.confirm(sent, params={"payment_method": "pm_card_visa"})
    assert paid.status == "succeeded"  # Stripe took the money for a failed pledge
    succeeded = emitted(emulator, "payment_intent.succeeded", sent)
    assert send_webhook(services, succeeded)["outcome"] == "refund_late"
    drain(settings)
    refunds = [r for r in emulator.refunds.values() if r["payment_intent"] == sent]
    assert [(r["amount"], r["status"]) for r in refunds] == [(1000, "succeeded")]
    after = store.get_pledge(c.id, "plg_g2_0001")
    assert (after.status, after.late_refunds) == (PledgeStatus.FAILED, (sent,))
    assert pledge_json(after)["late_payments_refunded"] == [sent]

    (charge_refunded,) = [
        e
        for e in emulator.events
        if e["type"] == "charge.refunded" and e["data"]["object"]["payment_intent"] == sent
    ]
    assert send_webhook(services, charge_refunded)["outcome"] == "no_change"
    assert send_webhook(services, succeeded)["outcome"] == "no_change"  # Stripe redelivers
    drain(settings)
    assert len([r for r in emulator.refunds.values() if r["payment_intent"] == sent]) == 1
    assert store.get_pledge(c.id, "plg_g2_0001").status is PledgeStatus.FAILED


@pytest.mark.parametrize(
    ("flow", "mode"),
    [
        (PaymentFlow.SETUP, "500_executed"),
        (PaymentFlow.SETUP, "500"),
        (PaymentFlow.HOLD, "500_executed"),
    ],
    ids=["charge_took_the_money", "charge_did_nothing", "capture_took_the_money"],
)
def test_a_charge_answered_500_is_looked_up_and_never_taken_twice(
    aws, services, settings, clock, stripe_on_our_clock, flow, mode
):
    """Stripe answers the settlement charge (or capture) 500 — after taking
    the money, and then replays that 500 under its key, or before doing
    anything. The worker tries again under a new attempt key, looking the
    pledge up first: collected, once."""
    gateway, client, emulator = stripe_on_our_clock
    c = seed_real(services, gateway, client, [(flow, "pm_card_visa")], run=f"f{flow}{mode}")
    path = r"^/v1/payment_intents$" if flow is PaymentFlow.SETUP else r"/capture$"
    # stripe-python retries a 500 once (max_network_retries=1): fail both.
    emulator.fail_next(mode, path_regex=path, method="POST", count=1 if "executed" in mode else 2)
    clock.advance(2 * 3600)
    final = settle_until_final(services, settings, clock, c.id)
    assert final.status is CampaignStatus.SUCCEEDED
    pid = f"plg_f{flow}{mode}_0000"
    done = services.store.get_pledge(c.id, pid)
    assert done.status is PledgeStatus.COLLECTED
    assert emulator.succeeded_charges()[pid] == 1
    assert len([i for i in intents_of(emulator, pid).values() if i["status"] == "succeeded"]) == 1
    assert done.payment.charge_attempt == (2 if flow is PaymentFlow.SETUP else 1)
    assert any(r["status"] == 500 for r in emulator.request_log)
    assert dead_letters(aws) == "0"


def test_a_charge_stripe_refuses_for_good_fails_the_pledge_and_settlement_ends(
    aws, services, settings, clock, stripe_on_our_clock
):
    """Stripe refuses a charge below the minimum (`amount_too_small`): the
    pledge is failed with that reason and the campaign completes."""
    gateway, client, emulator = stripe_on_our_clock
    plan = [(PaymentFlow.SETUP, "pm_card_visa"), (PaymentFlow.SETUP, "pm_card_visa", 20)]
    c = seed_real(services, gateway, client, plan, run="small")
    clock.advance(2 * 3600)
    final = settle_until_final(services, settings, clock, c.id)
    assert final.status is CampaignStatus.SUCCEEDED
    refused = services.store.get_pledge(c.id, "plg_small_0001")
    assert (refused.status, refused.failure_reason) == (PledgeStatus.FAILED, "amount_too_small")
    assert final.settlement.collected == 1000 and final.settlement.failed == 20
    assert emulator.succeeded_charges() == {"plg_small_0000": 1}
    assert dead_letters(aws) == "0"


def test_a_hold_stripe_cancelled_after_7_days_fails_the_pledge(
    aws, services, settings, clock, stripe_on_our_clock
):
    """Settlement runs more than 7 days after a hold's authorisation: Stripe
    has cancelled it (`automatic`). The campaign still succeeds; that pledge
    is failed as hold_expired, and nothing is captured for it."""
    gateway, client, emulator = stripe_on_our_clock
    plan = [(PaymentFlow.SETUP, "pm_card_visa"), (PaymentFlow.HOLD, "pm_card_visa")]
    c = seed_real(services, gateway, client, plan, run="lapsed")
    clock.advance(8 * 24 * 3600)
    final = settle_until_final(services, settings, clock, c.id)
    assert final.status is CampaignStatus.SUCCEEDED
    lapsed = services.store.get_pledge(c.id, "plg_lapsed_0001")
    assert (lapsed.status, lapsed.failure_reason) == (PledgeStatus.FAILED, "hold_expired")
    hold = emulator.payment_intents[lapsed.payment.intent_id]
    assert (hold["status"], hold["cancellation_reason"]) == ("canceled", "automatic")
    assert emulator.succeeded_charges() == {"plg_lapsed_0000": 1}
    assert final.settlement.failed == 1000 and final.settlement.released == 0


def test_a_crash_at_any_step_of_a_grace_periods_end_leaves_no_payment_open(
    aws, services, settings, clock, stripe_on_our_clock
):
    """The end of a grace period with the Lambda dying at its k-th boundary
    (before or after each Stripe call or DynamoDB write), for every k: the
    pledge ends failed, and every charge of it is cancelled at Stripe."""
    gateway, client, emulator = stripe_on_our_clock
    crasher = Crasher()
    store = services.store  # the real one, before the crash points wrap it
    _instrument(services, crasher)
    services.payments = Boundaries(
        gateway, crasher, {"charge", "capture", "cancel", "cancel_payment"}
    )
    for k in range(1, 60):
        run = f"gk{k}"
        plan = [
            (PaymentFlow.SETUP, "pm_card_visa"),
            (PaymentFlow.SETUP, "pm_card_chargeCustomerFail"),
        ]
        c = seed_real(services, gateway, client, plan, run=run)
        clock.advance(2 * 3600)
        for _ in range(2):
            sweep_handler({}, FakeContext())
            drain(settings)
            clock.advance(120)
        pid = f"plg_{run}_0001"
        assert store.get_pledge(c.id, pid).status is PledgeStatus.ACTION_REQUIRED
        crasher.count, crasher.points, crasher.armed = 0, [], k
        for _ in range(6):
            clock.advance(48 * 3600)
            with contextlib.suppress(Crash):
                sweep_handler({}, FakeContext())
            drain(settings, max_rounds=500)
        where = f"crash at {k}: {crasher.points[k - 1] if k <= len(crasher.points) else '-'}"
        assert store.get_pledge(c.id, pid).status is PledgeStatus.FAILED, where
        charges = intents_of(emulator, pid)
        assert charges and {i["status"] for i in charges.values()} == {"canceled"}, where
        assert pid not in emulator.succeeded_charges(), where
        if crasher.armed is not None:  # k was past the last boundary
            break
    else:
        raise AssertionError("the boundaries never ran out")
    assert k > 10 and crasher.points.count("before cancel_payment") == 2, crasher.points
