"""`cashmob local`: template.yaml run on one machine.

Today it runs moto in server mode with the template's tables, queues and
event bus, serves the HTTP API through the API Gateway stand-in (routes and
JWT authorizer from the template), mints organizer tokens and moves the
shared clock. Swagger UI is served at /docs. The Stripe emulator, the settlement tick and the SQS pollers
are the local-stack issue's; until they land, pledge creation answers 503
(the payment provider is unavailable) rather than pretending.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import threading
from argparse import Namespace
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from cashmob import services as services_module
from cashmob.clock import OffsetClock, to_rfc3339
from cashmob.config import Settings
from cashmob.domain import Money, Pledge
from cashmob.domain.errors import PaymentProviderUnavailable
from cashmob.payments import ChargeResult, IntentRef
from cashmob.services import Services

from . import openapi, template
from .gateway import Gateway, JwtAuthorizer


class NoStripe:
    """Stands in until the Stripe emulator exists: every call is 'unavailable'."""

    def _refuse(self) -> Any:
        raise PaymentProviderUnavailable(
            "No Stripe is running in this local stack yet.", retry_after=60
        )

    def start_setup(
        self, *, campaign_id: str, pledge_id: str, email: str, amount: Money
    ) -> IntentRef:
        return self._refuse()

    def start_hold(
        self, *, campaign_id: str, pledge_id: str, email: str, amount: Money
    ) -> IntentRef:
        return self._refuse()

    def charge(self, pledge: Pledge, *, attempt: int, look_up_first: bool) -> ChargeResult:
        return self._refuse()

    def capture(self, pledge: Pledge) -> ChargeResult:
        return self._refuse()

    def cancel(self, pledge: Pledge) -> None:
        self._refuse()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status, mimetype="application/json")


def swagger_page(spec: str) -> str:
    """Swagger UI with Powertools' bundled assets inlined: works offline."""
    from importlib import resources

    from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

    assets = resources.files("aws_lambda_powertools.event_handler.openapi.swagger_ui")
    return generate_swagger_html(
        spec,
        (assets / "swagger-ui-bundle.min.js").read_text(),
        (assets / "swagger-ui.min.css").read_text(),
        swagger_base_url="",
        oauth2_config=None,
    )


def start_aws() -> tuple[Any, dict[str, str]]:
    """moto in server mode, with everything template.yaml declares."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.setdefault("AWS_REGION", "us-east-1")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
    template.create_tables(boto3.client("dynamodb"))
    queues = template.create_queues(boto3.client("sqs"))
    bus = boto3.client("events").create_event_bus(Name="cashmob-local-events")["EventBusArn"]
    refs = {name: name for name in template.table_definitions()}
    refs.update(queues)
    refs["EventBus"] = bus.rsplit("/", 1)[-1]
    return server, refs


def serve(args: Namespace) -> int:
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "cashmob-local")
    aws, refs = start_aws()
    # The functions' environment, exactly as the template gives it.
    refs.update(template.parameter_defaults())
    for function in template.resources("AWS::Serverless::Function"):
        os.environ.update(template.function_environment(function, refs))
    os.environ.setdefault("STRIPE_SECRET_KEY", "sk_test_local")
    os.environ.setdefault("STRIPE_WEBHOOK_SECRET", "whsec_local")
    os.environ.setdefault("PLEDGE_TOKEN_SECRET", secrets.token_urlsafe(32))
    os.environ["STRIPE_PUBLISHABLE_KEY"] = os.environ.get("STRIPE_PUBLISHABLE_KEY", "pk_test_local")
    clock = OffsetClock()
    services_module.use(Services(Settings(), clock=clock, payments_override=NoStripe()))

    authorizer = JwtAuthorizer(secret=secrets.token_urlsafe(32))
    spec = openapi.render()
    docs = swagger_page(spec)

    def token(request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        sub = body.get("sub")
        if request.method != "POST" or not isinstance(sub, str) or not sub:
            return _json(
                {"error": {"code": "validation_failed", "message": 'Send {"sub": "<organizer>"}.'}},
                422,
            )
        return _json({"token": authorizer.mint(sub, clock.now().timestamp())})

    def move_clock(request: Request) -> Response:
        if request.method == "POST":
            body = request.get_json(silent=True) or {}
            seconds = body.get("advance_seconds")
            if type(seconds) not in (int, float) or seconds < 0:
                return _json(
                    {
                        "error": {
                            "code": "validation_failed",
                            "message": "advance_seconds must be >= 0.",
                        }
                    },
                    422,
                )
            clock.advance(seconds)
        return _json({"now": to_rfc3339(clock.now())})

    extra = {
        "/_local/token": token,
        "/_local/clock": move_clock,
        "/openapi.json": lambda _: Response(spec, mimetype="application/json"),
        "/docs": lambda _: Response(docs, mimetype="text/html"),
    }
    gateway = Gateway(authorizer, extra=extra)
    server = make_server(args.host, args.port, gateway, threaded=True)
    url = f"http://{args.host}:{args.port}"
    print(
        f"cashmob local: API on {url}  (Swagger UI: {url}/docs, OpenAPI: {url}/openapi.json)",
        flush=True,
    )
    print(
        f'  organizer token: curl -s -XPOST {url}/_local/token -d \'{{"sub": "alice"}}\'',
        flush=True,
    )
    print("  Stripe emulator, settlement tick and SQS pollers: not in this build yet.", flush=True)

    stop = threading.Event()

    def shutdown(*_: Any) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    try:
        server.serve_forever()
    finally:
        aws.stop()
    print("cashmob local: stopped", flush=True)
    return 0
