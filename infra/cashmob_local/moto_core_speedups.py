"""moto's per-request bookkeeping that is a pure function of constant input,
remembered, for the local stack. Nothing here is cashmob-specific.

- `BaseResponse.call_action` finds the method for the request's action by
  listing every function of the response class (`method_names_from_class`:
  `inspect.getmembers`, which sorts and `getattr`s the class's whole
  `dir()`) for every request. A response class's functions are its source's;
  here each class's list is made once.
- The action's name, and SQS's attribute names, go through
  `camelcase_to_underscores`, a character-by-character loop, for every
  request; here each distinct name is converted once.

tests/local/test_moto_core_speedups.py checks both against moto's own.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from moto.core import responses as core_responses
from moto.core import utils as core_utils
from moto.sqs import models as sqs_models

STOCK_METHOD_NAMES = core_utils.method_names_from_class
STOCK_CAMELCASE = core_utils.camelcase_to_underscores
_USERS = (core_responses, sqs_models)  # the modules that look these names up per request


@functools.cache
def _method_names(clazz: type) -> frozenset[str]:
    return frozenset(STOCK_METHOD_NAMES(clazz))


def method_names_from_class(clazz: Any) -> Any:
    """moto's list of a class's function names, made once per class (as a
    frozenset: moto only asks whether an action is in it)."""
    if not isinstance(clazz, type):
        return STOCK_METHOD_NAMES(clazz)
    return _method_names(clazz)


@functools.lru_cache(maxsize=4096)
def _camelcase(argument: str) -> str:
    return STOCK_CAMELCASE(argument)


def camelcase_to_underscores(argument: str) -> str:
    if type(argument) is not str:
        return STOCK_CAMELCASE(argument)
    return _camelcase(argument)


def install() -> bool:
    """Both, for moto's request dispatch and SQS in this process, unless
    CASHMOB_LOCAL_MOTO_CORE_SPEEDUPS=0."""
    if os.environ.get("CASHMOB_LOCAL_MOTO_CORE_SPEEDUPS", "1") == "0":
        return False
    core_responses.method_names_from_class = method_names_from_class  # type: ignore[assignment]
    for module in _USERS:
        module.camelcase_to_underscores = camelcase_to_underscores  # type: ignore[attr-defined]
    return True


def uninstall() -> None:
    core_responses.method_names_from_class = STOCK_METHOD_NAMES
    for module in _USERS:
        module.camelcase_to_underscores = STOCK_CAMELCASE  # type: ignore[attr-defined]
    _method_names.cache_clear()
    _camelcase.cache_clear()
