"""`@record` behaves as `@dataclass(frozen=True, slots=True)` does, for every
question our code asks of a value type, message or event; only its methods
are shared functions, and its `__init__` compiled at its first call, instead
of code compiled per class while it is made (the cold start's saving)."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from dataclasses import FrozenInstanceError, dataclass, field
from typing import ClassVar

import pytest

from cashmob.domain import events, messages
from cashmob.domain.money import Money
from cashmob.records import record


def _twins():
    """The same classes twice: with @record, and with the stdlib decorator."""
    made = {}
    for name, deco in (("record", record), ("dataclass", dataclass(frozen=True, slots=True))):

        @deco
        class Base:
            campaign_id: str

        @deco
        class Event(Base):
            pledge_id: str
            amount: int = 0
            tags: tuple[str, ...] = field(default_factory=tuple)
            note: str | None = field(default=None, compare=False, repr=False)
            kind: ClassVar[str] = "event"  # no field: a class attribute

        @deco
        class Same(Event):
            pass

        @deco
        class Empty:
            pass

        @deco
        class Loop:
            items: list

        made[name] = (Base, Event, Same, Empty, Loop)
    return made["record"], made["dataclass"]


RECORD, STDLIB = _twins()


def _raises(action) -> str | None:
    try:
        action()
    except Exception as error:  # the type is the fact compared
        return type(error).__name__
    return None


def _facts(classes):
    base, event, same, empty, loop = classes
    a = event("c", "p", 5, ("x",), note="one")
    b = event("c", "p", 5, ("x",), note="two")  # differs only where compare=False
    c = event("c", "p", 6)
    looped = loop([])
    looped.items.append(looped)
    facts = {
        "eq": (a == b, a == c, a != c, a == a, event("c", "p") == same("c", "p")),
        "eq other type": (a == ("c", "p", 5, ("x",)), a.__eq__(object())),
        "hash": (hash(a) == hash(b), hash(a) == hash(("c", "p", 5, ("x",))), hash(empty())),
        "repr": (repr(a), repr(same("c", "p")), repr(empty()), repr(base("c")), repr(looped)),
        "fields": [f.name for f in dataclasses.fields(event)],
        "replace": repr(dataclasses.replace(a, amount=7)),
        "asdict": dataclasses.asdict(a),
        "match_args": event.__match_args__,
        "slots": (event.__slots__, hasattr(a, "__dict__")),
        "frozen": dataclasses.fields(event)[0].name,
        "is_dataclass": dataclasses.is_dataclass(event) and dataclasses.is_dataclass(a),
        "copy": (copy.copy(a) == a, copy.deepcopy(a) == a),
        "in a set": len({a, b, c}),
        "defaults": (event("c", "p").amount, event("c", "p").tags),
        "each field": [
            (f.name, f.type, f.default, f.default_factory, f.init, f.repr, f.compare, f.kw_only)
            for f in dataclasses.fields(event)
        ],
        "class attributes": (event.kind, "amount" in vars(event), "note" in vars(event)),
    }
    # Immutability, as the stdlib's frozen methods have it (the same on both:
    # @record keeps them), and __init__'s arguments.
    facts["refusals"] = (
        _raises(lambda: setattr(a, "amount", 1)),
        _raises(lambda: delattr(a, "amount")),
        _raises(lambda: event("c")),
        _raises(lambda: event("c", "p", 5, (), None, "too many")),
        _raises(lambda: event("c", "p", bogus=1)),
    )
    return facts


def test_a_record_answers_as_a_frozen_slotted_dataclass():
    facts = _facts(RECORD)
    assert facts == _facts(STDLIB)
    assert facts["refusals"][:2] == ("FrozenInstanceError", "FrozenInstanceError")
    # What the module's docstring says differs: the record makes those methods.
    params = RECORD[1].__dataclass_params__
    assert (params.frozen, params.init, params.eq, params.repr) == (False, False, False, False)


def test_a_name_that_is_no_field_is_refused_as_a_field_is():
    """The stdlib's slotted frozen class answers TypeError here, by accident:
    its __setattr__ calls super() with the class it had before the slots were
    made. A record refuses the name as it refuses a field's."""
    record_event, stdlib_event = RECORD[1], STDLIB[1]
    assert _raises(lambda: setattr(record_event("c", "p"), "unknown", 1)) == "FrozenInstanceError"
    assert _raises(lambda: setattr(stdlib_event("c", "p"), "unknown", 1)) is not None


def test_init_is_compiled_at_the_first_call_then_is_the_class_own():
    @record
    class Base:
        a: str

        def __post_init__(self) -> None:
            if not self.a:
                raise ValueError("a is empty")

    @record
    class Child(Base):
        b: list = field(default_factory=list)
        c: int = field(default=3, init=False)

    waiting = vars(Child)["__init__"]
    assert waiting is vars(Base)["__init__"]  # the one shared stand-in
    child = Child("x")  # the subclass first: its own __init__, not its base's
    assert (child.a, child.b, child.c) == ("x", [], 3)
    assert Child("x").b is not child.b  # a fresh list from the factory each time
    compiled = vars(Child)["__init__"]
    assert compiled is not waiting and vars(Base)["__init__"] is waiting
    assert Child("y", [1]).b == [1] and vars(Child)["__init__"] is compiled
    with pytest.raises(ValueError, match="a is empty"):  # __post_init__ runs
        Child("")
    assert Base("z") == Base(a="z") and vars(Base)["__init__"] is not waiting
    assert str(inspect.signature(Child)) == "(a, b=<factory>)"


def test_what_the_dataclass_refuses_when_the_class_is_made_a_record_refuses_too():
    for deco in (record, dataclass(frozen=True, slots=True)):
        with pytest.raises(TypeError, match="non-default argument 'b'"):

            @deco
            class Unordered:
                a: int = 0
                b: int

        with pytest.raises(TypeError, match="__setattr__"):

            @deco
            class Mutable:
                a: int

                def __setattr__(self, name: str, value: object) -> None: ...

        with pytest.raises(ValueError, match="mutable default"):

            @deco
            class MutableDefault:
                a: list = []

        with pytest.raises(TypeError, match="'b' is a field but has no type annotation"):

            @deco
            class Unannotated:
                a: int
                b = field(default=0)

        with pytest.raises(TypeError, match="already specifies __slots__"):

            @deco
            class Slotted:
                __slots__ = ("a",)
                a: int

    with pytest.raises(TypeError, match="keyword-only"):

        @record
        class KeywordOnly:
            a: int = field(kw_only=True)

    with pytest.raises(TypeError, match="no InitVar"):

        @record
        class WithInitVar:
            a: dataclasses.InitVar[int]


def test_a_body_of_its_own_keeps_its_methods():
    @record
    class Named:
        name: str

        def __repr__(self) -> str:
            return f"<{self.name}>"

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Named) and other.name.lower() == self.name.lower()

        def __hash__(self) -> int:
            return hash(self.name.lower())

    @record
    class EqOnly:
        n: int

        def __eq__(self, other: object) -> bool:
            return True

    assert repr(Named("A")) == "<A>"
    assert Named("A") == Named("a") and hash(Named("A")) == hash(Named("a"))
    # As the dataclass does: a body with __eq__ alone gets the fields' hash.
    assert EqOnly(1) == EqOnly(2) and hash(EqOnly(1)) == hash((1,))


def test_the_domain_records_share_their_methods_instead_of_compiling_them():
    """The point of @record: one __eq__, __hash__ and __repr__ for every
    record (the stdlib decorator compiles each class its own)."""
    classes = [*events.EVENT_TYPES.values(), *messages.MESSAGE_TYPES.values(), Money]
    assert len(classes) > 20
    for method in ("__eq__", "__hash__", "__repr__"):
        assert len({getattr(cls, method) for cls in classes}) == 1, method
    for method in ("__setattr__", "__delattr__", "__getstate__", "__setstate__"):
        assert len({getattr(cls, method) for cls in classes}) == 1, method
    for cls in classes:
        assert dataclasses.is_dataclass(cls) and "__slots__" in vars(cls)


def test_domain_values_compare_and_print_as_before():
    one = events.PledgeCollected("cmp_1", "plg_1", 500, "usd", charged=450)
    assert one == events.PledgeCollected("cmp_1", "plg_1", 500, "usd", 450)
    assert one != events.PledgeReleased("cmp_1", "plg_1", 500, "usd")
    assert repr(one) == (
        "PledgeCollected(campaign_id='cmp_1', pledge_id='plg_1', amount=500,"
        " currency='usd', charged=450)"
    )
    assert {Money(1, "usd"), Money(1, "usd"), Money(1, "eur")} == {Money(1, "usd"), Money(1, "eur")}
    assert pickle.loads(pickle.dumps(one)) == one
    with pytest.raises(FrozenInstanceError):
        one.amount = 1  # type: ignore[misc]


def test_settings_keep_their_secrets_out_of_repr_and_compare_as_before():
    from cashmob.config import Settings

    one = Settings(stripe_secret_key="sk_test_hidden", page_size=10)
    assert "sk_test_hidden" not in repr(one) and "page_size=10" in repr(one)
    assert one == Settings(stripe_secret_key="sk_test_hidden", page_size=10)
    assert one != Settings(stripe_secret_key="sk_test_hidden", page_size=11)
    assert hash(one) == hash(Settings(stripe_secret_key="sk_test_hidden", page_size=10))
    assert "__slots__" not in vars(Settings)  # it keeps its __dict__ (config.py reads it)


def test_annotations_evaluated_as_written_are_read_alike():
    """A module without `from __future__ import annotations` gives the
    decorator objects, not strings: ClassVar is still no field, InitVar still refused."""
    source = (
        "import dataclasses\n"
        "from typing import ClassVar\n"
        "from cashmob.records import record\n"
        "@record\n"
        "class Plain:\n"
        "    kind: ClassVar[str] = 'plain'\n"
        "    n: int = 1\n"
    )
    namespace: dict = {}
    exec(source, namespace)
    plain = namespace["Plain"]
    assert [f.name for f in dataclasses.fields(plain)] == ["n"]
    assert (plain.kind, plain(), plain(2).n) == ("plain", plain(1), 2)
    with pytest.raises(TypeError, match="no InitVar"):
        exec(source + "@record\nclass Init:\n    a: dataclasses.InitVar[int]\n", {})
