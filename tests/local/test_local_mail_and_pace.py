"""The local stack's emails and settlement pace: `GET /_local/mail` parses
each email as the stdlib's modern policy would (a faster parse, the same
answer); moto's SES is read through the moto server's own route, so moto may
run in a process of its own; settlement is paced only where a limit applies."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime
from email import message_from_string, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import boto3
import pytest

from cashmob.clock import to_rfc3339
from cashmob.notify.emails import Email, Kind, render
from cashmob.notify.ses import mime
from cashmob_local import mail, moto_process
from cashmob_local.stack import settlement_budget


def reference(raw: str) -> dict:
    """What the modern email policy makes of the message."""
    message = message_from_string(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)

    def body(subtype: str) -> str | None:
        part = message.get_body(preferencelist=(subtype,))
        return None if part is None else str(part.get_content())

    return {
        "to": str(message["To"]),
        "subject": str(message["Subject"]),
        "text": body("plain"),
        "html": body("html"),
        "sent_at": to_rfc3339(parsedate_to_datetime(str(message["Date"]))),
    }


TITLES = [
    "Full-page ad",
    "Café für alle — « ok » ✓ and a title long enough to be folded over several header lines",
    'a\ttab, "quotes", <angles> & ampersands',
    "日本語のキャンペーン",
]
NAMES = ["Backer 1", 'Zoë "Z" Ŝ <z>', " "]


def email(kind: Kind, title: str, name: str) -> Email:
    values = {key: "£5.00" for key in ("amount", "charged", "refund", "refunded")} | {
        "name": name,
        "campaign": title,
        "deadline": "1 December 2026",
        "until": "3 December 2026",
        "promise": "nothing is charged unless the goal is met",
        "link": "http://127.0.0.1:3000/app/pledge.html#c=cmp_x&p=plg_y&t=" + "z" * 43,
    }
    return render(kind, "zoë@example.org" if name != " " else "b@example.org", values)


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("title", TITLES)
def test_an_email_is_listed_as_the_modern_policy_reads_it(kind, title):
    for name in NAMES:
        sent_at = datetime(2026, 11, 27, 0, 30, 5, tzinfo=UTC)
        raw = mime(email(kind, title, name), sender="cashmob@example.org", sent_at=sent_at)
        listed = mail.message_json(raw.as_string())
        assert listed == reference(raw.as_string())
        assert listed["subject"].count(title.split()[0]) >= 1 or kind is Kind.REMINDER


def test_moto_in_its_own_process_serves_the_emails_its_ses_kept(monkeypatch):
    server = moto_process.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_port}"
        ses = boto3.client("sesv2", region_name="us-east-1", endpoint_url=endpoint)
        ses.create_email_identity(EmailIdentity="cashmob@example.org")
        sent = mime(
            email(Kind.RECEIPT, TITLES[1], NAMES[1]),
            sender="cashmob@example.org",
            sent_at=datetime(2026, 11, 27, tzinfo=UTC),
        )
        ses.send_email(
            FromEmailAddress="cashmob@example.org",
            Destination={"ToAddresses": ["b@example.org"]},
            Content={"Raw": {"Data": sent.as_bytes()}},
        )
        with urllib.request.urlopen(endpoint + mail.RAW_MESSAGES_PATH, timeout=10) as answer:
            assert len(json.load(answer)) == 1
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        listed = mail.messages()  # this process's moto holds none: the server's are read
        assert [m["subject"] for m in listed] == [reference(sent.as_string())["subject"]]
    finally:
        server.shutdown()


def test_settlement_is_paced_wherever_a_limit_applies():
    # The emulator without a limit: unpaced.
    assert settlement_budget(None, "23", emulated=True) == "0"
    assert settlement_budget(0, "23", emulated=True) == "0"
    # `--stripe-rate-limit 25`: one less than the limit, as intake, for the
    # stack's one shared pacer (the template's 23 is for 12 pacers).
    assert settlement_budget(25, "23", emulated=True) == "24"
    assert settlement_budget(10.5, "23", emulated=True) == "9.5"
    # A Stripe elsewhere (`--stripe-api-base`: real Stripe, or the settlement
    # benchmark's emulator limited from outside): the template's pace, unless
    # the stack is told the limit.
    assert settlement_budget(None, "23", emulated=False) == "23"
    assert settlement_budget(25, "23", emulated=False) == "24"
