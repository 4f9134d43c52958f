"""The local stack's parsed-once caches (`cashmob_local.moto_parse_cache`)
change no answer: the same seeded operations get the same answers from stock
moto and from the patched one, byte for byte, and a cached parse is really
reused (the parser is built once per distinct text)."""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.events import models as events_models
from moto.events.utils import EventTemplateParser
from moto.moto_api._internal import mock_random

from cashmob_local import moto_parse_cache

REGION = "us-east-1"

# ---------------------------------------------------------------- EventBridge

TRANSFORMERS: list[dict[str, Any] | None] = [
    None,  # moto's default template: the event as EventBridge shapes it
    {
        "InputPathsMap": {"who": "$.detail.who", "n": "$.detail.n", "src": "$.source"},
        "InputTemplate": '{"who": "<who>", "n": <n>, "src": "<src>", "all": <aws.events.event.json>}',
    },
    {
        "InputPathsMap": {
            "first": "$.detail.items[0]",
            "deep": "$.detail.nested.a.b",
            "missing": "$.detail.nothing",
        },
        "InputTemplate": '{"first": "<first>", "deep": "<deep>", "missing": "<missing>"}',
    },
    {
        "InputPathsMap": {"items": "$.detail.items", "kind": "$.detail-type"},
        "InputTemplate": '{"items": <items>, "kind": "<kind>", '
        '"at": "<aws.events.event.ingestion-time>"}',
    },
]


def detail(rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {
        "who": rng.choice(["ann", "bob", "ünï"]),
        "n": rng.randint(-5, 10**6),
        "items": [rng.choice([0, 1, "two"]) for _ in range(rng.randint(0, 3))],
        "note": rng.choice(['quo"te', None, {"x": [3]}]),  # in the whole event only
    }
    if rng.random() < 0.5:
        out["nested"] = {"a": {"b": rng.choice(["deep", "er"])}}
    return out


def event_answers(monkeypatch: pytest.MonkeyPatch, *, patched: bool, seed: int) -> list[Any]:
    """Rules with and without input transformers on a bus, targeting queues;
    seeded events put (some matching no rule, some malformed); every queue's
    messages, and each put's answer."""
    rng = random.Random(seed)
    with monkeypatch.context() as m, mock_aws():
        m.setattr(events_models, "unix_time", lambda *_: 1_800_000_000.0)
        if patched:
            assert moto_parse_cache.install_events()
        else:
            moto_parse_cache.uninstall_events()  # stock, even after a stack in this process
        try:
            mock_random.seed(seed)
            sqs = boto3.client("sqs", region_name=REGION)
            events = boto3.client("events", region_name=REGION)
            events.create_event_bus(Name="bus")
            queues = []
            for i, transformer in enumerate(TRANSFORMERS):
                url = sqs.create_queue(QueueName=f"q{i}")["QueueUrl"]
                arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                    "Attributes"
                ]["QueueArn"]
                kinds = ["A", "B"] if i % 2 else ["A", "C"]
                pattern = {"source": ["test"], "detail-type": kinds}
                events.put_rule(Name=f"r{i}", EventBusName="bus", EventPattern=json.dumps(pattern))
                target: dict[str, Any] = {"Id": f"t{i}", "Arn": arn}
                if transformer:
                    target["InputTransformer"] = transformer
                events.put_targets(Rule=f"r{i}", EventBusName="bus", Targets=[target])
                queues.append(url)
            transcript: list[Any] = []
            for _ in range(60):
                entries = []
                for _ in range(rng.randint(1, 4)):
                    entry = {
                        "Source": rng.choice(["test", "test", "other"]),
                        "DetailType": rng.choice("ABCD"),
                        "Detail": json.dumps(detail(rng)),
                        "EventBusName": "bus",
                    }
                    if rng.random() < 0.05:
                        entry["Detail"] = "{not json"
                    entries.append(entry)
                answer = events.put_events(Entries=entries)
                answer.pop("ResponseMetadata", None)
                transcript.append(answer)
            for url in queues:
                while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
                    "Messages"
                ):
                    transcript.extend((url, message["Body"]) for message in got)
                    sqs.delete_message_batch(
                        QueueUrl=url,
                        Entries=[
                            {"Id": str(n), "ReceiptHandle": message["ReceiptHandle"]}
                            for n, message in enumerate(got)
                        ],
                    )
            return transcript
        finally:
            moto_parse_cache.uninstall_events()


@pytest.mark.parametrize("seed", [1, 2])
def test_events_reach_their_targets_as_stock_moto_delivers_them(monkeypatch, seed):
    stock = event_answers(monkeypatch, patched=False, seed=seed)
    delivered = [entry for entry in stock if isinstance(entry, tuple)]
    # every target got events, transformed or not
    assert {url.rsplit("/", 1)[1] for url, _ in delivered} == {"q0", "q1", "q2", "q3"}
    assert any(
        "ErrorCode" in e for answer in stock if isinstance(answer, dict) for e in answer["Entries"]
    )
    assert event_answers(monkeypatch, patched=True, seed=seed) == stock


def test_the_template_parser_builds_a_jsonpath_parser_once_per_path(monkeypatch):
    built: list[str] = []
    stock = moto_parse_cache.STOCK_JSONPATH_PARSE

    def counted(path: str, debug: bool | None = None) -> Any:
        built.append(path)
        return stock(path, debug=debug)

    monkeypatch.setattr(moto_parse_cache, "STOCK_JSONPATH_PARSE", counted)
    assert moto_parse_cache.install_events()
    try:
        event = {
            "id": "1",
            "time": 1.0,
            "detail-type": "A",
            "source": "s",
            "account": "1",
            "region": "r",
            "resources": [],
            "detail": {"k": [1, 2]},
            "ingestion-time": 2.0,
        }
        first = EventTemplateParser.parse(None, {}, event)  # type: ignore[arg-type]
        once = len(built)
        for _ in range(5):
            assert EventTemplateParser.parse(None, {}, event) == first  # type: ignore[arg-type]
        assert once == len(EventTemplateParser.DEFAULT_EVENT_INPUT_PATHS_MAP)
        assert len(built) == once  # every later event reused the parsed paths
    finally:
        moto_parse_cache.uninstall_events()


@pytest.fixture(autouse=True)
def _stock_afterwards():
    yield
    moto_parse_cache.uninstall_events()


# ---------------------------------------------------------------- DynamoDB conditions

TABLE = "things"
RESERVED = ["status", "name", "size", "data"]  # DynamoDB reserved words


def operand(rng: random.Random, values: list[str]) -> str:
    roll = rng.random()
    if roll < 0.3:
        return rng.choice(values)
    if roll < 0.45:
        return "#n"
    if roll < 0.55:
        return rng.choice(["m.x", "#m.x", "l[0]", "m.#n"])
    if roll < 0.62:
        return f"size({rng.choice(['s', 'l', 'm', '#n'])})"
    return rng.choice(["n", "s", "pk", "missing"])


def condition(rng: random.Random, values: list[str], depth: int = 0) -> str:
    roll = rng.random() if depth < 3 else rng.random() * 0.6
    if roll < 0.25:
        comparator = rng.choice(["=", "<>", "<", "<=", ">", ">="])
        return f"{operand(rng, values)} {comparator} {operand(rng, values)}"
    if roll < 0.32:
        return f"{operand(rng, values)} BETWEEN {rng.choice(values)} AND {rng.choice(values)}"
    if roll < 0.38:
        picked = ", ".join(rng.choice(values) for _ in range(rng.randint(1, 3)))
        return f"{operand(rng, values)} IN ({picked})"
    if roll < 0.5:
        path = rng.choice(["n", "s", "#n", "m.x", "missing", "pk"])
        return f"{rng.choice(['attribute_exists', 'attribute_not_exists'])}({path})"
    if roll < 0.56:
        return f"begins_with(s, {rng.choice(values)})"
    if roll < 0.6:
        return f"contains({rng.choice(['s', 'ss', 'l'])}, {rng.choice(values)})"
    if roll < 0.63:
        return f"attribute_type({rng.choice(['n', 's', 'm'])}, :t)"
    if roll < 0.75:
        return f"NOT {condition(rng, values, depth + 1)}"
    if roll < 0.85:
        return f"({condition(rng, values, depth + 1)})"
    joiner = rng.choice([" AND ", " OR ", " and ", " or "])
    return condition(rng, values, depth + 1) + joiner + condition(rng, values, depth + 1)


def broken(rng: random.Random, expression: str) -> str:
    """An expression moto rejects, one way or another."""
    match rng.randrange(6):
        case 0:
            return expression + " AND :nowhere = n"  # a value not given
        case 1:
            return expression + " OR #nobody = n"  # a name not given
        case 2:
            return f"{rng.choice(RESERVED)} = :v0"  # a reserved word
        case 3:
            return f"(({expression}))"  # redundant parentheses
        case 4:
            return expression + " AND"
    return expression.replace(" ", " ! ", 1)


# (UpdateExpression, its names, its value names): valid and not, recurring
UPDATES: list[tuple[str, dict[str, str], list[str]]] = [
    ("ADD n :inc", {}, [":inc"]),
    ("ADD #a :inc, #b :one", {"#a": "n", "#b": "c"}, [":inc", ":one"]),
    ("SET s = :s", {}, [":s"]),
    ("SET #x = if_not_exists(#x, :zero) + :inc", {"#x": "c"}, [":zero", ":inc"]),
    ("SET m.x = :v, s = :s REMOVE l", {}, [":v", ":s"]),
    ("SET l = list_append(if_not_exists(l, :l), :l)", {}, [":l"]),
    ("REMOVE m.y, #st", {"#st": "status"}, []),
    ("SET n = n - :inc", {}, [":inc"]),
    ("DELETE ss :s", {}, [":s"]),
    ("SET #a = :v REMOVE #a", {"#a": "s"}, [":v"]),  # two actions on one path
    ("SET a = :v ADD", {}, [":v"]),  # unfinished
    ("SET status = :v", {}, [":v"]),  # a reserved word
    ("SET n = :missing", {}, []),  # a value not given
    ("ADD #nobody :inc", {}, [":inc"]),  # a name not given
]


def value(rng: random.Random) -> dict[str, Any]:
    return rng.choice(
        [
            {"N": str(rng.randint(-2, 6))},
            {"S": rng.choice(["a", "ab", "b", "x1"])},
            {"S": rng.choice(["S", "N", "M"])},
        ]
    )


def item(rng: random.Random, pk: str) -> dict[str, Any]:
    out: dict[str, Any] = {"pk": {"S": pk}}
    if rng.random() < 0.8:
        out["n"] = {"N": str(rng.randint(-2, 6))}
    if rng.random() < 0.7:
        out["s"] = {"S": rng.choice(["a", "ab", "abc", "b"])}
    if rng.random() < 0.5:
        out["m"] = {"M": {"x": {"N": str(rng.randint(0, 4))}, "y": {"S": "a"}}}
    if rng.random() < 0.5:
        out["l"] = {"L": [{"S": "a"}, {"N": "2"}]}
    if rng.random() < 0.3:
        out["ss"] = {"SS": ["a", "b"]}
    if rng.random() < 0.4:
        out["status"] = {"S": rng.choice(["open", "shut"])}
    return out


def conditional(rng: random.Random) -> dict[str, Any]:
    """ConditionExpression (or FilterExpression) parameters: mostly valid,
    some broken; the same expression texts recur with other values, as a
    service's do."""
    values = [f":v{i}" for i in range(rng.randint(1, 3))]
    expression = condition(random.Random(rng.randrange(40)), values)  # 40 distinct shapes
    if rng.random() < 0.12:
        expression = broken(rng, expression)
    params: dict[str, Any] = {
        "ExpressionAttributeValues": {name: value(rng) for name in values}
        | {":t": {"S": rng.choice(["N", "S", "M"])}},
        # the same placeholder naming different attributes from call to call
        "ExpressionAttributeNames": {"#n": rng.choice(["n", "s"]), "#m": rng.choice(["m", "l"])},
    }
    # DynamoDB rejects names and values the expression does not use: keep only those.
    params["ExpressionAttributeValues"] = {
        k: v for k, v in params["ExpressionAttributeValues"].items() if k in expression
    } or None
    params["ExpressionAttributeNames"] = {
        k: v for k, v in params["ExpressionAttributeNames"].items() if k in expression
    } or None
    if params["ExpressionAttributeValues"] and rng.random() < 0.05:  # one value missing
        params["ExpressionAttributeValues"].pop(sorted(params["ExpressionAttributeValues"])[-1])
    return {"expression": expression} | {k: v for k, v in params.items() if v is not None}


def dynamodb_answers(*, patched: bool, seed: int, steps: int) -> list[Any]:
    rng = random.Random(seed)
    with mock_aws():
        if patched:
            assert moto_parse_cache.install_dynamodb()
        else:
            moto_parse_cache.uninstall_dynamodb()  # stock, even after a stack in this process
        try:
            client = boto3.client("dynamodb", region_name=REGION)
            client.create_table(
                TableName=TABLE,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            transcript: list[Any] = []

            def call(op: str, **kwargs: Any) -> None:
                try:
                    answer = getattr(client, op)(**kwargs)
                except ClientError as error:
                    transcript.append(
                        (
                            op,
                            "error",
                            error.response["Error"],
                            error.response.get("CancellationReasons"),
                        )
                    )
                    return
                except Exception as error:  # moto fails outright on some bad expressions
                    transcript.append((op, "raised", type(error).__name__, str(error)))
                    return
                answer.pop("ResponseMetadata", None)
                transcript.append((op, json.dumps(answer, sort_keys=True, default=repr)))

            def with_condition(kind: str = "ConditionExpression") -> dict[str, Any]:
                c = conditional(rng)
                out = {kind: c.pop("expression")}
                out.update(c)
                return out

            keys = [f"k{i}" for i in range(6)]
            for _ in range(steps):
                pk = rng.choice(keys)
                roll = rng.random()
                if roll < 0.25:
                    call("put_item", TableName=TABLE, Item=item(rng, pk), **with_condition())
                elif roll < 0.4:
                    extra = with_condition() if rng.random() < 0.6 else {}
                    update, names, values = rng.choice(UPDATES)
                    extra.setdefault("ExpressionAttributeValues", {}).update(
                        {
                            name: value(rng) if name != ":l" else {"L": [value(rng)]}
                            for name in values
                        }
                    )
                    if names:
                        extra.setdefault("ExpressionAttributeNames", {}).update(names)
                    if not extra["ExpressionAttributeValues"]:
                        del extra["ExpressionAttributeValues"]
                    call(
                        "update_item",
                        TableName=TABLE,
                        Key={"pk": {"S": pk}},
                        UpdateExpression=update,
                        ReturnValues=rng.choice(["NONE", "ALL_NEW", "UPDATED_OLD", "ALL_OLD"]),
                        ReturnValuesOnConditionCheckFailure=rng.choice(["NONE", "ALL_OLD"]),
                        **extra,
                    )
                elif roll < 0.5:
                    call("delete_item", TableName=TABLE, Key={"pk": {"S": pk}}, **with_condition())
                elif roll < 0.75:
                    entries = []
                    for key in rng.sample(keys, rng.randint(1, 3)):
                        c = with_condition()
                        c["ReturnValuesOnConditionCheckFailure"] = rng.choice(["NONE", "ALL_OLD"])
                        kind = rng.choice(["Put", "ConditionCheck", "Delete", "Update"])
                        if kind == "Update":
                            update, names, values = rng.choice(UPDATES)
                            c.setdefault("ExpressionAttributeValues", {}).update(
                                {name: {"N": str(rng.randint(0, 3))} for name in values}
                            )
                            c.setdefault("ExpressionAttributeNames", {}).update(names)
                            for k in ("ExpressionAttributeValues", "ExpressionAttributeNames"):
                                if not c[k]:
                                    del c[k]
                            entries.append(
                                {
                                    "Update": {
                                        "TableName": TABLE,
                                        "Key": {"pk": {"S": key}},
                                        "UpdateExpression": update,
                                        **c,
                                    }
                                }
                            )
                        elif kind == "Put":
                            entries.append(
                                {"Put": {"TableName": TABLE, "Item": item(rng, key), **c}}
                            )
                        else:
                            entries.append(
                                {kind: {"TableName": TABLE, "Key": {"pk": {"S": key}}, **c}}
                            )
                    call("transact_write_items", TransactItems=entries)
                elif roll < 0.9:
                    call("scan", TableName=TABLE, **with_condition("FilterExpression"))
                else:
                    c = with_condition("FilterExpression")
                    c.setdefault("ExpressionAttributeValues", {})[":pk"] = {"S": pk}
                    call("query", TableName=TABLE, KeyConditionExpression="pk = :pk", **c)
            call("scan", TableName=TABLE)
            return transcript
        finally:
            moto_parse_cache.uninstall_dynamodb()


def outcomes(transcript: list[Any]) -> Counter[str]:
    seen: Counter[str] = Counter()
    for entry in transcript:
        if entry[1] == "raised":
            seen["raised"] += 1
            continue
        if entry[1] != "error":
            seen[f"{entry[0]} ok"] += 1
            continue
        seen[entry[2]["Code"]] += 1
        if entry[3] and any(r.get("Item") for r in entry[3]):
            seen["cancelled with ALL_OLD item"] += 1
    return seen


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_conditions_get_stock_motos_answers(seed):
    stock = dynamodb_answers(patched=False, seed=seed, steps=600)
    seen = outcomes(stock)
    # the scenario meets every case: each operation succeeding, conditions
    # failing, transactions cancelled (with old items), expressions rejected
    for case in (
        "put_item ok",
        "update_item ok",
        "delete_item ok",
        "transact_write_items ok",
        "scan ok",
        "query ok",
        "ConditionalCheckFailedException",
        "TransactionCanceledException",
        "cancelled with ALL_OLD item",
        "ValidationException",
    ):
        assert seen[case], (case, seen)
    assert dynamodb_answers(patched=True, seed=seed, steps=600) == stock


def test_a_condition_is_parsed_once_per_expression(monkeypatch):
    lexed: list[str] = []
    stock_lex = ConditionExpressionParser._lex_condition_expression

    def counted(self: ConditionExpressionParser) -> Any:
        lexed.append(self.condition_expression)
        return stock_lex(self)

    monkeypatch.setattr(ConditionExpressionParser, "_lex_condition_expression", counted)
    with mock_aws():
        assert moto_parse_cache.install_dynamodb()
        try:
            client = boto3.client("dynamodb", region_name=REGION)
            client.create_table(
                TableName=TABLE,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            for i in range(20):
                client.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": TABLE,
                                "Item": {"pk": {"S": f"p{i}"}, "n": {"N": str(i)}},
                                "ConditionExpression": "attribute_not_exists(pk) OR n < :n",
                                "ExpressionAttributeValues": {":n": {"N": str(i)}},
                            }
                        }
                    ]
                )
            stored = client.scan(TableName=TABLE)["Items"]
        finally:
            moto_parse_cache.uninstall_dynamodb()
    assert len(stored) == 20
    # Stock moto parses it 3 times per transaction (60); here once per way a
    # caller passes the absent names (None, or {}), whatever the values.
    assert set(lexed) == {"attribute_not_exists(pk) OR n < :n"}
    assert len(lexed) <= 2


@pytest.fixture(autouse=True)
def _stock_dynamodb_afterwards():
    yield
    moto_parse_cache.uninstall_dynamodb()
