"""The local stack's remembered dispatch bookkeeping
(`cashmob_local.moto_core_speedups`) changes no answer: the remembered
method names and name conversions are moto's own, and the same seeded SQS
and DynamoDB operations get the same answers with it as without it."""

from __future__ import annotations

import importlib
import random

import pytest
from moto.core import responses as core_responses
from moto.core import utils as core_utils
from moto.sqs import models as sqs_models

from cashmob_local import moto_core_speedups

from . import test_moto_parse_cache, test_moto_sqs_speedups


def response_classes() -> list[type]:
    found = set()
    for service in ("dynamodb", "sqs", "events", "sesv2", "dynamodbstreams", "ses"):
        importlib.import_module(f"moto.{service}.responses")
    stack = [core_responses.BaseResponse]
    while stack:
        cls = stack.pop()
        found.add(cls)
        stack.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: f"{c.__module__}.{c.__qualname__}")


def test_method_names_are_motos():
    classes = response_classes()
    assert len(classes) > 5
    for cls in classes:
        stock = moto_core_speedups.STOCK_METHOD_NAMES(cls)
        assert moto_core_speedups.method_names_from_class(cls) == set(stock)
        assert len(set(stock)) == len(stock)  # nothing lost by making it a set


def test_names_convert_as_moto_converts_them():
    rng = random.Random(4)
    words = ["ReceiveMessage", "TransactWriteItems", "VisibilityTimeout", "FifoQueue", "a", ""]
    letters = "aAbBzZ09 _-"
    words += ["".join(rng.choice(letters) for _ in range(rng.randint(1, 12))) for _ in range(500)]
    for word in words * 2:
        assert moto_core_speedups.camelcase_to_underscores(word) == (
            moto_core_speedups.STOCK_CAMELCASE(word)
        )


def test_sqs_answers_are_stock_motos(monkeypatch):
    moto_core_speedups.uninstall()  # stock, even after a stack in this process
    stock = test_moto_sqs_speedups.answers(monkeypatch, patched=False, seed=5, steps=300)
    assert moto_core_speedups.install()
    try:
        assert core_responses.method_names_from_class is not core_utils.method_names_from_class
        assert sqs_models.camelcase_to_underscores is moto_core_speedups.camelcase_to_underscores
        patched = test_moto_sqs_speedups.answers(monkeypatch, patched=False, seed=5, steps=300)
    finally:
        moto_core_speedups.uninstall()
    assert patched == stock


def test_dynamodb_answers_are_stock_motos():
    moto_core_speedups.uninstall()
    stock = test_moto_parse_cache.dynamodb_answers(patched=False, seed=6, steps=300)
    assert moto_core_speedups.install()
    try:
        patched = test_moto_parse_cache.dynamodb_answers(patched=False, seed=6, steps=300)
    finally:
        moto_core_speedups.uninstall()
    assert patched == stock


def test_uninstall_gives_moto_back():
    assert moto_core_speedups.install()
    moto_core_speedups.uninstall()
    assert core_responses.method_names_from_class is core_utils.method_names_from_class
    assert core_responses.camelcase_to_underscores is core_utils.camelcase_to_underscores
    assert sqs_models.camelcase_to_underscores is core_utils.camelcase_to_underscores


@pytest.fixture(autouse=True)
def _stock_afterwards():
    yield
    moto_core_speedups.uninstall()
