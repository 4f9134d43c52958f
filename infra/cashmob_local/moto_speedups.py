"""moto's costs that grow with what it holds, removed for the local stack
without changing an answer. Nothing here is cashmob-specific.

- `Dispatcher`: for every request moto's server-mode dispatcher lists its own
  package directory (`backends.list_of_moto_modules`) and tries the URL
  patterns of every service, under one lock, to find the backend for the
  request's host. The answer for a host never changes; `Dispatcher`
  remembers it.
- `install()`: a DynamoDB `Query` on a table's own key sorts every item of
  the table (`Table.all_items`) and then keeps those with the queried hash
  key. While such a query runs, `all_items` here returns only the queried
  hash key's items, in the same order (the same sort, stable, over the same
  subset), so the query costs its partition, not its table. A query on an
  index gets, the same way, only the items that pass moto's own test of the
  index's hash key conditions (which moto applies again): one pass over the
  table, and the sort over the index partition, not over every item (the
  due-index sweeps ran 50-100 ms each at 2,000 pledges). Scans are moto's
  own.
- `install_sqs()`: SQS sends, receives, deletes and visibility changes that
  cost the messages they touch, not the queue's length (below).
"""

from __future__ import annotations

import inspect
import threading
from typing import Any

from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

STOCK_QUERY = Table.query
STOCK_ALL_ITEMS = Table.all_items
_partition = threading.local()  # the (table, hash key) a base-table query reads


class Dispatcher(DomainDispatcherApplication):
    """moto's WSGI dispatcher, its host -> backend lookup remembered."""

    def __init__(self) -> None:
        super().__init__(create_backend_app)
        self._backend_for: dict[str | None, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        # moto calls this under its own lock; the lookup is a pure function of host.
        try:
            return self._backend_for[host]
        except KeyError:
            found = self._backend_for[host] = super().get_backend_for_host(host)
            return found


def query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
    # moto's backend passes index_name as the eighth positional argument.
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    if index_name:
        conditions = kwargs.get("hash_key_conditions")
        if not conditions:
            return STOCK_QUERY(self, hash_key, *args, **kwargs)
        _partition.scope = (self, None, tuple(conditions))
    elif hash_key is None:
        return STOCK_QUERY(self, hash_key, *args, **kwargs)
    else:
        _partition.scope = (self, hash_key, ())
    try:
        return STOCK_QUERY(self, hash_key, *args, **kwargs)
    finally:
        _partition.scope = None


def _sort_key(item: Any) -> Any:
    """moto's own order for all_items, `(hash_key, range_key)`, by the keys'
    values: a DynamoType compares by its `cast_value` (`==` also by type,
    which a table's schema fixes for each key), so ordering by the values
    themselves is the same order, without a Python call per comparison (a
    campaign's 2,000 pledges took 25 ms to sort, for every page read)."""
    if item.range_key:
        return (item.hash_key.cast_value, item.range_key.cast_value)
    return item.hash_key.cast_value


def all_items(self: Table) -> list[Any]:
    scope = getattr(_partition, "scope", None)
    if scope is None or scope[0] is not self:
        return STOCK_ALL_ITEMS(self)
    _, hash_key, conditions = scope
    if conditions:  # an index query: the items moto's own loop would keep, in its order
        items = [
            item
            for partition in self.items.values()
            for item in (partition.values() if self.range_key_attr else (partition,))
            if all(
                (value := item.attrs.get(name)) and value == expected
                for name, expected in conditions
            )
        ]
        return sorted(items, key=_sort_key)
    if self.range_key_attr:
        items = list(self.items.get(hash_key, {}).values())  # .get: the defaultdict must not grow
    else:
        item = self.items.get(hash_key)
        items = [] if item is None else [item]
    return sorted(items, key=_sort_key)


def install() -> bool:
    """Partition-sized base-table queries for every DynamoDB table in this
    process, when moto's `Table.query` takes its arguments as `query` expects."""
    if list(inspect.signature(STOCK_QUERY).parameters).index("index_name") != 8:
        return False
    Table.query = query  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]
    return True


def uninstall() -> None:
    Table.query = STOCK_QUERY  # type: ignore[method-assign]
    Table.all_items = STOCK_ALL_ITEMS  # type: ignore[method-assign]


# ---------------------------------------------------------------- SQS
#
# Stock moto walks every message a queue holds, in Python, on each call:
# ReceiveMessage builds the list of visible messages, then checks the
# retention period of each message it returns through the queue's full
# attributes (whose three Approximate* counts each walk the queue again);
# SendMessage reads ContentBasedDeduplication the same way; DeleteMessage
# and ChangeMessageVisibility search the queue for the receipt handle
# (twice, for a delete). With 5,000 messages waiting, one received and
# deleted message costs about 0.2 s. `install_sqs()` makes each call cost
# the messages it touches:
#
# - `Queue.messages` is a lazy view: a receive checks messages in queue
#   order only until it has its batch, as moto's loop already stops there.
# - Sends and receives compute the queue's attributes without the
#   Approximate* counts (None in that scope): moto reads only
#   ContentBasedDeduplication and MessageRetentionPeriod there.
#   GetQueueAttributes still counts, as it must, but once: stock moto
#   computes the queue's full attributes (three counts, each walking the
#   queue) three times for each attribute asked for by name.
# - Every receipt handle moto hands out (`Message.mark_received`) is indexed
#   to its message, and each queue's message list knows its members, so a
#   delete or visibility change finds its message without a search.
# - Each queue's own lock (moto's `_messages_lock`, reentrant; long polls
#   release it while they wait) is held while these calls read or change the
#   message list, so the lazy view and in-place removal are never seen half
#   done; in stock moto two concurrent receives can hand out one message.
#
# Answers are stock moto's: tests/local/test_moto_sqs_speedups.py runs the
# same seeded operations (standard and FIFO queues, dead-letter redrive,
# delays, visibility, stale and foreign handles, purges) against both.

from moto.sqs import models as sqs_models  # noqa: E402
from moto.sqs.exceptions import InvalidParameterValue, ReceiptHandleIsInvalid  # noqa: E402
from moto.sqs.models import Message, Queue, SQSBackend  # noqa: E402

STOCK_SQS: dict[tuple[type, str], Any] = {
    (owner, name): owner.__dict__[name]
    for owner, names in (
        (Message, ("mark_received",)),
        (
            Queue,
            (
                "messages",
                "add_message",
                "delete_message",
                "wait_for_messages",
                "approximate_number_of_messages",
                "approximate_number_of_messages_delayed",
                "approximate_number_of_messages_not_visible",
            ),
        ),
        (
            SQSBackend,
            (
                "send_message",
                "send_message_batch",
                "receive_message",
                "change_message_visibility",
                "get_queue_attributes",
            ),
        ),
        (Queue, ("attributes",)),
    )
    for name in names
}
_receipts: dict[str, Message] = {}  # every receipt handle handed out -> its message
_no_counts = threading.local()  # depth of send/receive calls on this thread


class _Messages(list):  # type: ignore[type-arg]
    """A queue's messages, in order, with the set of them (`members`). moto
    only appends and removes; anything else would leave `members` wrong, so
    it fails."""

    def __init__(self, messages: Any = ()) -> None:
        super().__init__(messages)
        self.members = set(self)

    def append(self, message: Message) -> None:
        super().append(message)
        self.members.add(message)

    def remove(self, message: Message) -> None:
        super().remove(message)
        self.members.discard(message)

    def _unsupported(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("moto_speedups: a queue's messages are appended or removed")

    extend = insert = pop = clear = sort = reverse = _unsupported
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _unsupported


class _Visible:
    """`Queue.messages` without the list: the visible, undelayed messages in
    queue order, found as they are asked for."""

    __slots__ = ("_messages",)

    def __init__(self, messages: list[Message]) -> None:
        self._messages = messages

    def __iter__(self) -> Any:
        return (m for m in self._messages if m.visible and not m.delayed)

    def __bool__(self) -> bool:
        return next(iter(self), None) is not None

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _get_messages(queue: Queue) -> _Messages:
    messages = queue.__dict__["_messages"]
    if type(messages) is not _Messages:  # a queue made before install_sqs()
        messages = queue.__dict__["_messages"] = _Messages(messages)
    return messages


def _set_messages(queue: Queue, messages: list[Message]) -> None:
    queue.__dict__["_messages"] = _Messages(messages)  # __init__ and purge_queue


def _owned(queue: Queue, receipt_handle: str) -> Message | None:
    """The message of `queue` that ever had `receipt_handle`."""
    message = _receipts.get(receipt_handle)
    return message if message is not None and message in queue._messages.members else None


def _mark_received(self: Message, visibility_timeout: int | None = None) -> None:
    STOCK_SQS[Message, "mark_received"](self, visibility_timeout)
    _receipts[self.receipt_handle] = self  # type: ignore[index]


def _add_message(self: Queue, message: Message) -> None:
    with self._messages_lock:  # moto's FIFO deduplication reads the list first
        STOCK_SQS[Queue, "add_message"](self, message)


def _delete_message(self: Queue, receipt_handle: str) -> None:
    if not isinstance(receipt_handle, str):
        return STOCK_SQS[Queue, "delete_message"](self, receipt_handle)
    if receipt_handle in self.deleted_messages:
        return None  # already deleted: moto accepts it again
    with self._messages_lock:
        message = _owned(self, receipt_handle)
        if message is None:
            raise ReceiptHandleIsInvalid()
        self.pending_messages.discard(message)
        self.deleted_messages.update(message.all_receipt_handles)  # type: ignore[arg-type]
        self._messages.remove(message)
    for handle in message.all_receipt_handles:
        _receipts.pop(handle, None)  # type: ignore[arg-type]
    return None


def _change_message_visibility(
    self: SQSBackend, queue_name: str, receipt_handle: str, visibility_timeout: int
) -> None:
    stock = STOCK_SQS[SQSBackend, "change_message_visibility"]
    queue = self.get_queue(queue_name)
    if not isinstance(receipt_handle, str):
        return stock(self, queue_name, receipt_handle, visibility_timeout)
    with queue._messages_lock:
        message = _owned(queue, receipt_handle)
        if message is None:
            raise ReceiptHandleIsInvalid
        # moto's own checks and change, on the one message found
        given = sqs_models.unix_time_millis() + int(visibility_timeout) * 1000
        if given - message.sent_timestamp > 43200 * 1000:  # type: ignore[operator]
            raise InvalidParameterValue(
                f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. "
                "Reason: Total VisibilityTimeout for the message is beyond the limit "
                "[43200 seconds]"
            )
        message.change_visibility(visibility_timeout)
        if message.visible and message in queue.pending_messages:
            queue.pending_messages.remove(message)
    return None


# How long a long poll that found nothing it may take sleeps (the queue's lock
# released) before it looks again, unless a send wakes it first.
POLL_SLICE_SECONDS = 0.05


def _wait_for_messages(self: Queue, timeout: int) -> None:
    """A long poll's wait between looks: moto's waits only while the queue
    holds no visible message, so a FIFO receive finding only messages of
    groups in flight looks again at once, for the whole poll. Under
    `_locked` that loop held the queue's lock: no send, delete or other
    receive of the queue went through for up to WaitTimeSeconds (the intake
    queue stalled ~0.8 s at a time). This one always releases the lock: until
    a send notifies (moto's `add_message`) or POLL_SLICE_SECONDS pass (a
    message whose delay or visibility timeout ends wakes no one)."""
    with self._messages_lock:
        self._messages_lock.wait(timeout=min(timeout, POLL_SLICE_SECONDS))


_attributes_memo = threading.local()  # a GetQueueAttributes call's queue attributes


def _attributes(self: Queue) -> dict[str, Any]:
    memo: dict[int, dict[str, Any]] | None = getattr(_attributes_memo, "memo", None)
    if memo is None:
        return STOCK_SQS[Queue, "attributes"].fget(self)
    if id(self) not in memo:
        memo[id(self)] = STOCK_SQS[Queue, "attributes"].fget(self)
    return memo[id(self)]


def _get_queue_attributes(self: SQSBackend, queue_name: str, attribute_names: list[str]) -> Any:
    """moto's own GetQueueAttributes, with the queue's attributes computed
    once for the call (moto reads them three times per attribute named)."""
    _attributes_memo.memo = {}
    try:
        return STOCK_SQS[SQSBackend, "get_queue_attributes"](self, queue_name, attribute_names)
    finally:
        _attributes_memo.memo = None


def _locked(name: str) -> Any:
    """The backend's `name`, run holding the queue's lock and without the
    Approximate* counts."""
    stock = STOCK_SQS[SQSBackend, name]

    def call(self: SQSBackend, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        queue = self.get_queue(queue_name)
        _no_counts.depth = getattr(_no_counts, "depth", 0) + 1
        try:
            with queue._messages_lock:
                return stock(self, queue_name, *args, **kwargs)
        finally:
            _no_counts.depth -= 1

    return call


def _count(name: str) -> property:
    stock = STOCK_SQS[Queue, name]

    def count(self: Queue) -> int | None:
        if getattr(_no_counts, "depth", 0):
            return None  # sends and receives read no count
        with self._messages_lock:
            return stock.fget(self)

    return property(count)


def install_sqs() -> bool:
    """Receive, delete and visibility changes that cost their messages, for
    every SQS queue in this process; False (nothing changed) when moto's SQS
    is not the one this was written against."""
    probe = Queue("moto-speedups-probe", "us-east-1", "123456789012")
    expected = {"_messages", "_pending_messages", "deleted_messages", "_messages_lock"}
    if not expected <= set(vars(probe)) or type(probe._messages) is not list:
        return False
    visibility = inspect.signature(STOCK_SQS[SQSBackend, "change_message_visibility"])
    if list(visibility.parameters) != [
        "self",
        "queue_name",
        "receipt_handle",
        "visibility_timeout",
    ]:
        return False
    Message.mark_received = _mark_received  # type: ignore[method-assign]
    Queue._messages = property(_get_messages, _set_messages)  # type: ignore[assignment]
    Queue.messages = property(lambda self: _Visible(self._messages))  # type: ignore[assignment,method-assign]
    Queue.add_message = _add_message  # type: ignore[method-assign]
    Queue.delete_message = _delete_message  # type: ignore[method-assign]
    Queue.wait_for_messages = _wait_for_messages  # type: ignore[method-assign]
    for name in (
        "approximate_number_of_messages",
        "approximate_number_of_messages_delayed",
        "approximate_number_of_messages_not_visible",
    ):
        setattr(Queue, name, _count(name))
    for name in ("send_message", "send_message_batch", "receive_message"):
        setattr(SQSBackend, name, _locked(name))
    SQSBackend.change_message_visibility = _change_message_visibility  # type: ignore[method-assign]
    SQSBackend.get_queue_attributes = _get_queue_attributes  # type: ignore[method-assign]
    Queue.attributes = property(_attributes)  # type: ignore[assignment,method-assign]
    return True


def uninstall_sqs() -> None:
    if "_messages" in Queue.__dict__:
        del Queue._messages  # queues keep theirs, an ordinary list to stock moto
    for (owner, name), stock in STOCK_SQS.items():
        setattr(owner, name, stock)
    _receipts.clear()
