"""`cashmob stripe-emulator`: the emulator alone on a port, until Ctrl-C."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from .emulator import StripeEmulator
from .faults import Faults
from .settings import API_VERSION, PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET


def serve(args: Any, *, now: Callable[[], float] = time.time) -> int:
    """Serves `args.host:args.port` (the CLI's arguments) until SIGINT/SIGTERM."""
    from werkzeug.serving import make_server

    emulator = StripeEmulator(
        now=now,
        secret_key=os.environ.get("STRIPE_SECRET_KEY", SECRET_KEY),
        publishable_key=os.environ.get("STRIPE_PUBLISHABLE_KEY", PUBLISHABLE_KEY),
        webhook_secret=os.environ.get("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
        forward_to=args.forward_to,
        faults=Faults(rate_limit=args.rate_limit, latency_ms=args.latency_ms),
        account_currency=getattr(args, "account_currency", None) or "gbp",
        enabled_events=args.events.split(",") if getattr(args, "events", None) else None,
    )
    server = make_server(args.host, args.port, emulator, threaded=True)
    print(
        f"Stripe emulator on http://{args.host}:{args.port}  (keys {emulator.secret_key} / "
        f"{emulator.publishable_key}, Stripe.js stand-in at /v3/, "
        f"API version {API_VERSION}, account currency {emulator.account_currency})",
        flush=True,
    )
    if args.forward_to:
        print(f"  delivering signed webhooks to {args.forward_to}", flush=True)

    def shutdown(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    try:
        server.serve_forever()
    finally:
        emulator.stop()
    return 0
