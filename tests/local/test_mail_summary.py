"""The demo's last line: emails counted by kind once the notification queue
is empty; a backlog that stops shrinking is reported, never a failure."""

from __future__ import annotations

from typing import Any

from cashmob_local import mail


class FakeApi:
    def __init__(self, backlogs: list[int], subjects: list[str]) -> None:
        self.backlogs = backlogs
        self.subjects = subjects

    def status(self) -> dict[str, Any]:
        left = self.backlogs.pop(0) if len(self.backlogs) > 1 else self.backlogs[0]
        return {"queues": {"NotificationQueue": {"visible": left, "in_flight": 0}}}

    def ok(self, method: str, path: str) -> dict[str, Any]:
        assert (method, path) == ("GET", "/_local/mail")
        return {"messages": [{"subject": s} for s in self.subjects]}


SUBJECTS = [
    "Your pledge to The ad is in",
    "Your pledge to The ad is in",
    "You paid £7.70 to The ad",
]


def test_it_waits_for_the_queue_to_drain_then_counts_by_kind(monkeypatch):
    monkeypatch.setattr(mail.time, "sleep", lambda _: None)
    api = FakeApi([5, 3, 1, 0], SUBJECTS)
    assert mail.summary(api) == "emails to backers (3): collected 1, receipt 2"
    assert api.backlogs == [0]  # it polled until the queue was empty


def test_a_backlog_that_stops_shrinking_is_counted_not_waited_for(monkeypatch):
    clock = iter(float(t) for t in range(0, 10_000, 5))
    monkeypatch.setattr(mail.time, "sleep", lambda _: None)
    monkeypatch.setattr(mail.time, "monotonic", lambda: next(clock))
    api = FakeApi([7, 4, 4], SUBJECTS[:1])
    line = mail.summary(api, stalled_after=30.0)
    assert line == "emails to backers (1): receipt 1; 4 events still queued for the notifier"
