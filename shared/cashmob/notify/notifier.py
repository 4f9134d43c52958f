"""The notifier's use case: a domain event (an EventBridge envelope, from the
notification queue) becomes at most one email to the backer.

Events carry ids and amounts only; the backer's address and name are read
from the pledge, so an erased pledge gets nothing. Each email has a key
(pledge, kind, and for the kinds that repeat, the event's id) claimed in the
mail log before SES is called and marked sent after: a redelivered event
finds it sent and sends nothing. A send that fails releases the claim and the
record is retried; a process that dies between claim and send leaves a claim
that lapses after `LEASE`, and the redelivery (after the queue's visibility
timeout, which is longer) sends it. So an email goes out once, unless SES
accepted it and the process died before marking it sent: then at most one
duplicate, never a lost "finish your payment". The notifier only reads
pledges and campaigns: money never waits for it."""

from __future__ import annotations

import string
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from .. import tokens
from ..container import Services
from ..domain import Campaign, Money, Pledge, PledgeStatus
from ..domain.errors import NotFound
from ..observability import metrics
from .emails import DEFAULT_LANGUAGE, Email, Kind, common, render, template

# The domain events that email the backer (docs/events.md), by detail-type.
KINDS: dict[str, Kind] = {
    "PledgeActivated": Kind.RECEIPT,
    "PledgeActionRequired": Kind.FINISH_PAYMENT,
    "PledgeReminder": Kind.REMINDER,
    "PledgeCollected": Kind.COLLECTED,
    "PledgeReleased": Kind.RELEASED,
    "PledgeFailed": Kind.FAILED,
    "PledgeRefunded": Kind.REFUNDED,
}
# One email per event for these; the others are one per pledge.
REPEATING = frozenset({Kind.REMINDER, Kind.REFUNDED})
# Only while the pledge still needs the backer (a late event asks nothing).
NEEDS_BACKER = frozenset({Kind.FINISH_PAYMENT, Kind.REMINDER})
# How long a claim holds before another delivery may send in its place: longer
# than a send takes, shorter than the notification queue's visibility timeout.
LEASE = timedelta(minutes=2)


def email_key(kind: Kind, pledge_id: str, event_id: str) -> str:
    return f"email:{pledge_id}:{kind.value}" + (f":{event_id}" if kind in REPEATING else "")


def handle(svc: Services, envelope: dict[str, Any]) -> str:
    """Sends the email `envelope`'s event calls for; returns what happened
    (the email's kind, or why none was sent)."""
    kind = KINDS.get(str(envelope.get("detail-type")))
    if kind is None:
        return "not_for_backers"
    if not svc.settings.email_enabled:
        return "email_disabled"
    detail = envelope.get("detail")
    event_id = envelope.get("id")
    if not isinstance(detail, dict) or not isinstance(event_id, str) or not event_id:
        raise ValueError("not an EventBridge event with an id and a detail")
    campaign_id, pledge_id = detail.get("campaign_id"), detail.get("pledge_id")
    if not isinstance(campaign_id, str) or not isinstance(pledge_id, str):
        raise ValueError(f"{envelope.get('detail-type')} without its campaign and pledge ids")
    try:
        campaign, pledge = svc.store.campaign_and_pledge(campaign_id, pledge_id)
    except NotFound:
        return "no_pledge"
    if pledge is None:
        return "no_pledge"
    if pledge.backer.email is None:
        return "erased"
    if kind in NEEDS_BACKER and pledge.status is not PledgeStatus.ACTION_REQUIRED:
        return "no_longer_needed"
    email = compose(svc, kind, campaign, pledge, detail)
    key = email_key(kind, pledge_id, event_id)
    now = svc.clock.now()
    if not svc.mail_log.claim(key, now, lease=LEASE):
        return "already_sent"
    try:
        svc.mailer.send(email, sent_at=now)
    except Exception:
        svc.mail_log.release(key)
        raise
    svc.mail_log.sent(key, now)
    metrics.add_metric(name="EmailsSent", unit="Count", value=1)
    return kind.value


def compose(
    svc: Services, kind: Kind, campaign: Campaign, pledge: Pledge, detail: dict[str, Any]
) -> Email:
    """The email, in the campaign's language of record (English for now)."""
    language = DEFAULT_LANGUAGE
    shared = common(language)
    currency = pledge.amount.currency

    def money(value: Any, default: int) -> str:
        amount = value if type(value) is int else default
        return Money(amount, currency).format()

    def when(moment: datetime | None) -> str:
        return "" if moment is None else moment.strftime(shared["date_format"])

    deadline = when(campaign.deadline)
    promises = template(Kind.RECEIPT, language)["promise"]
    promise = promises.get(campaign.funding_model.value, promises["all_or_nothing"])
    assert pledge.backer.email is not None
    return render(
        kind,
        pledge.backer.email,
        {
            "name": pledge.backer.display_name or shared["name"],
            "campaign": campaign.title,
            "amount": pledge.amount.format(),
            "charged": money(detail.get("charged"), pledge.amount.amount),
            "refund": money(detail.get("amount"), pledge.amount.amount),
            "refunded": money(detail.get("refunded"), pledge.amount.amount),
            "deadline": deadline,
            "until": when(pledge.grace_until),
            "promise": string.Template(promise).substitute(deadline=deadline),
            "link": backer_link(svc, pledge),
        },
        language=language,
    )


def backer_link(svc: Services, pledge: Pledge) -> str:
    """The backer's page (web/pledge.html) with the pledge token in the
    fragment, which browsers never send to a server. The token is derived
    (HMAC of the pledge id with the token secret, `tokens.issue`), so the one
    the backer got when pledging is issued again, not stored."""
    token = tokens.issue(svc.secrets.pledge_token_secret, pledge.id)
    fragment = urlencode({"c": pledge.campaign_id, "p": pledge.id, "t": token})
    return f"{svc.settings.public_site_url.rstrip('/')}/pledge.html#{fragment}"
