"""The local stack's direct JSON for DynamoDB items (`cashmob_local.moto_items_json`)
changes no answer: Query, Scan, GetItem, BatchGetItem, TransactGetItems and
the writes that return attributes return, byte for byte after parsing, what
moto's own serializer returns, for every attribute type (binary and binary
sets included), projections, pages, misses and errors."""

from __future__ import annotations

import json
import random
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from cashmob_local import moto_items_json

TABLE = "items"


def attribute(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    kinds = ["S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS"] + (["L", "M"] if depth < 2 else [])
    kind = rng.choice(kinds)
    match kind:
        case "S":
            return {"S": rng.choice(["", "plain", "ünïcødé ✓", 'quote " and \\ slash', "a\nb"])}
        case "N":
            return {"N": rng.choice(["0", "-12", "3.25", "1e3", str(rng.randint(0, 10**20))])}
        case "B":
            return {"B": bytes(rng.randrange(256) for _ in range(rng.randint(0, 9)))}
        case "BOOL":
            return {"BOOL": rng.random() < 0.5}
        case "NULL":
            return {"NULL": True}
        case "SS":
            return {"SS": sorted({f"s{rng.randint(0, 9)}" for _ in range(3)})}
        case "NS":
            return {"NS": sorted({str(rng.randint(0, 9)) for _ in range(3)})}
        case "BS":
            return {"BS": sorted({bytes([rng.randrange(256)]) for _ in range(3)})}
        case "L":
            return {"L": [attribute(rng, depth + 1) for _ in range(rng.randint(0, 3))]}
    return {"M": {f"k{i}": attribute(rng, depth + 1) for i in range(rng.randint(0, 3))}}


def answers(client: Any) -> list[Any]:
    """Every kind of answer that carries items, and some that do not."""
    out: list[Any] = []

    def keep(call: Any, **kwargs: Any) -> None:
        try:
            answer = call(**kwargs)
        except ClientError as error:
            out.append(("error", error.response["Error"]))
            return
        answer.pop("ResponseMetadata", None)
        out.append(json.dumps(answer, sort_keys=True, default=repr))

    for pk in ("a", "b", "zz"):
        query = {
            "TableName": TABLE,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": pk}},
        }
        keep(client.query, **query)
        keep(client.query, **query, Limit=3, ReturnConsumedCapacity="TOTAL")
        keep(client.query, **query, ProjectionExpression="sk, a0, a3")
        keep(client.query, **query, Select="COUNT")
        keep(client.query, **query, ScanIndexForward=False, Limit=2)
    keep(client.scan, TableName=TABLE)
    keep(client.scan, TableName=TABLE, Limit=5)
    for sk in ("000", "001", "002", "missing"):
        keep(client.get_item, TableName=TABLE, Key={"pk": {"S": "a"}, "sk": {"S": sk}})
        keep(
            client.get_item,
            TableName=TABLE,
            Key={"pk": {"S": "a"}, "sk": {"S": sk}},
            ProjectionExpression="a1",
        )
    keys = [{"pk": {"S": pk}, "sk": {"S": sk}} for pk in "ab" for sk in ("000", "001", "005")]
    keep(client.batch_get_item, RequestItems={TABLE: {"Keys": keys}})
    keep(
        client.batch_get_item,
        RequestItems={TABLE: {"Keys": keys[:2], "ProjectionExpression": "sk, a2"}},
    )
    keep(
        client.transact_get_items,
        TransactItems=[{"Get": {"TableName": TABLE, "Key": key}} for key in keys[:4]],
    )
    key = {"pk": {"S": "a"}, "sk": {"S": "002"}}
    for returned in ("NONE", "ALL_NEW", "ALL_OLD", "UPDATED_NEW", "UPDATED_OLD"):
        keep(
            client.update_item,
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET a9 = :v ADD n9 :one",
            ExpressionAttributeValues={":v": {"B": b"\x00\xff"}, ":one": {"N": "1"}},
            ReturnValues=returned,
        )
    for returned in ("NONE", "ALL_OLD"):
        keep(client.put_item, TableName=TABLE, Item={**key, "x": {"S": "y"}}, ReturnValues=returned)
        keep(client.delete_item, TableName=TABLE, Key=key, ReturnValues=returned)
    keep(client.get_item, TableName="no-such-table", Key={"pk": {"S": "a"}, "sk": {"S": "0"}})
    keep(client.query, TableName=TABLE, KeyConditionExpression="nope = :p")
    return out


def run(seed: int, fast: bool) -> list[Any]:
    rng = random.Random(seed)
    if fast:
        moto_items_json.install()
    try:
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            client.create_table(
                TableName=TABLE,
                KeySchema=[
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
            for i in range(40):
                item = {"pk": {"S": rng.choice("ab")}, "sk": {"S": f"{i:03}"}}
                item.update({f"a{j}": attribute(rng) for j in range(rng.randint(0, 6))})
                client.put_item(TableName=TABLE, Item=item)
            return answers(client)
    finally:
        moto_items_json.uninstall()


@pytest.mark.parametrize("seed", range(6))
def test_item_answers_are_the_stock_answers(seed):
    stock = run(seed, fast=False)
    assert run(seed, fast=True) == stock
    assert any('"Items": [{' in a for a in stock if isinstance(a, str))  # items were compared
    assert any('"B": ' in a for a in stock if isinstance(a, str))  # and binary ones
    for member in ("Responses", "Attributes", "LastEvaluatedKey"):  # and the other members
        assert any(f'"{member}": {{"' in a for a in stock if isinstance(a, str)), member


# Every output member made of items or keys, in the operations `answers` makes.
ITEM_MEMBERS = ("Items", "Item", "Attributes", "LastEvaluatedKey", "Responses")


def test_items_never_reach_motos_serializer():
    """The fast path is taken: moto's serializer still writes the rest of
    each answer, but never an item."""
    seen: list[bool] = []
    stock = moto_items_json.STOCK_EXECUTE

    def watching(self, context):
        seen.append(
            isinstance(self.result, dict) and any(key in self.result for key in ITEM_MEMBERS)
        )
        return stock(self, context)

    moto_items_json.STOCK_EXECUTE = watching
    try:
        run(0, fast=True)
    finally:
        moto_items_json.STOCK_EXECUTE = stock
    assert seen and not any(seen)
