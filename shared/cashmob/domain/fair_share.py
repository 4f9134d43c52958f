"""Fair share: what each backer of an overfunded `fixed_price` campaign pays.

A `fixed_price` goal is the price of one indivisible thing. When the collected
pledges add up to more, each pledge is charged its share of the price in
proportion to its amount (API.md "Fair share"):

    charged = floor(amount * goal / total)  (+ 1 for the largest remainders)

The floors fall short of the goal by k minor units, k < the number of pledges;
the k pledges with the largest remainders (ties: the smaller pledge id first)
get one unit more, so the charges add up to the goal exactly. A pledge given
the extra unit had a non-zero remainder, so its charge is the exact share
rounded up, and the exact share is below its amount: nobody pays more than
they pledged. When the total does not exceed the goal, everyone is charged
their amount (whether that is a success is `settlement.decide`'s question).

**The minimum rule.** Stripe refuses a charge below the currency's minimum
(`money.settlement_minimum(currency, account_currency)`, the `minimum` here).
A share that would fall below it is raised to the minimum, and the other
pledges give the difference back in proportion to their amounts: the pledges
at the minimum are set aside, the rest share `goal - minimum * (their count)`
by the same largest-remainder rule, and that is repeated until no share of the
rest falls below the minimum (each round can only lower the rest's shares, so
it settles within one round per pledge). Each pledge then pays at least
`min(amount, minimum)` and at most its amount; the charges still add up to the
goal. A pledge below the minimum, which intake refuses but a later change of
the minimum table could leave behind, is never lowered: it is charged its
full amount, as under any other funding model.

**When that is impossible**: if the floors `min(amount, minimum)` alone add up
to more than the goal (a goal smaller than the minimum times the crowd, e.g.
a £1 thing backed by 10 people in pounds, 30p each), every pledge is charged
its floor. The charges then exceed the goal by the least amount Stripe lets
us collect from everyone; `SharePlan.charged_total` says so, and
`SharePlan.exact` is False. Nobody is dropped to make the numbers fit.

Only integers: products are exact Python ints, never floats.

Settlement pages and fans out (DESIGN.md), so the computation is split: the
recount builds one small `SharePlan` from every collected pledge, and each
pledge's worker computes its own charge from the plan and its own id and
amount with `SharePlan.charge` — no list of pledges travels with the work.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from ..records import record

# (pledge id, amount in minor units)
PledgeAmount = tuple[str, int]


@record
class SharePlan:
    """The fair-share rule of one campaign's collection, in a few integers.

    The pledges whose proportional share clears their floor (the "sharers")
    split `sharers_goal` in proportion to their amounts, which sum to
    `sharers_total`; the others pay their floor `min(amount, minimum)`. A
    sharer whose `(-remainder, id)` is at most `cutoff` gets the extra unit.
    `sharers_total == 0` means the minimum rule could not be met (everyone
    pays the floor)."""

    goal: int
    total: int  # the collected pledges' amounts, summed
    minimum: int
    sharers_goal: int
    sharers_total: int
    cutoff: tuple[int, str] | None
    charged_total: int  # what the charges add up to

    @property
    def overfunded(self) -> bool:
        return self.total > self.goal

    @property
    def exact(self) -> bool:
        """True when the charges add up to the goal (or, not overfunded, to
        the total pledged)."""
        return self.charged_total == min(self.goal, self.total)

    def shares(self, amount: int) -> bool:
        """Whether a pledge of `amount` is one of the sharers (of an
        overfunded collection), rather than charged its floor."""
        floor = min(amount, self.minimum)
        return bool(self.sharers_total) and (
            amount * self.sharers_goal >= floor * self.sharers_total
        )

    def charge(self, pledge_id: str, amount: int) -> int:
        """The charge of one of the pledges this plan was made from."""
        if not self.overfunded:
            return amount
        if not self.shares(amount):
            return min(amount, self.minimum)
        share, remainder = divmod(amount * self.sharers_goal, self.sharers_total)
        extra = self.cutoff is not None and (-remainder, pledge_id) <= self.cutoff
        return share + int(extra)


def plan_shares(pledges: Iterable[PledgeAmount], goal: int, *, minimum: int = 0) -> SharePlan:
    """The plan for the collected `pledges` of a campaign whose price is `goal`.

    A pledge seen twice with the same amount counts once (a recount that
    reads a page twice changes nothing); one id with two amounts is an error.
    """
    amounts = _unique(pledges)
    if type(goal) is not int or goal <= 0:
        raise ValueError(f"goal must be a positive int of minor units, not {goal!r}")
    if type(minimum) is not int or minimum < 0:
        raise ValueError(f"minimum must be a non-negative int, not {minimum!r}")
    total = sum(amounts.values())
    if total <= goal:
        return SharePlan(goal, total, minimum, goal, total, None, total)

    floors = sum(min(amount, minimum) for amount in amounts.values())
    if floors > goal:
        return SharePlan(goal, total, minimum, 0, 0, None, floors)

    # Set aside the shares that fall below their floor (see the module
    # docstring). Pledges below the minimum always do; then the smallest
    # amounts, one at a time: each one set aside lowers the sharers' ratio
    # `sharers_goal / sharers_total`, so the first amount that still clears
    # the minimum is followed only by larger ones that do too. Since the
    # floors fit in the goal, the sharers never run out.
    sharers_goal = goal - sum(a for a in amounts.values() if a < minimum)
    sharers_total = total - sum(a for a in amounts.values() if a < minimum)
    for amount in sorted(a for a in amounts.values() if a >= minimum):
        if amount * sharers_goal >= minimum * sharers_total:
            break
        sharers_goal -= minimum
        sharers_total -= amount
    plan = SharePlan(goal, total, minimum, sharers_goal, sharers_total, None, goal)

    remainders = []
    short = sharers_goal
    for pid, amount in amounts.items():
        if plan.shares(amount):
            share, remainder = divmod(amount * sharers_goal, sharers_total)
            short -= share
            remainders.append((-remainder, pid))
    cutoff = sorted(remainders)[short - 1] if short else None
    return replace(plan, cutoff=cutoff)


def fair_shares(pledges: Iterable[PledgeAmount], goal: int, *, minimum: int = 0) -> dict[str, int]:
    """Each collected pledge's charge, by pledge id (see the module docstring)."""
    amounts = _unique(pledges)
    plan = plan_shares(amounts.items(), goal, minimum=minimum)
    return {pid: plan.charge(pid, amount) for pid, amount in amounts.items()}


def _unique(pledges: Iterable[PledgeAmount]) -> dict[str, int]:
    amounts: dict[str, int] = {}
    for pid, amount in pledges:
        if type(amount) is not int or amount <= 0:
            raise ValueError(f"pledge {pid}: amount must be a positive int, not {amount!r}")
        if amounts.setdefault(pid, amount) != amount:
            raise ValueError(f"pledge {pid} appears with two amounts")
    return amounts
