"""The `cashmob` command: `cashmob local`, `cashmob stripe-emulator`, `cashmob demo`."""

from __future__ import annotations

import argparse
import sys

from . import reconciling


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def parser() -> argparse.ArgumentParser:
    """The `cashmob` command's arguments."""
    root = argparse.ArgumentParser(prog="cashmob", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    local = commands.add_parser("local", help="run the whole stack on this machine")
    local.add_argument("--host", default="127.0.0.1")
    local.add_argument("--port", type=int, default=3000)
    local.add_argument("--tick", type=float, default=5.0, help="seconds between settlement sweeps")
    local.add_argument("--stripe-port", type=int, default=12111)
    local.add_argument(
        "--stripe-api-base", default=None, help="talk to this Stripe instead of the emulator"
    )
    local.add_argument("--webhook-forward-to", default=None)
    local.add_argument(
        "--stripe-rate-limit",
        type=float,
        default=None,
        help="emulator requests/s per endpoint; the pledge-time budget follows it (one less)",
    )
    local.add_argument("--stripe-latency-ms", type=float, default=0.0)
    local.add_argument(
        "--stripe-account-currency",
        default=None,
        help="the emulator's settlement currency (default: $STRIPE_ACCOUNT_CURRENCY or gbp)",
    )
    local.add_argument(
        "--payouts",
        action="store_true",
        help="pay organizers out with Stripe Connect (template PayoutsEnabled=true)",
    )
    local.add_argument(
        "--api-instances",
        type=_positive,
        default=1,
        help="API function instances, each one request at a time (default 1, in this process; "
        "more run as child processes, as Lambda scales out)",
    )

    emulator = commands.add_parser("stripe-emulator", help="run the Stripe emulator alone")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=12111)
    emulator.add_argument("--forward-to", default=None)
    emulator.add_argument(
        "--events",
        default=None,
        help="comma-separated event types to deliver (default: all), as `stripe listen --events`",
    )
    emulator.add_argument("--rate-limit", type=float, default=None)
    emulator.add_argument("--latency-ms", type=float, default=0.0)
    emulator.add_argument(
        "--account-currency",
        default="gbp",
        help="settlement currency: its minimum charge applies after conversion",
    )
    demo = commands.add_parser("demo", help="a scripted cashmob against the local stack")
    demo.add_argument("--url", default=None, help="a running `cashmob local` (default: start one)")
    demo.add_argument("--backers", type=int, default=2000)
    demo.add_argument(
        "--variant",
        choices=["success", "missed", "both", "refused", "fixed-price", "conditional"],
        default="both",
        help="refused: the FT ad the newspaper refused: ~200 backers charged, then refunded; "
        "fixed-price: the FT ad overfunded, each backer charged a fair share (~300 backers); "
        "conditional: a campaign that tips because conditional pledges meet each other",
    )
    demo.add_argument("--workers", type=int, default=8, help="backers pledging at once")
    demo.add_argument(
        "--api-instances",
        type=_positive,
        default=3,
        help="the API instances of the stack it starts (`cashmob local --api-instances`; "
        "default 3: its backers pledge 16 at a time)",
    )
    reconciling.add_parser(commands)  # `cashmob reconcile`
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "local":
        from .stack import serve

        return serve(args)
    if args.command == "stripe-emulator":
        from .stripe_emulator import serve as serve_emulator

        return serve_emulator(args)
    if args.command == "demo":
        from .demo import main as demo

        return demo(args)
    if args.command == "reconcile":
        return reconciling.main(args)
    print(f"cashmob: unknown command {args.command}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
