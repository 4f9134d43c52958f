"""template.yaml is the single source of truth: it lints, it transforms, and
the code agrees with it (handlers, tables, environment)."""

from __future__ import annotations

import copy
import json

import pytest
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection

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
    libraries = {  # read by the libraries themselves, not by Settings
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
        "POWERTOOLS_TRACE_DISABLED",
        "PYDANTIC_DISABLE_PLUGINS",
    }
    for function in template.resources("AWS::Serverless::Function"):
        env = template.function_environment(function, refs={}, template=None)
        raw = template.load()["Globals"]["Function"]["Environment"]["Variables"]
        for name in set(env) | set(raw):
            assert name in fields | libraries, f"{function}: {name} is not a Settings field"


def test_intake_queue_is_fifo_with_a_paced_worker_a_dead_letter_queue_and_an_alarm():
    queues = template.resources("AWS::SQS::Queue")
    queue = queues["IntakeQueue"]
    assert queue["FifoQueue"] is True  # arrival order
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 3
    dead_letter = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert dead_letter == "IntakeDeadLetterQueue" and queues[dead_letter]["FifoQueue"] is True
    worker = template.resources("AWS::Serverless::Function")["IntakeWorkerFunction"]
    assert queue["VisibilityTimeout"] >= 6 * worker["Timeout"]
    sqs = worker["Events"]["Intake"]["Properties"]
    assert sqs["Queue"] == {"Fn::GetAtt": ["IntakeQueue", "Arn"]}
    assert sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert sqs["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "IntakeMessageGroups"}
    alarm = template.resources("AWS::CloudWatch::Alarm")["IntakeDeadLetterAlarm"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["IntakeDeadLetterQueue", "QueueName"]}
    assert alarm["AlarmActions"] == NOTIFY


def test_the_notifiers_share_ses_sending_rate_and_a_batch_fits_their_timeout():
    params = template.load()["Parameters"]
    notifier = template.resources("AWS::Serverless::Function")["NotifierFunction"]
    env = notifier["Environment"]["Variables"]
    sqs = notifier["Events"]["Notification"]["Properties"]
    assert env["EMAILS_PER_SECOND"] == {"Ref": "EmailsPerSecond"}
    concurrency = sqs["ScalingConfig"]["MaximumConcurrency"]
    assert int(env["NOTIFIER_CONCURRENCY"]) == concurrency  # each paces at rate / this
    # At the slowest rate allowed, a full batch's waits leave a third of the timeout.
    slowest_share = params["EmailsPerSecond"]["MinValue"] / concurrency
    assert sqs["BatchSize"] / slowest_share <= notifier["Timeout"] * 2 / 3
    assert params["EmailsPerSecond"]["Default"] == 1  # SES's sandbox rate


def test_the_api_and_the_intake_worker_share_one_budget_and_one_queue():
    params = template.load()["Parameters"]
    assert params["StripeIntakeRequestsPerSecond"]["Default"] == 24  # Stripe's 25/s, less one
    assert params["IntakeMessageGroups"]["Default"] == Settings().intake_message_groups
    functions = template.resources("AWS::Serverless::Function")
    for name in ("ApiFunction", "IntakeWorkerFunction"):
        env = functions[name]["Environment"]["Variables"]
        assert env["INTAKE_QUEUE_URL"] == {"Ref": "IntakeQueue"}, name
        assert env["STRIPE_INTAKE_REQUESTS_PER_SECOND"] == {
            "Ref": "StripeIntakeRequestsPerSecond"
        }, name
        assert env["INTAKE_MESSAGE_GROUPS"] == {"Ref": "IntakeMessageGroups"}, name
    # Slots and tickets expire from the counters table.
    assert template.ttl_attributes()["CountersTable"] == "expires_at"


def _allowed(function: str, resource_ref: dict) -> set[str]:
    statements = template.resources("AWS::Serverless::Function")[function]["Policies"][0][
        "Statement"
    ]
    actions: set[str] = set()
    for statement in statements:
        resources = statement["Resource"]
        resources = resources if isinstance(resources, list) else [resources]
        if resource_ref in resources:
            actions |= set(statement["Action"])
    return actions


def test_the_intake_functions_may_do_what_intake_does_and_no_more():
    counters = {"Fn::GetAtt": ["CountersTable", "Arn"]}
    intake_queue = {"Fn::GetAtt": ["IntakeQueue", "Arn"]}
    for function in ("ApiFunction", "IntakeWorkerFunction"):
        # slots (PutItem), tickets (UpdateItem, PutItem, GetItem)
        assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"} <= _allowed(
            function, counters
        ), function
    assert _allowed("ApiFunction", intake_queue) == {"sqs:SendMessage"}
    assert _allowed("IntakeWorkerFunction", intake_queue) == {"sqs:ChangeMessageVisibility"}
    pledges_table = {"Fn::GetAtt": ["PledgesTable", "Arn"]}
    assert "dynamodb:PutItem" in _allowed("IntakeWorkerFunction", pledges_table)


def test_the_local_stack_creates_the_intake_queue_as_fifo():
    import boto3
    from moto import mock_aws

    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        urls = template.create_queues(sqs)
        attributes = sqs.get_queue_attributes(QueueUrl=urls["IntakeQueue"], AttributeNames=["All"])[
            "Attributes"
        ]
    assert urls["IntakeQueue"].endswith("/IntakeQueue.fifo")
    assert attributes["FifoQueue"] == "true"
    assert "IntakeDeadLetterQueue.fifo" in attributes["RedrivePolicy"]


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
    # The counters table holds two models: progress shards and flash intake's
    # items (the one with the TTL attribute); their keys are one and the same.
    "CountersTable": MODELS.Intake,
    "ProcessedEventsTable": MODELS.ProcessedEvent,
}
KIND = {"S": "S", "N": "N", "B": "B"}


def _declared_indexes(model):
    """The indexes the model declares, as its own class attributes (`due_index`, …)."""
    return [value for value in vars(model).values() if isinstance(value, GlobalSecondaryIndex)]


def _model_shape(model):
    attrs = model.get_attributes()

    def keys(owner_attrs):
        return sorted(
            (a.attr_name, "HASH" if a.is_hash_key else "RANGE")
            for a in owner_attrs.values()
            if a.is_hash_key or a.is_range_key
        )

    indexes = {}
    for index in _declared_indexes(model):
        projection = index.Meta.projection
        kind = {AllProjection: "ALL", KeysOnlyProjection: "KEYS_ONLY"}[type(projection)]
        indexes[index.Meta.index_name] = (keys(index.Meta.attributes), kind)
    key_attrs = {a.attr_name for a in attrs.values() if a.is_hash_key or a.is_range_key}
    for index in _declared_indexes(model):
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


def test_both_models_of_the_counters_table_share_its_keys():
    counter_keys, _, counter_types, counter_ttl = _model_shape(MODELS.Counter)
    intake_keys, _, intake_types, _ = _model_shape(MODELS.Intake)
    assert (counter_keys, counter_types) == (intake_keys, intake_types)
    assert counter_ttl is None  # progress never expires


def test_every_table_is_modelled():
    assert set(template.table_definitions()) == set(TABLE_MODELS)


def test_the_api_declares_exactly_the_template_routes_and_protects_the_same_ones():
    import re
    import sys

    template.load_handler("ApiFunction")
    api = sys.modules["cashmob_function_ApiFunction"]
    declared = {
        (r.method, re.sub(r"<(\w+)>", r"{\1}", r.path), r.organizer) for r in api.routes.declared
    }
    expected = {
        (r.method, r.path, r.authorizer == "OrganizerJwt")
        for r in template.routes()
        if r.function == "ApiFunction" and r.path != "$default"
    }
    assert declared == expected
    for method, path, organizer in expected:
        concrete = path.replace("{campaign_id}", "cmp_x").replace("{pledge_id}", "plg_x")
        assert api.routes.needs_organizer(method, concrete) == organizer, (method, path)
        assert method in api.routes.methods_at(concrete)


# ---------------------------------------------------------------- deploy hygiene

NOTIFY = {"Fn::If": ["NotifyAlarms", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}


def _raw(kind):
    return {name: res for name, res in template.load()["Resources"].items() if res["Type"] == kind}


def test_alarms_notify_an_optional_sns_topic():
    t = template.load()
    parameter = t["Parameters"]["AlarmTopicArn"]
    assert parameter["Type"] == "String" and parameter["Default"] == ""
    assert t["Conditions"]["NotifyAlarms"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]
    }
    alarms = template.resources("AWS::CloudWatch::Alarm")
    assert {
        "SettlementDeadLetterAlarm",
        "SettlementScheduleDeadLetterAlarm",
        "IntakeDeadLetterAlarm",
    } <= set(alarms)
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == NOTIFY, name
        assert alarm["OKActions"] == NOTIFY, name
    transformed = _transformed()
    assert transformed["Conditions"]["NotifyAlarms"] == t["Conditions"]["NotifyAlarms"]
    for name in alarms:
        assert transformed["Resources"][name]["Properties"]["AlarmActions"] == NOTIFY


def test_the_alarm_topic_parameter_accepts_empty_or_an_sns_arn_only():
    import re

    pattern = re.compile(template.load()["Parameters"]["AlarmTopicArn"]["AllowedPattern"])
    assert pattern.fullmatch("")
    assert pattern.fullmatch("arn:aws:sns:eu-west-2:123456789012:cashmob-alarms")
    assert pattern.fullmatch("arn:aws-us-gov:sns:us-gov-west-1:123456789012:ops_alarms")
    assert not pattern.fullmatch("cashmob-alarms")
    assert not pattern.fullmatch("arn:aws:sqs:eu-west-2:123456789012:cashmob-alarms")


def _sweep():
    (schedule,) = [
        (function, event["Properties"])
        for function, props in template.resources("AWS::Serverless::Function").items()
        for event in props.get("Events", {}).values()
        if event["Type"] == "ScheduleV2"
    ]
    return schedule


def test_the_schedule_has_its_own_dead_letter_queue_and_alarm():
    function, sweep = _sweep()
    assert function == "SettlementFunction"
    queue = sweep["DeadLetterConfig"]["Arn"]["Fn::GetAtt"]
    assert queue == ["SettlementScheduleDeadLetterQueue", "Arn"]
    queues = template.resources("AWS::SQS::Queue")
    assert queue[0] in queues and queue[0] != "SettlementDeadLetterQueue"
    assert queues[queue[0]]["MessageRetentionPeriod"] == 1209600
    watched = {
        name: alarm["Dimensions"][0]["Value"]
        for name, alarm in template.resources("AWS::CloudWatch::Alarm").items()
        if alarm["Namespace"] == "AWS/SQS"  # the queues' alarms (not reconciliation's)
    }
    assert watched["SettlementScheduleDeadLetterAlarm"] == {"Fn::GetAtt": [queue[0], "QueueName"]}
    # Every dead-letter queue has an alarm.
    dead_letter = {n for n in queues if "DeadLetter" in n}
    assert dead_letter == {v["Fn::GetAtt"][0] for v in watched.values()}
    # As deployed: the scheduler sends missed runs there, and may.
    resources = _transformed()["Resources"]
    (schedule,) = [r for r in resources.values() if r["Type"] == "AWS::Scheduler::Schedule"]
    target = schedule["Properties"]["Target"]
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue[0], "Arn"]}}
    role = resources[target["RoleArn"]["Fn::GetAtt"][0]]
    sends = [
        s
        for policy in role["Properties"]["Policies"]
        for s in policy["PolicyDocument"]["Statement"]
        if s["Action"] == "sqs:SendMessage"
    ]
    assert [s["Resource"] for s in sends] == [{"Fn::GetAtt": [queue[0], "Arn"]}]


def test_two_stacks_fit_in_one_account():
    """No physical name is fixed: the schedule's is omitted (SAM otherwise
    names it after its logical id), the others derive from the stack."""
    _, sweep = _sweep()
    assert sweep["OmitName"] is True
    assert "Name" not in sweep
    names = ("Name", "TableName", "QueueName", "FunctionName", "RoleName", "AlarmName")
    names += ("TopicName", "LogGroupName", "ScheduleName", "LayerName", "StageName")
    for logical_id, resource in _transformed()["Resources"].items():
        for key in names:
            value = resource.get("Properties", {}).get(key)
            assert not isinstance(value, str) or key == "StageName", (logical_id, key, value)


@pytest.mark.parametrize("table", sorted(_raw("AWS::DynamoDB::Table")))
def test_every_table_is_retained_and_recoverable(table):
    resource = _raw("AWS::DynamoDB::Table")[table]
    assert resource["DeletionPolicy"] == "Retain"
    assert resource["UpdateReplacePolicy"] == "Retain"
    pitr = resource["Properties"]["PointInTimeRecoverySpecification"]
    assert pitr["PointInTimeRecoveryEnabled"] is True
    transformed = _transformed()["Resources"][table]
    assert transformed["DeletionPolicy"] == transformed["UpdateReplacePolicy"] == "Retain"


def test_the_local_stack_creates_the_schedule_dead_letter_queue():
    import boto3
    from moto import mock_aws

    with mock_aws():
        urls = template.create_queues(boto3.client("sqs", region_name="us-east-1"))
    assert set(urls) == set(template.resources("AWS::SQS::Queue"))
    assert "SettlementScheduleDeadLetterQueue" in urls
