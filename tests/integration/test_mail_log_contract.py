"""The notifier's and the retention sweep's logs: the DynamoDB adapters
(cashmob.store.mail, cashmob.store.retention) and their in-memory fakes
(tests/notify_fakes.py) keep one contract."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cashmob.store.mail import MailTable
from cashmob.store.retention import RetentionTable
from tests.notify_fakes import MemoryMailLog, MemoryRetentionLog
from tests.unit.factories import NOW

LEASE = timedelta(minutes=2)


@pytest.fixture(params=["dynamodb", "memory"])
def mail_log(request, settings):
    return MailTable(settings) if request.param == "dynamodb" else MemoryMailLog()


@pytest.fixture(params=["dynamodb", "memory"])
def retention(request, settings):
    return RetentionTable(settings) if request.param == "dynamodb" else MemoryRetentionLog()


def test_one_claim_wins_and_a_sent_email_is_never_claimed_again(mail_log):
    assert mail_log.claim("email:p:receipt", NOW, lease=LEASE)
    assert not mail_log.claim("email:p:receipt", NOW, lease=LEASE)
    assert mail_log.claim("email:p:collected", NOW, lease=LEASE)  # another email
    mail_log.sent("email:p:receipt", NOW)
    assert not mail_log.claim("email:p:receipt", NOW + timedelta(days=1), lease=LEASE)


def test_a_released_claim_can_be_taken_again(mail_log):
    assert mail_log.claim("email:p:receipt", NOW, lease=LEASE)
    mail_log.release("email:p:receipt")
    assert mail_log.claim("email:p:receipt", NOW, lease=LEASE)
    mail_log.sent("email:p:receipt", NOW)
    mail_log.release("email:p:receipt")  # a sent email's record stays
    assert not mail_log.claim("email:p:receipt", NOW, lease=LEASE)


def test_an_abandoned_claim_lapses_after_its_lease(mail_log):
    assert mail_log.claim("email:p:receipt", NOW, lease=LEASE)
    assert not mail_log.claim("email:p:receipt", NOW + LEASE, lease=LEASE)
    later = NOW + LEASE + timedelta(seconds=1)
    assert mail_log.claim("email:p:receipt", later, lease=LEASE)
    assert not mail_log.claim("email:p:receipt", later, lease=LEASE)


def test_retention_marks(retention):
    assert not retention.marked("done:cmp_1")
    retention.mark("done:cmp_1", NOW)
    retention.mark("idle:2026-11-26T12", NOW, keep=timedelta(days=2))
    assert retention.marked("done:cmp_1") and retention.marked("idle:2026-11-26T12")
    assert not retention.marked("done:cmp_2")
