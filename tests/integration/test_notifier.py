"""The notifier (functions/notifier) against moto: tables built from the
template, SES v2 as the sender. Each domain event that concerns a backer
becomes exactly one email, however often it is delivered."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import replace
from datetime import timedelta
from email import message_from_string, policy
from urllib.parse import parse_qs

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from cashmob import tokens
from cashmob.domain import PledgeStatus
from cashmob.domain.events import (
    EVENT_TYPES,
    CampaignSucceeded,
    PledgeActionRequired,
    PledgeActivated,
    PledgeCancelled,
    PledgeCollected,
    PledgeFailed,
    PledgeReleased,
    PledgeReminder,
)
from cashmob.notify import notifier
from cashmob.notify.emails import Kind, kind_of_subject
from cashmob.notify.ses import KIND_HEADER, MailNotSent, SesMailer
from cashmob.pacing import RateLimiter
from cashmob_local import template
from tests.events import FakeContext
from tests.unit.factories import NOW, campaign, pledge

handler = template.load_handler("NotifierFunction")
SENDER = "cashmob@example.org"
SITE = "https://cashmob.example"
MONEY = {"campaign_id": "cmp_test", "pledge_id": "plg_test", "amount": 1000, "currency": "gbp"}


@pytest.fixture
def mail(services):
    """Email on, sent through moto's SES from a verified identity."""
    services.settings = services.settings.model_copy(
        update={"email_enabled": True, "email_sender": SENDER, "public_site_url": SITE}
    )
    boto3.client("sesv2", region_name="us-east-1").create_email_identity(EmailIdentity=SENDER)
    return services


def sent():
    """The emails moto's SES accepted, parsed, oldest first."""
    backend = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    return [message_from_string(m.raw_data, policy=policy.default) for m in backend.sent_messages]


def kinds_sent():
    return [str(m[KIND_HEADER]) for m in sent()]


def envelope(event, event_id=None):
    """The event as EventBridge delivers it to the queue."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": event.detail_type,
        "source": "cashmob",
        "account": "123456789012",
        "time": "2026-11-26T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": json.loads(json.dumps(event.detail(), default=str)),
    }


def records(*envelopes):
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": f"handle-{i}",
                "body": json.dumps(e),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:NotificationQueue",
                "awsRegion": "us-east-1",
            }
            for i, e in enumerate(envelopes)
        ]
    }


def given(store, status=PledgeStatus.ACTIVE, **changes):
    store.create_campaign(campaign(title="Ad <b>on</b> AGM day"))
    return store.create_pledge(pledge(status=status, **changes))


def one_of_each():
    """An event of each kind that emails the backer (PledgeRefunded too, when
    the domain has it), and the kind of email each should yield."""
    until = NOW + timedelta(days=7)
    events = [
        (PledgeActivated(**MONEY), Kind.RECEIPT),
        (
            PledgeActionRequired(**MONEY, decline_code="card_declined", until=until),
            Kind.FINISH_PAYMENT,
        ),
        (PledgeReminder(**MONEY, until=until), Kind.REMINDER),
        (PledgeCollected(**MONEY, charged=1000), Kind.COLLECTED),
        (PledgeReleased(**MONEY), Kind.RELEASED),
        (PledgeFailed(**MONEY, reason="grace_period_ended"), Kind.FAILED),
    ]
    refunded = EVENT_TYPES.get("PledgeRefunded")
    if refunded is not None:
        events.append(
            (refunded(**MONEY, refunded=400, full=False, source="cashmob"), Kind.REFUNDED)
        )
    return events


# ---------------------------------------------------------------- exactly once


def test_each_kind_of_event_yields_exactly_one_email_also_when_redelivered(mail):
    # Given a backer whose pledge needs them (so no email is out of date)
    given(mail.store, status=PledgeStatus.ACTION_REQUIRED, grace_until=NOW + timedelta(days=7))
    planned = one_of_each()
    envelopes = [envelope(event) for event, _ in planned]
    # When every event is delivered, twice in one batch and again in another
    first = handler(records(*envelopes, *envelopes), FakeContext())
    again = handler(records(*reversed(envelopes)), FakeContext())
    # Then each kind of email went out once, to the backer, from the sender
    assert first == {"batchItemFailures": []} and again == {"batchItemFailures": []}
    assert sorted(kinds_sent()) == sorted(kind.value for _, kind in planned)
    for message in sent():
        assert str(message["To"]) == "ada@example.org" and str(message["From"]) == SENDER
        assert kind_of_subject(str(message["Subject"])) == Kind(str(message[KIND_HEADER]))
        text = message.get_body(preferencelist=("plain",)).get_content()
        html = message.get_body(preferencelist=("html",)).get_content()
        assert "Ad <b>on</b> AGM day" in text  # plain text as typed
        assert "Ad &lt;b&gt;on&lt;/b&gt; AGM day" in html and "<b>on</b>" not in html


def test_each_reminder_is_its_own_email_and_each_once(mail):
    given(mail.store, status=PledgeStatus.ACTION_REQUIRED, grace_until=NOW + timedelta(days=7))
    reminder = PledgeReminder(**MONEY, until=NOW + timedelta(days=7))
    first, second = envelope(reminder), envelope(reminder)  # two reminders: two event ids
    handler(records(first), FakeContext())
    handler(records(first, second), FakeContext())
    handler(records(second), FakeContext())
    assert kinds_sent() == ["reminder", "reminder"]


def test_the_finish_your_payment_link_opens_the_backer_page_with_the_token(mail):
    # Given a pledge whose token the backer was given when pledging
    issued = tokens.issue(mail.settings.pledge_token_secret, "plg_test")
    given(
        mail.store,
        status=PledgeStatus.ACTION_REQUIRED,
        grace_until=NOW + timedelta(days=7),
        token_hash=tokens.digest(issued),
    )
    event = PledgeActionRequired(**MONEY, decline_code=None, until=NOW + timedelta(days=7))
    handler(records(envelope(event)), FakeContext())
    (message,) = sent()
    text = message.get_body(preferencelist=("plain",)).get_content()
    (link,) = re.findall(r"https://\S+", text)
    page, fragment = link.split("#")
    assert page == f"{SITE}/pledge.html"  # nothing in the query: the fragment stays in the browser
    fields = parse_qs(fragment)
    assert fields["c"] == ["cmp_test"] and fields["p"] == ["plg_test"]
    # The link's token opens the pledge (the API compares it with the stored hash)
    (token,) = fields["t"]
    assert tokens.matches(token, mail.store.get_pledge("cmp_test", "plg_test").token_hash)


# ---------------------------------------------------------------- nothing to send


def test_no_email_for_an_erased_backer_a_stale_request_or_with_email_off(mail):
    p = given(mail.store, status=PledgeStatus.COLLECTED)
    until = NOW + timedelta(days=7)
    stale = PledgeActionRequired(**MONEY, decline_code=None, until=until)  # already paid
    not_for_backers = [
        CampaignSucceeded("cmp_test", 1000, 1),
        PledgeCancelled("cmp_test", "plg_test"),
    ]
    handler(records(envelope(stale), *map(envelope, not_for_backers)), FakeContext())
    assert sent() == []
    assert notifier.handle(mail, envelope(stale)) == "no_longer_needed"
    # an erased backer
    mail.store.save_pledge(p, replace(p, backer=p.backer.erase()))
    assert notifier.handle(mail, envelope(PledgeCollected(**MONEY, charged=1000))) == "erased"
    # email off
    mail.settings = mail.settings.model_copy(update={"email_enabled": False})
    assert notifier.handle(mail, envelope(PledgeReleased(**MONEY))) == "email_disabled"
    assert sent() == []


# ---------------------------------------------------------------- failures


class FailingOnce:
    def __init__(self, mailer):
        self.mailer, self.failed = mailer, False

    def send(self, email, *, sent_at):
        if not self.failed:
            self.failed = True
            raise ConnectionError("SES is unreachable")
        self.mailer.send(email, sent_at=sent_at)


def test_a_failed_send_is_retried_and_then_sent_once(mail):
    given(mail.store)
    mail.mailer = FailingOnce(SesMailer(SENDER, "us-east-1"))
    event = records(envelope(PledgeActivated(**MONEY)))
    failed = handler(event, FakeContext())
    assert failed["batchItemFailures"] == [{"itemIdentifier": event["Records"][0]["messageId"]}]
    assert sent() == []
    handler(event, FakeContext())  # SQS delivers it again
    handler(event, FakeContext())
    assert kinds_sent() == ["receipt"]


def test_a_claim_abandoned_by_a_dead_process_lapses_and_the_redelivery_sends(mail, clock):
    given(mail.store)
    key = notifier.email_key(Kind.RECEIPT, "plg_test", "any")
    assert mail.mail_log.claim(key, clock.now(), lease=notifier.LEASE)  # then the process died
    event = records(envelope(PledgeActivated(**MONEY)))
    handler(event, FakeContext())
    assert sent() == []  # within the lease: someone may be sending it
    clock.advance(notifier.LEASE.total_seconds() + 1)
    handler(event, FakeContext())
    handler(event, FakeContext())
    assert kinds_sent() == ["receipt"]


def test_a_refused_send_says_why_without_the_address_and_is_retried(services, clock):
    # Given a sender SES has not verified
    services.settings = services.settings.model_copy(
        update={"email_enabled": True, "email_sender": "nobody@example.org"}
    )
    given(services.store)
    with pytest.raises(MailNotSent) as refused:
        notifier.handle(services, envelope(PledgeActivated(**MONEY)))
    assert str(refused.value) == "SES did not send the receipt email: MessageRejected"
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
    # the claim was released: once the sender is verified, the redelivery sends
    boto3.client("sesv2", region_name="us-east-1").create_email_identity(
        EmailIdentity="nobody@example.org"
    )
    assert notifier.handle(services, envelope(PledgeActivated(**MONEY))) == "receipt"
    assert kinds_sent() == ["receipt"]


# ---------------------------------------------------------------- SES's sending rate


def test_each_notifier_sends_at_its_share_of_the_ses_sending_rate(mail):
    # Given SES's rate of 4 emails/s, shared by 2 notifiers (template:
    # EmailsPerSecond and the queue's MaximumConcurrency)
    mail.settings = mail.settings.model_copy(
        update={"emails_per_second": 4, "notifier_concurrency": 2}
    )
    mailer = mail.mailer
    assert isinstance(mailer, SesMailer) and mailer.limiter.interval == pytest.approx(0.5)
    # (the same pacing, on a clock of the test's own)
    now = [100.0]
    mailer.limiter = RateLimiter(
        2, monotonic=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s)
    )
    moments = []
    ses, send = mailer._ses, mailer._ses.send_email
    ses.send_email = lambda **request: (moments.append(now[0]), send(**request))[1]
    given(mail.store, status=PledgeStatus.ACTION_REQUIRED)
    until = NOW + timedelta(days=7)
    # When a batch of three reminders arrives at once
    event = records(*(envelope(PledgeReminder(**MONEY, until=until)) for _ in range(3)))
    assert handler(event, FakeContext())["batchItemFailures"] == []
    # Then the three go out half a second apart, each sent once
    assert moments == [100.0, 100.5, 101.0]
    assert kinds_sent() == ["reminder"] * 3


def test_emails_are_not_paced_without_a_sending_rate(mail):
    assert mail.settings.emails_per_second == 0
    assert mail.mailer.limiter is None
