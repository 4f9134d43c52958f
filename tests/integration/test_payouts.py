"""Payouts with Stripe Connect, end to end on moto and the Stripe emulator:
settlement's completion pays the organizer out once (a Transfer of
collected - refunded - fee), waiting while their account is not enabled;
redeliveries make no second transfer; a refund reverses it. The proof is
Stripe's side: the emulator's transfers."""

from __future__ import annotations

import json
import logging
import time

import pytest
import stripe

from cashmob.domain import CampaignStatus, PaymentFlow
from cashmob.domain.errors import Conflict
from cashmob.domain.messages import PayOut
from cashmob.domain.payout import OnboardingStatus, PayoutStatus, payout_for
from cashmob.service import campaigns, payouts
from cashmob.service.settlement import handle
from cashmob_local import template
from tests.events import FakeContext, http_event
from tests.fakes import FakeEvents
from tests.integration.settling import drain, send_webhook
from tests.integration.test_settlement_stripe import seed_real, settle_until_final

logging.getLogger("werkzeug").setLevel(logging.ERROR)

ORGANIZER = "alice"  # tests.unit.factories.campaign's organizer
FEE_BPS = 500


@pytest.fixture
def connect(services, real_stripe):
    """Payouts on, at a 5 % fee, on the real gateways against the emulator."""
    services.settings = services.settings.model_copy(
        update={"payouts_enabled": True, "platform_fee_basis_points": FEE_BPS}
    )
    services.events = FakeEvents()
    return real_stripe


def _succeed(services, settings, clock, connect, run: str, amounts=(1000, 1500, 2025)):
    gateway, client = connect
    plan = [
        (PaymentFlow.SETUP if i % 2 else PaymentFlow.HOLD, "pm_card_visa", amount)
        for i, amount in enumerate(amounts)
    ]
    c = seed_real(services, gateway, client, plan, run=run, goal=sum(amounts))
    clock.advance(2 * 3600)
    final = settle_until_final(services, settings, clock, c.id)
    assert final.status is CampaignStatus.SUCCEEDED
    return final


def _onboard(services, emulator) -> str:
    link = payouts.start_onboarding(services, ORGANIZER, "https://example.org/payouts")
    account_id = services.payout_book.organizer(ORGANIZER).account_id
    assert account_id in link["url"]
    emulator.complete_onboarding(account_id)
    (event,) = [e for e in emulator.events if e["type"] == "account.updated"]
    assert event["account"] == account_id
    assert send_webhook(services, event) == {"received": True, "outcome": "enabled"}
    # Stripe redelivers it: nothing more happens.
    assert send_webhook(services, event)["outcome"] == "no_change"
    return account_id


def _transfers(emulator, campaign_id):
    return [t for t in emulator.transfers.values() if t["transfer_group"] == campaign_id]


def test_payout_waits_for_onboarding_then_goes_out_once(
    aws, services, settings, clock, connect, emulator
):
    c = _succeed(services, settings, clock, connect, "w")
    drain(settings)
    expected = payout_for(1000 + 1500 + 2025, 0, FEE_BPS)
    assert (expected.fee, expected.amount) == (226, 4299)  # 226.25 rounds down

    waiting = services.payout_book.payout(c.id)
    assert waiting is not None and waiting.status is PayoutStatus.NOT_READY
    assert campaigns.get(services, c.id)["payout"] == {
        "status": "not_ready",
        "amount": expected.amount,
        "fee": expected.fee,
        "transfer_id": None,
    }
    assert not _transfers(emulator, c.id)
    assert c.id in services.payout_book.organizer(ORGANIZER).waiting
    assert payouts.organizer(services, ORGANIZER)["payouts"] == {
        "status": "none",
        "account_id": None,
        "available": True,
    }

    account_id = _onboard(services, emulator)
    assert services.payout_book.organizer(ORGANIZER).status is OnboardingStatus.ENABLED
    drain(settings)

    (transfer,) = _transfers(emulator, c.id)
    assert transfer["amount"] == expected.amount
    assert transfer["destination"] == account_id and transfer["currency"] == "gbp"
    paid = services.payout_book.payout(c.id)
    assert paid.status is PayoutStatus.PAID and paid.transfer_id == transfer["id"]
    assert campaigns.get(services, c.id)["payout"] == {
        "status": "paid",
        "amount": expected.amount,
        "fee": expected.fee,
        "transfer_id": transfer["id"],
    }
    assert payouts.organizer(services, ORGANIZER) == {
        "id": ORGANIZER,
        "payouts": {"status": "enabled", "account_id": account_id, "available": True},
    }
    assert services.events.named("CampaignPaidOut") == [
        {
            "campaign_id": c.id,
            "amount": expected.amount,
            "fee": expected.fee,
            "currency": "gbp",
            "transfer_id": transfer["id"],
        }
    ]


def test_redelivery_makes_one_transfer_per_campaign(
    aws, services, settings, clock, connect, emulator
):
    _onboard(services, emulator)
    c = _succeed(services, settings, clock, connect, "r")
    for _ in range(3):  # SQS redelivers; completion's hook and a retried handler race
        handle(services, PayOut(c.id))
    services.queue.send_many([PayOut(c.id)] * 5)
    drain(settings)
    # The payout record is lost (say, a bad restore) and the retry comes
    # after Stripe forgot the idempotency key (24 h): Stripe's transfer group
    # is looked up before any new transfer is made.
    book = services.payout_book
    payout = book.payout(c.id)
    book.Payout.get(f"payout#{c.id}", 0).delete()
    emulator.now = lambda: time.time() + 25 * 3600
    handle(services, PayOut(c.id))
    again = book.payout(c.id)
    assert again.transfer_id == payout.transfer_id
    (transfer,) = _transfers(emulator, c.id)
    assert transfer["amount"] == payout.amounts.amount == payout_for(4525, 0, FEE_BPS).amount
    created = [e for e in emulator.events if e["type"] == "transfer.created"]
    assert len(created) == 1


def test_a_refund_after_the_payout_reverses_the_transfer(
    aws, services, settings, clock, connect, emulator
):
    _onboard(services, emulator)
    c = _succeed(services, settings, clock, connect, "v")
    drain(settings)
    (transfer,) = _transfers(emulator, c.id)
    # The campaign is refunded (driven directly in the store here: the
    # refund flow calls reverse_after_refund when it ends `refunded`).
    store = services.store
    refunding = store.save_campaign(c, c.moved_to(CampaignStatus.REFUNDING))
    reversed_ = payouts.reverse_after_refund(services, refunding)
    assert reversed_.status is PayoutStatus.REVERSED
    assert payouts.reverse_after_refund(services, refunding).reversal_ids == (
        reversed_.reversal_ids
    )  # again: nothing more
    after = emulator.transfers[transfer["id"]]
    assert (after["amount_reversed"], after["reversed"]) == (transfer["amount"], True)
    assert len(after["reversals"]["data"]) == 1
    assert reversed_.reversal_ids == (after["reversals"]["data"][0]["id"],)
    assert campaigns.get(services, c.id)["payout"]["status"] == "reversed"
    handle(services, PayOut(c.id))  # a late redelivery pays nothing again
    assert len(_transfers(emulator, c.id)) == 1
    assert len([e for e in emulator.events if e["type"] == "transfer.reversed"]) == 1
    assert services.events.named("CampaignPayoutReversed") == [
        {"campaign_id": c.id, "amount": transfer["amount"], "transfer_id": transfer["id"]}
    ]
    assert len(services.events.named("CampaignPaidOut")) == 1


def test_a_refund_before_the_payout_means_it_never_goes_out(
    aws, services, settings, clock, connect, emulator
):
    c = _succeed(services, settings, clock, connect, "n")
    drain(settings)
    assert services.payout_book.payout(c.id).status is PayoutStatus.NOT_READY
    refunding = services.store.save_campaign(c, c.moved_to(CampaignStatus.REFUNDING))
    assert payouts.reverse_after_refund(services, refunding).status is PayoutStatus.REVERSED
    _onboard(services, emulator)  # the account is enabled later: the waiting payout is dead
    drain(settings)
    assert not _transfers(emulator, c.id)
    assert campaigns.get(services, c.id)["payout"]["transfer_id"] is None
    assert services.events.named("CampaignPayoutReversed") == [
        {"campaign_id": c.id, "amount": 0, "transfer_id": None}
    ]
    assert services.events.named("CampaignPaidOut") == []


def test_payouts_off_pay_nothing_and_show_null(
    aws, services, settings, clock, real_stripe, emulator
):
    services.events = FakeEvents()
    c = _succeed(services, settings, clock, real_stripe, "off")
    handle(services, PayOut(c.id))
    drain(settings)
    assert services.payout_book.payout(c.id) is None
    assert not emulator.transfers
    assert campaigns.get(services, c.id)["payout"] is None


# ---------------------------------------------------------------- the routes

api = template.load_handler("ApiFunction")


def call(method, path, **kwargs):
    response = api(http_event(method, path, **kwargs), FakeContext())
    return response["statusCode"], json.loads(response["body"])


def test_organizer_routes(aws, services, clock, connect, emulator):
    assert call("GET", "/organizers/me", sub="bob") == (
        200,
        {"id": "bob", "payouts": {"status": "none", "account_id": None, "available": True}},
    )
    status, body = call("GET", "/organizers/me")
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, body = call(
        "POST", "/organizers/me/payouts", body={"return_url": "ftp://x.org/a"}, sub="bob"
    )
    assert status == 422 and not emulator.accounts  # nothing written, nothing asked of Stripe
    status, body = call("POST", "/organizers/me/payouts", body={"other": 1}, sub="bob")
    assert status == 422
    status, first = call(
        "POST", "/organizers/me/payouts", body={"return_url": "https://x.org/me"}, sub="bob"
    )
    assert status == 200 and first["url"].startswith("https://connect.stripe.com/")
    again = call(
        "POST", "/organizers/me/payouts", body={"return_url": "https://x.org/me"}, sub="bob"
    )
    assert again == (200, first)  # a retry within the minute replays Stripe's answer
    clock.advance(60)
    status, later = call(
        "POST", "/organizers/me/payouts", body={"return_url": "https://x.org/me"}, sub="bob"
    )
    assert status == 200 and later["url"] != first["url"]  # links are single use: a new one
    (account,) = emulator.accounts.values()  # one account, however often asked
    assert account["metadata"] == {"organizer": "bob"} and account["type"] == "express"
    assert call("GET", "/organizers/me", sub="bob") == (
        200,
        {
            "id": "bob",
            "payouts": {"status": "onboarding", "account_id": account["id"], "available": True},
        },
    )
    emulator.complete_onboarding(account["id"])
    (event,) = [e for e in emulator.events if e["type"] == "account.updated"]
    send_webhook(services, event)
    assert call("GET", "/organizers/me", sub="bob")[1]["payouts"]["status"] == "enabled"


def test_onboarding_is_refused_while_payouts_are_off(aws, services, real_stripe, emulator):
    status, body = call(
        "POST", "/organizers/me/payouts", body={"return_url": "https://x.org/me"}, sub="bob"
    )
    assert status == 409 and body["error"]["code"] == "conflict"
    assert not emulator.accounts


def test_account_updated_for_an_account_we_did_not_make_changes_nothing(
    aws, services, connect, emulator
):
    _onboard(services, emulator)
    stranger = {
        "id": "acct_stranger",
        "object": "account",
        "metadata": {"organizer": ORGANIZER},
        "details_submitted": True,
        "payouts_enabled": True,
        "capabilities": {"transfers": "active"},
    }
    assert payouts.account_updated(services, stranger) == "ignored"
    assert payouts.account_updated(services, {**stranger, "metadata": {}}) == "ignored"


def test_a_connect_endpoints_own_secret_is_believed_once_configured(services):
    from cashmob.domain.errors import BadRequest
    from cashmob.service.webhooks import verify

    payload = json.dumps(
        {"id": "evt_c", "type": "account.updated", "account": "acct_x", "data": {"object": {}}}
    ).encode()
    now = int(services.clock.now().timestamp())
    header = stripe.WebhookSignature.generate_signature_header(
        payload.decode(), "whsec_connect", now
    )
    with pytest.raises(BadRequest):
        verify(services, payload, header)  # not our platform endpoint's secret
    services.settings = services.settings.model_copy(
        update={"stripe_connect_webhook_secret": "whsec_connect"}
    )
    services._secrets = None  # built from the new settings
    assert verify(services, payload, header)["id"] == "evt_c"
    platform = stripe.WebhookSignature.generate_signature_header(
        payload.decode(), services.settings.stripe_webhook_secret, now
    )
    assert verify(services, payload, platform)["id"] == "evt_c"  # the platform's still works


def test_the_campaign_refund_flow_reverses_the_payout_once(
    aws, services, settings, clock, connect, emulator
):
    """Through the organizer's refund (service.refunds): every pledge refunded
    once, the campaign `refunded`, then its payout's transfer reversed."""
    from cashmob.service import reconcile
    from cashmob.service.refunds.requests import refund_campaign

    _onboard(services, emulator)
    c = _succeed(services, settings, clock, connect, "f")
    drain(settings)
    (transfer,) = _transfers(emulator, c.id)
    assert reconcile.reconcile(services, campaign_id=c.id).clean
    _, status = refund_campaign(services, c.id, ORGANIZER, "the newspaper refused the ad")
    assert status == 202
    for _ in range(10):
        drain(settings)
        clock.advance(120)
        from tests.integration.settling import sweep_handler

        sweep_handler({}, FakeContext())
        if services.store.get_campaign(c.id).status is CampaignStatus.REFUNDED:
            break
    drain(settings)
    assert services.store.get_campaign(c.id).status is CampaignStatus.REFUNDED
    after = emulator.transfers[transfer["id"]]
    assert after["reversed"] is True and len(after["reversals"]["data"]) == 1
    assert services.payout_book.payout(c.id).status is PayoutStatus.REVERSED
    assert campaigns.get(services, c.id)["payout"]["status"] == "reversed"
    report = reconcile.reconcile(services, campaign_id=c.id)
    assert report.clean, report.table()


def test_reconcile_finds_a_refunded_campaign_whose_payout_was_not_reversed(
    aws, services, settings, clock, connect, emulator
):
    from cashmob.domain.refunds import refund_finished
    from cashmob.service import reconcile

    _onboard(services, emulator)
    c = _succeed(services, settings, clock, connect, "x")
    drain(settings)
    store = services.store
    refunding = store.save_campaign(c, c.moved_to(CampaignStatus.REFUNDING))
    # The refund ended but the reversal was lost (a crash between the two).
    refunded = store.save_campaign(refunding, refund_finished(refunding, 0))
    drift = [
        d for d in reconcile.reconcile(services, campaign_id=c.id).drift if d.pledge_id is None
    ]
    assert [(d.kind, d.ours) for d in drift] == [("payout_mismatch", "paid, campaign refunded")]
    payouts.reverse_after_refund(services, refunded)
    drift = [
        d for d in reconcile.reconcile(services, campaign_id=c.id).drift if d.pledge_id is None
    ]
    assert drift == []


def test_no_payout_while_a_pledge_is_in_its_grace_period(
    aws, services, settings, clock, connect, emulator
):
    from tests.integration.settling import sweep_handler, to_grace_end

    _onboard(services, emulator)
    gateway, client = connect
    plan = [
        (PaymentFlow.SETUP, "pm_card_visa", 2000),
        (PaymentFlow.SETUP, "pm_card_chargeCustomerFail", 1000),  # declines at the deadline
    ]
    c = seed_real(services, gateway, client, plan, run="g", goal=3000)
    clock.advance(2 * 3600)
    for _ in range(5):
        sweep_handler({}, FakeContext())
        drain(settings)
        clock.advance(120)
    c = services.store.get_campaign(c.id)
    assert c.status is CampaignStatus.SUCCEEDED and c.settlement.pending_action == 1000
    handle(services, PayOut(c.id))  # even asked, it waits
    assert services.payout_book.payout(c.id) is None and not _transfers(emulator, c.id)
    assert campaigns.get(services, c.id)["payout"]["status"] == "not_ready"

    to_grace_end(settings, clock)  # the backer never pays: the pledge fails
    for _ in range(3):
        sweep_handler({}, FakeContext())
        drain(settings)
        clock.advance(120)

    assert services.store.get_campaign(c.id).settlement.pending_action == 0
    (transfer,) = _transfers(emulator, c.id)
    assert transfer["amount"] == payout_for(2000, 0, FEE_BPS).amount == 1900


class _DiesAfterTransfer:
    """The worker dies right after Stripe made the transfer, before our write;
    `then` runs at that moment."""

    def __init__(self, target, then) -> None:
        self._target, self._then, self.died = target, then, False

    def __getattr__(self, name):
        attr = getattr(self._target, name)
        if name != "transfer" or self.died:
            return attr

        def transfer(*args, **kwargs):
            attr(*args, **kwargs)
            self.died = True
            self._then()
            raise RuntimeError("the Lambda died")

        return transfer


def test_a_crash_after_the_transfer_is_finished_by_the_redelivery(
    aws, services, settings, clock, connect, emulator
):
    _onboard(services, emulator)

    def stripe_forgets_keys():  # the redelivery comes after Stripe's 24 h
        emulator.now = lambda: time.time() + 25 * 3600

    services.connect = _DiesAfterTransfer(services.connect, stripe_forgets_keys)
    c = _succeed(services, settings, clock, connect, "c")  # SQS redelivers the PayOut
    assert services.connect.died
    (transfer,) = _transfers(emulator, c.id)
    paid = services.payout_book.payout(c.id)
    assert paid.status is PayoutStatus.PAID and paid.transfer_id == transfer["id"]


def test_with_payouts_off_the_organizer_is_told_none_are_available(aws, services, emulator):
    services.settings = services.settings.model_copy(update={"payouts_enabled": False})
    assert payouts.organizer(services, "carol") == {
        "id": "carol",
        "payouts": {"status": "none", "account_id": None, "available": False},
    }
    with pytest.raises(Conflict):
        payouts.start_onboarding(services, "carol", "https://example.org/back")
    assert not emulator.accounts  # nothing asked of Stripe
