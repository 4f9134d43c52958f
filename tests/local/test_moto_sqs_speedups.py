"""The local stack's SQS speed-ups (`cashmob_local.moto_speedups.install_sqs`)
change no answer: the same seeded operations, on a moving clock, get the
same answers from stock moto and the patched one, byte for byte (message
ids, receipt handles, receive counts, redrive to the dead-letter queue,
delays, FIFO groups and deduplication, stale, foreign and deleted handles,
purges, retention, queue attributes, all or by name). And a receive or delete touches the
messages it answers, not the queue."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.moto_api._internal import mock_random
from moto.sqs import models as sqs_models

from cashmob_local import moto_speedups

REGION = "us-east-1"


class Clock:
    """moto's SQS clock, moved by the scenario: seconds since the epoch."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def unix_time(self, *_: Any) -> float:
        return self.now

    def unix_time_millis(self, *_: Any) -> float:
        return self.now * 1000


def make_queues(sqs: Any) -> dict[str, str]:
    urls = {}
    for name, attrs in (
        ("main-dlq", {}),
        ("jobs-dlq.fifo", {"FifoQueue": "true"}),
        ("short", {"MessageRetentionPeriod": "60", "VisibilityTimeout": "5"}),
    ):
        urls[name] = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    arn = {
        n: sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        for n, u in urls.items()
    }
    for name, attrs in (
        (
            "main",
            {
                "VisibilityTimeout": "30",
                "RedrivePolicy": f'{{"deadLetterTargetArn": "{arn["main-dlq"]}", '
                '"maxReceiveCount": "3"}',
            },
        ),
        (
            "jobs.fifo",
            {
                "FifoQueue": "true",
                "VisibilityTimeout": "20",
                "RedrivePolicy": f'{{"deadLetterTargetArn": "{arn["jobs-dlq.fifo"]}", '
                '"maxReceiveCount": "2"}',
            },
        ),
        ("content.fifo", {"FifoQueue": "true", "ContentBasedDeduplication": "true"}),
    ):
        urls[name] = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    return urls


COUNTS = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "QueueArn",
]


def scenario(sqs: Any, clock: Clock, rng: random.Random, steps: int) -> list[Any]:
    """`steps` random operations; what each answered (or the error it raised)."""
    urls = make_queues(sqs)
    names = sorted(urls)
    handles: list[str] = ["not-a-handle", "x" * 185]  # every handle seen, and two never given
    transcript: list[Any] = []
    sent = 0

    def send_args(name: str) -> dict[str, Any]:
        nonlocal sent
        sent += 1
        args: dict[str, Any] = {"MessageBody": f"body {sent % 7} {rng.randint(0, 3)}"}
        if rng.random() < 0.5:
            args["MessageAttributes"] = {
                "a": {"DataType": "String", "StringValue": str(sent)},
                "a.b": {"DataType": "Number", "StringValue": "7"},
                "c": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
            }
        if name.endswith(".fifo"):
            args["MessageGroupId"] = rng.choice("gh")
            if name == "jobs.fifo":
                args["MessageDeduplicationId"] = f"d{rng.randint(0, 40)}"
        elif rng.random() < 0.2:
            args["DelaySeconds"] = rng.choice([1, 10])
        return args

    def call(op: str, **kwargs: Any) -> Any:
        try:
            answer = getattr(sqs, op)(**kwargs)
        except ClientError as e:
            return (op, "error", e.response["Error"]["Code"], e.response["Error"]["Message"])
        answer.pop("ResponseMetadata", None)
        for m in answer.get("Messages", []):
            handles.append(m["ReceiptHandle"])
        return (op, answer)

    for _ in range(steps):
        name = rng.choice(names)
        url = urls[name]
        roll = rng.random()
        if roll < 0.25:
            transcript.append(call("send_message", QueueUrl=url, **send_args(name)))
        elif roll < 0.32:
            entries = [{"Id": f"e{i}", **send_args(name)} for i in range(rng.randint(1, 4))]
            transcript.append(call("send_message_batch", QueueUrl=url, Entries=entries))
        elif roll < 0.55:
            kwargs: dict[str, Any] = {
                "QueueUrl": url,
                "MaxNumberOfMessages": rng.randint(1, 10),
                "WaitTimeSeconds": 0,
                "AttributeNames": ["All"],
                "MessageAttributeNames": rng.choice([[], ["All"], ["a"], ["a.*"], [".*"]]),
            }
            if rng.random() < 0.6:
                kwargs["VisibilityTimeout"] = rng.choice([0, 3, 30])
            transcript.append(call("receive_message", **kwargs))
        elif roll < 0.68:
            handle = rng.choice(handles)
            transcript.append(call("delete_message", QueueUrl=url, ReceiptHandle=handle))
        elif roll < 0.73:
            picked = rng.sample(handles, min(len(handles), rng.randint(1, 5)))
            entries = [{"Id": f"d{i}", "ReceiptHandle": h} for i, h in enumerate(picked)]
            transcript.append(call("delete_message_batch", QueueUrl=url, Entries=entries))
        elif roll < 0.81:
            transcript.append(
                call(
                    "change_message_visibility",
                    QueueUrl=url,
                    ReceiptHandle=rng.choice(handles),
                    VisibilityTimeout=rng.choice([0, 4, 60, 43000]),
                )
            )
        elif roll < 0.84:
            picked = rng.sample(handles, min(len(handles), rng.randint(1, 4)))
            entries = [
                {"Id": f"v{i}", "ReceiptHandle": h, "VisibilityTimeout": rng.choice([0, 9])}
                for i, h in enumerate(picked)
            ]
            transcript.append(
                call("change_message_visibility_batch", QueueUrl=url, Entries=entries)
            )
        elif roll < 0.9:
            asked = ["All"] if len(transcript) % 2 else COUNTS  # by name: moto's other path
            transcript.append(call("get_queue_attributes", QueueUrl=url, AttributeNames=asked))
        elif roll < 0.905:
            transcript.append(call("purge_queue", QueueUrl=url))
        else:
            clock.now += rng.choice([0.5, 2, 6, 11, 31, 70])
            transcript.append(("clock", clock.now))
    for name in names:  # what is left, queue by queue
        transcript.append(call("get_queue_attributes", QueueUrl=urls[name], AttributeNames=["All"]))
        transcript.append(call("get_queue_attributes", QueueUrl=urls[name], AttributeNames=COUNTS))
    return transcript


def answers(monkeypatch: pytest.MonkeyPatch, *, patched: bool, seed: int, steps: int) -> list[Any]:
    clock = Clock()
    with monkeypatch.context() as m, mock_aws():
        m.setattr(sqs_models, "unix_time", clock.unix_time)
        m.setattr(sqs_models, "unix_time_millis", clock.unix_time_millis)
        if patched:
            assert moto_speedups.install_sqs()
        try:
            mock_random.seed(seed)  # the same ids and receipt handles on both sides
            sqs = boto3.client("sqs", region_name=REGION)
            return scenario(sqs, clock, random.Random(seed), steps)
        finally:
            moto_speedups.uninstall_sqs()


def kinds(transcript: list[Any]) -> dict[str, int]:
    """How often the scenario met each case worth meeting."""
    seen = {"invalid handle": 0, "redriven": 0, "received": 0, "delayed": 0, "batch failed": 0}
    for entry in transcript:
        if entry[0] == "clock":
            continue
        if entry[1] == "error":
            seen["invalid handle"] += entry[2] == "ReceiptHandleIsInvalid"
            continue
        answer = entry[1]
        seen["received"] += len(answer.get("Messages", []))
        seen["batch failed"] += len(answer.get("Failed", []))
        attrs = answer.get("Attributes", {})
        seen["delayed"] += int(attrs.get("ApproximateNumberOfMessagesDelayed", 0)) > 0
        seen["redriven"] += any(
            int(m["Attributes"]["ApproximateReceiveCount"]) > 3 for m in answer.get("Messages", [])
        )
    return seen


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_same_operations_get_stock_motos_answers(monkeypatch, seed):
    stock = answers(monkeypatch, patched=False, seed=seed, steps=700)
    assert all(kinds(stock).values()), kinds(stock)  # the scenario meets every case
    assert answers(monkeypatch, patched=True, seed=seed, steps=700) == stock


def test_uninstall_gives_moto_back():
    assert moto_speedups.install_sqs()
    moto_speedups.uninstall_sqs()
    for (owner, name), stock in moto_speedups.STOCK_SQS.items():
        assert owner.__dict__[name] is stock
    assert "_messages" not in sqs_models.Queue.__dict__


def visibility_checks(monkeypatch: pytest.MonkeyPatch, *, patched: bool, waiting: int) -> int:
    """How many times moto asks a message whether it is visible while one
    batch of 10 is received and deleted from a queue with `waiting` messages."""
    with mock_aws():
        if patched:
            assert moto_speedups.install_sqs()
        try:
            sqs = boto3.client("sqs", region_name=REGION)
            url = sqs.create_queue(QueueName="wide")["QueueUrl"]
            for _ in range(0, waiting, 10):
                sqs.send_message_batch(
                    QueueUrl=url,
                    Entries=[{"Id": str(i), "MessageBody": "m"} for i in range(10)],
                )
            sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)  # 10 in flight ahead
            checks = 0
            stock_visible = sqs_models.Message.visible

            def counted(message: Any) -> bool:
                nonlocal checks
                checks += 1
                return stock_visible.fget(message)

            monkeypatch.setattr(sqs_models.Message, "visible", property(counted))
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
                ],
            )
            sqs.send_message(QueueUrl=url, MessageBody="one more")
            monkeypatch.undo()
            assert len(got) == 10
            return checks
        finally:
            moto_speedups.uninstall_sqs()


def test_a_receive_and_its_deletes_touch_their_messages_not_the_queue(monkeypatch):
    # stock moto: every message, again and again (fewer waiting: its sends are slow too)
    assert visibility_checks(monkeypatch, patched=False, waiting=400) > 400 * 10
    patched = visibility_checks(monkeypatch, patched=True, waiting=2000)
    # the 10 in flight ahead, then the 10 received (each checked twice, as moto does)
    assert patched <= 40
    assert visibility_checks(monkeypatch, patched=True, waiting=50) == patched


def test_concurrent_receivers_share_a_queue_without_losing_or_repeating_a_message():
    with mock_aws():
        assert moto_speedups.install_sqs()
        try:
            sqs = boto3.client("sqs", region_name=REGION)
            url = sqs.create_queue(QueueName="shared", Attributes={"VisibilityTimeout": "60"})[
                "QueueUrl"
            ]
            for start in range(0, 300, 10):
                sqs.send_message_batch(
                    QueueUrl=url,
                    Entries=[{"Id": str(i), "MessageBody": str(start + i)} for i in range(10)],
                )
            received: list[str] = []
            errors: list[Any] = []

            def worker() -> None:
                client = boto3.client("sqs", region_name=REGION)
                try:
                    while True:
                        got = client.receive_message(
                            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0
                        ).get("Messages", [])
                        if not got:
                            return
                        received.extend(m["Body"] for m in got)
                        for m in got:
                            client.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                except Exception as e:  # pragma: no cover - reported below
                    errors.append(e)

            threads = [threading.Thread(target=worker) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert not errors
            assert sorted(received, key=int) == [str(i) for i in range(300)]
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            assert attrs["ApproximateNumberOfMessages"] == "0"
            assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"
        finally:
            moto_speedups.uninstall_sqs()


def test_a_long_poll_wakes_for_a_message_sent_while_it_waits():
    with mock_aws():
        assert moto_speedups.install_sqs()
        try:
            sqs = boto3.client("sqs", region_name=REGION)
            url = sqs.create_queue(QueueName="polled")["QueueUrl"]
            threading.Timer(
                0.3,
                lambda: boto3.client("sqs", region_name=REGION).send_message(
                    QueueUrl=url, MessageBody="late"
                ),
            ).start()
            started = time.monotonic()
            got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages", [])
            assert [m["Body"] for m in got] == ["late"]
            assert time.monotonic() - started < 4  # the send was not held up by the waiting receive
        finally:
            moto_speedups.uninstall_sqs()


def test_a_fifo_long_poll_behind_a_group_in_flight_holds_nothing_up():
    """A receive that finds only a message whose group is in flight waits
    with the queue's lock released: a send to another group goes through at
    once (the intake queue stalled ~0.8 s at a time when it did not)."""
    with mock_aws():
        assert moto_speedups.install_sqs()
        try:
            sqs = boto3.client("sqs", region_name=REGION)
            url = sqs.create_queue(
                QueueName="intake.fifo",
                Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
            )["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody="a1", MessageGroupId="a")
            in_flight = sqs.receive_message(QueueUrl=url)["Messages"][0]
            sqs.send_message(QueueUrl=url, MessageBody="a2", MessageGroupId="a")  # behind a1
            got: list[str] = []
            other = boto3.client("sqs", region_name=REGION)
            poll = threading.Thread(
                target=lambda: got.extend(
                    m["Body"]
                    for m in other.receive_message(QueueUrl=url, WaitTimeSeconds=3).get(
                        "Messages", []
                    )
                )
            )
            poll.start()
            time.sleep(0.3)  # the poll is waiting behind group a
            started = time.monotonic()
            sqs.send_message(QueueUrl=url, MessageBody="b1", MessageGroupId="b")
            sent_in = time.monotonic() - started
            poll.join(10)
            assert sent_in < 1.0  # held for the rest of the 3 s poll before
            assert got == ["b1"]  # and the waiting poll takes it
            sqs.delete_message(QueueUrl=url, ReceiptHandle=in_flight["ReceiptHandle"])
            again = sqs.receive_message(QueueUrl=url).get("Messages", [])
            assert [m["Body"] for m in again] == ["a2"]
        finally:
            moto_speedups.uninstall_sqs()


def attribute_walks(monkeypatch: pytest.MonkeyPatch, *, patched: bool) -> int:
    """How many times one GetQueueAttributes of two counts walks the queue."""
    with mock_aws():
        if patched:
            assert moto_speedups.install_sqs()
        try:
            sqs = boto3.client("sqs", region_name=REGION)
            url = sqs.create_queue(QueueName="counted")["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody="m")
            walks = 0
            stock = sqs_models.Queue.__dict__["approximate_number_of_messages_not_visible"]

            def counted(queue: Any) -> int:
                nonlocal walks
                walks += 1
                return stock.fget(queue)

            monkeypatch.setattr(
                sqs_models.Queue, "approximate_number_of_messages_not_visible", property(counted)
            )
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=COUNTS[:2])["Attributes"]
            monkeypatch.undo()
            assert attrs == {
                "ApproximateNumberOfMessages": "1",
                "ApproximateNumberOfMessagesNotVisible": "0",
            }
            return walks
        finally:
            moto_speedups.uninstall_sqs()


def test_get_queue_attributes_counts_the_queue_once(monkeypatch):
    assert attribute_walks(monkeypatch, patched=False) == 6  # stock: 3 per attribute named
    assert attribute_walks(monkeypatch, patched=True) == 1


@pytest.fixture(autouse=True)
def _stock_afterwards():
    yield
    moto_speedups.uninstall_sqs()
