"""Emails through Amazon SES (API v2 `SendEmail`; IAM `ses:SendEmail` on the
sender's identity): one MIME message with the plain-text and HTML bodies as
alternatives, so every mail client shows one of them. The local stack sends
through moto's SES, which keeps the raw message (`GET /_local/mail`).

SES refuses what goes beyond the account's sending rate (1 email/s in the
sandbox, 14/s once out of it by default) with TooManyRequestsException. A big
campaign's settlement makes about two emails per pledge at once, so each
notifier sends at its share of that rate (`limiter`: EmailsPerSecond /
the notifiers' MaximumConcurrency) and the rest wait in the notification
queue, instead of being throttled into retries and the dead-letter queue."""

from __future__ import annotations

from datetime import datetime
from email import policy
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import cached_property
from typing import Any

import boto3
from botocore.exceptions import ClientError

from ..pacing import RateLimiter
from .emails import Email

KIND_HEADER = "X-Cashmob-Email"  # which kind of email (receipt, reminder, ...)


class _HeaderClasses(HeaderRegistry):
    """The standard library's header registry, each kind of header's class
    made once: the stock registry builds a new class with `type()` for every
    header it creates (most of what composing an email costs)."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


# The modern policy (as EmailMessage's default), with the registry above.
POLICY = policy.default.clone(header_factory=_HeaderClasses())


def mime(email: Email, *, sender: str, sent_at: datetime) -> EmailMessage:
    message = EmailMessage(policy=POLICY)
    message["From"] = sender
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = format_datetime(sent_at)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message[KIND_HEADER] = email.kind.value
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    return message


class SesMailer:
    def __init__(self, sender: str, region: str, *, limiter: RateLimiter | None = None) -> None:
        if not sender:
            raise RuntimeError("EMAIL_SENDER is not configured (the SES identity to send from)")
        self.sender = sender
        self.region = region
        self.limiter = limiter

    @cached_property
    def _ses(self) -> Any:
        return boto3.client("sesv2", region_name=self.region)

    def send(self, email: Email, *, sent_at: datetime) -> None:
        raw = mime(email, sender=self.sender, sent_at=sent_at).as_bytes()
        if self.limiter is not None:
            self.limiter.acquire()
        try:
            self._ses.send_email(
                FromEmailAddress=self.sender,
                Destination={"ToAddresses": [email.to]},
                Content={"Raw": {"Data": raw}},
            )
        except ClientError as error:
            # SES's message may name the recipient (the sandbox's "not
            # verified"): only its code goes on, into retries and logs.
            code = error.response.get("Error", {}).get("Code", "unknown")
            raise MailNotSent(f"SES did not send the {email.kind.value} email: {code}") from None


class MailNotSent(Exception):
    """SES refused or failed the email; the record is retried."""
