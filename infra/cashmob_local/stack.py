"""`cashmob local`: template.yaml run on one machine.

moto in server mode holds the template's tables, queues and event bus; the
API Gateway stand-in serves the routes (and JWT authorizer) the template
declares; the Stripe emulator (or real Stripe) takes the payments and posts
signed webhooks back; a tick plays the settlement schedule and pollers feed
the settlement queue to the worker with SQS batch semantics. Every function
runs as deployed: same handler, its own environment from the template. One
movable clock serves the handlers, the tick and the emulator.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import signal
import threading
from argparse import Namespace
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from cashmob import container
from cashmob.clock import OffsetClock, to_rfc3339
from cashmob.config import Settings
from cashmob.container import Services
from cashmob.error_body import error_body
from cashmob.service.webhooks import ENABLED_EVENTS

from . import function_process, mail, openapi, reconciling, runtime, template, webapp
from .gateway import Gateway, JwtAuthorizer, invoke_in_process
from .keepalive import make_server
from .stripe_emulator import Faults, StripeEmulator


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


class SerializedMoto:
    """moto's WSGI app with DynamoDB requests one at a time. moto's DynamoDB
    snapshots a table for every transaction and is not safe against
    concurrent writers (it fails with 'dictionary changed size during
    iteration'); real DynamoDB has no such limit. Other services (SQS long
    polls) are not held up."""

    def __init__(self) -> None:
        from .moto_speedups import Dispatcher

        self.app = Dispatcher()  # moto's, its routing remembered
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        captured: list[Any] = []

        def capture(status: str, headers: list[Any], exc_info: Any = None) -> Any:
            captured[:] = [status, headers, exc_info]
            return lambda _data: None

        if environ.get("PATH_INFO") == mail.RAW_MESSAGES_PATH:
            body = mail.raw_messages_json()  # the stack's emails, from this process's moto
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            with self.lock:
                body = b"".join(self.app(environ, capture))
        else:
            body = b"".join(self.app(environ, capture))
        start_response(*captured)
        return [body]


def serve_moto(host: str, port: int) -> Any:
    from . import (
        moto_core_speedups,
        moto_item_size,
        moto_items_json,
        moto_parse_cache,
        moto_speedups,
        moto_undo,
    )

    moto_undo.install()  # a transaction costs its items, not its tables
    moto_speedups.install()  # a query on a table's key costs its partition
    moto_speedups.install_sqs()  # a receive or delete costs its messages, not its queue
    moto_items_json.install()  # items answered as JSON, not walked by moto's serializer
    moto_parse_cache.install()  # event paths and DynamoDB conditions parsed once per text
    moto_core_speedups.install()  # an action's method found without listing its class
    moto_item_size.install()  # an item's size summed once, not once per attribute
    server = make_server(host, port, SerializedMoto())
    threading.Thread(target=server.serve_forever, name="moto", daemon=True).start()
    return server


def moto_in_own_process() -> bool:
    """Whether `cashmob local` runs moto in a process of its own (the
    default): moto's work (parsing, expressions, answers) then runs on
    another core beside the functions' instead of taking turns with them
    under one interpreter lock; `make demo` takes about two thirds of the
    time (500 backers). CASHMOB_LOCAL_MOTO_PROCESS=0 keeps moto here."""
    return os.environ.get("CASHMOB_LOCAL_MOTO_PROCESS", "1") != "0"


# Connections each AWS client of the stack's process keeps to moto. Every
# function shares this process, so one client (a PynamoDB model's, a
# Services' SQS) serves many threads at once: a flash crowd's webhooks, the
# pollers, the API. botocore's 10 would open and discard a connection per
# call past the tenth. A deployed Lambda instance serves one request at a
# time, one call at a time, so its clients keep botocore's and PynamoDB's
# defaults (this is set here, for the local stack only).
CLIENT_POOL_CONNECTIONS = 64


def size_client_pools(size: int = CLIENT_POOL_CONNECTIONS) -> None:
    """Every client made from now on, boto3's (a default session whose
    default client config says `size`) and PynamoDB's (its
    `max_pool_connections` setting), keeps up to `size` connections."""
    import boto3
    import botocore.session
    import pynamodb.settings
    from botocore.config import Config

    session = botocore.session.get_session()
    session.set_default_client_config(Config(max_pool_connections=size))
    boto3.setup_default_session(botocore_session=session)
    pynamodb.settings.default_settings_dict["max_pool_connections"] = size


def start_aws() -> tuple[Any, dict[str, str]]:
    """moto in server mode, with everything template.yaml declares."""
    import boto3

    size_client_pools()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.setdefault("AWS_REGION", "us-east-1")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    external = os.environ.get("CASHMOB_LOCAL_AWS_ENDPOINT")  # benchmarks: moto elsewhere
    server = None
    if external:
        os.environ["AWS_ENDPOINT_URL"] = external
    else:
        if moto_in_own_process():  # moto on a core of its own
            from . import moto_process

            server = moto_process.start()
        else:
            server = serve_moto("127.0.0.1", 0)
        os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{server.server_port}"
    template.create_tables(boto3.client("dynamodb"))
    queues = template.create_queues(boto3.client("sqs"))
    events = boto3.client("events")
    if "cashmob-local-events" not in {b["Name"] for b in events.list_event_buses()["EventBuses"]}:
        events.create_event_bus(Name="cashmob-local-events")
    refs = {name: name for name in template.table_definitions()}
    refs.update(queues)
    refs["EventBus"] = "cashmob-local-events"
    return server, refs


def settings_for(function: str, refs: dict[str, str]) -> Settings:
    """The function's Settings from its own environment in the template."""
    env = template.function_environment(function, refs)
    fields = Settings.model_fields
    return Settings(**{k.lower(): v for k, v in env.items() if k.lower() in fields})


class Stack:
    """Everything `cashmob local` runs, startable from tests too."""

    def __init__(self, args: Namespace) -> None:
        self.args = args
        # Moves reach the notifier's process too (`function_process`).
        self.clock: OffsetClock = function_process.SharedClock()
        self.notifier: function_process.FunctionProcess | None = None
        # `--api-instances N` above 1: the API's instances, each a child process.
        self.api_instances: function_process.Instances | None = None
        # Hears each AWS call the notifier's process makes (the benchmarks' count).
        self.on_child_call: Callable[[str, str, dict[str, Any]], None] | None = None
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.emulator: StripeEmulator | None = None
        self.servers: list[Any] = []

    # ------------------------------------------------------------ pieces

    def _stripe(self, api_url: str) -> str:
        args = self.args
        if args.stripe_api_base:
            if not os.environ.get("STRIPE_SECRET_KEY", "").startswith(("sk_test_", "rk_test_")):
                raise SystemExit(
                    "cashmob local: --stripe-api-base needs STRIPE_SECRET_KEY set to a test-mode key"
                )
            if not os.environ.get("STRIPE_WEBHOOK_SECRET"):
                raise SystemExit(
                    "cashmob local: set STRIPE_WEBHOOK_SECRET to the secret `stripe listen` prints"
                )
            return args.stripe_api_base
        os.environ.setdefault("STRIPE_SECRET_KEY", "sk_test_local")
        os.environ.setdefault("STRIPE_WEBHOOK_SECRET", "whsec_local")
        # The emulator's settlement currency, and the product's (Settings reads
        # STRIPE_ACCOUNT_CURRENCY), are one and the same.
        account_currency = (
            getattr(args, "stripe_account_currency", None)
            or os.environ.get("STRIPE_ACCOUNT_CURRENCY")
            or "gbp"
        ).lower()
        os.environ["STRIPE_ACCOUNT_CURRENCY"] = account_currency
        self.emulator = StripeEmulator(
            now=lambda: self.clock.now().timestamp(),
            secret_key=os.environ["STRIPE_SECRET_KEY"],
            publishable_key=os.environ.get("STRIPE_PUBLISHABLE_KEY", "pk_test_local"),
            webhook_secret=os.environ["STRIPE_WEBHOOK_SECRET"],
            forward_to=args.webhook_forward_to or f"{api_url}/webhooks/stripe",
            faults=Faults(rate_limit=args.stripe_rate_limit, latency_ms=args.stripe_latency_ms),
            account_currency=account_currency,
            # What a deployment's endpoint subscribes to: the other events
            # (customer.created, *.created, charge.succeeded...) are two
            # thirds of the deliveries and the webhook would only ignore them.
            enabled_events=ENABLED_EVENTS,
        )
        server = make_server(args.host, args.stripe_port, self.emulator)
        self._serve(server, "stripe-emulator")
        return f"http://{_client_host(args.host)}:{server.server_port}"

    def _serve(self, server: Any, name: str) -> None:
        self.servers.append(server)
        thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    # ------------------------------------------------------------ start

    def start(self) -> str:
        args = self.args
        os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
        os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "cashmob-local")
        self.aws, refs = start_aws()
        queue_urls = {name: refs[name] for name in template.resources("AWS::SQS::Queue")}
        api = make_server(args.host, args.port, None)  # app set below
        api_url = f"http://{_client_host(args.host)}:{api.server_port}"
        os.environ["STRIPE_API_BASE"] = self._stripe(api_url)
        os.environ.setdefault("PLEDGE_TOKEN_SECRET", secrets.token_urlsafe(32))
        os.environ.setdefault("STRIPE_PUBLISHABLE_KEY", "pk_test_local")
        refs.update(template.parameter_defaults())
        refs["StripePublishableKey"] = os.environ["STRIPE_PUBLISHABLE_KEY"]
        refs["StripeIntakeRequestsPerSecond"] = str(intake_budget(args.stripe_rate_limit))
        # Reconciliation reads at the emulator's pace too: as fast as it
        # allows (unlimited without `--stripe-rate-limit`).
        refs["ReconcileRequestsPerSecond"] = refs["StripeIntakeRequestsPerSecond"]
        refs["StripeRequestsPerSecond"] = settlement_budget(
            args.stripe_rate_limit,
            refs["StripeRequestsPerSecond"],
            emulated=self.emulator is not None,
        )
        if getattr(args, "payouts", False):
            refs["PayoutsEnabled"] = "true"  # Stripe Connect payouts (`--payouts`)
        refs.update(mail.local_parameters(api_url))  # backers' emails through moto's SES
        mail.start(refs, queue_urls)
        functions = template.resources("AWS::Serverless::Function")
        concurrency = int(refs.get("SettlementConcurrency", "2"))
        # The workers all run in this one process and share one Stripe pacer:
        # it gets the whole budget rather than a share per worker.
        one_process = {**refs, "SettlementConcurrency": "1"}
        self.services = {
            name: Services(settings_for(name, one_process), clock=self.clock) for name in functions
        }
        crash_rate = float(os.environ.get("CASHMOB_LOCAL_WORKER_CRASH_RATE", "0") or 0)
        if crash_rate:
            from . import chaos

            for name in ("SettleWorkerFunction", "SettlementFunction"):
                chaos.install(self.services[name], crash_rate)
        container.use(self.services["ApiFunction"])

        import boto3

        sqs = boto3.client("sqs")
        sources = []
        for source in runtime.event_sources(functions):
            url = queue_urls[source["queue"]]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            count = _resolve(source["concurrency"], refs, default=concurrency)
            sources.append({**source, "queue_url": url, "queue_arn": arn, "pollers": count})
        # The notifier's pollers in a process of their own (it starts while
        # this one carries on), the others here.
        if function_process.in_own_process() and isinstance(
            self.clock, function_process.SharedClock
        ):
            away = [s for s in sources if s["function"] in function_process.FUNCTIONS]
            sources = [s for s in sources if s["function"] not in function_process.FUNCTIONS]
            self.notifier = function_process.start(
                one_process, away, self.clock.offset, on_call=self.on_child_call
            )
            self.clock.on_move.append(self.notifier.move_clock)
        instances = getattr(args, "api_instances", 1)
        if instances > 1 and isinstance(self.clock, function_process.SharedClock):
            children = [
                function_process.start(
                    one_process,
                    [],
                    self.clock.offset,
                    serves=("ApiFunction",),
                    name=f"API instance {n + 1}",
                    on_call=self.on_child_call,
                )
                for n in range(instances)
            ]
            for child in children:
                self.clock.on_move.append(child.move_clock)
            self.api_instances = function_process.Instances(children)

        self.authorizer = JwtAuthorizer(
            secret=secrets.token_urlsafe(32), now=lambda: self.clock.now().timestamp()
        )
        api.app = Gateway(self.authorizer, invoke=self.invoke, extra=self.local_routes())
        if self.notifier is not None:
            self.notifier.wait_ready()  # the stack is up once its emails are
        for child in self.api_instances.children if self.api_instances else ():
            child.wait_ready()
        self._serve(api, "api")
        self.api_url = api_url

        for poller in runtime.queue_pollers(sources, self.invoke, self.stop_event):
            poller.start()
            self.threads.append(poller)
        self.ticker = runtime.Ticker(
            runtime.schedules(functions),
            args.tick,
            self.scheduled,
            self.stop_event,
            # The daily reconciliation runs once per day of the stack's clock.
            periods=runtime.periods(functions),
            now=lambda: self.clock.now().timestamp(),
        )
        self.ticker.start()
        self.threads.append(self.ticker)
        return api_url

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        if function == "ApiFunction" and self.api_instances is not None:
            return self.api_instances.invoke(function, event)
        with container.scoped(self.services[function]):
            return invoke_in_process(function, event)

    def reconcile_scoped(self, run: Callable[[], Any]) -> Any:
        """Runs `run` with ReconcileFunction's services (`/_local/reconcile`)."""
        with container.scoped(self.services["ReconcileFunction"]):
            return run()

    def scheduled(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        """A schedule tick: Stripe's own clock first (holds lapse after 7 days,
        with their events, even when nobody calls the emulator), then the
        scheduled function."""
        if self.emulator is not None:
            self.emulator.expire_due()
        return self.invoke(function, event)

    def stop(self) -> None:
        self.stop_event.set()
        if self.notifier is not None:
            self.notifier.stop()
        for child in self.api_instances.children if self.api_instances else ():
            child.stop()
        for server in self.servers:
            server.shutdown()
        if self.emulator is not None:
            self.emulator.stop()
        if self.aws is not None:
            self.aws.shutdown()

    # ------------------------------------------------------------ /_local

    def local_routes(self) -> dict[str, Any]:
        """The routes the gateway serves beside the template's: /_local
        (token, clock, tick, status), /openapi.json, /docs and the web front
        end at /app/ (`webapp`)."""
        clock, authorizer = self.clock, self.authorizer
        spec = openapi.render()
        docs = swagger_page(spec)

        def token(request: Request) -> Response:
            body = request.get_json(force=True, silent=True) or {}
            sub = body.get("sub")
            if request.method != "POST" or not isinstance(sub, str) or not sub:
                return _json(error_body("validation_failed", 'Send {"sub": "<organizer>"}.'), 422)
            return _json({"token": authorizer.mint(sub)})

        def move_clock(request: Request) -> Response:
            from datetime import UTC, datetime, timedelta

            most = 10 * 365 * 86400  # ten years per move
            end = datetime(9000, 1, 1, tzinfo=UTC)  # far from datetime's year 9999

            def refuse(message: str) -> Response:
                details = [{"field": "advance_seconds"}]
                return _json(error_body("validation_failed", message, details), 422)

            if request.method == "POST":
                body = request.get_json(force=True, silent=True)
                seconds = body.get("advance_seconds") if isinstance(body, dict) else None
                # Not bool (type, not isinstance); NaN and infinities fail the range.
                if type(seconds) not in (int, float) or not 0 <= seconds <= most:
                    return refuse(
                        f"advance_seconds must be a number of seconds from 0 to {most} (10 years)."
                    )
                if clock.now() + timedelta(seconds=seconds) >= end:
                    return refuse(f"The clock cannot move past {to_rfc3339(end)}.")
                clock.advance(seconds)
            return _json({"now": to_rfc3339(clock.now())})

        def tick(request: Request) -> Response:
            if request.method != "POST":
                return _json(error_body("method_not_allowed", "POST"), 405)
            self.ticker.tick()
            return _json({"ticked": True, "now": to_rfc3339(clock.now())})

        @functools.cache
        def queues_seen() -> tuple[Any, dict[str, str]]:
            """One SQS client and the queues' URLs, found once: the demo asks
            for the status several times a second."""
            import boto3

            sqs = boto3.client("sqs")
            return sqs, {
                name: sqs.get_queue_url(QueueName=template.queue_name(name, props))["QueueUrl"]
                for name, props in template.resources("AWS::SQS::Queue").items()
            }

        def status(request: Request) -> Response:
            sqs, urls = queues_seen()
            queues = {}
            for name, url in urls.items():
                attrs = sqs.get_queue_attributes(
                    QueueUrl=url,
                    AttributeNames=[
                        "ApproximateNumberOfMessages",
                        "ApproximateNumberOfMessagesNotVisible",
                    ],
                )["Attributes"]
                queues[name] = {k: int(v) for k, v in attrs.items()}
            body: dict[str, Any] = {"now": to_rfc3339(clock.now()), "queues": queues}
            if self.emulator is not None:
                e = self.emulator
                body["stripe"] = {
                    "url": os.environ["STRIPE_API_BASE"],
                    "events": len(e.events),
                    "webhooks_pending": e.pending_deliveries(),
                    "webhooks_failed": e.failed_deliveries,
                }
            if self.notifier is not None:  # its pollers' process: running, or how it ended
                body["notifier_process"] = self.notifier.status()
            if self.api_instances is not None:
                body["api_instances"] = [child.status() for child in self.api_instances.children]
            return _json(body)

        return {
            "/_local/token": token,
            "/_local/clock": move_clock,
            "/_local/tick": tick,
            "/_local/status": status,
            "/_local/mail": lambda _: _json({"messages": mail.messages()}),
            # `cashmob reconcile --url`: with ReconcileFunction's settings.
            "/_local/reconcile": reconciling.local_route(self.reconcile_scoped),
            "/openapi.json": lambda _: Response(spec, mimetype="application/json"),
            "/docs": lambda _: Response(docs, mimetype="text/html"),
            **webapp.routes(
                publishable_key=os.environ.get("STRIPE_PUBLISHABLE_KEY", "pk_test_local"),
                emulator=None if self.emulator is None else os.environ.get("STRIPE_API_BASE"),
            ),
        }


def intake_budget(stripe_rate_limit: float | None) -> float:
    """The pledge-time Stripe budget per endpoint for an emulator limited to
    `stripe_rate_limit` requests/s per endpoint: one less (any second then
    holds at most the limit); no limit, no budget (0: unlimited)."""
    if not stripe_rate_limit:
        return 0.0
    return stripe_rate_limit - 1 if stripe_rate_limit >= 2 else stripe_rate_limit / 2


def settlement_budget(stripe_rate_limit: float | None, paced: str, *, emulated: bool) -> str:
    """Settlement's Stripe budget (StripeRequestsPerSecond): `paced` (the template's,
    below Stripe's 25/s) wherever a limit applies, that is with
    `--stripe-rate-limit` or a real Stripe (`--stripe-api-base`, whose
    limit the stack cannot see); the emulator without a limit takes any
    pace, so settlement is not paced at all (0: unlimited).

    A limit the stack is told (`--stripe-rate-limit`, with the emulator or
    `--stripe-api-base`) gets one less, as intake does: here every settle
    worker shares one pacer, which spaces its grants evenly, so any second
    holds at most that many settling calls, and no other function calls
    Stripe while a campaign settles (webhooks make no Stripe call; intake and
    reconciliation have budgets of their own). The template's 23 is for
    SettlementConcurrency pacers, each of which may put two calls in one
    second (12 x 2 = 24)."""
    if emulated and not stripe_rate_limit:
        return "0"
    if stripe_rate_limit:
        return f"{intake_budget(stripe_rate_limit):g}"
    return paced


def _resolve(value: Any, refs: dict[str, str], *, default: int) -> int:
    """A template number that may be a !Ref to a parameter."""
    if isinstance(value, dict) and "Ref" in value:
        value = refs.get(value["Ref"])
    return default if value is None else int(value)


def _client_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def serve(args: Namespace) -> int:
    import logging
    import warnings

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # Powertools warns on every invocation without custom metrics; locally that is noise.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    stack = Stack(args)
    url = stack.start()
    stripe_url = os.environ["STRIPE_API_BASE"]
    print(f"cashmob local: API on {url}", flush=True)
    print(
        f"  Web front end   {url}/app/   (organizer's desk: {url}/app/organizer.html)", flush=True
    )
    print(f"  Swagger UI      {url}/docs   (OpenAPI: {url}/openapi.json)", flush=True)
    if stack.emulator is not None:
        print(
            f"  Stripe emulator {stripe_url}   keys: sk_test_local / pk_test_local, "
            f"webhooks signed with whsec_local -> {stack.emulator.forward_to}",
            flush=True,
        )
    else:
        print(f"  Stripe          {stripe_url} (real test mode)", flush=True)
    print(
        f"  settlement tick every {args.tick:g} s; settlement and intake queues polled continuously",
        flush=True,
    )
    budget = intake_budget(args.stripe_rate_limit)
    print(
        "  flash intake: "
        + (f"{budget:g} Stripe requests/s per endpoint" if budget else "no pledge-time budget"),
        flush=True,
    )
    print(
        f'  try: curl -s -XPOST {url}/_local/token -d \'{{"sub": "alice"}}\'   '
        f"then POST {url}/campaigns with that bearer token (README: 'Try it').",
        flush=True,
    )
    print("  Ctrl-C stops everything.", flush=True)

    done = threading.Event()

    def shutdown(*_: Any) -> None:
        done.set()

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    done.wait()
    stack.stop()
    print("cashmob local: stopped", flush=True)
    return 0
