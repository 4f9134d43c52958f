"""Use cases over the in-memory adapters (tests/memory.py, tests/fakes.py):
no moto, no Stripe emulator, no sockets. Each test reads given / when / then."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from cashmob.clock import FrozenClock
from cashmob.config import Settings
from cashmob.container import Services
from cashmob.domain import FundingModel, Pledge, PledgeStatus
from cashmob.service import campaigns, pledges
from cashmob.service.budget import StripeBudget
from tests.fakes import FakeEvents, FakeGateway, FakeWall
from tests.memory import MemoryIntakeQueue, MemoryQueue, MemoryStore
from tests.notify_fakes import FakeMailer, MemoryMailLog, MemoryRetentionLog
from tests.unit.factories import NOW

ORGANIZER = "alice"


class _NoSockets(socket.socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("service tests run on fakes: no sockets")


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch):
    monkeypatch.setattr(socket, "socket", _NoSockets)


@dataclass
class World:
    """The services a use case runs with, and each fake to look at afterwards."""

    svc: Services
    clock: FrozenClock
    store: MemoryStore
    stripe: FakeGateway
    queue: MemoryQueue
    events: FakeEvents
    intake: MemoryIntakeQueue
    wall: FakeWall

    # ---------------------------------------------------------------- given

    def campaign(self, *, days: float = 10, **overrides: Any) -> str:
        """A live campaign of ORGANIZER's, `days` from its deadline; its id."""
        return campaigns.create(self.svc, **campaign_input(self.clock, days=days, **overrides))[
            "id"
        ]

    def pledge(
        self, campaign_id: str, key: str = "key-1", **body: Any
    ) -> tuple[dict[str, Any], int]:
        """The answer and its HTTP status (201 ready, 202 preparing, 200 replay)."""
        return pledges.create(self.svc, campaign_id, key, pledge_body(**body))

    def budget(self, rate: float) -> None:
        """The pledge-time Stripe budget at `rate` requests/s per endpoint."""
        self.svc.settings = self.svc.settings.model_copy(
            update={"stripe_intake_requests_per_second": rate}
        )
        self.svc.budget = StripeBudget(self.store, rate, wall=self.wall.time, sleep=self.wall.sleep)

    def confirmed(self, campaign_id: str, key: str = "key-1", **body: Any) -> tuple[str, str]:
        """A pledge the backer confirmed with Stripe (what the webhook does):
        its id and pledge token."""
        answer, _ = self.pledge(campaign_id, key, **body)
        stored = self.stored(campaign_id, answer["pledge"]["id"])
        self.store.save_pledge(
            stored,
            stored.moved_to(PledgeStatus.ACTIVE, activated_at=self.clock.now()),
            open_campaign_at=self.clock.now(),
        )
        return stored.id, answer["pledge_token"]

    # ---------------------------------------------------------------- then

    def stored(self, campaign_id: str, pledge_id: str) -> Pledge:
        return self.store.get_pledge(campaign_id, pledge_id)

    def published(self) -> int:
        """How many domain events went out (their shapes are tests/integration's)."""
        return len(self.events.published)


def campaign_input(clock: FrozenClock, *, days: float = 10, **overrides: Any) -> dict[str, Any]:
    return {
        "organizer": ORGANIZER,
        "title": "Full-page ad",
        "description": "",
        "goal_amount": 10_000,
        "goal_currency": "gbp",
        "deadline": clock.now() + timedelta(days=days),
        "funding_model": FundingModel.ALL_OR_NOTHING,
        "min_backers": 0,
        "min_pledge_amount": 300,
        "min_pledge_currency": None,
        **overrides,
    }


def pledge_body(**overrides: Any) -> dict[str, Any]:
    return {"amount": 1000, "currency": "gbp", "email": "ada@example.org", **overrides}


@pytest.fixture
def world() -> World:
    clock = FrozenClock(NOW)
    settings = Settings(
        stripe_secret_key="sk_test_unit",
        stripe_webhook_secret="whsec_unit",
        pledge_token_secret="pledge-token-secret-for-tests",
        settlement_delay_seconds=0,
    )
    store, stripe, queue, events = MemoryStore(), FakeGateway(), MemoryQueue(), FakeEvents()
    intake, wall = MemoryIntakeQueue(), FakeWall()
    svc = Services(
        settings,
        clock=clock,
        store=store,
        payments=stripe,
        queue=queue,
        intake=intake,
        events=events,
        budget=StripeBudget(store, 0, wall=wall.time, sleep=wall.sleep),
        mailer=FakeMailer(),
        mail_log=MemoryMailLog(),
    )
    svc.retention = MemoryRetentionLog()
    return World(svc, clock, store, stripe, queue, events, intake, wall)
