"""`@record`: a frozen, slotted dataclass that is cheap to create.

`@record` makes what `@dataclass(frozen=True, slots=True)` makes: the same
fields, `__init__`, `__slots__`, `__match_args__`, immutability
(FrozenInstanceError), and what `fields()`, `replace()` and `asdict()` read;
and the same `==` (same class, equal fields), `hash()` (of the fields' tuple)
and `repr()` (`Name(field=value, ...)`).

The difference is only how. The dataclass decorator writes the source of
each class's methods and compiles it while the module is imported: about
0.7 ms a class on Python 3.13, where `__repr__`, `__eq__` and `__hash__` are
more than half. Our value types, messages and events are about fifty
classes, and every function imports them at cold start. Here the dataclass
decorator compiles `__init__` and the frozen `__setattr__`/`__delattr__`
alone, and one function of each of the other three serves every record,
reading the field names its class was made with.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

T = TypeVar("T")

# Class attributes set on each record (never fields: `__slots__` holds those).
_KEY = "__record_key__"  # instance -> the tuple of its compared fields
_SHOWN = "__record_shown__"  # the names repr() shows


def _key_of(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    if len(names) > 1:
        return attrgetter(*names)  # a tuple, in the fields' order
    if names:
        get = attrgetter(names[0])
        return lambda obj: (get(obj),)
    return lambda obj: ()


def _eq(self: Any, other: Any) -> Any:
    if self is other:
        return True
    if other.__class__ is not self.__class__:
        return NotImplemented
    key = getattr(type(self), _KEY)
    return key(self) == key(other)


def _hash(self: Any) -> int:
    return hash(getattr(type(self), _KEY)(self))


@reprlib.recursive_repr()
def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in getattr(type(self), _SHOWN))
    return f"{type(self).__qualname__}({shown})"


@overload
def record(cls: type[T], /) -> type[T]: ...
@overload
def record(*, init: bool = True, slots: bool = True) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(frozen_default=True)
def record(
    cls: type[T] | None = None, /, *, init: bool = True, slots: bool = True
) -> type[T] | Callable[[type[T]], type[T]]:
    """`@dataclass(frozen=True, slots=True)`, without compiling `__eq__`,
    `__hash__` and `__repr__` for the class (see the module's docstring). A
    method the class body defines itself is kept, as the dataclass keeps it.
    `@record(init=False, slots=False)`: those two as the dataclass has them."""
    if cls is None:
        return lambda cls: _record(cls, init=init, slots=slots)
    return _record(cls, init=init, slots=slots)


def _record(cls: type[T], *, init: bool, slots: bool) -> type[T]:
    own = cls.__dict__
    keep_repr, keep_eq = "__repr__" in own, "__eq__" in own
    # As dataclass(eq=True, frozen=True): a __hash__ of the body's own is kept,
    # unless it is the None that Python sets for a body defining __eq__ alone.
    body_hash = own.get("__hash__", MISSING)
    keep_hash = not (body_hash is MISSING or (body_hash is None and keep_eq))
    made = dataclass(frozen=True, slots=slots, init=init, eq=False, repr=False)(cls)
    every = fields(made)  # type: ignore[arg-type]
    setattr(made, _KEY, _key_of(tuple(f.name for f in every if f.compare)))
    setattr(made, _SHOWN, tuple(f.name for f in every if f.repr))
    if not keep_repr:
        made.__repr__ = _repr  # type: ignore[assignment,method-assign]
    if not keep_eq:
        made.__eq__ = _eq  # type: ignore[assignment,method-assign]
    if not keep_hash:
        made.__hash__ = _hash  # type: ignore[assignment,method-assign]
    return made
