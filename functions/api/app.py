"""The HTTP API: one resolver, a Router per resource, validation on. Routes
call one use case each; errors become API.md's body in one place."""

from __future__ import annotations

# First: the garbage collector paused for the init, until `done()` on the
# last line (cashmob.startup); then Powertools' event handler and event
# classes by their modules, not their packages' `__init__`
# (cashmob.lazy_powertools).
import cashmob.startup  # isort: skip
import cashmob.lazy_powertools  # isort: skip

from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import (
    APIGatewayHttpResolver,
    CORSConfig,
    Response,
)
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from cashmob import container, guard, http, schemas
from cashmob.domain import CampaignStatus
from cashmob.domain.errors import DomainError, Unauthorized
from cashmob.observability import handler, logger
from cashmob.service import campaigns as campaign_cases

# Cold start: the pledges, refunds, payouts, export and erasure use cases are
# imported by the routes that use them, so the first request of a fresh
# instance (most often GET /campaigns/{id}) does not wait for them (nor for
# the queue messages and the SQS adapter the pledges' intake brings).

ORIGIN = "*"
CORS = CORSConfig(
    allow_origin=ORIGIN,
    allow_headers=["Content-Type", "Authorization", "Idempotency-Key", "X-Pledge-Token"],
    max_age=600,
)
app = APIGatewayHttpResolver(cors=CORS, enable_validation=True)
campaigns = APIGatewayHttpRouter()
pledges = APIGatewayHttpRouter()
organizers = APIGatewayHttpRouter()

CampaignId = Annotated[str, Path(min_length=1, max_length=64)]
PledgeId = Annotated[str, Path(min_length=1, max_length=64)]
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=2048)]
PledgeToken = Annotated[str | None, Header(alias="x-pledge-token", max_length=512)]
IdempotencyKey = Annotated[str, Header(alias="idempotency-key", min_length=1, max_length=255)]


def _error_responses(*codes: int) -> dict[int, Any]:
    return {
        code: {
            "description": "Error",
            "content": {"application/json": {"model": schemas.ErrorBody}},
        }
        for code in codes
    }


# Any route may be throttled by the HttpApi stage (template DefaultRouteSettings).
THROTTLED = 429


def _responses(*errors: int, success: int = 200) -> dict[int, Any]:
    """The route's success response and the error statuses it may answer.
    A response without `content` is the route's return annotation (Powertools)."""
    return {success: {"description": "Success"}, **_error_responses(*errors, THROTTLED)}


# Our own table of the routes declared below (Powertools keeps its private):
# the request guard reads it, and so does the 405 answer.
routes = guard.Routes()
# included by prefix, below
MOUNTS = {campaigns: "/campaigns", pledges: "/campaigns", organizers: "/organizers"}
SECURITY = [{"OrganizerJwt": []}]


def route(
    router: APIGatewayHttpRouter, method: str, path: str, *, organizer: bool = False, **options: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`router.route(path, method, ...)`, recorded in `routes`. Organizer
    routes are behind the HttpApi's JWT authorizer (template.yaml: Auth
    OrganizerJwt): API Gateway rejects them without a token before we run;
    the guard checks too, keeping the 401 ahead of body validation wherever
    the function is invoked."""
    prefix = MOUNTS[router]
    routes.add(method, prefix if path == "/" else prefix + path, organizer=organizer)
    if organizer:
        options["security"] = SECURITY
    return router.route(path, method, **options)


def organizer() -> str:
    """`sub` of the JWT the HttpApi authorizer verified."""
    authorizer = app.current_event.request_context.authorizer
    claims = (authorizer.jwt_claim if authorizer else None) or {}
    sub = claims.get("sub")
    if not sub:
        raise Unauthorized("A valid organizer token is required.")
    return str(sub)


# ---------------------------------------------------------------- campaigns


@route(
    campaigns,
    "POST",
    "/",
    organizer=True,
    responses=_responses(400, 401, 413, 422, success=201),
    summary="Create a campaign (organizer)",
)
def create_campaign(body: schemas.CreateCampaign) -> Response[schemas.CampaignOut]:
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


@route(campaigns, "GET", "/", responses=_responses(400, 422), summary="List campaigns")
def list_campaigns(
    status: Annotated[CampaignStatus | None, Query()] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> schemas.CampaignList:
    return campaign_cases.listing(container.current(), status=status, limit=limit, cursor=cursor)  # type: ignore[return-value]


@route(
    campaigns,
    "GET",
    "/<campaign_id>",
    responses=_responses(404, 422),
    summary="Get a campaign",
)
def get_campaign(campaign_id: CampaignId) -> schemas.CampaignOut:
    return campaign_cases.get(container.current(), campaign_id)  # type: ignore[return-value]


@route(
    campaigns,
    "POST",
    "/<campaign_id>/cancel",
    organizer=True,
    responses=_responses(401, 403, 404, 409, 422),
    summary="Cancel (organizer)",
)
def cancel_campaign(campaign_id: CampaignId) -> schemas.CampaignOut:
    return campaign_cases.cancel(container.current(), campaign_id, organizer())  # type: ignore[return-value]


@route(
    campaigns,
    "POST",
    "/<campaign_id>/refund",
    organizer=True,
    responses={
        **_responses(400, 401, 403, 404, 409, 413, 422, success=202),
        200: {
            "description": "Asked again: the campaign as it is (refunding or refunded)",
        },
    },
    summary="Refund every backer of a campaign that succeeded (organizer)",
)
def refund_campaign(
    campaign_id: CampaignId, body: schemas.RefundCampaign
) -> Response[schemas.CampaignOut]:
    from cashmob.service import refunds as refund_cases

    result, status = refund_cases.refund_campaign(
        container.current(), campaign_id, organizer(), body.reason
    )
    return Response(status, http.JSON, result)  # type: ignore[arg-type]


@route(
    campaigns,
    "GET",
    "/<campaign_id>/pledges",
    organizer=True,
    responses=_responses(400, 401, 403, 404, 422),
    summary="Every pledge (organizer)",
)
def list_pledges(
    campaign_id: CampaignId, limit: Limit = 50, cursor: Cursor = None
) -> schemas.OwnerPledgeList:
    return campaign_cases.owner_pledges(  # type: ignore[return-value]
        container.current(), campaign_id, organizer(), limit=limit, cursor=cursor
    )


@route(
    campaigns,
    "GET",
    "/<campaign_id>/pledges.csv",
    organizer=True,
    responses={
        200: {
            "description": "Every pledge as CSV (UTF-8, a header row)",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **_error_responses(401, 403, 404, 422, THROTTLED),
    },
    summary="Every pledge as CSV (organizer)",
)
def pledges_csv(campaign_id: CampaignId) -> Response[str]:
    from cashmob.service import export as export_cases

    chunks = export_cases.pledges_csv(container.current(), campaign_id, organizer())
    return Response(
        200,
        "text/csv; charset=utf-8",
        "".join(chunks),
        headers={"Content-Disposition": f'attachment; filename="{campaign_id}-pledges.csv"'},
    )


@route(
    campaigns,
    "GET",
    "/<campaign_id>/backers",
    responses=_responses(400, 404, 422),
    summary="Public backers",
)
def list_backers(
    campaign_id: CampaignId, limit: Limit = 50, cursor: Cursor = None
) -> schemas.BackerList:
    return campaign_cases.backers(container.current(), campaign_id, limit=limit, cursor=cursor)  # type: ignore[return-value]


@route(
    campaigns,
    "GET",
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


@route(
    pledges,
    "POST",
    "/<campaign_id>/pledges",
    responses={
        **_responses(400, 404, 409, 413, 422, success=201),
        200: {
            "description": "Replay: the pledge's current state",
        },
        202: {
            "description": (
                "Recorded; its payment is being prepared (flash intake): "
                "`payment.ready_in` seconds, also in Retry-After"
            ),
        },
    },
    summary="Pledge",
)
def create_pledge(
    campaign_id: CampaignId, body: schemas.CreatePledge, idempotency_key: IdempotencyKey
) -> Response[schemas.PledgeCreated]:
    from cashmob.service import pledges as pledge_cases

    result, status = pledge_cases.create(
        container.current(), campaign_id, idempotency_key, body.model_dump()
    )
    ready_in = result["payment"].get("ready_in")
    headers = {} if ready_in is None else {"Retry-After": str(ready_in)}
    return Response(status, http.JSON, result, headers=headers)  # type: ignore[arg-type]


@route(
    pledges,
    "GET",
    "/<campaign_id>/pledges/<pledge_id>",
    responses=_responses(401, 403, 404, 422),
    summary="Get a pledge (backer)",
)
def get_pledge(
    campaign_id: CampaignId, pledge_id: PledgeId, token: PledgeToken = None
) -> schemas.PledgeDetail:
    from cashmob.service import pledges as pledge_cases

    return pledge_cases.get(container.current(), campaign_id, pledge_id, token)  # type: ignore[return-value]


@route(
    pledges,
    "DELETE",
    "/<campaign_id>/pledges/<pledge_id>",
    responses=_responses(401, 403, 404, 409, 422),
    summary="Cancel a pledge (backer)",
)
def cancel_pledge(
    campaign_id: CampaignId, pledge_id: PledgeId, token: PledgeToken = None
) -> schemas.PledgeOut:
    from cashmob.service import pledges as pledge_cases

    return pledge_cases.cancel(container.current(), campaign_id, pledge_id, token)  # type: ignore[return-value]


@route(
    pledges,
    "POST",
    "/<campaign_id>/pledges/<pledge_id>/erase",
    responses=_responses(401, 403, 404, 422),
    summary="Erase the backer's personal data (backer)",
)
def erase_pledge(
    campaign_id: CampaignId, pledge_id: PledgeId, token: PledgeToken = None
) -> schemas.OwnerPledge:
    from cashmob.service import erasure as erasure_cases

    return erasure_cases.erase(container.current(), campaign_id, pledge_id, token)  # type: ignore[return-value]


# ---------------------------------------------------------------- organizers


@route(
    organizers,
    "GET",
    "/me",
    organizer=True,
    responses=_responses(401),
    summary="The organizer's payout account (organizer)",
)
def get_organizer() -> schemas.OrganizerOut:
    from cashmob.service import payouts as payout_cases

    return payout_cases.organizer(container.current(), organizer())  # type: ignore[return-value]


@route(
    organizers,
    "POST",
    "/me/payouts",
    organizer=True,
    responses=_responses(400, 401, 409, 413, 422),
    summary="Stripe Connect onboarding link for payouts (organizer)",
)
def start_payouts(body: schemas.StartPayouts) -> schemas.PayoutLink:
    from cashmob.service import payouts as payout_cases

    return payout_cases.start_onboarding(container.current(), organizer(), body.return_url)  # type: ignore[return-value]


@route(
    pledges,
    "POST",
    "/<campaign_id>/pledges/<pledge_id>/refund",
    organizer=True,
    responses=_responses(400, 401, 403, 404, 409, 413, 422, 502, 503),
    summary="Refund one pledge, in full or in part (organizer)",
)
def refund_pledge(
    campaign_id: CampaignId, pledge_id: PledgeId, body: schemas.RefundPledgeIn
) -> schemas.PledgeOut:
    from cashmob.service import refunds as refund_cases

    return refund_cases.refund_pledge(  # type: ignore[return-value]
        container.current(),
        campaign_id,
        pledge_id,
        organizer(),
        amount=body.amount,
        reason=body.reason,
    )


for router, prefix in MOUNTS.items():
    app.include_router(router, prefix=prefix)


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
    if routes.methods_at(path) - {method}:
        return http.error_response(405, "method_not_allowed", f"{method} is not allowed on {path}.")
    return http.error_response(404, "not_found", f"No route for {method} {path}.")


@app.exception_handler(Exception)
def unexpected(error: Exception) -> Response:
    logger.exception("unhandled error")
    return http.error_response(500, "internal_error", "Something went wrong on our side.")


# ---------------------------------------------------------------- entry point


@handler(correlation_id_path="requestContext.requestId")
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    max_bytes = container.current().settings.max_body_bytes
    try:
        event = guard.admit(event, max_bytes=max_bytes, routes=routes)
    except guard.Refused as refused:
        return refused.result({"Access-Control-Allow-Origin": ORIGIN})
    return app.resolve(event, context)


cashmob.startup.done()  # the init is over: freeze what it made (cashmob.startup)
