"""Emails in the local stack: the template's EventBridge rules (the notifier's
NotificationRule) on moto's bus, moto's SES as the sender, and
`GET /_local/mail`, every email the stack would have sent, newest last.

moto keeps each message the notifier sends (a raw MIME message through SES
v2) in its SES backend: read directly when moto runs in this process (the
default), else through its `/moto-api/data.json` dump."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from email import message_from_string, policy
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any

from cashmob.clock import to_rfc3339

from . import template

SENDER = "cashmob@example.org"


def local_parameters(api_url: str) -> dict[str, str]:
    """The template parameters the local stack gives the notifier: email on,
    from moto's verified identity, links to the stack's own front end. moto's
    SES has no sending rate: the notifiers' pacer is in the path, at a rate
    they never reach."""
    return {
        "EmailEnabled": "true",
        "EmailSender": SENDER,
        "EmailsPerSecond": "1000",
        "PublicSiteUrl": f"{api_url}/app",
    }


def _resolve(value: Any, refs: dict[str, str], arns: dict[str, str]) -> Any:
    if isinstance(value, dict) and "Ref" in value:
        return refs[value["Ref"]]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return arns[value["Fn::GetAtt"][0]]
    return value


def start(refs: dict[str, str], queue_urls: dict[str, str]) -> list[str]:
    """Verifies the sender with moto's SES and puts the template's rules (all
    enabled: email is on locally) on the bus, targeting their queues; the
    rules' names."""
    import boto3

    boto3.client("sesv2").create_email_identity(EmailIdentity=refs.get("EmailSender", SENDER))
    sqs, events = boto3.client("sqs"), boto3.client("events")
    arns = {
        name: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        for name, url in queue_urls.items()
    }
    names = []
    for name, props in template.resources("AWS::Events::Rule").items():
        bus = _resolve(props["EventBusName"], refs, arns)
        events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(props["EventPattern"]))
        events.put_targets(
            Rule=name,
            EventBusName=bus,
            Targets=[
                {"Id": target["Id"], "Arn": _resolve(target["Arn"], refs, arns)}
                for target in props["Targets"]
            ],
        )
        names.append(name)
    return names


# ---------------------------------------------------------------- /_local/mail


# Where the local stack's moto server answers with the raw emails its SES
# kept (stack.SerializedMoto), wherever that server runs.
RAW_MESSAGES_PATH = "/_cashmob/ses/raw-messages"


def _in_process() -> list[str]:
    """The raw messages this process's moto SES kept, oldest first."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import RawMessage, ses_backends

    region = os.environ.get("AWS_REGION", "us-east-1")
    backend = ses_backends[DEFAULT_ACCOUNT_ID][region]
    return [m.raw_data for m in backend.sent_messages if isinstance(m, RawMessage)]


def raw_messages_json() -> bytes:
    """RAW_MESSAGES_PATH's answer, from the moto of the serving process."""
    return json.dumps(_in_process()).encode()


def _raw_messages() -> list[str]:
    """moto's sent raw messages, oldest first: read directly when moto runs
    in this process, else from the server at AWS_ENDPOINT_URL (moto in its
    own process, the default; or another stack's)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    found = _in_process()
    if found or not endpoint:
        return found
    try:
        with urllib.request.urlopen(f"{endpoint}{RAW_MESSAGES_PATH}", timeout=30) as answer:  # noqa: S310 - moto's local endpoint
            served: list[str] = json.load(answer)
            return served
    except urllib.error.HTTPError:  # a moto server without the route: moto's own dump
        pass
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=30) as answer:  # noqa: S310 - moto's local endpoint
        dump = json.load(answer)
    return [m["raw_data"] for m in dump.get("ses", {}).get("RawMessage", [])]


def _header(message: Message, name: str) -> str:
    """A header's value as the modern policy reads it (unfolded, encoded
    words decoded): only the headers asked for are parsed."""
    return str(policy.default.header_fetch_parse(name, str(message[name])))


def _body(message: Message, subtype: str) -> str | None:
    for part in message.walk():
        if not part.is_multipart() and part.get_content_type() == f"text/{subtype}":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8")
    return None


def message_json(raw: str) -> dict[str, Any]:
    """One sent email as API.md shows it: to, subject, text, html, sent_at.
    Parsed with the compat32 policy and decoded here: the same answer as the
    modern policy's `get_body` at a tenth of the cost (0.26 ms against
    2.5 ms an email: a 2,000-backer demo sends over 4,000)."""
    message = message_from_string(raw)
    return {
        "to": _header(message, "To"),
        "subject": _header(message, "Subject"),
        "text": _body(message, "plain"),
        "html": _body(message, "html"),
        "sent_at": to_rfc3339(parsedate_to_datetime(str(message["Date"]))),
    }


def messages() -> list[dict[str, Any]]:
    """Every email the stack sent, newest last."""
    return [message_json(raw) for raw in _raw_messages()]


def summary(api: Any, stalled_after: float = 30.0, at_most: float = 180.0) -> str:
    """How many emails of each kind the stack sent (the demo's last line),
    once the notification queue is empty, or has not shrunk for
    `stalled_after` seconds, or after `at_most`: emails are never what a
    demo fails on, so what is still queued is counted, not waited for."""
    from collections import Counter

    from cashmob.notify.emails import kind_of_subject

    def backlog() -> int:
        return sum(api.status()["queues"].get("NotificationQueue", {}).values())

    started = last_progress = time.monotonic()
    left = backlog()
    while left and time.monotonic() - started < at_most:
        time.sleep(1.0)
        now_left = backlog()
        if now_left < left:
            last_progress = time.monotonic()
        elif time.monotonic() - last_progress > stalled_after:
            break
        left = now_left
    sent = Counter(
        str(kind_of_subject(m["subject"])) for m in api.ok("GET", "/_local/mail")["messages"]
    )
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(sent.items())) or "none"
    queued = f"; {left} events still queued for the notifier" if left else ""
    return f"emails to backers ({sum(sent.values())}): {kinds}{queued}"
