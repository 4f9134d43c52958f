"""The emulator's control paths under /_emulator/ (not part of Stripe's API).

- `GET|POST /_emulator/faults`: the random fault knobs (POST a JSON object of changes).
- `GET|POST|DELETE /_emulator/fail_next`: forced failures (faults): POST
  `{"mode", "path_regex", "method", "count"}` adds a rule, GET lists what is
  left, DELETE clears; each answers `{"pending": [...]}`.
- `GET /_emulator/requests`: the request log summed (`summarize`); with
  `?log=1`, the log itself (each request's method, path, status, code,
  `arrived` and answered `at`, wall-clock seconds).
- `POST /_emulator/reset-log`: empties the log and the rate-limit windows.
- `POST /_emulator/expire`: cancels the holds whose 7 days have passed → `{"cancelled": n}`.
- `GET /_emulator/charges`: pledge id → PaymentIntents that took money.
- `GET /_emulator/refunds`: pledge id → the amounts of its refunds, oldest first.
- `POST /_emulator/refund` `{"payment_intent", "amount"?}`: a refund made in
  Stripe's dashboard, behind cashmob's back (emits `charge.refunded`) → the Refund.
- `GET|POST /_emulator/webhooks`: delivery counts (POST first waits for the outbox).
- `POST /_emulator/accounts/{id}/complete_onboarding`: the organizer finishes
  Connect onboarding → the account (enabled), with `account.updated`.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from .errors import StripeFailure
from .faults import FailRule

if TYPE_CHECKING:
    from .emulator import StripeEmulator


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status, mimetype="application/json")


def summarize(log: list[dict[str, Any]]) -> dict[str, Any]:
    """The request log summed: `total`, `by_status`, `endpoints` (count, status,
    first, last per endpoint), `versions` (Stripe-Version header sent → count;
    "(none)" when absent), `refused` (answers 400 `invalid_request_error`:
    unknown or missing parameters, a wrong version, amounts too small, a
    state that forbids the call; card errors are 402 and not counted) and
    `refused_by_code` (their codes → count; "(none)" when the error has none)."""
    endpoints: dict[str, dict[str, Any]] = {}
    for r in log:
        parts = r["path"].split("/")
        name = f"{r['method']} /{'/'.join(parts[1:3])}" + (
            f"/*/{parts[4]}" if len(parts) > 4 else "/*" if len(parts) > 3 else ""
        )
        entry = endpoints.setdefault(
            name, {"count": 0, "status": Counter(), "first": r["at"], "last": r["at"]}
        )
        entry["count"] += 1
        entry["status"][str(r["status"])] += 1
        entry["first"], entry["last"] = min(entry["first"], r["at"]), max(entry["last"], r["at"])
    refused = [r for r in log if r.get("refused")]
    return {
        "total": len(log),
        "by_status": dict(Counter(str(r["status"]) for r in log)),
        "endpoints": {k: {**v, "status": dict(v["status"])} for k, v in endpoints.items()},
        "versions": dict(Counter(r.get("version") or "(none)" for r in log)),
        "refused": len(refused),
        "refused_by_code": dict(Counter(r.get("code") or "(none)" for r in refused)),
    }


def control(emulator: StripeEmulator, request: Request) -> Response:
    path, method = request.path, request.method
    if path == "/_emulator/faults":
        if method == "POST":
            try:
                emulator.faults.update(request.get_json(force=True) or {})
            except (ValueError, TypeError, AttributeError) as error:
                return _json({"error": str(error)}, 400)
        return _json(asdict(emulator.faults))
    if path == "/_emulator/fail_next":
        if method == "POST":
            body = request.get_json(force=True, silent=True)
            try:
                if not isinstance(body, dict):
                    raise TypeError('send {"mode": ..., "path_regex": ..., "count": ...}')
                rule = FailRule(**body)
            except (TypeError, ValueError) as error:
                return _json({"error": str(error)}, 400)
            emulator.fail_next(
                rule.mode, path_regex=rule.path_regex, method=rule.method, count=rule.count
            )
        elif method == "DELETE":
            emulator.clear_failures()
        return _json({"pending": emulator.pending_failures()})
    if path == "/_emulator/requests":
        if request.args.get("log"):  # the log itself: each request's `arrived` and `at`
            return _json(emulator.request_log)
        return _json(emulator.requests_summary())
    if path == "/_emulator/reset-log" and method == "POST":
        emulator.reset_log()
        return _json({})
    if path == "/_emulator/expire" and method == "POST":
        return _json({"cancelled": emulator.expire_due()})
    onboarding = re.fullmatch(r"/_emulator/accounts/([^/]+)/complete_onboarding", path)
    if onboarding and method == "POST":
        try:
            return _json(emulator.complete_onboarding(onboarding.group(1)))
        except StripeFailure as failure:
            return _json(failure.body, failure.status)
    if path == "/_emulator/charges":
        return _json(emulator.succeeded_charges())
    if path == "/_emulator/refunds":
        return _json(emulator.refunds_by_pledge())
    if path == "/_emulator/refund" and method == "POST":
        body = request.get_json(force=True, silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("payment_intent"), str):
            return _json({"error": 'send {"payment_intent": "pi_...", "amount": <int>?}'}, 400)
        amount = body.get("amount")
        if amount is not None and (type(amount) is not int or amount < 1):
            return _json({"error": "amount must be a positive integer"}, 400)
        try:
            return _json(emulator.refund_behind_our_back(body["payment_intent"], amount))
        except StripeFailure as failure:
            return _json(failure.body, failure.status)
    if path == "/_emulator/webhooks":
        if method == "POST":
            emulator.wait_for_deliveries(float(request.args.get("timeout", 30)))
        return _json(emulator.webhook_counts())
    return _json({"error": "unknown emulator control path"}, 404)
