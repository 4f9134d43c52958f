"""In-memory stand-ins for the notifier's and the retention sweep's ports
(`ports.Mailer`, `ports.MailLog`, `ports.RetentionLog`), held to the same
behaviour as the DynamoDB and SES adapters (tests/integration)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cashmob.notify.emails import Email


@dataclass
class FakeMailer:
    """Every email sent, in order."""

    sent: list[Email] = field(default_factory=list)

    def send(self, email: Email, *, sent_at: datetime) -> None:
        self.sent.append(email)


@dataclass
class MemoryMailLog:
    claims: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # key -> state, lease end

    def claim(self, key: str, now: datetime, *, lease: timedelta) -> bool:
        held = self.claims.get(key)
        if held is not None and (held[0] == "sent" or held[1] >= now):
            return False
        self.claims[key] = ("sending", now + lease)
        return True

    def sent(self, key: str, now: datetime) -> None:
        if key in self.claims:
            self.claims[key] = ("sent", self.claims[key][1])

    def release(self, key: str) -> None:
        if self.claims.get(key, ("",))[0] == "sending":
            del self.claims[key]


@dataclass
class MemoryRetentionLog:
    marks: dict[str, datetime | None] = field(default_factory=dict)  # key -> forgotten after

    def marked(self, key: str) -> bool:
        return key in self.marks

    def mark(self, key: str, now: datetime, *, keep: timedelta | None = None) -> None:
        self.marks[key] = None if keep is None else now + keep
