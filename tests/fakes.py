"""In-memory fakes of the ports, for handler tests (the emulator is for contract and e2e tests)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from cashmob.domain import Money, PaymentFlow, Pledge
from cashmob.domain.errors import (
    ChargeOutcomeUnknown,
    PaymentProviderError,
    PaymentProviderUnavailable,
)
from cashmob.payments import ChargeResult, ChargeStatus, IntentRef

# What Stripe stored under an idempotency key whose request answered 5xx.
STORED_5XX = "5xx"


class StripeRefusal(Exception):
    """Stripe's invalid-request error, as far as the gateway's callers see it: its code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class Intent:
    """A PaymentIntent as the fake Stripe keeps it."""

    id: str
    pledge_id: str
    status: str  # requires_capture | requires_payment_method | succeeded | canceled
    attempt: int | None = None
    cancellation_reason: str | None = None


@dataclass
class FakeGateway:
    """A small Stripe: PaymentIntents with their states, idempotency keys that
    replay their first answer (a stored 5xx included), and a look-up that
    finds a pledge's payments. Knobs choose what Stripe does next."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    unavailable: int = 0  # the next N calls raise PaymentProviderUnavailable
    declines: set[str] = field(default_factory=set)  # pledge ids whose charge needs the backer
    refusals: dict[str, str] = field(default_factory=dict)  # pledge id -> Stripe's refusal code
    expired_holds: set[str] = field(default_factory=set)  # pledge ids whose hold Stripe cancelled
    # pledge id -> what the next charges/captures do before answering 5xx:
    # True = took the money, False = did nothing.
    outcome_unknown: dict[str, list[bool]] = field(default_factory=dict)
    charges: Counter = field(default_factory=Counter)  # pledge id -> successful answers
    # pledge id -> what each successful charge or capture asked for (a fair share, or the amount)
    amounts: dict[str, list[int]] = field(default_factory=dict)
    intents: dict[str, Intent] = field(default_factory=dict)
    keys: dict[str, Any] = field(default_factory=dict)  # idempotency key -> first answer
    refunds: dict[str, str] = field(default_factory=dict)  # intent id -> refund id
    refunded: Counter = field(default_factory=Counter)  # pledge id -> given back (refund_pledge)
    looked_up: list[str] = field(default_factory=list)  # "pledge:attempt" charged look-up first
    # pledge id -> the code Stripe refuses its pledge-time object with (for good)
    start_refusals: dict[str, str] = field(default_factory=dict)
    forgotten: Counter = field(default_factory=Counter)  # pledge id -> erasures asked of Stripe

    def _call(self, name: str, key: str) -> None:
        if self.unavailable:
            self.unavailable -= 1
            raise PaymentProviderUnavailable("Stripe is busy (fake).", retry_after=1)
        self.calls.append((name, key))

    def named(self, name: str) -> list[str]:
        return [key for n, key in self.calls if n == name]

    def taken(self) -> Counter:
        """pledge id -> PaymentIntents that took money (what Stripe's dashboard shows)."""
        return Counter(i.pledge_id for i in self.intents.values() if i.status == "succeeded")

    def of(self, pledge_id: str) -> list[Intent]:
        return [i for i in self.intents.values() if i.pledge_id == pledge_id]

    def pay(self, intent_id: str) -> None:
        """The backer finishes a charge with a working card (Stripe.js)."""
        intent = self.intents[intent_id]
        assert intent.status in ("requires_payment_method", "requires_action"), intent
        intent.status = "succeeded"

    # ---------------------------------------------------------------- pledge time

    def _refuse_start(self, step: str, pledge_id: str) -> None:
        code = self.start_refusals.get(pledge_id)
        if code is not None:  # as stripe_outcomes.rejected: Stripe's error is the cause
            raise PaymentProviderError(f"Stripe rejected the {step} request.") from StripeRefusal(
                code
            )

    def start_setup(
        self, *, campaign_id: str, pledge_id: str, email: str, amount: Money
    ) -> IntentRef:
        self._call("setup", pledge_id)
        self._refuse_start("setup", pledge_id)
        return IntentRef(f"seti_{pledge_id}", f"seti_{pledge_id}_secret_x", f"cus_{pledge_id}")

    def start_hold(
        self, *, campaign_id: str, pledge_id: str, email: str, amount: Money
    ) -> IntentRef:
        self._call("hold", pledge_id)
        self._refuse_start("hold", pledge_id)
        return IntentRef(f"pi_{pledge_id}", f"pi_{pledge_id}_secret_x")

    # ---------------------------------------------------------------- settlement

    @staticmethod
    def _answer(intent: Intent, decline_code: str | None = None) -> ChargeResult:
        if intent.status == "succeeded":
            return ChargeResult(ChargeStatus.SUCCEEDED, intent.id)
        if intent.status == "canceled":
            return ChargeResult(ChargeStatus.CANCELED, intent.id, reason=intent.cancellation_reason)
        return ChargeResult(
            ChargeStatus.NEEDS_BACKER,
            intent.id,
            f"{intent.id}_secret",
            decline_code or "card_declined",
        )

    def _replay(self, key: str) -> ChargeResult | None:
        """Stripe's first answer under `key`, as Stripe replays it."""
        first = self.keys.get(key)
        if first == STORED_5XX:
            raise ChargeOutcomeUnknown("Stripe replays the 500 stored under this key (fake).")
        return first

    def _unknown(self, pledge: Pledge, key: str, intent: Intent) -> None:
        """Answers 5xx if the knob says so, after taking the money or not."""
        queue = self.outcome_unknown.get(pledge.id)
        if not queue:
            return
        if queue.pop(0):
            intent.status = "succeeded"
            self.intents[intent.id] = intent
        self.keys[key] = STORED_5XX
        raise ChargeOutcomeUnknown("Stripe answered 500 (fake).")

    def _counted(self, pledge: Pledge, result: ChargeResult) -> ChargeResult:
        if result.status is ChargeStatus.SUCCEEDED:
            self.charges[pledge.id] += 1
            self.amounts.setdefault(pledge.id, []).append(pledge.to_charge)
        return result

    def charge(self, pledge: Pledge, *, attempt: int, look_up_first: bool) -> ChargeResult:
        self._call("charge", f"{pledge.id}:{attempt}")
        assert pledge.payment.flow is PaymentFlow.SETUP
        if look_up_first:
            self.looked_up.append(f"{pledge.id}:{attempt}")
        return self._counted(pledge, self._charge(pledge, attempt, look_up_first))

    def _charge(self, pledge: Pledge, attempt: int, look_up_first: bool) -> ChargeResult:
        if look_up_first:  # as the gateway does: a payment that took money, else this attempt's
            mine = self.of(pledge.id)
            for intent in mine:
                if intent.status == "succeeded":
                    return self._answer(intent)
            for intent in mine:
                if intent.attempt == attempt:
                    return self._answer(intent)
        key = f"{pledge.id}:charge:{attempt}"
        replayed = self._replay(key)
        if replayed is not None:
            return replayed
        if pledge.id in self.refusals:
            result = ChargeResult(ChargeStatus.REFUSED, None, reason=self.refusals[pledge.id])
        else:
            intent = Intent(f"pi_charge_{pledge.id}_{attempt}", pledge.id, "succeeded", attempt)
            self._unknown(pledge, key, intent)
            if pledge.id in self.declines:
                intent.status = "requires_payment_method"
            self.intents[intent.id] = intent
            result = self._answer(intent)
        self.keys[key] = result
        return result

    def _hold(self, pledge: Pledge) -> Intent:
        intent_id = pledge.payment.intent_id
        assert intent_id is not None
        if intent_id not in self.intents:
            self.intents[intent_id] = Intent(intent_id, pledge.id, "requires_capture")
        return self.intents[intent_id]

    def capture(self, pledge: Pledge, *, attempt: int = 0) -> ChargeResult:
        self._call("capture", pledge.id if attempt == 0 else f"{pledge.id}:{attempt}")
        assert pledge.payment.flow is PaymentFlow.HOLD
        return self._counted(pledge, self._capture(pledge, attempt))

    def _capture(self, pledge: Pledge, attempt: int) -> ChargeResult:
        hold = self._hold(pledge)
        if pledge.id in self.expired_holds and hold.status == "requires_capture":
            hold.status, hold.cancellation_reason = "canceled", "automatic"
        key = f"{pledge.id}:capture:{attempt}"
        replayed = self._replay(key)
        if replayed is not None:
            return replayed
        if hold.status in ("succeeded", "canceled"):  # the intent's own state answers
            return self._answer(hold)
        if pledge.id in self.refusals:
            result = ChargeResult(ChargeStatus.REFUSED, None, reason=self.refusals[pledge.id])
        else:
            self._unknown(pledge, key, hold)
            hold.status = "requires_payment_method" if pledge.id in self.declines else "succeeded"
            result = self._answer(hold)
        self.keys[key] = result
        return result

    def cancel(self, pledge: Pledge) -> None:
        self._call("cancel", pledge.id)
        assert pledge.payment.intent_id is not None, "nothing at Stripe to cancel"
        if pledge.payment.flow is PaymentFlow.HOLD:
            hold = self._hold(pledge)
            if hold.status != "succeeded":
                hold.status = "canceled"
                hold.cancellation_reason = hold.cancellation_reason or "requested_by_customer"

    def cancel_payment(self, pledge: Pledge, intent_id: str) -> ChargeResult:
        self._call("cancel_payment", intent_id)
        intent = self.intents.setdefault(
            intent_id, Intent(intent_id, pledge.id, "requires_payment_method")
        )
        if intent.status not in ("succeeded", "canceled"):
            intent.status, intent.cancellation_reason = "canceled", "requested_by_customer"
        return self._answer(intent)

    def refund(self, pledge: Pledge, intent_id: str, *, amount: int | None = None) -> str:
        self._call("refund", intent_id)
        intent = self.intents[intent_id]
        assert intent.status == "succeeded" and intent.pledge_id == pledge.id, intent
        return self.refunds.setdefault(intent_id, f"re_{intent_id}")

    def refund_pledge(self, pledge: Pledge, intent_id: str, *, look_up_first: bool) -> str:
        """A collected pledge's refund in flight, under the key of its number;
        a replayed key answers the refund it made. `refunded` keeps the money."""
        r = pledge.refunds
        key = f"pledge:{pledge.id}:refund-{r.number}"
        self._call("refund_pledge", key)
        if key in self.keys:
            return self.keys[key]
        intent = self.intents.get(intent_id)
        assert intent is not None and intent.status == "succeeded", intent
        refund_id = f"re_{pledge.id}_{r.number}"
        self.keys[key] = refund_id
        self.refunded[pledge.id] += r.pending
        return refund_id

    def forget_backer(self, pledge: Pledge) -> None:
        """The Customer's email unset (erasure): `forgotten` counts the pledge."""
        self._call("forget_backer", f"pledge:{pledge.id}:forget-customer")
        self.forgotten[pledge.id] += 1


@dataclass
class FakeWall:
    """Real time for the Stripe budget, moved only by its own sleeps (and tests)."""

    now: float = 1_800_000_000.0
    slept: list[float] = field(default_factory=list)

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class FakeEvents:
    """The domain event bus: the events published, in order. Each one's
    detail must validate against its detail-type's JSON Schema
    (shared/cashmob/domain/event_schemas.json, docs/events.md) as it would
    reach EventBridge: every test that publishes checks the contract."""

    events: list[Any] = field(default_factory=list)  # the DomainEvent objects
    _validators: ClassVar[dict[str, Any]] = {}

    def publish(self, event: Any) -> None:
        self._check(event)
        self.events.append(event)

    def publish_all(self, events: Any) -> None:
        for event in events:
            self.publish(event)

    @property
    def published(self) -> list[tuple[str, Mapping[str, Any]]]:
        """(detail-type, detail) of each event, in order."""
        return [(e.detail_type, e.detail()) for e in self.events]

    def named(self, detail_type: str) -> list[Mapping[str, Any]]:
        return [d for t, d in self.published if t == detail_type]

    @classmethod
    def _check(cls, event: Any) -> None:
        import json

        import fastjsonschema

        from cashmob.domain.events import EVENT_TYPES, SCHEMA_FILE, DomainEvent

        assert isinstance(event, DomainEvent), f"not a domain event: {event!r}"
        assert EVENT_TYPES.get(event.detail_type) is type(event), event.detail_type
        if not cls._validators:
            schemas = json.loads(SCHEMA_FILE.read_text())
            cls._validators.update({k: fastjsonschema.compile(v) for k, v in schemas.items()})
        detail = json.loads(json.dumps(event.detail()))  # as it goes on the wire
        try:
            cls._validators[event.detail_type](detail)
        except fastjsonschema.JsonSchemaException as error:
            raise AssertionError(f"{event.detail_type} {detail}: {error}") from None
