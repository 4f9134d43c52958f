"""Two of moto's costs that grow with what it holds, removed for the local
stack without changing an answer. Nothing here is cashmob-specific.

- `Dispatcher`: for every request moto's server-mode dispatcher lists its own
  package directory (`backends.list_of_moto_modules`) and tries the URL
  patterns of every service, under one lock, to find the backend for the
  request's host. The answer for a host never changes; `Dispatcher`
  remembers it.
- `install()`: a DynamoDB `Query` on a table's own key sorts every item of
  the table (`Table.all_items`) and then keeps those with the queried hash
  key. While such a query runs, `all_items` here returns only the queried
  hash key's items, in the same order (the same sort, stable, over the same
  subset), so the query costs its partition, not its table. Queries on an
  index, and scans, are moto's own.
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
    if index_name or hash_key is None:
        return STOCK_QUERY(self, hash_key, *args, **kwargs)
    _partition.scope = (self, hash_key)
    try:
        return STOCK_QUERY(self, hash_key, *args, **kwargs)
    finally:
        _partition.scope = None


def all_items(self: Table) -> list[Any]:
    scope = getattr(_partition, "scope", None)
    if scope is None or scope[0] is not self:
        return STOCK_ALL_ITEMS(self)
    hash_key = scope[1]
    if self.range_key_attr:
        items = list(self.items.get(hash_key, {}).values())  # .get: the defaultdict must not grow
    else:
        item = self.items.get(hash_key)
        items = [] if item is None else [item]
    return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)


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
