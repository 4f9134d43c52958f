"""The organizer's CSV of every pledge (API.md `GET /campaigns/{id}/pledges.csv`)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from ..clock import to_rfc3339
from ..container import Services
from ..domain import Pledge
from ..domain.errors import Forbidden

COLUMNS = (
    "id",
    "created_at",
    "status",
    "amount",
    "charged",
    "currency",
    "email",
    "display_name",
    "anonymous",
    "message",
)
# A cell a spreadsheet would run as a formula starts with one of these.
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str | None) -> str:
    text = text or ""
    return "'" + text if text.startswith(FORMULA) else text


def _row(pledge: Pledge) -> tuple[str | int, ...]:
    b = pledge.backer
    return (
        pledge.id,
        to_rfc3339(pledge.created_at),
        pledge.status.value,
        pledge.amount.amount,
        pledge.charged,  # the amount, or a fixed_price fair share; 0 if nothing was taken
        pledge.amount.currency,
        _cell(b.email),
        _cell(b.display_name),
        "true" if b.anonymous else "false",
        _cell(b.message),
    )


def pledges_csv(svc: Services, campaign_id: str, organizer: str) -> Iterator[str]:
    """The CSV, a chunk per page of pledges: the store is read page by page
    and no more than one page of rows is held at a time."""
    campaign = svc.store.get_campaign(campaign_id)
    if campaign.organizer != organizer:
        raise Forbidden("Only the campaign's organizer may do this.")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for n, pledge in enumerate(svc.store.all_pledges(campaign_id), start=1):
        writer.writerow(_row(pledge))
        if n % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
