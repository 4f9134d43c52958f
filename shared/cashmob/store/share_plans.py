"""A `fixed_price` campaign's SharePlan on its item: one small JSON string."""

from __future__ import annotations

import json

from ..domain.fair_share import SharePlan


def plan_text(plan: SharePlan | None) -> str | None:
    if plan is None:
        return None
    return json.dumps(
        {
            "goal": plan.goal,
            "total": plan.total,
            "minimum": plan.minimum,
            "sharers_goal": plan.sharers_goal,
            "sharers_total": plan.sharers_total,
            "cutoff": None if plan.cutoff is None else list(plan.cutoff),
            "charged_total": plan.charged_total,
        },
        separators=(",", ":"),
    )


def plan_of(text: str | None) -> SharePlan | None:
    if text is None:
        return None
    data = json.loads(text)
    cutoff = data["cutoff"]
    return SharePlan(
        goal=int(data["goal"]),
        total=int(data["total"]),
        minimum=int(data["minimum"]),
        sharers_goal=int(data["sharers_goal"]),
        sharers_total=int(data["sharers_total"]),
        cutoff=None if cutoff is None else (int(cutoff[0]), str(cutoff[1])),
        charged_total=int(data["charged_total"]),
    )
