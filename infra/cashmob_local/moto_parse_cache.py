"""moto's parsers, run once per distinct text instead of once per request, for
the local stack. Nothing here is cashmob-specific.

- `install_events()`: EventBridge delivers an event to a rule's target
  through `EventTemplateParser.parse`, which parses each of the target's
  input paths (without an InputTransformer, the nine of the default
  template: `$.detail`, `$.source`, ...) with `jsonpath_ng.ext.parse`. That
  function builds a new ply lexer and LALR parser (reflection over the
  grammar module, its tables) for every path it parses: about 9 parser
  builds per event put, most of moto's CPU for a `PutEvents`. Here
  `jsonpath_ng.ext.parse` remembers the parsed path per text. A parsed
  jsonpath is not changed by `find` (its nodes are assigned only in their
  constructors), so one parsed path serves every event, on any thread.

- `install_dynamodb()`: every DynamoDB condition (ConditionExpression,
  FilterExpression) is parsed by moto's `ConditionExpressionParser` from
  its text: lexed by trying six regular expressions at each character
  position, then rewritten in seven passes. A conditional write in a
  transaction is parsed three times (the handler's check of the names
  used, the transaction's check, the write's own). The parse is a pure
  function of the expression, its attribute names and the *names* of its
  attribute values: the values only fill the tree's value leaves at the
  end. Here the tree is parsed once per (expression, names, value names),
  with each value leaf standing for its name, and each call builds its
  condition from that tree with its own values, as moto's last step does.
  An expression moto rejects is not remembered: it is parsed again by moto
  and fails as it did.
- Also under `install_dynamodb()`: an UpdateExpression is tokenized and
  parsed by `UpdateExpressionParser.make` twice per update (the handler's
  check of the names used, the update), and the update's validator then
  deep-copies the tree (`copy.deepcopy`, before rewriting the copy in
  place). Here the tree is parsed once per text and handed out as it is:
  moto only reads it (its validator works on its copy). And the
  validator's copy of a remembered tree is a walk that re-creates its nodes
  instead of `copy.deepcopy`: moto's tree nodes hold nothing but their
  type, children and parent, and the leaves are strings (checked when the
  tree is first made; a tree with anything else is not remembered).

tests/local/test_moto_parse_cache.py runs the same seeded operations against
stock moto and against these, and compares the answers byte for byte.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import inspect
import os
import threading
import warnings
from collections.abc import Mapping
from typing import Any, NamedTuple

import jsonpath_ng.ext as jsonpath_ext
from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.dynamodb.parsing import validators as update_validators
from moto.dynamodb.parsing.ast_nodes import Node as UpdateNode
from moto.dynamodb.parsing.expressions import UpdateExpressionParser

STOCK_JSONPATH_PARSE = jsonpath_ext.parse
JSONPATH_CACHE_SIZE = 1024  # distinct paths remembered (a stack has a handful)


@functools.lru_cache(maxsize=JSONPATH_CACHE_SIZE)
def _jsonpath(path: str, debug: bool | None) -> Any:
    return STOCK_JSONPATH_PARSE(path, debug=debug)


def jsonpath_parse(path: str, debug: bool | None = None) -> Any:
    """`jsonpath_ng.ext.parse`, each distinct path parsed once."""
    if type(path) is not str:  # unhashable or unusual: the stock parser decides
        return STOCK_JSONPATH_PARSE(path, debug=debug)
    return _jsonpath(path, debug)


def install_events() -> bool:
    """Parsed-once jsonpaths for moto's EventBridge (which imports
    `jsonpath_ng.ext.parse` at each call, so the module's name is the one to
    replace) and anything else in this process that looks it up the same way."""
    jsonpath_ext.parse = jsonpath_parse  # type: ignore[assignment]
    return True


def uninstall_events() -> None:
    jsonpath_ext.parse = STOCK_JSONPATH_PARSE
    _jsonpath.cache_clear()


# ---------------------------------------------------------------- DynamoDB conditions

STOCK_CONDITION_PARSE = ConditionExpressionParser.parse
# sha256 of moto 5.2.5's `ConditionExpressionParser.parse`, the passes `_tree`
# repeats; another moto keeps its own parser until this is checked again.
CONDITION_PARSE_FINGERPRINT = "5c9b63c5f49ed5d5d644eb0ac7422fb3c2ac4bbd310374f4161686bc4e10c453"
CONDITION_CACHE_SIZE = 4096  # distinct (expression, names, value names)
_EAV = ConditionExpressionParser.Kind.EXPRESSION_ATTRIBUTE_VALUE


class _ValueRef(NamedTuple):
    """A value leaf of a remembered tree: the name of the value it stands for."""

    name: str


class _ValueNames(Mapping[str, Any]):
    """The request's attribute values as the parser's passes see them: the
    same names (a missing one raises KeyError, as the dict does), each value
    replaced by a reference to its name."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = values

    def __getitem__(self, name: str) -> _ValueRef:
        if name not in self._values:
            raise KeyError(name)
        return _ValueRef(name)

    def __iter__(self) -> Any:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


class _Tree(NamedTuple):
    node: Any  # ConditionExpressionParser.Node, value leaves holding _ValueRef
    names_found: tuple[str, ...]
    values_found: tuple[str, ...]


_trees: dict[Any, _Tree] = {}
_trees_lock = threading.Lock()


def _tree(parser: ConditionExpressionParser) -> _Tree:
    """moto's passes of `ConditionExpressionParser.parse`, without its last
    step (making the condition)."""
    nodes = parser._lex_condition_expression()
    nodes = parser._parse_paths(nodes)
    nodes = parser._apply_functions(nodes)
    nodes = parser._apply_comparator(nodes)
    nodes = parser._apply_in(nodes)
    nodes = parser._apply_between(nodes)
    nodes = parser._apply_parens_and_booleans(nodes)
    node = nodes[0]
    parser._assert_no_redundant_parentheses(node)
    return _Tree(
        node, tuple(parser._find_literals(node)), tuple(parser._find_expr_attr_values(node))
    )


def _with_values(node: Any, values: Mapping[str, Any]) -> Any:
    """The remembered tree with this request's values in its value leaves."""
    if node.kind == _EAV and type(node.value) is _ValueRef:
        return node._replace(value=values[node.value.name])
    if not node.children:
        return node
    return node._replace(children=[_with_values(child, values) for child in node.children])


def _key(parser: ConditionExpressionParser) -> Any:
    names, values = parser.expression_attribute_names, parser.expression_attribute_values
    frozen_names = None if names is None else tuple(sorted(names.items()))
    value_names = None if values is None else tuple(sorted(values))
    hash((frozen_names, value_names))  # TypeError: not remembered
    return (parser.condition_expression, frozen_names, value_names)


def condition_parse(self: ConditionExpressionParser) -> Any:
    """`ConditionExpressionParser.parse`, its tree remembered."""
    values = self.expression_attribute_values
    if not self.condition_expression or not isinstance(values, Mapping | None):
        return STOCK_CONDITION_PARSE(self)
    try:
        key = _key(self)
    except (TypeError, AttributeError):  # unhashable names: moto's own way
        return STOCK_CONDITION_PARSE(self)
    tree = _trees.get(key)
    if tree is None:
        probe = ConditionExpressionParser(
            self.condition_expression,
            self.expression_attribute_names,
            None if values is None else _ValueNames(values),
        )
        try:
            tree = _tree(probe)
        except Exception:
            return STOCK_CONDITION_PARSE(self)  # moto raises its own error, as before
        with _trees_lock:
            if len(_trees) >= CONDITION_CACHE_SIZE:
                _trees.clear()
            _trees[key] = tree
    self.expr_attr_names_found.extend(tree.names_found)
    self.expr_attr_values_found.extend(tree.values_found)
    node = tree.node if values is None else _with_values(tree.node, values)
    return self._make_op_condition(node)


# ---------------------------------------------------------------- DynamoDB update expressions

STOCK_UPDATE_MAKE = UpdateExpressionParser.__dict__["make"]  # the classmethod
_NODE_FIELDS = frozenset({"type", "children", "parent"})
_updates: dict[str, Any] = {}  # text -> moto's tree, as moto made it
_remembered: dict[int, Any] = {}  # id -> the same trees


def _plain(node: Any) -> bool:
    """Whether the tree is moto's nodes holding only type, children and
    parent, with leaves of immutable values: what `_copy` copies whole."""
    if not isinstance(node, UpdateNode) or not set(vars(node)) <= _NODE_FIELDS:
        return False
    children = node.children
    if children is None:
        return True
    return type(children) is list and all(
        _plain(child) if isinstance(child, UpdateNode) else type(child) in (str, int)
        for child in children
    )


def _copy(node: Any, parent: Any) -> Any:
    copied = object.__new__(type(node))
    fields = copied.__dict__
    fields.update(node.__dict__)
    fields["parent"] = parent
    children = node.children
    if children is not None:
        fields["children"] = [
            _copy(child, copied) if isinstance(child, UpdateNode) else child for child in children
        ]
    return copied


def update_make(cls: type, expression_str: Any) -> Any:
    """`UpdateExpressionParser.make`, parsed once per text."""
    if cls is not UpdateExpressionParser or type(expression_str) is not str:
        return STOCK_UPDATE_MAKE.__func__(cls, expression_str)
    tree = _updates.get(expression_str)
    if tree is None:
        tree = STOCK_UPDATE_MAKE.__func__(cls, expression_str)  # raises as moto does
        if not _plain(tree):
            return tree  # not something `_copy` copies whole: moto's own, every time
        with _trees_lock:
            if len(_updates) >= CONDITION_CACHE_SIZE:
                _updates.clear()
                _remembered.clear()
            _updates[expression_str] = tree
            _remembered[id(tree)] = tree  # kept alive here, so its id is not reused
    return tree


def validator_deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """`copy.deepcopy` for moto's validators: a remembered update tree is
    copied by `_copy`, anything else by `copy.deepcopy`."""
    if _remembered.get(id(value)) is value:
        return _copy(value, value.parent)
    return copy.deepcopy(value, memo)


def condition_fingerprint() -> str:
    return hashlib.sha256(inspect.getsource(STOCK_CONDITION_PARSE).encode()).hexdigest()


def install_dynamodb() -> bool:
    """Conditions parsed once per expression for every DynamoDB backend in
    this process, when moto's parser is the one this was checked against."""
    if ConditionExpressionParser.parse is condition_parse:
        return True
    if condition_fingerprint() != CONDITION_PARSE_FINGERPRINT:
        warnings.warn(
            "cashmob local: moto's ConditionExpressionParser.parse is not the one "
            "moto_parse_cache was checked against; conditions are parsed per request",
            stacklevel=2,
        )
        return False
    ConditionExpressionParser.parse = condition_parse  # type: ignore[method-assign]
    UpdateExpressionParser.make = classmethod(update_make)  # type: ignore[method-assign,assignment]
    update_validators.deepcopy = validator_deepcopy  # type: ignore[attr-defined]
    return True


def uninstall_dynamodb() -> None:
    ConditionExpressionParser.parse = STOCK_CONDITION_PARSE  # type: ignore[method-assign]
    UpdateExpressionParser.make = STOCK_UPDATE_MAKE  # type: ignore[method-assign]
    update_validators.deepcopy = copy.deepcopy  # type: ignore[attr-defined]
    with _trees_lock:
        _trees.clear()
        _updates.clear()
        _remembered.clear()


def install() -> bool:
    """Both caches, unless CASHMOB_LOCAL_MOTO_PARSE_CACHE=0 (to compare with
    moto's own parsing on the same stack)."""
    if os.environ.get("CASHMOB_LOCAL_MOTO_PARSE_CACHE", "1") == "0":
        return False
    return install_events() & install_dynamodb()
