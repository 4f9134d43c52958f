"""`ports.IntakeLedger` and `ports.IntakeQueue`, run against the real adapters
(DynamoDB's counters table and the FIFO intake queue in moto, from
template.yaml) and the in-memory fakes the service tests use."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest

from cashmob.domain.errors import NotFound
from cashmob.domain.messages import PreparePledge, decode_intake
from cashmob.messaging import IntakeQueue
from tests.memory import MemoryIntakeQueue, MemoryStore
from tests.unit import factories
from tests.unit.factories import NOW

EXPIRES = NOW + timedelta(minutes=5)


@pytest.fixture(params=["dynamodb", "memory"])
def ledger(request):
    if request.param == "memory":
        return MemoryStore()
    return request.getfixturevalue("services").store


def test_a_slot_is_taken_once_per_endpoint(ledger):
    assert ledger.claim_slot("payment_intents", 7, EXPIRES)
    assert not ledger.claim_slot("payment_intents", 7, EXPIRES)
    assert ledger.claim_slot("payment_intents", 8, EXPIRES)
    assert ledger.claim_slot("customers", 7, EXPIRES)  # another endpoint's budget


def test_the_slots_taken_ahead_are_read_together(ledger):
    for slot in (7, 9, 40):
        assert ledger.claim_slot("customers+setup_intents", slot, EXPIRES)
    assert ledger.claim_slot("payment_intents", 8, EXPIRES)  # another key's
    assert ledger.taken_slots("customers+setup_intents", 6, 16) == {7, 9}
    assert ledger.taken_slots("customers+setup_intents", 10, 16) == set()
    assert ledger.taken_slots("customers+setup_intents", 0, 100) == {7, 9, 40}


def test_tickets_come_in_order_and_a_pledge_keeps_its_own(ledger):
    assert ledger.intake_progress().queued == 0 and ledger.ticket_of("c", "p1") is None
    assert ledger.take_ticket("c", "p1", NOW) == (1, True)
    assert ledger.take_ticket("c", "p2", NOW) == (2, True)
    assert ledger.take_ticket("c", "p1", NOW) == (1, False)  # queued again: same ticket
    assert ledger.ticket_of("c", "p1") == 1
    progress = ledger.intake_progress()
    assert (progress.queued, progress.served, progress.waiting) == (2, 0, 2)
    assert progress.updated_at == int(NOW.timestamp())


def test_a_ticket_taken_unread_is_the_next_one_and_a_held_ticket_still_wins(ledger):
    # The API has just created the pledge (or seen it without a ticket): no read first
    assert ledger.take_ticket("c", "p1", NOW, unticketed=True) == (1, True)
    assert ledger.ticket_of("c", "p1") == 1
    # A replay raced it and took the ticket first: the pledge keeps that one,
    # and the number the counter gave this call is used up, never served
    assert ledger.take_ticket("c", "p1", NOW, unticketed=True) == (1, False)
    assert ledger.take_ticket("c", "p2", NOW, unticketed=True) == (3, True)
    assert ledger.intake_progress().queued == 3


def test_served_only_moves_up(ledger):
    for pledge_id in ("p1", "p2", "p3"):
        ledger.take_ticket("c", pledge_id, NOW)
    later = NOW + timedelta(seconds=5)
    ledger.mark_served(2, later)
    ledger.mark_served(1, later + timedelta(seconds=5))  # another group, behind: no effect
    progress = ledger.intake_progress()
    assert (progress.served, progress.waiting) == (2, 1)
    assert progress.updated_at == int(later.timestamp())


def test_pledge_creation_reads_the_campaign_the_pledge_and_the_queue_together(ledger):
    ledger.create_campaign(factories.campaign())
    campaign, pledge, progress = ledger.campaign_pledge_and_intake("cmp_test", "plg_test")
    assert campaign.id == "cmp_test" and pledge is None
    assert (progress.queued, progress.served, progress.updated_at) == (0, 0, None)
    ledger.create_pledge(factories.pledge())
    for pledge_id in ("p1", "p2", "p3"):
        ledger.take_ticket("c", pledge_id, NOW)
    ledger.mark_served(1, NOW + timedelta(seconds=5))
    campaign, pledge, progress = ledger.campaign_pledge_and_intake("cmp_test", "plg_test")
    assert pledge is not None and pledge.id == "plg_test"
    assert progress == ledger.intake_progress()
    assert (progress.queued, progress.served, progress.waiting) == (3, 1, 2)
    with pytest.raises(NotFound):
        ledger.campaign_pledge_and_intake("cmp_none", "plg_test")


@pytest.fixture(params=["sqs", "memory"])
def intake_queue(request):
    if request.param == "memory":
        queue = MemoryIntakeQueue()
        return queue, lambda: [m.pledge_id for m in queue.waiting]
    url = request.getfixturevalue("aws")["queues"]["IntakeQueue"]
    queue = IntakeQueue(url, "us-east-1", groups=4)

    def waiting():
        got = boto3.client("sqs").receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]
        )
        messages = got.get("Messages", [])
        for m in messages:  # the group id follows the ticket
            ticket = json.loads(m["Body"])["ticket"]
            assert m["Attributes"]["MessageGroupId"] == f"intake-{ticket % 4}"
        return [decode_intake(m["Body"]).pledge_id for m in messages]

    return queue, waiting


def test_a_pledge_sent_twice_is_delivered_once(intake_queue):
    queue, waiting = intake_queue
    queue.send(PreparePledge("c", "p1", 1))
    queue.send(PreparePledge("c", "p2", 2))
    queue.send(PreparePledge("c", "p1", 1))  # a replay sends it again
    assert sorted(waiting()) == ["p1", "p2"]
