"""docs/openapi.json is generated from the resolver, and the handler keeps its
promises: schemathesis drives every operation in-process through the local
API Gateway stand-in."""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.wrappers import Response

from cashmob_local import openapi
from cashmob_local.gateway import Gateway, JwtAuthorizer
from cashmob_local.template import ROOT
from tests.fakes import FakeGateway

SPEC = ROOT / "docs" / "openapi.json"
EXAMPLES_PER_OPERATION = 120  # x 10 operations: at least 1,000 requests


def test_openapi_document_is_current():
    assert json.loads(SPEC.read_text()) == openapi.document(), "run `make openapi`"


def test_every_template_route_is_documented():
    from cashmob_local import template

    documented = {
        (method.upper(), path)
        for path, operations in json.loads(SPEC.read_text())["paths"].items()
        for method in operations
    }
    for route in template.routes():
        if route.function == "ApiFunction" and route.path != "$default":
            assert (route.method, route.path) in documented


@pytest.fixture
def wsgi_app(services):
    services.payments = FakeGateway()
    authorizer = JwtAuthorizer(secret="schemathesis-local-signing-key-0123456789")
    spec = SPEC.read_text()
    app = Gateway(
        authorizer, extra={"/openapi.json": lambda _: Response(spec, mimetype="application/json")}
    )
    return app, authorizer.mint("alice")


schema = schemathesis.openapi.from_path(SPEC)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_5xx_and_no_schema_violation(case, wsgi_app):
    app, token = wsgi_app
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
    case.call_and_validate(
        app=app,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
