"""Feeding the settlement queue to the worker the way Lambda's SQS event source does."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from datetime import timedelta

import boto3
import stripe

from cashmob.domain import FundingModel, Money, PaymentFlow, PledgeStatus
from cashmob_local import runtime, template
from tests.events import FakeContext, http_event
from tests.unit.factories import NOW, campaign, pledge

sweep_handler = template.load_handler("SettlementFunction")
worker_handler = template.load_handler("SettleWorkerFunction")


def sqs_record(message: dict) -> dict:
    return runtime.sqs_record(message, "arn:aws:sqs:us-east-1:123456789012:SettlementQueue")


def drain(settings, *, fail_first: int = 0, max_rounds: int = 200) -> int:
    """Feeds queue messages to the worker handler in SQS batches until the queue is empty."""
    sqs = boto3.client("sqs")
    delivered = 0
    for _ in range(max_rounds):
        got = sqs.receive_message(QueueUrl=settings.settlement_queue_url, MaxNumberOfMessages=10)
        messages = got.get("Messages", [])
        if not messages:
            return delivered
        event = {"Records": [sqs_record(m) for m in messages]}
        result = worker_handler(event, FakeContext())
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        for m in messages:
            if m["MessageId"] in failed:
                sqs.change_message_visibility(
                    QueueUrl=settings.settlement_queue_url,
                    ReceiptHandle=m["ReceiptHandle"],
                    VisibilityTimeout=0,
                )
            else:
                sqs.delete_message(
                    QueueUrl=settings.settlement_queue_url, ReceiptHandle=m["ReceiptHandle"]
                )
        delivered += len(messages)
    raise AssertionError("the queue never drained")


def seed(
    store,
    *,
    goal=5000,
    statuses,
    flow=PaymentFlow.SETUP,
    model=FundingModel.ALL_OR_NOTHING,
    min_backers=0,
):
    c = store.create_campaign(
        campaign(
            goal=Money(goal, "gbp"),
            funding_model=model,
            min_backers=min_backers,
            deadline=NOW + timedelta(hours=1),
            next_check_at=NOW + timedelta(hours=1),
        )
    )
    for i, status in enumerate(statuses):
        p = pledge(id=f"plg_{i:03}", flow=flow, counter_shard=i % 3)
        prefix = "seti" if flow is PaymentFlow.SETUP else "pi"
        p = store.create_pledge(
            replace(p, payment=replace(p.payment, intent_id=f"{prefix}_{p.id}"))
        )
        if status is not PledgeStatus.PENDING:
            store.save_pledge(
                p, p.moved_to(PledgeStatus.ACTIVE, activated_at=NOW), open_campaign_at=NOW
            )
    return c


def settle(services, settings, clock):
    clock.advance(2 * 3600)
    sweep_handler({}, FakeContext())
    drain(settings)
    clock.advance(120)
    sweep_handler({}, FakeContext())  # completion check
    drain(settings)


def statuses(store, campaign_id):
    return sorted(p.status.value for p in store.all_pledges(campaign_id))


def to_grace_end(settings, clock):
    for _ in range(4):  # reminders every 48 h, then the last attempt at 7 days
        clock.advance(48 * 3600)
        sweep_handler({}, FakeContext())
        drain(settings)


webhook_handler = template.load_handler("StripeWebhookFunction")


def send_webhook(services, event: dict) -> dict:
    """A signed Stripe event through the webhook Lambda; its JSON answer."""
    payload = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(
        payload,
        services.settings.stripe_webhook_secret,
        int(services.clock.now().timestamp()),
    )
    request = http_event(
        "POST", "/webhooks/stripe", raw_body=payload, headers={"Stripe-Signature": header}
    )
    response = webhook_handler(request, FakeContext())
    assert response["statusCode"] == 200, response
    return json.loads(response["body"])


_event_ids = itertools.count()


def stripe_event(event_type: str, obj: dict, services) -> dict:
    """A Stripe event of `event_type` about `obj`, created now."""
    return {
        "id": f"evt_settling_{next(_event_ids):06}",
        "object": "event",
        "type": event_type,
        "created": int(services.clock.now().timestamp()),
        "data": {"object": obj},
    }


def charge_obj(p, intent_id: str, status: str, attempt: int = 1, code: str = "card_declined"):
    """The PaymentIntent Stripe shows for a setup-flow pledge's settlement charge."""
    return {
        "id": intent_id,
        "object": "payment_intent",
        "status": status,
        "amount": p.amount.amount,
        "amount_received": p.amount.amount if status == "succeeded" else 0,
        "currency": p.amount.currency,
        "customer": p.payment.customer_id,
        "client_secret": f"{intent_id}_secret",
        "last_payment_error": None if status == "succeeded" else {"code": code},
        "metadata": {"campaign_id": p.campaign_id, "pledge_id": p.id, "attempt": str(attempt)},
    }
