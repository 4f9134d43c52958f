"""Profiling and recording moto's own process (`cashmob_local.moto_profile`),
and replaying a recording (`cashmob_local.bench.moto_replay`): the window
between the two marks is what is profiled, recorded and priced."""

from __future__ import annotations

import json
import pstats
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from cashmob_local import moto_process, moto_profile
from cashmob_local.bench import moto_replay


def client(server: Any) -> Any:
    return boto3.client(
        "dynamodb", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{server.server_port}"
    )


def make_table(dynamodb: Any) -> None:
    dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def wait_for(path: Path, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.skipif(
    sys.version_info < (3, 12),
    reason="before Python 3.12 a cProfile profiler sees only the thread that enabled it, "
    "not moto's request threads (moto_profile's docstring)",
)
def test_the_profile_holds_the_marked_window(tmp_path, monkeypatch):
    out = tmp_path / "moto.prof"
    monkeypatch.setenv(moto_profile.ENV, str(out))
    server = moto_process.start()
    try:
        dynamodb = client(server)
        make_table(dynamodb)  # before the window: not in the profile
        moto_profile.mark(server.process.pid, start=True)
        for i in range(5):
            dynamodb.put_item(TableName="t", Item={"id": {"S": str(i)}})
        moto_profile.mark(server.process.pid, start=False)
        wait_for(out)
    finally:
        server.shutdown()
    functions = {name for _, _, name in pstats.Stats(str(out)).stats}  # type: ignore[attr-defined]
    assert "put_item" in functions
    assert "create_table" not in functions


def test_a_recording_replays_its_window(tmp_path, monkeypatch):
    out = tmp_path / "moto.jsonl"
    monkeypatch.setenv(moto_profile.RECORD_ENV, str(out))
    server = moto_process.start()
    try:
        dynamodb = client(server)
        make_table(dynamodb)
        dynamodb.put_item(TableName="t", Item={"id": {"S": "a"}, "n": {"N": "1"}})
        moto_profile.mark(server.process.pid, start=True)
        time.sleep(0.2)  # the signal's line is written by the child's main thread
        for _ in range(3):
            dynamodb.update_item(
                TableName="t",
                Key={"id": {"S": "a"}},
                UpdateExpression="ADD n :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
        dynamodb.get_item(TableName="t", Key={"id": {"S": "missing"}})
        time.sleep(0.2)
        moto_profile.mark(server.process.pid, start=False)
        time.sleep(0.2)
    finally:
        server.shutdown()
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["mark"] for line in lines if "mark" in line] == ["start", "end"]
    for without in (set(), set(moto_replay.patches())):
        result = moto_replay.replay(str(out), without, profile=None)
        assert result["requests"] == 4
        assert result["statuses"] == {"UpdateItem 200": 3, "GetItem 200": 1}
        assert result["cpu_seconds"] > 0


@pytest.fixture(autouse=True)
def _no_profiling_left(monkeypatch):
    yield
    monkeypatch.delenv(moto_profile.ENV, raising=False)
    monkeypatch.delenv(moto_profile.RECORD_ENV, raising=False)


def test_a_replay_leaves_moto_as_it_found_it(tmp_path):
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import Item

    before = (
        DynamoDBBackend.transact_write_items,
        ConditionExpressionParser.parse,
        Item.__init__,
    )
    recording = tmp_path / "empty.jsonl"
    recording.write_text('{"mark": "start"}\n{"mark": "end"}\n')
    assert moto_replay.replay(str(recording), set(), profile=None)["requests"] == 0
    assert (
        DynamoDBBackend.transact_write_items,
        ConditionExpressionParser.parse,
        Item.__init__,
    ) == before


def test_a_replay_in_a_patched_process_leaves_the_patches_in_place(tmp_path):
    """The stack's tests serve moto in-process and leave its patches on; a
    stock replay after them must not take them away, nor leave them off."""
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import Item

    from cashmob_local import moto_item_size, moto_parse_cache, moto_undo

    recording = tmp_path / "empty.jsonl"
    recording.write_text('{"mark": "start"}\n{"mark": "end"}\n')
    for install, _ in moto_replay.patches().values():
        install()
    try:
        seen_inside = []
        real = moto_replay._replay

        def spy(records, profile):
            seen_inside.append(DynamoDBBackend.transact_write_items)
            return real(records, profile)

        moto_replay._replay = spy
        try:
            moto_replay.replay(str(recording), set(moto_replay.patches()), profile=None)
        finally:
            moto_replay._replay = real
        assert seen_inside == [moto_undo.STOCK]
        assert DynamoDBBackend.transact_write_items is moto_undo.transact_write_items
        assert ConditionExpressionParser.parse is moto_parse_cache.condition_parse
        assert Item.__init__ is moto_item_size.item_init
    finally:
        for _, uninstall in moto_replay.patches().values():
            uninstall()


def test_the_stack_installs_every_patch_the_replay_knows():
    import jsonpath_ng.ext as jsonpath_ext
    from moto.core import responses as core_responses
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import Item

    from cashmob_local import (
        moto_core_speedups,
        moto_item_size,
        moto_parse_cache,
        moto_undo,
        stack,
    )

    server = stack.serve_moto("127.0.0.1", 0)
    try:
        assert DynamoDBBackend.transact_write_items is moto_undo.transact_write_items
        assert jsonpath_ext.parse is moto_parse_cache.jsonpath_parse
        assert ConditionExpressionParser.parse is moto_parse_cache.condition_parse
        assert core_responses.method_names_from_class is moto_core_speedups.method_names_from_class
        assert Item.__init__ is moto_item_size.item_init
    finally:
        server.shutdown()
        for _, uninstall in moto_replay.patches().values():
            uninstall()
