"""Flash intake's bookkeeping in the counters table: `ports.IntakeLedger`.

- `budget#<endpoint>#<slot>`: one Stripe request slot, taken by a conditional
  put (`attribute_not_exists`), so however many functions race for it, one
  gets it. Expires (TTL) a few minutes later. (`<endpoint>` is what the budget
  names it: a flow's endpoints together, `service.budget.slot_key`.)
- `intake#queue`: the intake queue's ticket counter. `queued` is ADDed at
  enqueue (the new value is the pledge's ticket); `served` only moves up (a
  conditional SET), to the highest ticket the workers finished.
- `intake#<campaign id>#<pledge id>`: the ticket a queued pledge holds, so a
  replay sends the same message again instead of queueing the pledge twice.

Each key is its own partition key: the slots of a busy second spread over
many partitions instead of funnelling into one item.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from ..clock import epoch
from ..ports import IntakeProgress
from .models import Tables

QUEUE_KEY = "intake#queue"
# A queued pledge's ticket is kept past any campaign's life in the queue.
TICKET_TTL_SECONDS = 14 * 86400


def _conditional(error: Exception) -> bool:
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


def _slot_key(endpoint: str, slot: int) -> str:
    return f"budget#{endpoint}#{slot}"


def _ticket_key(campaign_id: str, pledge_id: str) -> str:
    return f"intake#{campaign_id}#{pledge_id}"


def progress_of(counter: Any | None) -> IntakeProgress:
    """The ticket counter's item (`QUEUE_KEY`; None before the first ticket)."""
    if counter is None:
        return IntakeProgress(0, 0, None)
    return IntakeProgress(
        int(counter.queued or 0),
        int(counter.served or 0),
        None if counter.updated_at is None else int(counter.updated_at),
    )


class IntakeTable(Tables):
    def claim_slot(self, endpoint: str, slot: int, expires_at: datetime) -> bool:
        Intake = self.models.Intake
        item = Intake(_slot_key(endpoint, slot), 0, expires_at=expires_at)
        try:
            item.save(condition=Intake.campaign_id.does_not_exist())
        except PutError as error:
            if _conditional(error):
                return False
            raise
        return True

    def taken_slots(self, endpoint: str, first: int, count: int) -> set[int]:
        """Which of slots first .. first + count - 1 are taken: one strongly
        consistent BatchGetItem (count <= 100), so a worker looking for a free
        slot reads past the others' instead of trying a put on each."""
        Intake = self.models.Intake
        keys = [(_slot_key(endpoint, slot), 0) for slot in range(first, first + count)]
        found = Intake.batch_get(keys, consistent_read=True, attributes_to_get=["campaign_id"])
        return {int(item.campaign_id.rsplit("#", 1)[1]) for item in found}

    def ticket_of(self, campaign_id: str, pledge_id: str) -> int | None:
        try:
            item = self.models.Intake.get(
                _ticket_key(campaign_id, pledge_id), 0, consistent_read=True
            )
        except DoesNotExist:
            return None
        return None if item.ticket is None else int(item.ticket)

    def take_ticket(
        self, campaign_id: str, pledge_id: str, now: datetime, *, unticketed: bool = False
    ) -> tuple[int, bool]:
        # `unticketed`: the caller has just seen none, so no read first; the
        # conditional put below still finds one a racing replay took.
        held = None if unticketed else self.ticket_of(campaign_id, pledge_id)
        if held is not None:
            return held, False
        Intake = self.models.Intake
        counter = Intake(QUEUE_KEY, 0)
        counter.update(actions=[Intake.queued.add(1), Intake.updated_at.set(epoch(now))])
        ticket = int(counter.queued)
        mine = Intake(
            _ticket_key(campaign_id, pledge_id),
            0,
            ticket=ticket,
            expires_at=now + timedelta(seconds=TICKET_TTL_SECONDS),
        )
        try:
            mine.save(condition=Intake.campaign_id.does_not_exist())
        except PutError as error:
            if not _conditional(error):
                raise
            # A replay of the same pledge won the race: its ticket is the one.
            # Ours is never served; `intake_stale_seconds` keeps it from
            # holding newcomers back for long.
            won = self.ticket_of(campaign_id, pledge_id)
            assert won is not None
            return won, False
        return ticket, True

    def intake_progress(self) -> IntakeProgress:
        try:
            item = self.models.Intake.get(QUEUE_KEY, 0, consistent_read=True)
        except DoesNotExist:
            return progress_of(None)
        return progress_of(item)

    def mark_served(self, ticket: int, now: datetime) -> None:
        Intake = self.models.Intake
        try:
            Intake(QUEUE_KEY, 0).update(
                actions=[Intake.served.set(ticket), Intake.updated_at.set(epoch(now))],
                condition=Intake.served.does_not_exist() | (Intake.served < ticket),
            )
        except UpdateError as error:
            if not _conditional(error):
                raise
            # A later ticket was served already: `served` only moves up.
