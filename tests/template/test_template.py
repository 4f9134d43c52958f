"""template.yaml is the single source of truth: it lints, it transforms, and
the code agrees with it (handlers, tables, environment)."""

from __future__ import annotations

import copy
import json

import pytest
from pynamodb.indexes import AllProjection, KeysOnlyProjection

from cashmob.config import Settings
from cashmob.store.models import build_models
from cashmob_local import template

ROOT = template.ROOT


def _lint(path) -> list[str]:
    from cfnlint.api import ManualArgs, lint_file

    return [str(match) for match in lint_file(path, config=ManualArgs(regions=["us-east-1"]))]


def _transformed() -> dict:
    from samtranslator.translator.transform import transform

    doc = copy.deepcopy(template.load())
    # As `sam package` does: local code paths become S3 locations.
    for res in doc["Resources"].values():
        for key in ("CodeUri", "ContentUri"):
            if key in res.get("Properties", {}):
                res["Properties"][key] = "s3://bucket/key.zip"

    class NoManagedPolicies:
        def load(self):
            return {}

    return transform(
        doc, {"JwtIssuer": "https://issuer.example", "JwtAudience": "cashmob"}, NoManagedPolicies()
    )


def test_cfn_lint_passes_on_the_raw_template():
    assert _lint(ROOT / "template.yaml") == []


def test_cfn_lint_passes_on_the_transformed_template(tmp_path):
    out = tmp_path / "transformed.json"
    out.write_text(json.dumps(_transformed()))
    assert _lint(out) == []


def test_runtime_is_python313_everywhere():
    t = template.load()
    assert t["Globals"]["Function"]["Runtime"] == "python3.13"
    for props in template.resources("AWS::Serverless::Function").values():
        assert props.get("Runtime", "python3.13") == "python3.13"


@pytest.mark.parametrize("function", sorted(template.resources("AWS::Serverless::Function")))
def test_every_handler_resolves_to_a_callable(function):
    assert callable(template.load_handler(function))


def _policy_statements():
    for name, props in template.resources("AWS::Serverless::Function").items():
        for policy in props.get("Policies", []):
            for statement in policy.get("Statement", []):
                yield name, statement


def test_no_wildcard_actions_or_resources():
    for name, statement in _policy_statements():
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        assert all("*" not in a for a in actions), (name, actions)
        resources = (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
        for resource in resources:
            assert resource != "*", name
            assert not (isinstance(resource, str) and resource.endswith(":*")), (name, resource)


def test_secrets_are_ssm_parameter_names_not_values():
    env = template.load()["Globals"]["Function"]["Environment"]["Variables"]
    assert "STRIPE_SECRET_KEY" not in env and "STRIPE_WEBHOOK_SECRET" not in env
    assert env["STRIPE_SECRET_KEY_PARAM"] == {"Ref": "StripeSecretKeyParameter"}


def test_environment_names_are_settings_fields():
    fields = {name.upper() for name in Settings.model_fields} | {"AWS_REGION"}
    powertools = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}
    for function in template.resources("AWS::Serverless::Function"):
        env = template.function_environment(function, refs={}, template=None)
        raw = template.load()["Globals"]["Function"]["Environment"]["Variables"]
        for name in set(env) | set(raw):
            assert name in fields | powertools, f"{function}: {name} is not a Settings field"


def test_worker_queue_has_dead_letter_alarm_and_batch_failures():
    queue = template.resources("AWS::SQS::Queue")["SettlementQueue"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 3
    worker = template.resources("AWS::Serverless::Function")["SettleWorkerFunction"]
    assert queue["VisibilityTimeout"] >= 6 * worker["Timeout"]
    sqs = worker["Events"]["Work"]["Properties"]
    assert sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "MaximumConcurrency" in sqs["ScalingConfig"]
    alarm = template.resources("AWS::CloudWatch::Alarm")["SettlementDeadLetterAlarm"]
    assert alarm["Dimensions"][0]["Value"] == {
        "Fn::GetAtt": ["SettlementDeadLetterQueue", "QueueName"]
    }


# ---------------------------------------------------------------- tables vs models

MODELS = build_models(
    campaigns="CampaignsTable",
    pledges="PledgesTable",
    counters="CountersTable",
    events="ProcessedEventsTable",
    region="us-east-1",
)
TABLE_MODELS = {
    "CampaignsTable": MODELS.Campaign,
    "PledgesTable": MODELS.Pledge,
    "CountersTable": MODELS.Counter,
    "ProcessedEventsTable": MODELS.ProcessedEvent,
}
KIND = {"S": "S", "N": "N", "B": "B"}


def _model_shape(model):
    attrs = model.get_attributes()

    def keys(owner_attrs):
        return sorted(
            (a.attr_name, "HASH" if a.is_hash_key else "RANGE")
            for a in owner_attrs.values()
            if a.is_hash_key or a.is_range_key
        )

    indexes = {}
    for index in model._indexes.values():
        projection = index.Meta.projection
        kind = {AllProjection: "ALL", KeysOnlyProjection: "KEYS_ONLY"}[type(projection)]
        indexes[index.Meta.index_name] = (keys(index.Meta.attributes), kind)
    key_attrs = {a.attr_name for a in attrs.values() if a.is_hash_key or a.is_range_key}
    for index in model._indexes.values():
        key_attrs |= {a.attr_name for a in index.Meta.attributes.values()}
    types = {name: attrs[name].attr_type for name in key_attrs}
    ttl = next((a.attr_name for a in attrs.values() if type(a).__name__ == "TTLAttribute"), None)
    return keys(attrs), indexes, types, ttl


def _table_shape(spec, ttl):
    keys = sorted((k["AttributeName"], k["KeyType"]) for k in spec["KeySchema"])
    indexes = {
        gsi["IndexName"]: (
            sorted((k["AttributeName"], k["KeyType"]) for k in gsi["KeySchema"]),
            gsi["Projection"]["ProjectionType"],
        )
        for gsi in spec.get("GlobalSecondaryIndexes", [])
    }
    types = {a["AttributeName"]: KIND[a["AttributeType"]] for a in spec["AttributeDefinitions"]}
    return keys, indexes, types, ttl


@pytest.mark.parametrize("table", sorted(TABLE_MODELS))
def test_table_matches_its_model_exactly(table):
    spec = template.table_definitions()[table]
    ttl = template.ttl_attributes().get(table)
    assert _model_shape(TABLE_MODELS[table]) == _table_shape(spec, ttl)


def test_every_table_is_modelled():
    assert set(template.table_definitions()) == set(TABLE_MODELS)


def test_the_api_protects_exactly_the_routes_the_template_protects():
    import sys

    template.load_handler("ApiFunction")
    api = sys.modules["cashmob_function_ApiFunction"]
    for route in template.routes():
        if route.function != "ApiFunction" or route.path == "$default":
            continue
        path = route.path.replace("{campaign_id}", "cmp_x").replace("{pledge_id}", "plg_x")
        event = {"rawPath": path, "requestContext": {"http": {"method": route.method}}}
        assert api._needs_organizer(event) == (route.authorizer == "OrganizerJwt"), route.path
