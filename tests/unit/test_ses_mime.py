"""The notifier's MIME message (`cashmob.notify.ses.mime`) is built with a
header registry that makes each header class once: the bytes are the ones
the standard library's own registry gives, for any title, name and address."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from cashmob.notify import ses
from cashmob.notify.emails import Kind, render

VALUES = {
    "amount": "£5.00",
    "charged": "£5.00",
    "refund": "£5.00",
    "refunded": "£5.00",
    "deadline": "1 December 2026",
    "until": "3 December 2026",
    "promise": "nothing is charged unless the goal is met",
    "link": "http://127.0.0.1:3000/app/pledge.html#c=cmp_x&p=plg_y&t=" + "z" * 43,
}
CASES = [
    ("Full-page ad", "Backer 1", "b@example.org"),
    (
        "Café für alle — « ok » ✓, a title long enough to fold the subject line",
        'Zoë "Z"',
        "zoë@example.org",
    ),
    ("日本語のキャンペーン", " ", "x@example.org"),
]


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize(("title", "name", "to"), CASES)
def test_the_message_is_the_standard_librarys(kind, title, name, to, monkeypatch):
    monkeypatch.setattr(ses, "make_msgid", lambda domain=None: f"<fixed@{domain}>")
    email = render(kind, to, {**VALUES, "name": name, "campaign": title})
    sent_at = datetime(2026, 11, 27, 0, 45, tzinfo=UTC)
    ours = ses.mime(email, sender="cashmob@example.org", sent_at=sent_at).as_bytes()
    monkeypatch.setattr(ses, "POLICY", EmailMessage().policy)  # the stock registry
    reference = ses.mime(email, sender="cashmob@example.org", sent_at=sent_at).as_bytes()
    assert boundless(ours) == boundless(reference)


def boundless(message: bytes) -> bytes:
    """The message with its MIME boundary (random) made one and the same."""
    return re.sub(rb"={15}\d+==", b"=BOUNDARY=", message)
