"""moto in a process of its own (`cashmob_local.moto_process`): it serves
AWS calls with the local stack's moto (item-level transaction undo), and it
ends with its parent."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from cashmob_local import moto_process


@pytest.fixture
def moto():
    server = moto_process.start()
    yield server
    server.shutdown()


def test_it_serves_dynamodb_transactions_and_their_cancellations(moto):
    client = boto3.client(
        "dynamodb", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{moto.server_port}"
    )
    client.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.put_item(TableName="t", Item={"id": {"S": "a"}, "n": {"N": "1"}})
    with pytest.raises(ClientError) as cancelled:
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "t", "Item": {"id": {"S": "b"}}}},
                {
                    "ConditionCheck": {
                        "TableName": "t",
                        "Key": {"id": {"S": "a"}},
                        "ConditionExpression": "attribute_not_exists(id)",
                    }
                },
            ]
        )
    reasons = cancelled.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None", "ConditionalCheckFailed"]
    assert [i["id"]["S"] for i in client.scan(TableName="t")["Items"]] == ["a"]


def test_it_ends_when_its_parent_lets_go(moto):
    moto.process.stdin.close()  # what the parent's death does to the pipe
    assert moto.process.wait(timeout=10) == 0
    moto.shutdown()  # and shutting down an ended one is harmless
