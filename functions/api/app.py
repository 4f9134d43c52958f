"""The HTTP API: one resolver, a Router per resource, validation on. Routes
call one use case each; errors become API.md's body in one place."""

from __future__ import annotations

import base64
import binascii
import json
import re
from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import (
    APIGatewayHttpResolver,
    CORSConfig,
    Response,
)
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from cashmob import container, http
from cashmob.domain import CampaignStatus
from cashmob.domain.errors import DomainError, Unauthorized
from cashmob.observability import handler, logger
from cashmob.schemas import (
    BackerList,
    CampaignList,
    CampaignOut,
    CreateCampaign,
    CreatePledge,
    ErrorBody,
    OwnerPledgeList,
    PledgeCreated,
    PledgeDetail,
    PledgeOut,
)
from cashmob.service import campaigns as campaign_cases
from cashmob.service import pledges as pledge_cases

CORS = CORSConfig(
    allow_origin="*",
    allow_headers=["Content-Type", "Authorization", "Idempotency-Key", "X-Pledge-Token"],
    max_age=600,
)
app = APIGatewayHttpResolver(cors=CORS, enable_validation=True)
campaigns = APIGatewayHttpRouter()
pledges = APIGatewayHttpRouter()

CampaignId = Annotated[str, Path(min_length=1, max_length=64)]
PledgeId = Annotated[str, Path(min_length=1, max_length=64)]
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=2048)]
PledgeToken = Annotated[str | None, Header(alias="x-pledge-token", max_length=512)]
IdempotencyKey = Annotated[str, Header(alias="idempotency-key", min_length=1, max_length=255)]


def _error_responses(*codes: int) -> dict[int, Any]:
    return {
        code: {"description": "Error", "content": {"application/json": {"model": ErrorBody}}}
        for code in codes
    }


# Any route may be throttled by the HttpApi stage (template DefaultRouteSettings).
THROTTLED = 429


def _responses(model: Any, *errors: int, success: int = 200) -> dict[int, Any]:
    """The route's success response and the error statuses it may answer."""
    ok = {"description": "Success", "content": {"application/json": {"model": model}}}
    return {success: ok, **_error_responses(*errors, THROTTLED)}


# Routes behind the HttpApi's JWT authorizer (template.yaml: Auth OrganizerJwt).
# API Gateway rejects them without a token before we run; checking here too
# keeps the 401 ahead of body validation wherever the function is invoked.
ORGANIZER_ROUTES = [
    ("POST", re.compile(r"/campaigns/?")),
    ("POST", re.compile(r"/campaigns/[^/]+/cancel")),
    ("GET", re.compile(r"/campaigns/[^/]+/pledges")),
]
SECURITY = [{"OrganizerJwt": []}]


def _claims(event: dict[str, Any]) -> dict[str, Any]:
    return ((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt", {}).get(
        "claims"
    ) or {}


def _needs_organizer(event: dict[str, Any]) -> bool:
    method = (event.get("requestContext") or {}).get("http", {}).get("method", "")
    path = event.get("rawPath", "")
    return any(m == method and rule.fullmatch(path) for m, rule in ORGANIZER_ROUTES)


@cache
def _body_routes() -> list[tuple[str, re.Pattern[str]]]:
    """(method, path rule) of every route whose handler takes a JSON body."""
    routes = app._static_routes + app._dynamic_routes
    return [(r.method, r.rule) for r in routes if r.dependant.body_params]


def _takes_body(event: dict[str, Any]) -> bool:
    method = (event.get("requestContext") or {}).get("http", {}).get("method", "")
    path = event.get("rawPath", "")
    return any(m == method and rule.fullmatch(path) for m, rule in _body_routes())


def _body_problem(text: str) -> str | None:
    """Why a JSON body cannot be a request model, if it can't. Powertools
    would validate the first element of an array as if it were the body."""
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        return None  # the resolver answers 400 invalid_json
    except (ValueError, RecursionError):  # e.g. an integer of more than 4,300 digits
        return "The body holds a number or a nesting too large to read."
    if not isinstance(body, dict):
        return "The body must be a JSON object."
    return None


def organizer() -> str:
    """`sub` of the JWT the HttpApi authorizer verified."""
    authorizer = app.current_event.request_context.authorizer
    claims = (authorizer.jwt_claim if authorizer else None) or {}
    sub = claims.get("sub")
    if not sub:
        raise Unauthorized("A valid organizer token is required.")
    return str(sub)


# ---------------------------------------------------------------- campaigns


@campaigns.post(
    "/",
    responses=_responses(CampaignOut, 400, 401, 413, 422, success=201),
    security=SECURITY,
    summary="Create a campaign (organizer)",
)
def create_campaign(body: CreateCampaign) -> Response[CampaignOut]:
    result = campaign_cases.create(
        container.current(),
        organizer=organizer(),
        title=body.title,
        description=body.description,
        goal_amount=body.goal.amount,
        goal_currency=body.goal.currency,
        deadline=body.deadline,
        funding_model=body.funding_model,
        min_backers=body.min_backers,
        min_pledge_amount=body.min_pledge.amount if body.min_pledge else None,
        min_pledge_currency=body.min_pledge.currency if body.min_pledge else None,
    )
    return Response(201, http.JSON, result)  # type: ignore[arg-type]


@campaigns.get("/", responses=_responses(CampaignList, 400, 422), summary="List campaigns")
def list_campaigns(
    status: Annotated[CampaignStatus | None, Query()] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> CampaignList:
    return campaign_cases.listing(container.current(), status=status, limit=limit, cursor=cursor)  # type: ignore[return-value]


@campaigns.get(
    "/<campaign_id>", responses=_responses(CampaignOut, 404, 422), summary="Get a campaign"
)
def get_campaign(campaign_id: CampaignId) -> CampaignOut:
    return campaign_cases.get(container.current(), campaign_id)  # type: ignore[return-value]


@campaigns.post(
    "/<campaign_id>/cancel",
    responses=_responses(CampaignOut, 401, 403, 404, 409, 422),
    security=SECURITY,
    summary="Cancel (organizer)",
)
def cancel_campaign(campaign_id: CampaignId) -> CampaignOut:
    return campaign_cases.cancel(container.current(), campaign_id, organizer())  # type: ignore[return-value]


@campaigns.get(
    "/<campaign_id>/pledges",
    responses=_responses(OwnerPledgeList, 400, 401, 403, 404, 422),
    security=SECURITY,
    summary="Every pledge (organizer)",
)
def list_pledges(
    campaign_id: CampaignId, limit: Limit = 50, cursor: Cursor = None
) -> OwnerPledgeList:
    return campaign_cases.owner_pledges(  # type: ignore[return-value]
        container.current(), campaign_id, organizer(), limit=limit, cursor=cursor
    )


@campaigns.get(
    "/<campaign_id>/backers",
    responses=_responses(BackerList, 400, 404, 422),
    summary="Public backers",
)
def list_backers(campaign_id: CampaignId, limit: Limit = 50, cursor: Cursor = None) -> BackerList:
    return campaign_cases.backers(container.current(), campaign_id, limit=limit, cursor=cursor)  # type: ignore[return-value]


@campaigns.get(
    "/<campaign_id>/badge.svg",
    responses={
        200: {
            "description": "Progress badge",
            "content": {"image/svg+xml": {"schema": {"type": "string"}}},
        },
        **_error_responses(404, 422, THROTTLED),
    },
    summary="SVG progress badge",
)
def badge(campaign_id: CampaignId) -> Response[str]:
    svg = campaign_cases.badge_svg(container.current(), campaign_id)
    return Response(
        200, "image/svg+xml; charset=utf-8", svg, headers={"Cache-Control": "public, max-age=60"}
    )


# ---------------------------------------------------------------- pledges


@pledges.post(
    "/<campaign_id>/pledges",
    responses={
        **_responses(PledgeCreated, 400, 404, 409, 413, 422, 503, success=201),
        200: {
            "description": "Replay of the first response",
            "content": {"application/json": {"model": PledgeCreated}},
        },
    },
    summary="Pledge",
)
def create_pledge(
    campaign_id: CampaignId, body: CreatePledge, idempotency_key: IdempotencyKey
) -> Response[PledgeCreated]:
    result, created = pledge_cases.create(
        container.current(), campaign_id, idempotency_key, body.model_dump()
    )
    return Response(201 if created else 200, http.JSON, result)  # type: ignore[arg-type]


@pledges.get(
    "/<campaign_id>/pledges/<pledge_id>",
    responses=_responses(PledgeDetail, 401, 403, 404, 422),
    summary="Get a pledge (backer)",
)
def get_pledge(
    campaign_id: CampaignId, pledge_id: PledgeId, token: PledgeToken = None
) -> PledgeDetail:
    return pledge_cases.get(container.current(), campaign_id, pledge_id, token)  # type: ignore[return-value]


@pledges.delete(
    "/<campaign_id>/pledges/<pledge_id>",
    responses=_responses(PledgeOut, 401, 403, 404, 409, 422),
    summary="Cancel a pledge (backer)",
)
def cancel_pledge(
    campaign_id: CampaignId, pledge_id: PledgeId, token: PledgeToken = None
) -> PledgeOut:
    return pledge_cases.cancel(container.current(), campaign_id, pledge_id, token)  # type: ignore[return-value]


app.include_router(campaigns, prefix="/campaigns")
app.include_router(pledges, prefix="/campaigns")


# ---------------------------------------------------------------- errors


@app.exception_handler(DomainError)
def domain_error(error: DomainError) -> Response:
    return http.from_domain(error)


@app.exception_handler(RequestValidationError)
def validation_error(error: RequestValidationError) -> Response:
    return http.from_validation(error)


@app.not_found
def not_found(_: Exception) -> Response:
    event = app.current_event
    path, method = event.path, event.http_method
    other_methods = {
        route.method
        for route in app._static_routes + app._dynamic_routes
        if route.rule.fullmatch(path) and route.method != method
    }
    if other_methods - {"OPTIONS"}:
        return http.error_response(405, "method_not_allowed", f"{method} is not allowed on {path}.")
    return http.error_response(404, "not_found", f"No route for {method} {path}.")


@app.exception_handler(Exception)
def unexpected(error: Exception) -> Response:
    logger.exception("unhandled error")
    return http.error_response(500, "internal_error", "Something went wrong on our side.")


# ---------------------------------------------------------------- entry point


def _raw_body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body, validate=True)
    return body.encode("utf-8", "surrogatepass")


@handler(correlation_id_path="requestContext.requestId")
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = container.current().settings
    try:
        raw = _raw_body(event)
    except (binascii.Error, ValueError):
        return _plain(event, 400, "bad_encoding", "The body is not valid base64.")
    if len(raw) > settings.max_body_bytes:
        return _plain(
            event, 413, "payload_too_large", f"The body exceeds {settings.max_body_bytes} bytes."
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _plain(event, 400, "invalid_encoding", "The body must be UTF-8.")
    if event.get("isBase64Encoded"):
        event = {**event, "body": text, "isBase64Encoded": False}
    if text:
        # Bodies are JSON. text/plain is accepted too: browsers send it to
        # avoid a CORS preflight. Anything else cannot be parsed here.
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        media = headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if media not in ("application/json", "text/plain", ""):
            return _plain(
                event, 400, "unsupported_content_type", "Send the body as application/json."
            )
        event = {**event, "headers": {**headers, "content-type": "application/json"}}
    if _needs_organizer(event) and not _claims(event).get("sub"):
        return _plain(event, 401, "unauthorized", "A valid organizer token is required.")
    if text and _takes_body(event) and (problem := _body_problem(text)):
        detail = {"field": "body", "in": "body", "problem": problem}
        return _plain(event, 422, "validation_failed", problem, [detail])
    return app.resolve(event, context)


def _plain(
    event: dict[str, Any],
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {
        "statusCode": status,
        "headers": {"Content-Type": http.JSON, "Access-Control-Allow-Origin": "*"},
        "body": json.dumps({"error": error}),
        "isBase64Encoded": False,
    }
