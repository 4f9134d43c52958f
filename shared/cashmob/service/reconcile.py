"""Reconciliation: our records against Stripe's, pledge by pledge, and each
campaign's payout against its transfers (`cashmob reconcile`, and the daily
ReconcileFunction). It reports; it repairs nothing unless asked (`fix`), and
then only what a webhook would have done had it been delivered.

Kinds of drift (each a CloudWatch metric `Drift<Kind>`, with an alarm):

- `paid_in_stripe_not_ours`: Stripe holds money for the pledge (a succeeded
  PaymentIntent, net of refunds) that we do not count as collected: a missed
  `payment_intent.succeeded`, or a payment for a pledge that is finished
  (expired, failed, released, cancelled), or a second payment.
- `ours_not_in_stripe`: we say collected; Stripe has no succeeded payment.
- `amount_mismatch`: both say paid, by different amounts.
- `refund_mismatch`: Stripe gave back another amount than we recorded (a
  refund made behind our back; a late payment we recorded as refunded that
  is not).
- `payout_mismatch`: the campaign's payout and its transfers disagree (a
  payout due and not made, a transfer we do not know, amounts, reversals).

What Stripe is asked: for each pledge its own objects, by the ids we store
(the hold's PaymentIntent; for a saved card, the PaymentIntents of its
Customer, listed, which also finds payments we never recorded), the refunds
of each paid one, each campaign's transfers (by transfer_group), and the
`payment_intent.succeeded` events of the last 30 days (Stripe's event
memory), whose metadata names the pledge a payment was for: payments on
intents we never recorded, hold-flow pledges included; paced at
`reconcile_requests_per_second`.

`fix` (forward only): a missed `payment_intent.succeeded` or
`charge.refunded` is replayed through the webhook's own processing
(`webhooks.process`, under a synthetic event id, so replays apply once),
which collects, records the refund or refunds a late payment exactly as the
webhook would; a payout that is due and was never made is sent to the
payout worker (`PayOut`). Everything else is listed for a person.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..clock import to_rfc3339
from ..container import Services
from ..domain import Campaign, CampaignStatus, PaymentFlow, Pledge, PledgeStatus
from ..domain.messages import PayOut
from ..domain.payout import PayoutStatus
from ..domain.settlement import charge_intent
from ..observability import logger, metrics
from ..pacing import RateLimiter, share_of
from . import payouts

PAID_IN_STRIPE_NOT_OURS = "paid_in_stripe_not_ours"
OURS_NOT_IN_STRIPE = "ours_not_in_stripe"
AMOUNT_MISMATCH = "amount_mismatch"
REFUND_MISMATCH = "refund_mismatch"
PAYOUT_MISMATCH = "payout_mismatch"
KINDS = (
    PAID_IN_STRIPE_NOT_OURS,
    OURS_NOT_IN_STRIPE,
    AMOUNT_MISMATCH,
    REFUND_MISMATCH,
    PAYOUT_MISMATCH,
)
# The CloudWatch metric of each kind (template.yaml alarms on each).
METRIC_NAMES = {kind: "Drift" + kind.title().replace("_", "") for kind in KINDS}
PAID = (PledgeStatus.COLLECTED, PledgeStatus.REFUNDED)
# Stripe keeps events this long: stray payments are looked for in them.
EVENT_MEMORY = timedelta(days=30)
# What the webhook's processing answers when it applied the event.
APPLIED = ("refund_late",)


@dataclass
class Drift:
    kind: str
    campaign_id: str
    pledge_id: str | None
    stripe_id: str | None
    ours: str
    stripe: str
    fixable: bool = False
    fixed: str | None = None  # what the fix did

    def row(self) -> list[str]:
        return [
            self.kind,
            self.campaign_id,
            self.pledge_id or "-",
            self.stripe_id or "-",
            self.ours,
            self.stripe,
            self.fixed or ("fixable" if self.fixable else "-"),
        ]


@dataclass
class Report:
    started_at: str
    campaigns: int = 0
    pledges: int = 0
    drift: list[Drift] = field(default_factory=list)
    finished_at: str | None = None

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(d.kind for d in self.drift)
        return {kind: found.get(kind, 0) for kind in KINDS}

    @property
    def clean(self) -> bool:
        return not self.drift

    def to_json(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "campaigns": self.campaigns,
            "pledges": self.pledges,
            "counts": self.counts,
            "drift": [asdict(d) for d in self.drift],
        }

    def table(self) -> str:
        """The drift as a plain-text table (and the counts), for people."""
        head = ["kind", "campaign", "pledge", "stripe", "ours", "stripe says", "fix"]
        rows = [head] + [d.row() for d in self.drift]
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        summary = ", ".join(f"{k}: {n}" for k, n in self.counts.items())
        verdict = "no drift" if self.clean else f"{len(self.drift)} drifted"
        return "\n".join(
            [
                *(lines if self.drift else []),
                f"{self.campaigns} campaigns, {self.pledges} pledges: {verdict} ({summary})",
            ]
        )


class _Paced:
    """The Connect/read gateway with each call waiting for the limiter."""

    def __init__(self, target: Any, limiter: RateLimiter | None) -> None:
        self._target, self._limiter = target, limiter

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if self._limiter is None or not callable(attr):
            return attr
        limiter = self._limiter

        def paced(*args: Any, **kwargs: Any) -> Any:
            limiter.acquire()
            return attr(*args, **kwargs)

        return paced


def campaigns_to_check(
    svc: Services, *, campaign_id: str | None, since: datetime | None
) -> Iterator[Campaign]:
    """One campaign, or every campaign (by status) whose deadline is at or
    after `since` (money only moves from the deadline on)."""
    if campaign_id is not None:
        yield svc.store.get_campaign(campaign_id)
        return
    for status in CampaignStatus:
        cursor: str | None = None
        while True:
            page = svc.store.list_campaigns(status=status, limit=100, after=cursor)
            for campaign in page.items:
                if since is None or campaign.deadline >= since:
                    yield campaign
            if page.next_cursor is None:
                break
            cursor = page.next_cursor


def reconcile(
    svc: Services,
    *,
    campaign_id: str | None = None,
    since: datetime | None = None,
    fix: bool = False,
) -> Report:
    stripe = _Paced(svc.connect, share_of(svc.settings.reconcile_requests_per_second))
    now = svc.clock.now()
    report = Report(started_at=to_rfc3339(now))
    stray = _stray_payments(stripe, max(since or now - EVENT_MEMORY, now - EVENT_MEMORY))
    for campaign in campaigns_to_check(svc, campaign_id=campaign_id, since=since):
        report.campaigns += 1
        refunded = 0
        for pledge in svc.store.all_pledges(campaign.id):
            report.pledges += 1
            refunded += pledge.refunded_amount
            report.drift.extend(_check_pledge(stripe, campaign, pledge, stray.get(pledge.id, ())))
        report.drift.extend(_check_payout(svc, stripe, campaign, refunded))
    if fix:
        for drift in report.drift:
            if drift.fixable:
                drift.fixed = _fix(svc, stripe, drift)
    report.finished_at = to_rfc3339(svc.clock.now())
    for kind, count in report.counts.items():
        metrics.add_metric(name=METRIC_NAMES[kind], unit="Count", value=count)
    logger.info("reconciled", extra={"counts": report.counts, "pledges": report.pledges})
    return report


# ---------------------------------------------------------------- pledges


def _stray_payments(stripe: Any, since: datetime) -> dict[str, set[str]]:
    """pledge id -> PaymentIntents that took money for it (their metadata
    says), from Stripe's `payment_intent.succeeded` events since `since`:
    payments on intents we never recorded (a hold-flow pledge has no
    Customer to list them by)."""
    found: dict[str, set[str]] = {}
    for intent in stripe.succeeded_payments(int(since.timestamp())):
        pledge_id = (intent.get("metadata") or {}).get("pledge_id")
        if isinstance(pledge_id, str) and isinstance(intent.get("id"), str):
            found.setdefault(pledge_id, set()).add(intent["id"])
    return found


def _intents(stripe: Any, pledge: Pledge, stray: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """Every PaymentIntent Stripe has for the pledge, by id (`stray`: more
    ids its events named)."""
    found: dict[str, dict[str, Any]] = {}
    if pledge.payment.flow is PaymentFlow.SETUP and pledge.payment.customer_id:
        for intent in stripe.intents_of_customer(pledge.payment.customer_id):
            if (intent.get("metadata") or {}).get("pledge_id") in (pledge.id, None):
                found[intent["id"]] = intent
    known = {
        pledge.payment.intent_id,
        pledge.payment.charge_intent_id,
        *pledge.late_refunds,
        *stray,
    }
    for intent_id in sorted(i for i in known if i and i.startswith("pi_") and i not in found):
        intent = stripe.payment_intent(intent_id)
        if intent is not None:
            found[intent_id] = intent
    return found


def _money(amount: int, currency: str) -> str:
    return f"{amount} {currency}"


def _check_pledge(
    stripe: Any, campaign: Campaign, pledge: Pledge, stray: Iterable[str] = ()
) -> list[Drift]:
    intents = _intents(stripe, pledge, stray)
    paid = {i: p for i, p in intents.items() if p.get("status") == "succeeded"}
    refunded = {i: stripe.refunded(i) for i in paid}
    collecting = charge_intent(pledge)
    currency = pledge.amount.currency
    drift: list[Drift] = []

    def found(kind: str, stripe_id: str | None, ours: str, theirs: str, fixable=False) -> None:
        drift.append(Drift(kind, campaign.id, pledge.id, stripe_id, ours, theirs, fixable=fixable))

    ours_paid = pledge.status in PAID
    for intent_id, intent in sorted(paid.items()):
        if ours_paid and intent_id == collecting:
            continue
        kept = int(intent.get("amount_received") or 0) - refunded[intent_id]
        if intent_id in pledge.late_refunds:
            if kept > 0:
                found(
                    REFUND_MISMATCH,
                    intent_id,
                    "late payment refunded",
                    f"{_money(kept, currency)} not refunded",
                )
            continue
        if kept > 0:
            found(
                PAID_IN_STRIPE_NOT_OURS,
                intent_id,
                pledge.status.value,
                f"succeeded, {_money(kept, currency)} kept",
                fixable=pledge.status is not PledgeStatus.PENDING,
            )
    if not ours_paid:
        return drift
    intent = paid.get(collecting or "")
    if intent is None:
        theirs = intents[collecting]["status"] if collecting in intents else "no such payment"
        found(OURS_NOT_IN_STRIPE, collecting, pledge.status.value, theirs)
        return drift
    received = int(intent.get("amount_received") or 0)
    if received != pledge.to_charge:
        found(
            AMOUNT_MISMATCH,
            collecting,
            _money(pledge.to_charge, currency),
            _money(received, currency),
        )
    ours_refunded = pledge.refunded_amount or (
        pledge.to_charge if pledge.status is PledgeStatus.REFUNDED else 0
    )
    theirs_refunded = refunded[collecting or ""]
    if ours_refunded != theirs_refunded:
        found(
            REFUND_MISMATCH,
            collecting,
            f"{_money(ours_refunded, currency)} refunded",
            f"{_money(theirs_refunded, currency)} refunded",
            fixable=theirs_refunded > ours_refunded,
        )
    return drift


# ---------------------------------------------------------------- payouts


def _check_payout(svc: Services, stripe: Any, campaign: Campaign, refunded: int) -> list[Drift]:
    """`refunded`: what the campaign's pledges have given back so far."""
    payout = svc.payout_book.payout(campaign.id)
    if payout is None and not svc.settings.payouts_enabled:
        return []
    transfers = stripe.transfers_of(campaign.id)
    kept = {t["id"]: t["amount"] - t["amount_reversed"] for t in transfers}
    sent = sum(kept.values())
    currency = campaign.currency
    drift: list[Drift] = []

    def found(ours: str, theirs: str, stripe_id: str | None = None, fixable=False) -> None:
        drift.append(
            Drift(PAYOUT_MISMATCH, campaign.id, None, stripe_id, ours, theirs, fixable=fixable)
        )

    transfer_ids = ",".join(sorted(kept)) or None
    theirs = f"{len(transfers)} transfers, {_money(sent, currency)} kept by the organizer"
    if payout is None:
        if payouts.collection_complete(campaign):
            found("due, no payout", theirs, transfer_ids, fixable=not transfers)
        elif transfers:
            found("no payout", theirs, transfer_ids)
        return drift
    if campaign.status is CampaignStatus.REFUNDED and payout.status is not PayoutStatus.REVERSED:
        # The refund's end did not reverse it (a crash between the two):
        # `payouts.reverse_after_refund` is for a person to run.
        found(f"{payout.status.value}, campaign refunded", theirs, transfer_ids)
        return drift
    match payout.status:
        case PayoutStatus.PAID:
            expected = {payout.transfer_id: payout.amounts.amount} if payout.transfer_id else {}
            if kept != expected:
                found(f"paid {_money(payout.amounts.amount, currency)}", theirs, transfer_ids)
            elif refunded > payout.amounts.refunded:
                # Pledges refunded one by one after the payout: the platform
                # gave that money back, the organizer still holds it. Only a
                # person decides whether to reverse part of the transfer.
                since = refunded - payout.amounts.refunded
                found(
                    f"paid {_money(payout.amounts.amount, currency)}, then "
                    f"{_money(since, currency)} refunded to backers",
                    theirs,
                    transfer_ids,
                )
        case PayoutStatus.REVERSED:
            if sent:
                found("reversed", theirs, transfer_ids)
        case PayoutStatus.NOT_READY | PayoutStatus.PENDING:
            if transfers:  # a transfer made, its record not written: the worker finishes it
                found(payout.status.value, theirs, transfer_ids, fixable=True)
            elif payout.status is PayoutStatus.PENDING:
                found("pending", theirs, fixable=True)
    return drift


# ---------------------------------------------------------------- fixes


def _fix(svc: Services, stripe: Any, drift: Drift) -> str | None:
    """The forward-only repair of one drift; what it did (None: nothing)."""
    from . import webhooks  # the webhook's own processing

    if drift.kind == PAYOUT_MISMATCH:
        svc.queue.send(PayOut(drift.campaign_id))
        return "PayOut sent"
    if drift.stripe_id is None:
        return None
    intent = stripe.payment_intent(drift.stripe_id)
    if intent is None:
        return None
    if drift.kind == PAID_IN_STRIPE_NOT_OURS:
        event_type, obj = "payment_intent.succeeded", intent
    elif drift.kind == REFUND_MISMATCH and intent.get("latest_charge"):
        event_type, obj = "charge.refunded", stripe.charge(intent["latest_charge"])
    else:
        return None
    event = {
        "id": f"evt_reconcile_{obj['id']}_{event_type}",
        "object": "event",
        "type": event_type,
        "created": int(svc.clock.now().timestamp()),
        "data": {"object": json.loads(json.dumps(obj))},
    }
    outcome = webhooks.process(svc, event)
    logger.info("reconcile fix", extra={"type": event_type, "outcome": outcome})
    applied = "->" in outcome or outcome in APPLIED
    return f"{event_type}: {outcome}" if applied else f"not applied ({outcome})"
