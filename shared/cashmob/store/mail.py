"""Which emails went out (`ports.MailLog`), in the processed-events table
beside the Stripe events: one item per email, keyed `email:<pledge>:<kind>…`
(no personal data), forgotten after `KEEP` (far past SQS's 14-day retention,
so no redelivery outlives its record).

A claim is a conditional put: it succeeds if no item exists, or if an
earlier claim was abandoned (still `sending` past its lease: that process
died between claiming and sending). Once sent, no claim succeeds again."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, PutError, UpdateError
from pynamodb.models import Model

from ..clock import epoch
from ..config import Settings

KEEP = timedelta(days=30)
SENDING = "sending"
SENT = "sent"


@lru_cache(maxsize=8)
def mail_model(table: str, region: str) -> type[Model]:
    aws_region = region

    class MailModel(Model):
        """One email to a backer, on the processed-events table's key."""

        class Meta:
            table_name = table
            region = aws_region

        event_id = UnicodeAttribute(hash_key=True)  # email:<pledge id>:<kind>[:<event id>]
        event_type = UnicodeAttribute()  # "email"
        state = UnicodeAttribute()  # sending | sent
        lease_until = NumberAttribute()
        processed_at = NumberAttribute()
        expires_at = TTLAttribute()

    return MailModel


def _conditional(error: Exception) -> bool:
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


class MailTable:
    def __init__(self, settings: Settings) -> None:
        self.Model: Any = mail_model(settings.events_table, settings.aws_region)

    def claim(self, key: str, now: datetime, *, lease: timedelta) -> bool:
        M = self.Model
        item = M(
            key,
            event_type="email",
            state=SENDING,
            lease_until=epoch(now + lease),
            processed_at=epoch(now),
            expires_at=now + KEEP,
        )
        abandoned = (M.state == SENDING) & (M.lease_until < epoch(now))
        try:
            item.save(condition=M.event_id.does_not_exist() | abandoned)
        except PutError as error:
            if _conditional(error):
                return False
            raise
        return True

    def sent(self, key: str, now: datetime) -> None:
        M = self.Model
        try:
            M(key).update(
                actions=[M.state.set(SENT), M.processed_at.set(epoch(now))],
                condition=M.event_id.exists(),
            )
        except UpdateError as error:
            if not _conditional(error):
                raise

    def release(self, key: str) -> None:
        M = self.Model
        try:
            M(key).delete(condition=M.state == SENDING)
        except DeleteError as error:
            if not _conditional(error):
                raise
