"""A local stand-in for API Gateway's HTTP API: turns HTTP requests into
payload-v2 events for the function template.yaml routes them to, with the
JWT authorizer of the routes the template protects and its CORS settings."""

from __future__ import annotations

import base64
import json
import math
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from werkzeug.wrappers import Request, Response

from cashmob.error_body import error_body

from . import template

Invoke = Callable[[str, dict[str, Any]], dict[str, Any]]
TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded", "application/xml")
LOCAL_ISSUER = "https://cashmob.local/"
LOCAL_AUDIENCE = "cashmob-local"


@dataclass
class JwtAuthorizer:
    """The HttpApi JWT authorizer, with a local HS256 key instead of a JWKS."""

    secret: str
    issuer: str = LOCAL_ISSUER
    audience: str = LOCAL_AUDIENCE
    lifetime_seconds: int = 3600
    leeway_seconds: int = 60
    now: Callable[[], float] = time.time  # the stack's movable clock

    def mint(self, sub: str, now: float | None = None) -> str:
        issued = int(now if now is not None else self.now())
        claims = {
            "sub": sub,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": issued,
            "exp": issued + self.lifetime_seconds,
        }
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def verify(self, header: str | None) -> dict[str, Any] | None:
        if not header or not header.lower().startswith("bearer "):
            return None
        try:
            claims = jwt.decode(
                header[7:].strip(),
                self.secret,
                algorithms=["HS256"],
                audience=self.audience,
                issuer=self.issuer,
                # Times are checked below against the stack's clock, not the host's.
                options={
                    "require": ["sub", "exp", "iss", "aud"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError:
            return None
        # As API Gateway does: exp is required and must be in the future; nbf
        # and iat, when present, must not be in the future (here: the stack's
        # clock, with some leeway). A time that is not a finite number fails.
        now, leeway = self.now(), self.leeway_seconds
        if not _moment(claims["exp"]) or claims["exp"] <= now - leeway:
            return None
        for name in ("nbf", "iat"):
            if name in claims and (not _moment(claims[name]) or claims[name] > now + leeway):
                return None
        return claims


def _moment(value: Any) -> bool:
    """A JWT NumericDate: a finite number of seconds (not a bool)."""
    return type(value) is int or (type(value) is float and math.isfinite(value))


class LambdaContext:
    def __init__(self, function: str, timeout_seconds: float = 30.0) -> None:
        self.function_name = function
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{function}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - time.monotonic()) * 1000), 0)


# Powertools' HTTP resolvers keep the request being handled on the router
# (class attributes and the app's context dict): a Lambda instance handles
# one request at a time, so they may. The local stack runs each function's one
# module from many threads, so a function whose module holds a resolver takes
# one HTTP request at a time, like one warm instance; otherwise concurrent
# requests would read each other's event (another backer's pledge, a token
# that "does not match"). The other functions keep no request on their module
# (the webhook is a plain handler, as the queue workers are), so their
# invocations overlap, as concurrent Lambda instances do: a flash crowd's
# webhooks are no longer answered one at a time. test_gateway_instances
# checks this set against the functions' modules.
RESOLVER_FUNCTIONS = frozenset({"ApiFunction"})
_instances: dict[str, threading.Lock] = {}
_instances_lock = threading.Lock()


def _instance(function: str) -> threading.Lock:
    with _instances_lock:
        return _instances.setdefault(function, threading.Lock())


def invoke_in_process(function: str, event: dict[str, Any]) -> dict[str, Any]:
    props = template.resources("AWS::Serverless::Function")[function]
    timeout = props.get("Timeout") or template.load()["Globals"]["Function"].get("Timeout", 3)
    handler = template.load_handler(function)
    if "requestContext" not in event or function not in RESOLVER_FUNCTIONS:
        return handler(event, LambdaContext(function, float(timeout)))
    with _instance(function):
        return handler(event, LambdaContext(function, float(timeout)))


def _error(status: int, code: str, message: str) -> Response:
    return Response(json.dumps(error_body(code, message)), status, mimetype="application/json")


class Throttle:
    """The stage's token bucket: `rate` requests/s, bursts up to `burst`."""

    def __init__(self, rate: float, burst: float, monotonic: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self._monotonic = rate, burst, monotonic
        self._tokens, self._at = burst, monotonic()
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            now = self._monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


def stage_throttle() -> Throttle:
    """The HttpApi's DefaultRouteSettings, with parameters at their defaults."""
    settings = template.resources("AWS::Serverless::HttpApi")["HttpApi"]["DefaultRouteSettings"]
    defaults = template.parameter_defaults()

    def value(v: Any) -> float:
        return float(defaults[v["Ref"]] if isinstance(v, dict) else v)

    return Throttle(value(settings["ThrottlingRateLimit"]), value(settings["ThrottlingBurstLimit"]))


class Gateway:
    def __init__(
        self,
        authorizer: JwtAuthorizer,
        invoke: Invoke = invoke_in_process,
        extra: Mapping[str, Callable[[Request], Response]] | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        self.authorizer = authorizer
        self.invoke = invoke
        self.extra = dict(extra or {})
        self.routes = template.routes()
        self.throttle = throttle or stage_throttle()
        cors = template.resources("AWS::Serverless::HttpApi")["HttpApi"].get(
            "CorsConfiguration", {}
        )
        self.cors = {
            "Access-Control-Allow-Origin": ",".join(cors.get("AllowOrigins", ["*"])),
        }
        self.preflight = {
            **self.cors,
            "Access-Control-Allow-Methods": ",".join(cors.get("AllowMethods", [])),
            "Access-Control-Allow-Headers": ",".join(cors.get("AllowHeaders", [])),
            "Access-Control-Max-Age": str(cors.get("MaxAge", 0)),
        }

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        return self.respond(request)(environ, start_response)

    def respond(self, request: Request) -> Response:
        if request.path in self.extra:
            return self.extra[request.path](request)
        if request.method == "OPTIONS" and "Origin" in request.headers:
            return Response(status=204, headers=self.preflight)
        if not self.throttle.allow():
            # API Gateway answers these itself; API.md's error body, locally.
            response = _error(429, "throttled", "Too many requests; retry in a moment.")
            response.headers["Retry-After"] = "1"
            return self._with_cors(response)
        for route in self.routes:
            params = route.match(request.method, request.path)
            if params is None:
                continue
            claims = None
            if route.authorizer:
                claims = self.authorizer.verify(request.headers.get("Authorization"))
                if claims is None:
                    return self._with_cors(
                        _error(401, "unauthorized", "A valid organizer token is required.")
                    )
            event = self.event(request, route, params, claims)
            result = self.invoke(route.function, event)
            return self._with_cors(self.response(result))
        return self._with_cors(
            _error(404, "not_found", f"No route for {request.method} {request.path}.")
        )

    def _with_cors(self, response: Response) -> Response:
        for key, value in self.cors.items():
            response.headers.setdefault(key, value)
        return response

    @staticmethod
    def event(
        request: Request,
        route: template.Route,
        params: dict[str, str],
        claims: dict[str, Any] | None,
    ) -> dict[str, Any]:
        raw = request.get_data()
        content_type = request.headers.get("Content-Type", "")
        textual = not raw or content_type.startswith(TEXT_TYPES)
        if textual:
            try:
                body: str | None = raw.decode("utf-8") if raw else None
                encoded = False
            except UnicodeDecodeError:
                body, encoded = base64.b64encode(raw).decode(), True
        else:
            body, encoded = base64.b64encode(raw).decode(), True
        headers: dict[str, str] = {}
        for key, value in request.headers.items():
            name = key.lower()
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        query: dict[str, str] = {}
        for key, value in request.args.items(multi=True):
            query[key] = f"{query[key]},{value}" if key in query else value
        now = time.time()
        route_key = "$default" if route.path == "$default" else f"{route.method} {route.path}"
        context: dict[str, Any] = {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": request.host,
            "domainPrefix": request.host.split(".")[0],
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": request.remote_addr or "127.0.0.1",
                "userAgent": request.headers.get("User-Agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        }
        if claims is not None:
            context["authorizer"] = {
                "jwt": {"claims": {k: str(v) for k, v in claims.items()}, "scopes": None}
            }
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": request.path,
            "rawQueryString": request.query_string.decode("latin-1"),
            "headers": headers,
            "requestContext": context,
            "isBase64Encoded": encoded,
        }
        if request.cookies:
            event["cookies"] = [f"{k}={v}" for k, v in request.cookies.items()]
        if query:
            event["queryStringParameters"] = query
        if params:
            event["pathParameters"] = params
        if body is not None:
            event["body"] = body
        return event

    @staticmethod
    def response(result: dict[str, Any]) -> Response:
        if "statusCode" not in result:  # payload v2: a bare object is a 200 JSON body
            return Response(json.dumps(result), 200, mimetype="application/json")
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
        response = Response(data, int(result["statusCode"]))
        response.headers.clear()
        for key, value in (result.get("headers") or {}).items():
            response.headers[key] = str(value)
        for key, values in (result.get("multiValueHeaders") or {}).items():
            for value in values:
                response.headers.add(key, str(value))
        for cookie in result.get("cookies") or []:
            response.headers.add("Set-Cookie", cookie)
        response.headers.setdefault("Content-Type", "application/json")
        return response
