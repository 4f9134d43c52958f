"""What AWS does around the functions, on one machine: the SQS event source
(batches, partial failures, visibility timeouts, redelivery, the DLQ through
the queue's own redrive policy; FIFO queues keep a message group to one
consumer at a time, as moto's SQS does) and the settlement schedule as a tick."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

from cashmob.observability import logger

Invoke = Callable[[str, dict[str, Any]], dict[str, Any]]


def sqs_record(
    message: dict[str, Any], queue_arn: str, region: str = "us-east-1"
) -> dict[str, Any]:
    """An SQS event record for a received message, as Lambda's event source builds it."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": dict(message.get("MessageAttributes") or {}),
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def event_sources(template_functions: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The SQS event source mappings the template declares."""
    found = []
    for function, props in template_functions.items():
        for event in props.get("Events", {}).values():
            if event["Type"] == "SQS":
                p = event["Properties"]
                found.append(
                    {
                        "function": function,
                        "queue": p["Queue"]["Fn::GetAtt"][0],
                        "batch_size": int(p.get("BatchSize", 10)),
                        "partial": "ReportBatchItemFailures" in p.get("FunctionResponseTypes", []),
                        # MaximumConcurrency as declared (a number or a !Ref), or None
                        "concurrency": p.get("ScalingConfig", {}).get("MaximumConcurrency"),
                    }
                )
    return found


def schedules(template_functions: dict[str, dict[str, Any]]) -> list[str]:
    return [
        function
        for function, props in template_functions.items()
        for event in props.get("Events", {}).values()
        if event["Type"] in ("ScheduleV2", "Schedule")
    ]


_RATE = re.compile(r"rate\((\d+) (minute|hour|day)s?\)")
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}
# Schedules at least this slow run when the stack's clock has moved that far
# since their last run; quicker ones (the settlement sweep) run every tick.
SLOW_SCHEDULE = 3600


def periods(template_functions: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Scheduled functions with a slow `rate(...)` (an hour or more): their
    period in seconds (a daily reconciliation runs once per day of the
    stack's clock, not at every tick)."""
    found = {}
    for function, props in template_functions.items():
        for event in props.get("Events", {}).values():
            if event["Type"] not in ("ScheduleV2", "Schedule"):
                continue
            p = event.get("Properties", {})
            rate = _RATE.fullmatch(str(p.get("ScheduleExpression") or p.get("Schedule") or ""))
            if rate and int(rate.group(1)) * _UNIT[rate.group(2)] >= SLOW_SCHEDULE:
                found[function] = int(rate.group(1)) * _UNIT[rate.group(2)]
    return found


# How long a poller's receive waits for a message (SQS long polling). Lambda's
# own pollers wait up to 20 s; every idle receive here is a request moto
# answers in Python (~6 ms of CPU, both sides), and with 1 s the stack's 24
# idle pollers made 24 of them a second. A message sent meanwhile still ends
# the wait at once; a stopping stack does not wait for the polls it leaves.
LONG_POLL_SECONDS = 5


class QueuePoller(threading.Thread):
    """Receives batches and invokes the function; deletes what succeeded. A
    failed record stays on the queue and comes back when its visibility
    timeout ends; SQS itself moves it to the DLQ after maxReceiveCount."""

    def __init__(
        self,
        sqs: Any,
        *,
        function: str,
        queue_url: str,
        queue_arn: str,
        batch_size: int,
        partial: bool,
        invoke: Invoke,
        stop: threading.Event,
        name: str,
        wait_seconds: int = LONG_POLL_SECONDS,
    ) -> None:
        super().__init__(daemon=True, name=name)
        self.wait_seconds = wait_seconds
        self.sqs = sqs
        self.function = function
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.batch_size = batch_size
        self.partial = partial
        self.invoke = invoke
        self.stop_event = stop
        self.busy = False  # a batch in hand (invoking the function, deleting)

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.poll_once()
            except Exception:
                if self.stop_event.is_set():
                    # The stack is stopping and shuts moto down under a long
                    # poll: the poll's error is the stop, not a fault.
                    return
                logger.exception("queue poller error", extra={"function": self.function})
                self.stop_event.wait(1.0)

    def poll_once(self) -> int:
        got = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = got.get("Messages", [])
        if not messages:
            return 0
        self.busy = True  # before the stop check: `finish_batches` sees one or the other
        try:
            if self.stop_event.is_set():
                return 0  # stopping: these come back after their visibility timeout
            return self._run_batch(messages)
        finally:
            self.busy = False

    def _run_batch(self, messages: list[dict[str, Any]]) -> int:
        event = {"Records": [sqs_record(m, self.queue_arn) for m in messages]}
        try:
            result = self.invoke(self.function, event) or {}
        except Exception:
            # The whole batch failed: every message returns after its visibility timeout.
            logger.exception("worker invocation failed", extra={"function": self.function})
            return len(messages)
        failed = (
            {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            if self.partial
            else set()
        )
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + 10])
                ],
            )
        return len(messages)


def finish_batches(pollers: list[QueuePoller], seconds: float) -> None:
    """Once `stop` is set: waits up to `seconds` for the pollers that hold a
    batch to finish it. A poller waiting in a long poll is not waited for:
    whatever its receive brings back now is left for the visibility timeout."""
    ends = time.monotonic() + seconds
    for poller in pollers:
        if poller.busy:
            poller.join(max(0.0, ends - time.monotonic()))


def queue_pollers(
    sources: list[dict[str, Any]], invoke: Invoke, stop: threading.Event
) -> list[QueuePoller]:
    """A poller per `pollers` of each event source (as `event_sources` gives
    them, with the queue's `queue_url`, `queue_arn` and `pollers` added),
    each with its own SQS client; not started."""
    import boto3

    return [
        QueuePoller(
            boto3.client("sqs"),
            function=source["function"],
            queue_url=source["queue_url"],
            queue_arn=source["queue_arn"],
            batch_size=source["batch_size"],
            partial=source["partial"],
            invoke=invoke,
            stop=stop,
            name=f"sqs-{source['function']}-{i}",
        )
        for source in sources
        for i in range(source["pollers"])
    ]


class Ticker(threading.Thread):
    """Invokes the scheduled functions every `every` seconds."""

    def __init__(
        self,
        functions: list[str],
        every: float,
        invoke: Invoke,
        stop: threading.Event,
        *,
        periods: dict[str, int] | None = None,
        now: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(daemon=True, name="schedule-tick")
        self.functions = functions
        self.every = every
        self.invoke = invoke
        self.stop_event = stop
        self.busy = False  # a batch in hand (invoking the function, deleting)
        # Slow schedules (`periods`): run once their period has passed on `now`.
        self.periods = periods or {}
        self.now = now or time.time
        self.last_run: dict[str, float] = {}

    def run(self) -> None:
        while not self.stop_event.wait(self.every):
            self.tick()

    def tick(self) -> None:
        for function in self.functions:
            if not self._due(function):
                continue
            try:
                self.invoke(function, {"source": "cashmob.local.tick"})
            except Exception:
                logger.exception("scheduled invocation failed", extra={"function": function})

    def _due(self, function: str) -> bool:
        period = self.periods.get(function)
        if period is None:
            return True
        now = self.now()
        last = self.last_run.setdefault(function, now)  # first run: a period after start
        if now - last < period:
            return False
        self.last_run[function] = now
        return True
