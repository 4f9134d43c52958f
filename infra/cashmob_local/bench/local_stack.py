"""The whole local stack in this process, for the cost and hot-campaign
benchmarks, its gateway wrapped so the benchmark's own polling is not counted."""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from .counting import CallCounter, ObserverMarker


def in_process_stack() -> Any:
    # WARNING for the functions' logs and werkzeug's line per request (`cashmob
    # local` quiets werkzeug too): printing them was a good part of the measure.
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    logging.getLogger("cashmob").setLevel(logging.WARNING)  # if created before this
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    from botocore import handlers

    from cashmob.store.models import build_models

    from ..stack import Stack

    build_models.cache_clear()  # models bind their connection to the endpoint of first use

    args = argparse.Namespace(
        host="127.0.0.1",
        port=0,
        tick=3600.0,
        stripe_port=0,
        stripe_api_base=None,
        webhook_forward_to=None,
        stripe_rate_limit=None,
        stripe_latency_ms=0.0,
    )
    stack = Stack(args)
    # The notifier's pollers run in a process of their own: its calls are
    # counted with this process's, by the CallCounter installed here.
    counters = [
        entry[1].__self__
        for entry in handlers.BUILTIN_HANDLERS  # (event, handler[, when])
        if isinstance(getattr(entry[1], "__self__", None), CallCounter)
    ]

    def on_child_call(service: str, operation: str, params: dict[str, Any]) -> None:
        for counter in counters:
            if counter.on:
                counter.record(service, operation, params)

    stack.on_child_call = on_child_call if counters else None
    stack.start()
    api_server = next(
        server for server in stack.servers if server.app.__class__.__name__ == "Gateway"
    )
    api_server.app = ObserverMarker(api_server.app)
    return stack
