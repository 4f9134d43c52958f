"""List pages as Stripe gives them: newest first, `limit` (1-100, default
10), `created` (a timestamp or gt/gte/lt/lte), `starting_after` /
`ending_before` cursors."""

from __future__ import annotations

from typing import Any

from . import objects
from .errors import invalid, missing
from .params import positive_int
from .state import Call

_COMPARE = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def page(rows: list[dict[str, Any]], call: Call, kind: str) -> dict[str, Any]:
    """One page of `rows` (newest first) of objects of `kind`, for the call's params."""
    params = call.params
    limit = positive_int(params, "limit", required=False) or 10
    if limit > 100:
        raise invalid("This value must be less than or equal to 100.", param="limit", store=False)
    created = params.get("created")
    if isinstance(created, str):
        rows = [r for r in rows if r["created"] == int(created)]
    elif isinstance(created, dict):
        for op, bound in created.items():
            rows = [r for r in rows if _COMPARE[op](r["created"], int(bound))]
    ids = [row["id"] for row in rows]
    for cursor in ("starting_after", "ending_before"):
        if params.get(cursor) and params[cursor] not in ids:
            raise missing(kind, params[cursor], param=cursor)
    if params.get("ending_before"):
        before = rows[: ids.index(params["ending_before"])]
        return objects.list_object(call.url, before[-limit:], len(before) > limit)
    if params.get("starting_after"):
        rows = rows[ids.index(params["starting_after"]) + 1 :]
    return objects.list_object(call.url, rows[:limit], len(rows) > limit)
