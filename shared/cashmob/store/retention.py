"""The retention sweep's bookkeeping (`ports.RetentionLog`), in the
processed-events table: a campaign whose personal data is erased, and an hour
in which the sweep found nothing due (so the minutely sweep looks again only
in the next hour). Keys hold ids and times only."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model

from ..clock import epoch
from ..config import Settings


@lru_cache(maxsize=8)
def retention_model(table: str, region: str) -> type[Model]:
    aws_region = region

    class RetentionModel(Model):
        class Meta:
            table_name = table
            region = aws_region

        event_id = UnicodeAttribute(hash_key=True)  # retention:<what>
        event_type = UnicodeAttribute()  # "retention"
        processed_at = NumberAttribute()
        expires_at = TTLAttribute(null=True)  # None: kept

    return RetentionModel


class RetentionTable:
    def __init__(self, settings: Settings) -> None:
        self.Model: Any = retention_model(settings.events_table, settings.aws_region)

    def marked(self, key: str) -> bool:
        try:
            self.Model.get(f"retention:{key}", consistent_read=True)
        except DoesNotExist:
            return False
        return True

    def mark(self, key: str, now: datetime, *, keep: timedelta | None = None) -> None:
        self.Model(
            f"retention:{key}",
            event_type="retention",
            processed_at=epoch(now),
            expires_at=None if keep is None else now + keep,
        ).save()
