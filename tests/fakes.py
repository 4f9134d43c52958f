"""A payments gateway fake for handler tests (the emulator is for contract and e2e tests)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from cashmob.domain import Money, Pledge
from cashmob.domain.errors import PaymentProviderUnavailable
from cashmob.payments import ChargeResult, ChargeStatus, IntentRef


@dataclass
class FakeGateway:
    calls: list[tuple[str, str]] = field(default_factory=list)
    unavailable: int = 0  # the next N calls raise PaymentProviderUnavailable
    declines: set[str] = field(default_factory=set)  # pledge ids whose charge needs the backer
    charges: Counter = field(default_factory=Counter)  # pledge id -> successful charges

    def _call(self, name: str, key: str) -> None:
        if self.unavailable:
            self.unavailable -= 1
            raise PaymentProviderUnavailable("Stripe is busy (fake).", retry_after=1)
        self.calls.append((name, key))

    def start_setup(
        self, *, campaign_id: str, pledge_id: str, email: str, amount: Money
    ) -> IntentRef:
        self._call("setup", pledge_id)
        return IntentRef(f"seti_{pledge_id}", f"seti_{pledge_id}_secret_x", f"cus_{pledge_id}")

    def start_hold(
        self, *, campaign_id: str, pledge_id: str, email: str, amount: Money
    ) -> IntentRef:
        self._call("hold", pledge_id)
        return IntentRef(f"pi_{pledge_id}", f"pi_{pledge_id}_secret_x")

    def charge(self, pledge: Pledge, *, attempt: int, look_up_first: bool) -> ChargeResult:
        self._call("charge", f"{pledge.id}:{attempt}")
        intent = f"pi_charge_{pledge.id}_{attempt}"
        if pledge.id in self.declines:
            return ChargeResult(
                ChargeStatus.NEEDS_BACKER, intent, f"{intent}_secret", "card_declined"
            )
        self.charges[pledge.id] += 1
        return ChargeResult(ChargeStatus.SUCCEEDED, intent)

    def capture(self, pledge: Pledge) -> ChargeResult:
        self._call("capture", pledge.id)
        self.charges[pledge.id] += 1
        return ChargeResult(ChargeStatus.SUCCEEDED, pledge.payment.intent_id)

    def cancel(self, pledge: Pledge) -> None:
        self._call("cancel", pledge.id)

    def flag_needs_backer(self, pledge: Pledge, intent_id: str) -> None:
        self._call("flag", intent_id)
