"""Security checks: who may call what, and what each function may touch.

The organizer routes are driven through the API Gateway stand-in with its JWT
authorizer (as in the local stack), so forged, expired and foreign tokens are
refused before the function runs; the function's own check (no claims ->
401) is covered by the API tests. Webhook forgeries: tests/integration/
test_webhooks.py. Log hygiene: tests/e2e/test_logs.py.
"""

from __future__ import annotations

import time

import jwt
import pytest
from werkzeug.test import Client

from cashmob_local import template
from cashmob_local.gateway import LOCAL_AUDIENCE, LOCAL_ISSUER, Gateway, JwtAuthorizer
from tests.unit.factories import NOW

SECRET = "local-authorizer-test-key-0123456789abcdef"


@pytest.fixture
def client(services, gateway):
    authorizer = JwtAuthorizer(secret=SECRET, now=lambda: NOW.timestamp())
    return Client(Gateway(authorizer)), authorizer


def token(**overrides):
    claims = {
        "sub": "alice",
        "iss": LOCAL_ISSUER,
        "aud": LOCAL_AUDIENCE,
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 3600,
        **overrides,
    }
    secret = overrides.pop("secret", SECRET) if "secret" in overrides else SECRET
    claims.pop("secret", None)
    return jwt.encode(claims, secret, algorithm="HS256")


def _campaign(client, authorizer, sub="alice"):
    response = client.post(
        "/campaigns",
        json={
            "title": "Mine",
            "goal": {"amount": 5000, "currency": "gbp"},
            "deadline": "2027-01-31T12:00:00Z",
        },
        headers={"Authorization": f"Bearer {authorizer.mint(sub)}"},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["id"]


BAD_TOKENS = {
    "missing": None,
    "not a bearer": "Basic YWxpY2U6cGFzcw==",
    "garbage": "Bearer not.a.jwt",
    "wrong key": "Bearer " + token(secret="someone-elses-signing-key-0123456789"),
    "expired": "Bearer " + token(exp=int(NOW.timestamp()) - 120),
    "wrong audience": "Bearer " + token(aud="another-app"),
    "wrong issuer": "Bearer " + token(iss="https://evil.example"),
    "no subject": "Bearer "
    + jwt.encode(
        {"iss": LOCAL_ISSUER, "aud": LOCAL_AUDIENCE, "exp": int(NOW.timestamp()) + 60},
        SECRET,
        algorithm="HS256",
    ),
    "alg none": "Bearer "
    + jwt.encode(
        {"sub": "alice", "iss": LOCAL_ISSUER, "aud": LOCAL_AUDIENCE, "exp": int(time.time()) + 60},
        None,
        algorithm="none",
    ),
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_organizer_routes_refuse_bad_tokens(client, case):
    http, authorizer = client
    campaign_id = _campaign(http, authorizer)
    header = BAD_TOKENS[case]
    headers = {"Authorization": header} if header else {}
    body = {
        "title": "x",
        "goal": {"amount": 5000, "currency": "gbp"},
        "deadline": "2027-01-31T12:00:00Z",
    }
    attempts = [
        http.post("/campaigns", json=body, headers=headers),
        http.post(f"/campaigns/{campaign_id}/cancel", headers=headers),
        http.get(f"/campaigns/{campaign_id}/pledges", headers=headers),
    ]
    assert [r.status_code for r in attempts] == [401, 401, 401], case
    assert all(r.get_json()["error"]["code"] == "unauthorized" for r in attempts)


def test_another_organizers_campaign_is_403(client):
    http, authorizer = client
    campaign_id = _campaign(http, authorizer, sub="alice")
    bob = {"Authorization": f"Bearer {authorizer.mint('bob')}"}
    assert http.post(f"/campaigns/{campaign_id}/cancel", headers=bob).status_code == 403
    assert http.get(f"/campaigns/{campaign_id}/pledges", headers=bob).status_code == 403
    assert http.get(f"/campaigns/{campaign_id}").get_json()["status"] == "live"


def test_pledge_routes_need_that_pledges_token(client):
    http, authorizer = client
    campaign_id = _campaign(http, authorizer)
    made = []
    for key in ("k1", "k2"):
        response = http.post(
            f"/campaigns/{campaign_id}/pledges",
            json={"amount": 500, "currency": "gbp", "email": f"{key}@example.org"},
            headers={"Idempotency-Key": key},
        )
        assert response.status_code == 201
        made.append(response.get_json())
    first, second = made
    path = f"/campaigns/{campaign_id}/pledges/{first['pledge']['id']}"
    assert http.get(path).status_code == 401
    assert http.delete(path).status_code == 401
    assert http.get(path, headers={"X-Pledge-Token": "forged"}).status_code == 403
    other = {"X-Pledge-Token": second["pledge_token"]}  # a real token, for another pledge
    assert http.get(path, headers=other).status_code == 403
    assert http.delete(path, headers=other).status_code == 403
    mine = {"X-Pledge-Token": first["pledge_token"]}
    assert http.get(path, headers=mine).get_json()["status"] == "pending"


# What each function may do to each table: exactly this, nothing more.
TABLE_ACCESS = {
    "ApiFunction": {
        "CampaignsTable": {
            "GetItem",
            "BatchGetItem",
            "PutItem",
            "Query",
            "Scan",
            "ConditionCheckItem",
        },
        "PledgesTable": {"GetItem", "BatchGetItem", "PutItem", "Query"},
        # Progress; flash intake's Stripe budget slots (PutItem) and queue tickets.
        "CountersTable": {"GetItem", "PutItem", "Query", "UpdateItem"},
    },
    "IntakeWorkerFunction": {
        "CampaignsTable": {"GetItem", "BatchGetItem"},
        "PledgesTable": {"GetItem", "BatchGetItem", "PutItem"},
        "CountersTable": {"GetItem", "PutItem", "UpdateItem"},
    },
    "StripeWebhookFunction": {
        "PledgesTable": {"GetItem", "PutItem"},
        # Progress; the organizer's item on account.updated (store/organizers).
        "CountersTable": {"UpdateItem", "GetItem", "PutItem"},
        "ProcessedEventsTable": {"PutItem"},
        "CampaignsTable": {"ConditionCheckItem"},
    },
    "SettlementFunction": {
        "CampaignsTable": {"GetItem", "PutItem", "Query"},
        # The retention step: pledges erased past PersonalDataRetentionDays,
        # and its marks beside the processed events (service/erasure).
        "PledgesTable": {"GetItem", "PutItem", "Query"},
        "ProcessedEventsTable": {"GetItem", "PutItem"},
    },
    # Reads the pledge and campaign together; claims, marks and releases emails.
    "NotifierFunction": {
        "CampaignsTable": {"BatchGetItem"},
        "PledgesTable": {"BatchGetItem"},
        "ProcessedEventsTable": {"PutItem", "UpdateItem", "DeleteItem"},
    },
    "SettleWorkerFunction": {
        "CampaignsTable": {"GetItem", "PutItem"},
        "PledgesTable": {"GetItem", "PutItem", "Query"},
        # Progress; PayOut's payout and organizer items (store/organizers).
        "CountersTable": {"UpdateItem", "GetItem", "PutItem"},
    },
    # Reads only: reconciliation repairs nothing by itself.
    "ReconcileFunction": {
        "CampaignsTable": {"GetItem"},  # and Query on its status index
        "PledgesTable": {"Query"},
        "CountersTable": {"GetItem"},
    },
}


def _table_grants(function: str) -> dict[str, set[str]]:
    grants: dict[str, set[str]] = {}
    props = template.resources("AWS::Serverless::Function")[function]
    for policy in props.get("Policies", []):
        for statement in policy.get("Statement", []):
            actions = {a.split(":")[1] for a in statement["Action"] if a.startswith("dynamodb:")}
            resources = statement["Resource"]
            resources = resources if isinstance(resources, list) else [resources]
            for resource in resources:
                if isinstance(resource, dict) and "Fn::GetAtt" in resource:
                    table = resource["Fn::GetAtt"][0]
                    if actions and table.endswith("Table"):
                        grants.setdefault(table, set()).update(actions)
    return grants


@pytest.mark.parametrize("function", list(TABLE_ACCESS))
def test_each_function_touches_only_its_tables(function):
    assert _table_grants(function) == TABLE_ACCESS[function]
