"""The local stack's item-level undo for moto's DynamoDB transactions
(`cashmob_local.moto_undo`) behaves exactly as stock moto: the same
transactions, run against stock moto and against the patched backend through
boto3, give the same answers (successes, CancellationReasons, validation
errors) and leave the same tables, indexes and stream records behind."""

from __future__ import annotations

import copy
import inspect
import json
import random
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb import models as moto_dynamodb_models
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.table import Table

from cashmob_local import moto_undo

ACCOUNT, REGION = "123456789012", "us-east-1"

# Pairs: hash + range key, a GSI, a stream. Counters: hash key only.
PAIRS, COUNTERS = "pairs", "counters"


def make_tables(client: Any) -> None:
    client.create_table(
        TableName=PAIRS,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_status",
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        BillingMode="PAY_PER_REQUEST",
    )
    client.create_table(
        TableName=COUNTERS,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def seed(client: Any) -> None:
    for pk in ("a", "b"):
        for sk in ("1", "2"):
            client.put_item(
                TableName=PAIRS,
                Item={"pk": {"S": pk}, "sk": {"S": sk}, "status": {"S": "open"}, "n": {"N": "1"}},
            )
    client.put_item(TableName=COUNTERS, Item={"id": {"S": "x"}, "n": {"N": "5"}})


def state(client: Any) -> dict[str, Any]:
    """Everything a client or a stream consumer could see of the tables."""

    def sorted_items(items: list[dict[str, Any]]) -> list[str]:
        return sorted(json.dumps(i, sort_keys=True) for i in items)

    seen: dict[str, Any] = {}
    for name in (PAIRS, COUNTERS):
        seen[name] = sorted_items(client.scan(TableName=name, ConsistentRead=True)["Items"])
        seen[f"{name} count"] = client.describe_table(TableName=name)["Table"]["ItemCount"]
    seen["gsi scan"] = sorted_items(client.scan(TableName=PAIRS, IndexName="by_status")["Items"])
    for status in ("open", "closed"):
        seen[f"gsi {status}"] = [
            json.dumps(i, sort_keys=True)
            for i in client.query(
                TableName=PAIRS,
                IndexName="by_status",
                KeyConditionExpression="#s = :s",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":s": {"S": status}},
            )["Items"]
        ]
    for pk in ("a", "b", "c"):
        seen[f"query {pk}"] = [
            json.dumps(i, sort_keys=True)
            for i in client.query(
                TableName=PAIRS,
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": pk}},
            )["Items"]
        ]
    shard = dynamodb_backends[ACCOUNT][REGION].tables[PAIRS].stream_shard
    seen["stream"] = [
        (r["eventName"], json.dumps(r["dynamodb"].get("Keys"), sort_keys=True))
        for r in (record.to_json() for record in shard.items)
    ]
    return seen


def attempt(client: Any, items: list[dict[str, Any]]) -> Any:
    try:
        client.transact_write_items(TransactItems=items)
    except ClientError as error:
        return (
            error.response["Error"]["Code"],
            error.response["Error"]["Message"],
            error.response.get("CancellationReasons"),
        )
    return "ok"


@contextmanager
def backend(patched: bool) -> Iterator[Any]:
    with mock_aws():
        if patched:
            assert moto_undo.install()
        try:
            client = boto3.client("dynamodb", region_name=REGION)
            make_tables(client)
            seed(client)
            yield client
        finally:
            moto_undo.uninstall()


def both(transactions: list[list[dict[str, Any]]]) -> tuple[Any, Any]:
    """(outcomes, state) after each transaction, on stock moto and patched."""
    runs = []
    for patched in (False, True):
        with backend(patched) as client:
            runs.append([(attempt(client, tx), state(client)) for tx in transactions])
    return runs[0], runs[1]


def put(table: str, **attrs: Any) -> dict[str, Any]:
    return {"Put": {"TableName": table, "Item": {k: _av(v) for k, v in attrs.items()}}}


def _av(value: Any) -> dict[str, str]:
    return {"N": str(value)} if isinstance(value, int) else {"S": value}


def pair(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


FAILS_EXISTS = {"ConditionExpression": "attribute_not_exists(pk)"}

# ------------------------------------------------------------ named scenarios

SCENARIOS: dict[str, list[list[dict[str, Any]]]] = {
    "all succeed: put new, update, delete, condition check": [
        [
            put(PAIRS, pk="c", sk="1", status="open", n=1),
            {
                "Update": {
                    "TableName": PAIRS,
                    "Key": pair("a", "1"),
                    "UpdateExpression": "SET #s = :c ADD n :one",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":c": {"S": "closed"}, ":one": {"N": "1"}},
                }
            },
            {"Delete": {"TableName": PAIRS, "Key": pair("b", "2")}},
            {
                "ConditionCheck": {
                    "TableName": COUNTERS,
                    "Key": {"id": {"S": "x"}},
                    "ConditionExpression": "n = :five",
                    "ExpressionAttributeValues": {":five": {"N": "5"}},
                }
            },
        ]
    ],
    "condition fails last, after writes to new and existing items (ALL_OLD)": [
        [
            put(PAIRS, pk="c", sk="9", status="closed", n=3),
            put(PAIRS, pk="a", sk="2", status="closed", n=7),
            {
                "Update": {
                    "TableName": PAIRS,
                    "Key": pair("b", "1"),
                    "UpdateExpression": "SET #s = :c",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":c": {"S": "closed"}},
                }
            },
            {"Delete": {"TableName": PAIRS, "Key": pair("a", "1")}},
            {
                "Update": {
                    "TableName": COUNTERS,
                    "Key": {"id": {"S": "new"}},
                    "UpdateExpression": "SET n = :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
            {
                "Put": {
                    "TableName": COUNTERS,
                    "Item": {"id": {"S": "x"}, "n": {"N": "6"}},
                    "ConditionExpression": "n = :four",
                    "ExpressionAttributeValues": {":four": {"N": "4"}},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
        ]
    ],
    "condition fails first, later writes still attempted then undone": [
        [
            {
                "ConditionCheck": {
                    "TableName": PAIRS,
                    "Key": pair("a", "1"),
                    **FAILS_EXISTS,
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            put(PAIRS, pk="z", sk="1", status="open", n=1),
            {"Delete": {"TableName": COUNTERS, "Key": {"id": {"S": "x"}}}},
        ]
    ],
    "two operations on one item: a validation error after writes": [
        [
            put(COUNTERS, id="y", n=1),
            {"Delete": {"TableName": PAIRS, "Key": pair("a", "2")}},
            {"Delete": {"TableName": COUNTERS, "Key": {"id": {"S": "y"}}}},
        ]
    ],
    "wrong key type: a validation error after writes": [
        [
            {"Delete": {"TableName": PAIRS, "Key": pair("b", "1")}},
            {"Put": {"TableName": COUNTERS, "Item": {"id": {"N": "1"}}}},
        ]
    ],
    "update on an attribute that does not exist: validation error after writes": [
        [
            put(PAIRS, pk="new", sk="1", status="open", n=1),
            {
                "Update": {
                    "TableName": PAIRS,
                    "Key": pair("newer", "1"),
                    "UpdateExpression": "SET n = missing + :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
        ]
    ],
    "unknown table: a cancellation reason, earlier writes undone": [
        [
            put(PAIRS, pk="c", sk="1", status="open", n=1),
            {"Delete": {"TableName": "nope", "Key": {"id": {"S": "x"}}}},
        ]
    ],
    "a failed transaction, then one that succeeds on the same items": [
        [
            {"Delete": {"TableName": PAIRS, "Key": pair("a", "1")}},
            {
                "ConditionCheck": {
                    "TableName": COUNTERS,
                    "Key": {"id": {"S": "x"}},
                    "ConditionExpression": "attribute_not_exists(id)",
                }
            },
        ],
        [
            {"Delete": {"TableName": PAIRS, "Key": pair("a", "1")}},
            put(PAIRS, pk="a", sk="3", status="closed", n=2),
        ],
    ],
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_each_scenario_answers_and_leaves_the_tables_as_stock_moto(name):
    stock, patched = both(SCENARIOS[name])
    assert patched == stock


def test_the_scenarios_cover_what_they_say():
    """Each scenario does what its name says on stock moto (so that the
    comparisons above compare something)."""
    outcomes = {name: [o for o, _ in both(txs)[0]] for name, txs in SCENARIOS.items()}
    assert outcomes["all succeed: put new, update, delete, condition check"] == ["ok"]
    code, _, reasons = outcomes[
        "condition fails last, after writes to new and existing items (ALL_OLD)"
    ][0]
    assert code == "TransactionCanceledException"
    assert [r["Code"] for r in reasons] == ["None"] * 5 + ["ConditionalCheckFailed"]
    assert reasons[-1]["Item"] == {"id": {"S": "x"}, "n": {"N": "5"}}
    assert outcomes["two operations on one item: a validation error after writes"][0][0] == (
        "ValidationException"
    )
    assert outcomes["wrong key type: a validation error after writes"][0][0] == (
        "ValidationException"
    )
    unknown = outcomes["unknown table: a cancellation reason, earlier writes undone"][0]
    assert [r["Code"] for r in unknown[2]] == ["None", "ResourceNotFoundException"]
    failed, succeeded = outcomes["a failed transaction, then one that succeeds on the same items"]
    assert failed[0] == "TransactionCanceledException"
    assert succeeded == "ok"


def test_a_cancelled_transaction_leaves_the_tables_as_they_were():
    with backend(patched=True) as client:
        before = state(client)
        transaction = SCENARIOS[
            "condition fails last, after writes to new and existing items (ALL_OLD)"
        ][0]
        assert attempt(client, transaction)[0] == "TransactionCanceledException"
        assert state(client) == before


# ------------------------------------------------------------ random sequences


def random_transaction(rng: random.Random) -> list[dict[str, Any]]:
    """1-4 operations over a few keys, so that conflicts, duplicates, failed
    conditions and GSI moves all happen."""
    conditions: list[dict[str, Any]] = [
        {},
        {"ConditionExpression": "attribute_exists(n)"},
        {"ConditionExpression": "attribute_not_exists(n)"},
        {
            "ConditionExpression": "n < :limit",
            "ExpressionAttributeValues": {":limit": {"N": "3"}},
        },
    ]
    items = []
    for _ in range(rng.randint(1, 4)):
        if rng.random() < 0.6:
            table, key = PAIRS, pair(rng.choice("abc"), rng.choice("12"))
        else:
            table, key = COUNTERS, {"id": {"S": rng.choice("xyz")}}
        condition = dict(rng.choice(conditions))
        if condition and rng.random() < 0.5:
            condition["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        kind = rng.choice(["Put", "Update", "Delete", "ConditionCheck"])
        if kind == "Put":
            attrs = {**key, "n": {"N": str(rng.randint(0, 5))}}
            if table == PAIRS and rng.random() < 0.8:
                attrs["status"] = {"S": rng.choice(["open", "closed"])}
            op = {"TableName": table, "Item": attrs}
        elif kind == "Update":
            values = {**condition.get("ExpressionAttributeValues", {}), ":one": {"N": "1"}}
            expression = "ADD n :one"
            names = {}
            if table == PAIRS and rng.random() < 0.5:
                expression = "SET #s = :st ADD n :one"
                names = {"#s": "status"}
                values[":st"] = {"S": rng.choice(["open", "closed"])}
            elif rng.random() < 0.2:
                expression = "SET n = n + :one"  # fails where n is missing
            op = {
                "TableName": table,
                "Key": key,
                "UpdateExpression": expression,
                "ExpressionAttributeValues": values,
                **({"ExpressionAttributeNames": names} if names else {}),
            }
        else:
            op = {"TableName": table, "Key": key}
            if kind == "ConditionCheck" and not condition:
                condition = {"ConditionExpression": "attribute_exists(n)"}
        if kind != "Update":
            op.update(condition)
        else:
            op.update({k: v for k, v in condition.items() if k != "ExpressionAttributeValues"})
        items.append({kind: op})
    return items


@pytest.mark.parametrize("seed_value", range(6))
def test_random_transaction_sequences_match_stock_moto_step_by_step(seed_value):
    rng = random.Random(seed_value)
    transactions = [random_transaction(rng) for _ in range(25)]
    stock, patched = both(transactions)
    for step, (got, expected) in enumerate(zip(patched, stock, strict=True)):
        assert got == expected, f"transaction {step}: {transactions[step]}"
    # The sequences exercise what they are for.
    outcomes = [o for o, _ in stock]
    assert "ok" in outcomes
    assert any(o != "ok" and o[0] == "TransactionCanceledException" for o in outcomes)


# ------------------------------------------------------------ the cost


def test_the_patched_transaction_copies_no_table(monkeypatch):
    """Stock moto deep-copies each table a transaction names; the patch copies
    items only, so its cost does not grow with the table."""

    def no_table_copies(self: Table, memo: dict[int, Any]) -> Table:
        raise AssertionError("a whole table was copied")

    transaction = SCENARIOS[
        "condition fails last, after writes to new and existing items (ALL_OLD)"
    ]
    with backend(patched=True) as client:
        monkeypatch.setattr(Table, "__deepcopy__", no_table_copies, raising=False)
        assert attempt(client, transaction[0])[0] == "TransactionCanceledException"
        assert (
            attempt(client, SCENARIOS["all succeed: put new, update, delete, condition check"][0])
            == "ok"
        )
    monkeypatch.undo()
    with backend(patched=False) as client:
        monkeypatch.setattr(Table, "__deepcopy__", no_table_copies, raising=False)
        with pytest.raises(AssertionError, match="whole table"):
            attempt(client, transaction[0])


def test_install_is_scoped_to_the_moto_it_was_checked_against(monkeypatch):
    assert moto_undo.fingerprint() == moto_undo.STOCK_FINGERPRINT, (
        "moto's transact_write_items changed: compare it with moto_undo.transact_write_items, "
        "then update STOCK_FINGERPRINT"
    )
    try:
        assert moto_undo.install() and moto_undo.install()  # idempotent
        assert DynamoDBBackend.transact_write_items is moto_undo.transact_write_items
    finally:
        moto_undo.uninstall()
    assert DynamoDBBackend.transact_write_items is moto_undo.STOCK
    monkeypatch.setattr(moto_undo, "STOCK_FINGERPRINT", "another moto")
    with pytest.warns(UserWarning, match="whole-table copy"):
        assert not moto_undo.install()
    assert DynamoDBBackend.transact_write_items is moto_undo.STOCK


# ------------------------------------------------------------ a wrapper, not a copy


def test_the_transaction_that_runs_is_moto_s_own_method():
    """The patched backend runs moto's `transact_write_items` itself: its
    code object is entered once per transaction, and it is moto's."""
    assert moto_undo.STOCK.__module__ == "moto.dynamodb.models"
    entered: list[Any] = []

    def profile(frame: Any, event: str, _arg: Any) -> None:
        if event == "call" and frame.f_code is moto_undo.STOCK.__code__:
            entered.append(frame.f_code)

    with backend(patched=True) as client:
        assert DynamoDBBackend.transact_write_items is moto_undo.transact_write_items
        sys.setprofile(profile)
        try:
            failed = attempt(
                client,
                SCENARIOS["condition fails first, later writes still attempted then undone"][0],
            )
            succeeded = attempt(
                client, SCENARIOS["all succeed: put new, update, delete, condition check"][0]
            )
        finally:
            sys.setprofile(None)
    assert failed[0] == "TransactionCanceledException"
    assert succeeded == "ok"
    assert len(entered) == 2


def test_no_line_of_moto_s_method_is_in_the_module():
    """moto_undo wraps moto's method; it holds none of its code."""
    ours = {line.strip() for line in inspect.getsource(moto_undo).splitlines()}
    theirs = [
        line.strip()
        for line in inspect.getsource(moto_undo.STOCK).splitlines()
        if len(line.strip()) >= 20  # `raise`, `try:`, `else:`... are nobody's
    ]
    assert len(theirs) > 40  # the comparison compares something
    assert [line for line in theirs if line in ours] == []


def test_the_wrapper_puts_moto_back_as_it_found_it():
    """After a transaction, succeeded or not, the module's `copy` is the
    `copy` module again and the backend has no journaling attributes left,
    and one a caller had set before is kept."""
    with backend(patched=True) as client:
        dynamodb = dynamodb_backends[ACCOUNT][REGION]
        for transaction in (
            SCENARIOS["all succeed: put new, update, delete, condition check"][0],
            SCENARIOS["condition fails first, later writes still attempted then undone"][0],
            SCENARIOS["two operations on one item: a validation error after writes"][0],
        ):
            attempt(client, transaction)
            assert moto_dynamodb_models.copy is copy
            assert not set(moto_undo.JOURNALED) & set(vars(dynamodb))
        calls: list[str] = []
        stock_get_item = dynamodb.get_item

        def own_get_item(*args: Any, **kwargs: Any) -> Any:
            calls.append("own")
            return stock_get_item(*args, **kwargs)

        dynamodb.get_item = own_get_item
        try:
            transaction = SCENARIOS["all succeed: put new, update, delete, condition check"][0]
            assert attempt(client, [transaction[1]]) == "ok"
            assert vars(dynamodb)["get_item"] is own_get_item
            assert calls == ["own"]
        finally:
            del dynamodb.get_item


def test_a_rejected_entry_with_two_operations_writes_nothing():
    """Stock moto raises for an entry with two operations outside its
    rollback, keeping the writes of the entries before it; DynamoDB writes
    nothing for a rejected transaction, and neither does the wrapper."""
    transaction = [
        put(COUNTERS, id="q", n=1),
        {
            **put(COUNTERS, id="r", n=1),
            "Delete": {"TableName": COUNTERS, "Key": {"id": {"S": "x"}}},
        },
    ]
    results = {}
    for patched in (False, True):
        with backend(patched) as client:
            before = state(client)
            outcome = attempt(client, transaction)
            assert outcome[0] == "ValidationException"
            assert "only contain one of" in outcome[1]
            results[patched] = (before, state(client))
    stock_before, stock_after = results[False]
    assert stock_after != stock_before  # stock moto's partial write
    assert json.dumps({"id": {"S": "q"}, "n": {"N": "1"}}, sort_keys=True) in stock_after[COUNTERS]
    patched_before, patched_after = results[True]
    assert patched_after == patched_before


def test_a_cancelled_transaction_leaves_no_hash_buckets_behind():
    """moto's item lookup adds an empty hash bucket for a missing key of a
    hash + range table; after a cancelled transaction, stock moto's tables
    (its copies from before the lookups) have none, and neither do ours."""
    transaction = [
        put(PAIRS, pk="new", sk="1", status="open", n=1),
        {
            "ConditionCheck": {
                "TableName": PAIRS,
                "Key": pair("newer", "1"),
                "ConditionExpression": "attribute_exists(n)",
            }
        },
    ]
    buckets = []
    for patched in (False, True):
        with backend(patched) as client:
            assert attempt(client, transaction)[0] == "TransactionCanceledException"
            items = dynamodb_backends[ACCOUNT][REGION].tables[PAIRS].items
            buckets.append(sorted(key.value for key in items))
    assert buckets[1] == buckets[0] == ["a", "b"]


def test_transactions_from_several_threads_each_commit_or_undo_alone():
    """In-process moto has no `SerializedMoto` in front of it: transactions
    from several threads, some cancelled, and plain writes from another, each
    leave exactly their own effect (a cancelled transaction undoes no other
    thread's write), and moto is put back as it was found."""
    threads, rounds, plain_rounds = 4, 15, 150

    def worker(client: Any, name: str, errors: list[BaseException]) -> None:
        try:
            for i in range(rounds):
                entry = put(PAIRS, pk=name, sk=str(i), status="open", n=i)
                if i % 3 == 0:  # cancelled: the counter exists
                    check = {
                        "ConditionCheck": {
                            "TableName": COUNTERS,
                            "Key": {"id": {"S": "x"}},
                            "ConditionExpression": "attribute_not_exists(id)",
                        }
                    }
                    outcome = attempt(client, [entry, check])
                    assert outcome[0] == "TransactionCanceledException", outcome
                else:
                    assert attempt(client, [entry]) == "ok"
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    def plain_writer(client: Any, errors: list[BaseException]) -> None:
        try:
            for i in range(plain_rounds):
                client.put_item(TableName=PAIRS, Item=pair("plain", str(i)))
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    interval = sys.getswitchinterval()
    with backend(patched=True) as client:
        errors: list[BaseException] = []
        sys.setswitchinterval(1e-6)  # threads interleave inside transactions
        workers = [
            threading.Thread(target=worker, args=(client, f"t{n}", errors)) for n in range(threads)
        ] + [threading.Thread(target=plain_writer, args=(client, errors))]
        for thread in workers:
            thread.start()
        try:
            for thread in workers:
                thread.join()
        finally:
            sys.setswitchinterval(interval)
        assert errors == []
        for n in range(threads):
            found = client.query(
                TableName=PAIRS,
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": f"t{n}"}},
            )["Items"]
            assert sorted(int(i["sk"]["S"]) for i in found) == [i for i in range(rounds) if i % 3]
        plain = client.query(
            TableName=PAIRS,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "plain"}},
        )["Items"]
        assert sorted(int(i["sk"]["S"]) for i in plain) == list(range(plain_rounds))
        assert moto_dynamodb_models.copy is copy
        assert not set(moto_undo.JOURNALED) & set(vars(dynamodb_backends[ACCOUNT][REGION]))
