"""Daily reconciliation against Stripe (service.reconcile): reports drift as
metrics (one per kind, each with an alarm) and logs the JSON report. It
repairs nothing: `cashmob reconcile --fix` is for a person to run."""

from __future__ import annotations

# First: the garbage collector paused for the init (cashmob.startup), until
# `done()` on the last line.
import cashmob.startup  # isort: skip

from datetime import timedelta
from typing import Any

from cashmob import container
from cashmob.observability import handler, logger
from cashmob.service import reconcile


@handler()
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    svc = container.current()
    since = svc.clock.now() - timedelta(days=svc.settings.reconcile_lookback_days)
    report = reconcile.reconcile(svc, since=since)
    if report.clean:
        logger.info("reconciled: no drift", extra={"pledges": report.pledges})
    else:
        logger.warning("reconciliation found drift", extra={"report": report.to_json()})
    return {"campaigns": report.campaigns, "pledges": report.pledges, **report.counts}


cashmob.startup.done()  # the init is over: freeze what it made (cashmob.startup)
