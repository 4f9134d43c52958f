"""DynamoDB items answered as JSON directly, for the local stack: the same
bytes on the wire, without moto's generic serializer walking each item.

moto 5 serializes every answer by walking the operation's output shape
(`moto.core.serialize`), attribute by attribute. For a `Query`, `Scan` or
`GetItem` that returns items this is most of the request's cost (about 2 ms
per pledge item: a settlement completion check reading 10,000 pledges spent
over 20 s in it, with every other DynamoDB request waiting behind it; a
`BatchGetItem` of two items, 11 ms). An
item's attributes are already in DynamoDB's wire form (`{"S": ...}`,
`{"N": "..."}`, maps and lists of them, raw bytes for binary), so
`install()` lets the stock serializer write everything else of the answer
and writes the members that hold items or keys (`Item`, `Items`,
`Attributes`, `LastEvaluatedKey`, and `Responses` of `BatchGetItem` and
`TransactGetItems`) with `json.dumps` (binary as base64, as the stock
serializer does). Nothing here is cashmob-specific;
tests/local/test_moto_items_json.py compares both, answer for answer.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from moto.dynamodb.responses import DynamoResult

STOCK_EXECUTE = DynamoResult.execute_result
# Output members made only of items and keys, in every operation that has them.
ITEM_KEYS = ("Items", "Item", "Attributes", "LastEvaluatedKey", "Responses")


def _binary(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"not JSON: {type(value).__name__}")


def execute_result(self: DynamoResult, context: Any) -> Any:
    result = self.result
    if not isinstance(result, dict) or not any(key in result for key in ITEM_KEYS):
        return STOCK_EXECUTE(self, context)
    rest = {k: v for k, v in result.items() if k not in ITEM_KEYS}
    status, headers, body = STOCK_EXECUTE(DynamoResult(rest), context)
    if status != 200:
        return status, headers, body
    answer = json.loads(body or "{}")
    for key in ITEM_KEYS:
        if key in result:
            answer[key] = result[key]
    return status, headers, json.dumps(answer, default=_binary, separators=(",", ":"))


def install() -> bool:
    """Item answers as direct JSON for every DynamoDB request in this process."""
    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]
    return True


def uninstall() -> None:
    DynamoResult.execute_result = STOCK_EXECUTE  # type: ignore[method-assign]
