"""Refunds (API.md; DESIGN.md "Money flow" 5): the organizer gives a
campaign's collected money back, or one pledge's, in full or in part; a
refund made in Stripe's dashboard arrives through the webhook
(`charge.refunded`, webhooks.handlers) and is reflected.

The campaign's refund runs on the settlement queue, one handler per message
type (registered in `settlement.HANDLERS`):
  SendRefundPage        - one page of collected pledges -> one RefundPledge each
  RefundPledge          - finish the pledge's refund in flight; while its campaign
                          is refunding, refund all that is left (or cancel a
                          charge the backer had not finished)
  CheckRefundCompletion - refunded once nothing is left to give back
The arithmetic and the transitions are pure (domain.refunds); `giving`
records each refund before Stripe is asked, so its key survives a crash.
"""

from __future__ import annotations

from .requests import refund_campaign, refund_pledge
from .steps import (
    check_refund_completion,
    send_refund_page,
    sweep_refunding,
)
from .steps import refund_pledge as refund_pledge_step

__all__ = [
    "check_refund_completion",
    "refund_campaign",
    "refund_pledge",
    "refund_pledge_step",
    "send_refund_page",
    "sweep_refunding",
]
