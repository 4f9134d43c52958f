"""One place creates Logger, Tracer and Metrics; every handler wears `handler`.

The Tracer exists only where it traces. Creating one imports the X-Ray SDK
(about as long as `import boto3`) even when tracing is off, where it would
only wrap the handler in no-op subsegments; so `handler` asks Powertools'
own rule first (tracing is on in Lambda unless POWERTOOLS_TRACE_DISABLED,
off in SAM local, Chalice, tests and the local stack) and adds
`capture_lambda_handler` only when it is on.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

# Powertools' public submodules; `Tracer`'s module imports the X-Ray SDK
# only when a Tracer is created.
from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.metrics import Metrics
from aws_lambda_powertools.tracing import Tracer

logger = Logger(service="cashmob")
metrics = Metrics(namespace="cashmob", service="cashmob")


@cache
def tracer() -> Tracer | None:
    """The process's Tracer, created on first use, or None when tracing is off."""
    if Tracer._is_tracer_disabled():  # the rule Tracer() itself applies
        return None
    return Tracer(service="cashmob")


def handler(
    correlation_id_path: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The decorator stack every Lambda entry point wears."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        traced = tracer()
        if traced is not None:
            fn = traced.capture_lambda_handler(fn)
        fn = metrics.log_metrics(fn)
        return logger.inject_lambda_context(
            correlation_id_path=correlation_id_path, clear_state=True
        )(fn)

    return wrap
