"""Item-level undo for moto's DynamoDB transactions, as a wrapper around moto's
own `DynamoDBBackend.transact_write_items`.

moto backs a transaction up by deep-copying every table it names (through the
name `copy` of its module `moto.dynamodb.models`) and, when the transaction
fails, assigns the copies back: a transaction costs the size of its tables,
and a campaign's local stack slows down as it grows. `transact_write_items`
here runs moto's method itself - the same function object, unchanged - with,
for the length of the call only:

- `moto.dynamodb.models.copy` replaced by `_TablesByReference`, whose
  `deepcopy` hands a `Table` back as it is (so the backup costs nothing and
  moto's "put the backup back" is an assignment of a table to itself) and
  deep-copies anything else as `copy.deepcopy` does;
- the backend's `get_item`, `put_item`, `update_item` and `delete_item` (the
  only ways moto's method reads or writes an item) shadowed on the instance
  by wrappers that first journal the item at that key: the item, or the
  fact that it is missing, and the length of the table's stream. Only
  `update_item` changes an item in place; a put or delete replaces or drops
  the object and leaves it as it was. So the journal keeps the item object
  itself, and deep-copies it only before an `update_item` on its key, when
  it is still untouched (moto lets a transaction touch a key once).

If moto's method raises - a cancellation, a validation error, anything - the
journal puts back exactly the items it saw, newest first, drops the empty
hash buckets the call created and the stream records it added, and the
exception goes on. If the method returns, the journal is dropped. A
transaction now costs its items, not its tables.

One difference from stock moto, on purpose: moto raises
`TransactWriteSingleOpException` (an entry with two operations) outside its
rollback, after writing the entries before it; here those writes are undone
too, as DynamoDB writes nothing for a rejected transaction.

Threads: the substitution of a module global and the instance attributes are
visible to every thread. In the local stack, `stack.SerializedMoto` lets one
DynamoDB request (DynamoDB and DynamoDB Streams targets) into moto at a time,
so nothing else reads those tables meanwhile. Outside it (moto in-process,
tests), `_lock` lets one wrapped transaction run at a time, the journal
records only calls from the transaction's own thread, and `_TablesByReference`
shares a table only with that thread; another thread's plain writes during a
transaction are as unsafe as they are against stock moto, no more.

Nothing here is cashmob-specific. `install()` is used by the local stack
only; the tests run the same transactions against stock moto and against
this one and compare the outcomes and the tables.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import inspect
import os
import threading
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

from moto.dynamodb import models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

STOCK = DynamoDBBackend.transact_write_items

# sha256 of the source of moto 5.2.5's `transact_write_items`, the method this
# wrapper was checked against (it backs up through `copy.deepcopy` of its
# module and writes only through the backend's item methods). Another moto may
# do otherwise: then the stock method stays in place (slow but right) until
# this module is checked again.
STOCK_FINGERPRINT = "81db2cb7d94e39c90b3a2077e1f4bb41a449c558ef9b1b1e2910fdaa39978ad4"

# The backend methods moto's transaction reads and writes items through; each
# takes the table name and the item's key (put_item: the whole item) first.
JOURNALED = ("get_item", "put_item", "update_item", "delete_item")

_lock = threading.Lock()
LAZY = os.environ.get("CASHMOB_LOCAL_MOTO_UNDO_LAZY", "1") != "0"  # copy only before an update


def fingerprint() -> str:
    return hashlib.sha256(inspect.getsource(STOCK).encode()).hexdigest()


class Journal:
    """The items a transaction touches, as they were before it touched them."""

    def __init__(self, backend: DynamoDBBackend) -> None:
        self.backend = backend
        # (table id, hash, range) -> (table, hash, range, hash bucket existed, item or None)
        self.saved: dict[tuple[int, Any, Any], tuple[Table, Any, Any, bool, Any]] = {}
        self.copied: set[tuple[int, Any, Any]] = set()  # slots saved as copies
        self.streams: dict[int, tuple[Any, list[Any], int]] = {}

    def remember(
        self, table_name: str, key: dict[str, Any], whole_item: bool = False, in_place: bool = False
    ) -> None:
        """Copies the item at `key` (or the key of `whole_item`) before an
        operation may change it. A key moto cannot resolve is left alone:
        moto's own lookup, next, fails the same way before anything is written."""
        try:
            table = self.backend.get_table(table_name)
            if whole_item:
                names = [table.hash_key_attr, table.range_key_attr]
                key = {name: key[name] for name in names if name is not None}
            hash_key, range_key = self.backend.get_keys_value(table, key)
        except Exception:  # moto reports it on its own lookup, next
            return
        slot = (id(table), hash_key, range_key)
        if slot in self.saved:
            if in_place and slot not in self.copied:  # untouched since it was saved
                table_, hash_, range_, had_bucket, item = self.saved[slot]
                self.saved[slot] = (table_, hash_, range_, had_bucket, copy.deepcopy(item))
                self.copied.add(slot)
            return
        if table.has_range_key:
            bucket = table.items.get(hash_key)  # .get: the defaultdict must not grow here
            had_bucket = bucket is not None
            item = bucket.get(range_key) if bucket is not None else None
        else:
            had_bucket = True
            item = table.items.get(hash_key)
        if in_place:
            item = copy.deepcopy(item)
            self.copied.add(slot)
        self.saved[slot] = (table, hash_key, range_key, had_bucket, item)
        shard = table.stream_shard
        if shard is not None and id(table) not in self.streams:
            self.streams[id(table)] = (shard, shard.items, len(shard.items))

    def restore(self) -> None:
        """Puts every remembered item back as it was, newest change first."""
        for table, hash_key, range_key, had_bucket, item in reversed(self.saved.values()):
            if not table.has_range_key:
                if item is None:
                    table.items.pop(hash_key, None)
                else:
                    table.items[hash_key] = item
                continue
            bucket = table.items.get(hash_key)
            if item is not None:
                table.items[hash_key][range_key] = item
            elif bucket is not None:
                bucket.pop(range_key, None)
                if not bucket and not had_bucket:
                    del table.items[hash_key]
        for shard, records, length in self.streams.values():
            if shard.items is records:  # not flushed to a Lambda meanwhile
                del records[length:]


class _TablesByReference:
    """Stands in for the `copy` module inside `moto.dynamodb.models` during a
    wrapped transaction: a `Table` deep-copied from the transaction's thread
    comes back as itself; everything else is `copy`'s own."""

    def __init__(self, real: ModuleType, thread: int) -> None:
        self._real = real
        self._thread = thread

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        if isinstance(value, Table) and threading.get_ident() == self._thread:
            return value
        return self._real.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _journaled(method: Callable[..., Any], journal: Journal, thread: int) -> Callable[..., Any]:
    whole_item = method.__name__ == "put_item"
    # the one that changes the item object (every one, with CASHMOB_LOCAL_MOTO_UNDO_LAZY=0)
    in_place = method.__name__ == "update_item" or not LAZY

    @functools.wraps(method)
    def journaled(table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == thread:
            journal.remember(table_name, key, whole_item=whole_item, in_place=in_place)
        return method(table_name, key, *args, **kwargs)

    return journaled


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto's own `transact_write_items` (`STOCK`), its table copies made
    free and its writes journaled; on any exception the journal is undone."""
    with _lock:
        thread = threading.get_ident()
        journal = Journal(self)
        shadowed = vars(self)
        before = {name: shadowed[name] for name in JOURNALED if name in shadowed}
        moto_globals = vars(models)  # moto's module namespace, where its method finds `copy`
        real_copy = moto_globals["copy"]
        for name in JOURNALED:
            setattr(self, name, _journaled(getattr(self, name), journal, thread))
        moto_globals["copy"] = _TablesByReference(real_copy, thread)
        try:
            STOCK(self, transact_items)
        except BaseException:
            journal.restore()
            raise
        finally:
            moto_globals["copy"] = real_copy
            for name in JOURNALED:
                if name in before:
                    shadowed[name] = before[name]
                else:
                    del shadowed[name]


def install() -> bool:
    """Item-level undo for every DynamoDB backend in this process, when the
    installed moto is the one it was checked against. Idempotent."""
    if DynamoDBBackend.transact_write_items is transact_write_items:
        return True
    if fingerprint() != STOCK_FINGERPRINT or vars(models).get("copy") is not copy:
        warnings.warn(
            "cashmob local: moto's transact_write_items is not the one moto_undo was checked "
            "against; keeping moto's whole-table copy (correct, slower)",
            stacklevel=2,
        )
        return False
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    return True


def uninstall() -> None:
    DynamoDBBackend.transact_write_items = STOCK  # type: ignore[method-assign]
