"""One place creates Logger, Tracer and Metrics; every handler wears `handler`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="cashmob")
tracer = Tracer(service="cashmob")
metrics = Metrics(namespace="cashmob", service="cashmob")


def handler(
    correlation_id_path: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The decorator stack every Lambda entry point wears."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn = tracer.capture_lambda_handler(fn)
        fn = metrics.log_metrics(fn)
        return logger.inject_lambda_context(
            correlation_id_path=correlation_id_path, clear_state=True
        )(fn)

    return wrap
