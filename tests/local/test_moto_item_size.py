"""The local stack's linear item size check (`cashmob_local.moto_item_size`)
builds the items moto builds and refuses the ones moto refuses: random items
of every attribute type, under, at and over moto's limit, built directly
and put through boto3 (alone and in transactions), compared with stock moto."""

from __future__ import annotations

import json
import random
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models.dynamo_type import DynamoType, Item

from cashmob_local import moto_item_size

from .test_moto_items_json import attribute


def attributes(rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {"pk": {"S": f"k{rng.randint(0, 5)}"}}
    for i in range(rng.randint(0, 30)):
        out[f"a{i}" + "é" * rng.randint(0, 2)] = attribute(rng)
    if rng.random() < 0.4:  # near moto's limit: some under, some over
        out["big"] = {"S": "x" * rng.randint(404_000, 405_500)}
        if rng.random() < 0.5:
            out["after"] = {"S": "y" * rng.randint(0, 900)}
    return out


def built(attrs: dict[str, Any]) -> Any:
    try:
        item = Item(DynamoType(attrs["pk"]), None, attrs)
    except Exception as error:
        return ("raised", type(error).__name__, str(error))
    return (type(item.attrs).__name__, json.dumps(item.to_json(), sort_keys=True, default=repr))


def test_items_are_built_and_refused_as_moto_does():
    moto_item_size.uninstall()  # stock, even after a stack in this process
    rng = random.Random(11)
    cases = [attributes(rng) for _ in range(300)]
    stock = [built(attrs) for attrs in cases]
    assert moto_item_size.install()
    try:
        patched = [built(attrs) for attrs in cases]
    finally:
        moto_item_size.uninstall()
    assert patched == stock
    refused = sum(answer[0] == "raised" for answer in stock)
    assert 10 < refused < 200  # both kinds of case met


def puts(patched: bool, seed: int) -> list[Any]:
    rng = random.Random(seed)
    with mock_aws():
        if patched:
            assert moto_item_size.install()
        else:
            moto_item_size.uninstall()
        try:
            client = boto3.client("dynamodb", region_name="us-east-1")
            client.create_table(
                TableName="t",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            answers: list[Any] = []
            for _ in range(60):
                try:
                    if rng.random() < 0.5:
                        client.put_item(TableName="t", Item=attributes(rng))
                    else:
                        client.transact_write_items(
                            TransactItems=[
                                {"Put": {"TableName": "t", "Item": attributes(rng)}},
                                {
                                    "Put": {
                                        "TableName": "t",
                                        "Item": attributes(rng) | {"pk": {"S": "z"}},
                                    }
                                },
                            ]
                        )
                    answers.append("ok")
                except ClientError as error:
                    answers.append(
                        (error.response["Error"], error.response.get("CancellationReasons"))
                    )
            items = client.scan(TableName="t")["Items"]
            answers.append(sorted(json.dumps(i, sort_keys=True, default=repr) for i in items))
            return answers
        finally:
            moto_item_size.uninstall()


def test_puts_get_stock_motos_answers():
    stock = puts(False, 3)
    assert any(answer == "ok" for answer in stock)
    assert any(answer != "ok" for answer in stock[:-1])
    assert puts(True, 3) == stock


def test_uninstall_gives_moto_back():
    assert moto_item_size.install()
    moto_item_size.uninstall()
    assert Item.__init__ is moto_item_size.STOCK_INIT


@pytest.fixture(autouse=True)
def _stock_afterwards():
    yield
    moto_item_size.uninstall()
