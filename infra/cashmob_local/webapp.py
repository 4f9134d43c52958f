"""`/app/`: the project's example front end (`web/`), served by `cashmob local`
as any static host would serve it, except for `config.js`, which is written
for this stack: its API on the page's own origin, its publishable key, and
Stripe.js from the embedded emulator (`/v3/`, API.md) or from Stripe when the
stack talks to real Stripe. The organizer's desk signs in through
`/_local/token`; the pages read the stack's movable clock from
`/_local/clock`."""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from werkzeug.wrappers import Request, Response

from .template import ROOT

WEB = ROOT / "web"
PREFIX = "/app/"
REAL_STRIPE_JS = "https://js.stripe.com/v3/"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    # embed.js and widget.html are used by pages of other origins.
    "Access-Control-Allow-Origin": "*",
}

Handler = Callable[[Request], Response]


def config_js(*, api_base: str, publishable_key: str, stripe_js_url: str) -> str:
    """web/config.js as this stack needs it."""
    config = {
        "apiBase": api_base,
        "stripePublishableKey": publishable_key,
        "stripeJsUrl": stripe_js_url,
        "auth": {"mode": "local", "localTokenUrl": f"{api_base}/_local/token"},
        "clockUrl": f"{api_base}/_local/clock",
    }
    return (
        "// Written by `cashmob local` for this stack (the file in web/ is the template for a\n"
        "// deployment). API on this origin, Stripe.js from the emulator, local sign-in.\n"
        f"export default {json.dumps(config, indent=2)};\n"
    )


def _file(path: Path) -> Handler:
    kind = (
        TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )

    def serve(_: Request) -> Response:
        return Response(path.read_bytes(), 200, content_type=kind, headers=HEADERS)

    return serve


def routes(*, publishable_key: str, emulator: str | None) -> dict[str, Handler]:
    """Every file of web/ under /app/ (the gateway matches exact paths), /app/
    for index.html, and the stack's own config.js. `emulator`: the Stripe
    emulator's URL, or None for real Stripe."""
    stripe_port = None if emulator is None else urlsplit(emulator).port

    def config(request: Request) -> Response:
        origin = f"{request.scheme}://{request.host}"
        host = urlsplit(origin).hostname or "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        stripe_js = (
            REAL_STRIPE_JS
            if stripe_port is None
            else f"{request.scheme}://{host}:{stripe_port}/v3/"
        )
        body = config_js(api_base=origin, publishable_key=publishable_key, stripe_js_url=stripe_js)
        return Response(body, 200, content_type=TYPES[".js"], headers=HEADERS)

    served: dict[str, Handler] = {}
    if WEB.is_dir():
        for path in sorted(WEB.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                served[PREFIX + path.relative_to(WEB).as_posix()] = _file(path)
    if PREFIX + "index.html" in served:
        served[PREFIX] = served[PREFIX + "index.html"]
    served[PREFIX + "config.js"] = config

    def to_app(request: Request) -> Response:
        query = request.query_string.decode("latin-1")
        location = PREFIX + (f"?{query}" if query else "")
        return Response(status=308, headers={"Location": location, **HEADERS})

    served[PREFIX.rstrip("/")] = to_app
    return served
