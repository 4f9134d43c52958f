"""The local stack's moto speed-ups (`cashmob_local.moto_speedups`) change no
answer: queries on a table's key or an index's return what stock moto
returns (order, ties, pages, filters, counts), and the server's remembered routing sends each
request to the backend moto's own dispatcher picks."""

from __future__ import annotations

import json
import random
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from cashmob_local import moto_speedups

from .test_moto_undo import COUNTERS, PAIRS, make_tables

NUMBERED = "numbered"  # a number range key: numeric order, not the digits' order


def make_numbered(client: Any, rng: random.Random) -> None:
    client.create_table(
        TableName=NUMBERED,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "n", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "n", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for _ in range(80):
        n = rng.choice([str(rng.randint(-50, 50)), f"{rng.uniform(-5, 5):.3f}", "1e2", "7"])
        client.put_item(TableName=NUMBERED, Item={"pk": {"S": rng.choice("xy")}, "n": {"N": n}})


def fill(client: Any, rng: random.Random) -> None:
    for _ in range(120):
        client.put_item(
            TableName=PAIRS,
            Item={
                "pk": {"S": rng.choice("abcdef")},
                "sk": {"S": f"{rng.randint(0, 999):03}"},
                "status": {"S": rng.choice(["open", "closed"])},
                "n": {"N": str(rng.randint(0, 9))},
            },
        )
    for i in range(30):
        client.put_item(TableName=COUNTERS, Item={"id": {"S": f"c{i}"}, "n": {"N": str(i)}})


def pages(client: Any, **query: Any) -> list[Any]:
    """Every page of a query, with its count and where it stopped."""
    seen, start = [], None
    while True:
        kwargs = {**query, **({"ExclusiveStartKey": start} if start else {})}
        page = client.query(**kwargs)
        seen.append(
            (
                [json.dumps(i, sort_keys=True) for i in page.get("Items", [])],
                page["Count"],
                page["ScannedCount"],
                page.get("LastEvaluatedKey"),
            )
        )
        start = page.get("LastEvaluatedKey")
        if not start:
            return seen


def queries() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for pk in "abcdefz":
        key = {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": pk}}}
        found += [
            {"TableName": PAIRS, **key},
            {"TableName": PAIRS, **key, "Limit": 4, "ScanIndexForward": False},
            {"TableName": PAIRS, **key, "Limit": 3, "ConsistentRead": True},
            {
                "TableName": PAIRS,
                "KeyConditionExpression": "pk = :p AND sk BETWEEN :lo AND :hi",
                "ExpressionAttributeValues": {
                    ":p": {"S": pk},
                    ":lo": {"S": "200"},
                    ":hi": {"S": "700"},
                },
                "FilterExpression": "n > :five",
                "Limit": 5,
            },
            {
                "TableName": PAIRS,
                **key,
                "ProjectionExpression": "sk, n",
                "Select": "SPECIFIC_ATTRIBUTES",
            },
            {"TableName": PAIRS, **key, "Select": "COUNT"},
        ]
        found[-3]["ExpressionAttributeValues"][":five"] = {"N": "5"}
    for i in (0, 7, 29, 99):
        found.append(
            {
                "TableName": COUNTERS,
                "KeyConditionExpression": "id = :i",
                "ExpressionAttributeValues": {":i": {"S": f"c{i}"}},
            }
        )
    for pk in "xy":
        key = {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": pk}}}
        found += [
            {"TableName": NUMBERED, **key},
            {"TableName": NUMBERED, **key, "Limit": 9, "ScanIndexForward": False},
        ]
    for status in ("open", "closed", "nobody"):
        on_index = {
            "TableName": PAIRS,
            "IndexName": "by_status",
            "ExpressionAttributeNames": {"#s": "status"},
        }
        equal = {
            "KeyConditionExpression": "#s = :s",
            "ExpressionAttributeValues": {":s": {"S": status}},
        }
        found += [
            {**on_index, **equal, "Limit": 7},
            {**on_index, **equal},
            {**on_index, **equal, "Limit": 5, "ScanIndexForward": False},
            {**on_index, **equal, "Select": "COUNT"},
            {
                **on_index,
                "KeyConditionExpression": "#s = :s AND sk <= :due",  # as the due-index sweeps ask
                "ExpressionAttributeValues": {":s": {"S": status}, ":due": {"S": "500"}},
                "Limit": 6,
            },
            {
                **on_index,
                "KeyConditionExpression": "#s = :s AND sk BETWEEN :lo AND :hi",
                "FilterExpression": "n > :five",
                "ExpressionAttributeValues": {
                    ":s": {"S": status},
                    ":lo": {"S": "100"},
                    ":hi": {"S": "800"},
                    ":five": {"N": "5"},
                },
                "Limit": 4,
            },
        ]
    return found


def answers(patched: bool) -> list[Any]:
    with mock_aws():
        if patched:
            assert moto_speedups.install()
        try:
            client = boto3.client("dynamodb", region_name="us-east-1")
            make_tables(client)
            fill(client, random.Random(7))
            make_numbered(client, random.Random(8))
            return [pages(client, **q) for q in queries()]
        finally:
            moto_speedups.uninstall()


def test_queries_answer_page_by_page_as_stock_moto():
    stock = answers(patched=False)
    assert any(len(p) > 2 for p in stock)  # some queries do page
    assert answers(patched=True) == stock


def sorts_for(monkeypatch: pytest.MonkeyPatch, **query: Any) -> tuple[list[int], int, int]:
    """The sizes of the lists the patched query sorts, its item count, and the table's."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        make_tables(client)
        fill(client, random.Random(7))
        moto_speedups.install()
        try:
            sorted_sizes: list[int] = []
            real_sorted = sorted

            def counting_sorted(items: Any, **kwargs: Any) -> Any:
                items = list(items)
                sorted_sizes.append(len(items))
                return real_sorted(items, **kwargs)

            monkeypatch.setattr("builtins.sorted", counting_sorted)
            got = client.query(TableName=PAIRS, **query)
            monkeypatch.undo()
            total = client.scan(TableName=PAIRS, Select="COUNT")["Count"]
            return sorted_sizes, got["Count"], total
        finally:
            moto_speedups.uninstall()


def test_a_base_table_query_reads_only_its_partition(monkeypatch):
    sizes, count, total = sorts_for(
        monkeypatch,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "a"}},
    )
    assert sizes and max(sizes) == count < total
    assert Table.query is moto_speedups.STOCK_QUERY


def test_an_index_query_sorts_only_its_index_partition(monkeypatch):
    sizes, count, total = sorts_for(
        monkeypatch,
        IndexName="by_status",
        KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "closed"}},
    )
    # stock moto sorts every item of the table first
    assert sizes and max(sizes) == count < total


def test_remembered_routing_picks_the_backend_moto_picks():
    stock = DomainDispatcherApplication(create_backend_app)
    remembered = moto_speedups.Dispatcher()
    hosts = [
        None,
        "moto_api",
        "dynamodb.us-east-1.amazonaws.com",
        "sqs.us-east-1.amazonaws.com",
        "events.eu-west-1.amazonaws.com",
        "s3.amazonaws.com",
        "dynamodb",
    ]
    for _ in range(2):  # the second time from memory
        for host in hosts:
            assert remembered.get_backend_for_host(host) == stock.get_backend_for_host(host)


@pytest.fixture(autouse=True)
def _stock_afterwards():
    yield
    moto_speedups.uninstall()
