"""Both workers hand their failed records back to SQS with a backoff."""

from __future__ import annotations

from cashmob.messaging import back_off_failures, intake_retry_delay, retry_delay


class Queue:
    def __init__(self, broken: bool = False) -> None:
        self.calls: list[tuple[str, int]] = []
        self.broken = broken

    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None:
        if self.broken:
            raise RuntimeError("SQS is down")
        self.calls.append((receipt_handle, delay_seconds))


def _event(*receives: int) -> dict:
    return {
        "Records": [
            {
                "messageId": f"m{i}",
                "receiptHandle": f"h{i}",
                "attributes": {"ApproximateReceiveCount": str(n)},
            }
            for i, n in enumerate(receives)
        ]
    }


def test_only_the_failed_records_are_delayed_by_their_receive_count():
    queue = Queue()
    response = {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}
    back_off_failures(queue, _event(1, 3, 5), response, retry_delay)
    assert queue.calls == [("h1", retry_delay(3)), ("h2", retry_delay(5))]
    assert retry_delay(3) > retry_delay(1)


def test_each_worker_keeps_its_own_schedule():
    queue = Queue()
    response = {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    back_off_failures(queue, _event(4), response, intake_retry_delay)
    assert queue.calls == [("h0", intake_retry_delay(4))] != [("h0", retry_delay(4))]


def test_a_batch_without_failures_changes_nothing():
    queue = Queue()
    back_off_failures(queue, _event(1, 2), {"batchItemFailures": []}, retry_delay)
    assert queue.calls == []


def test_a_queue_that_refuses_leaves_the_visibility_timeout_to_bring_it_back():
    response = {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    back_off_failures(Queue(broken=True), _event(1), response, retry_delay)  # does not raise
