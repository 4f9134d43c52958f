"""`cashmob reconcile [--campaign ID] [--since DATE] [--fix] [--json PATH]
[--url URL]`: service.reconcile, printed as a table (and written as JSON).

With `--url` it asks a running `cashmob local` (`POST /_local/reconcile`,
which runs it inside the stack with ReconcileFunction's settings, against
the stack's moto tables and Stripe emulator). Without, it runs here against
what the environment names (the deployed tables, and Stripe with the key
from STRIPE_SECRET_KEY or STRIPE_SECRET_KEY_PARAM), like the daily function.
Exit status: 0 no drift, 1 drift found, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from cashmob.domain.errors import NotFound


def add_parser(commands: Any) -> None:
    sub = commands.add_parser("reconcile", help="compare our records with Stripe's; report drift")
    sub.add_argument("--campaign", default=None, help="only this campaign (cmp_...)")
    sub.add_argument(
        "--since", default=None, help="only campaigns whose deadline is on or after this date"
    )
    sub.add_argument(
        "--fix",
        action="store_true",
        help="apply the safe, forward-only repairs (what a lost webhook would have done)",
    )
    sub.add_argument("--json", default=None, help="also write the JSON report to this path")
    sub.add_argument("--url", default=None, help="a running `cashmob local` to reconcile")


def parse_since(value: str | None) -> datetime | None:
    """`2026-12-01` or an RFC 3339 time; UTC when no zone is given."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def run(campaign: str | None, since: datetime | None, fix: bool) -> dict[str, Any]:
    """Reconciles with the current services; the report as JSON plus its table."""
    from cashmob import container
    from cashmob.service import reconcile

    report = reconcile.reconcile(container.current(), campaign_id=campaign, since=since, fix=fix)
    return {**report.to_json(), "table": report.table()}


def main(args: argparse.Namespace) -> int:
    try:
        since = parse_since(args.since)
    except ValueError:
        print(f"cashmob reconcile: --since {args.since!r} is not a date", file=sys.stderr)
        return 2
    if args.url:
        from .driver import Api

        status, report = Api(args.url.rstrip("/"), timeout=600).call(
            "POST",
            "/_local/reconcile",
            {"campaign": args.campaign, "since": args.since, "fix": bool(args.fix)},
        )
        if status != 200:
            print(f"cashmob reconcile: {status} {report}", file=sys.stderr)
            return 2
    else:
        try:
            report = run(args.campaign, since, args.fix)
        except NotFound as missing:
            print(f"cashmob reconcile: {missing.message}", file=sys.stderr)
            return 2
    print(report.pop("table"))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 1 if report["drift"] else 0


def local_route(invoke_scoped: Callable[[Callable[[], Any]], Any]) -> Callable[[Request], Response]:
    """`POST /_local/reconcile` {"campaign"?, "since"?, "fix"?} -> the report
    (JSON, with its `table`), run by `invoke_scoped` in the stack."""

    def route(request: Request) -> Response:
        def answer(body: Any, status: int = 200) -> Response:
            return Response(json.dumps(body), status, mimetype="application/json")

        if request.method != "POST":
            return answer({"error": {"code": "method_not_allowed", "message": "POST"}}, 405)
        body = request.get_json(force=True, silent=True) or {}
        try:
            since = parse_since(body.get("since"))
        except (ValueError, AttributeError):
            return answer(
                {"error": {"code": "validation_failed", "message": "since is not a date"}}, 422
            )
        campaign = body.get("campaign")
        fix = body.get("fix") is True
        try:
            return answer(invoke_scoped(lambda: run(campaign, since, fix)))
        except NotFound as missing:
            return answer({"error": {"code": "not_found", "message": missing.message}}, 404)

    return route
