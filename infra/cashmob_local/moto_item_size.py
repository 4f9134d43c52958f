"""A DynamoDB item's 400 KB check at the cost of the item, not its square,
for the local stack. Nothing here is cashmob-specific.

moto builds every item it stores (`Item.__init__`: each put, and each
transaction's put) by inserting its attributes one by one into a
`LimitedSizeDict`, whose `__setitem__` re-measures every attribute already
inserted before it lets the next one in: an item of n attributes costs n²/2
size measurements (a pledge, 25 attributes: about 300). Here
`Item.__init__` does what moto's does in the same order - convert each
attribute, add its size (and its name's) to the item's, raise moto's
`ItemSizeTooLarge` as soon as the item passes moto's limit, else insert - with
a running total. The names are distinct, so the running total is exactly
the sum moto recomputes at each insert. Later changes to an item (update
expressions) still go through moto's own `__setitem__`.

tests/local/test_moto_item_size.py compares both on random items, over and
under the limit.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import warnings
from typing import Any

from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.utilities import bytesize

STOCK_INIT = Item.__init__
LIMIT = 405000  # moto's, in LimitedSizeDict.__setitem__
# sha256 of moto 5.2.5's `Item.__init__` and `LimitedSizeDict.__setitem__`,
# whose joint behaviour `item_init` repeats.
FINGERPRINT = "fc02f7fab7a521c3c0cb66831ca5baa67abea1cd98a35fd7704654b1d9208344"


def item_init(
    self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]
) -> None:
    if not all(type(name) is str for name in attrs):
        return STOCK_INIT(self, hash_key, range_key, attrs)
    self.hash_key = hash_key
    self.range_key = range_key
    self.attrs = stored = LimitedSizeDict()
    size = 0
    for name, value in attrs.items():
        attribute = DynamoType(value)
        size += bytesize(name) + attribute.size()
        if size > LIMIT:
            raise ItemSizeTooLarge
        dict.__setitem__(stored, name, attribute)
    return None


def fingerprint() -> str:
    return hashlib.sha256(
        (inspect.getsource(STOCK_INIT) + inspect.getsource(LimitedSizeDict.__setitem__)).encode()
    ).hexdigest()


def install() -> bool:
    """Items built at linear cost in this process, when moto's item is the one
    this was checked against, unless CASHMOB_LOCAL_MOTO_ITEM_SIZE=0."""
    if os.environ.get("CASHMOB_LOCAL_MOTO_ITEM_SIZE", "1") == "0":
        return False
    if Item.__init__ is item_init:
        return True
    if fingerprint() != FINGERPRINT:
        warnings.warn(
            "cashmob local: moto's Item is not the one moto_item_size was checked against; "
            "keeping its own size checks",
            stacklevel=2,
        )
        return False
    Item.__init__ = item_init  # type: ignore[method-assign]
    return True


def uninstall() -> None:
    Item.__init__ = STOCK_INIT  # type: ignore[method-assign]
