"""The shape of side effects in the use cases: every store write passes
through `published` (so the events its transition recorded are published
after it, once), and nothing publishes or queues by hand-built dicts."""

from __future__ import annotations

import ast
from pathlib import Path

import cashmob.service

SERVICE = Path(cashmob.service.__file__).parent
WRITES = {"save_pledge", "save_campaign", "create_pledge", "create_campaign"}


def _calls(tree: ast.AST):
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            yield node, parents.get(node)


def _sources():
    for path in sorted(SERVICE.rglob("*.py")):
        yield path.relative_to(SERVICE), ast.parse(path.read_text())


def test_every_store_write_of_a_use_case_is_published():
    writes = 0
    for name, tree in _sources():
        for call, parent in _calls(tree):
            if call.func.attr not in WRITES:
                continue
            writes += 1
            wrapped = (
                isinstance(parent, ast.Call)
                and isinstance(parent.func, ast.Name)
                and parent.func.id == "published"
                and call in parent.args
            )
            assert wrapped, f"{name}:{call.lineno} writes without publishing its events"
    assert writes > 20


def test_events_are_published_in_one_place_and_messages_are_typed():
    for name, tree in _sources():
        for call, _ in _calls(tree):
            if call.func.attr in ("publish", "publish_all"):
                assert str(name) == "publishing.py", f"{name}:{call.lineno} publishes by hand"
            if call.func.attr in ("send", "send_many"):
                args = call.args[0] if call.args else None
                assert not isinstance(args, ast.Dict), f"{name}:{call.lineno} sends a dict"
