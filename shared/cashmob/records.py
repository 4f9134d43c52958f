"""`@record`: a frozen, slotted dataclass that is cheap to create.

`@record` makes what `@dataclass(frozen=True, slots=True)` makes: the same
fields, `__init__`, `__slots__`, `__match_args__`, immutability
(FrozenInstanceError), and what `fields()`, `replace()`, `asdict()`, `copy`
and `pickle` read; and the same `==` (same class, equal fields), `hash()`
(of the fields' tuple) and `repr()` (`Name(field=value, ...)`).

The difference is only how. The dataclass decorator writes the source of
each class's methods and compiles it while the module is imported: about
0.4-0.7 ms a class on Python 3.13, nearly all of it compiling. Our value
types, messages and events are about sixty classes, every function imports
most of them at cold start, and a request uses a few. So here the dataclass
decorator only collects the fields and makes the slots (no method compiled):

- `__eq__`, `__hash__`, `__repr__`, the frozen `__setattr__`/`__delattr__`
  and pickling's `__getstate__`/`__setstate__` are one function each, shared
  by every record, reading the field names its class was made with;
- `__init__` is compiled the first time the class is called (the same source
  as the dataclass's: positional-or-keyword parameters, defaults, default
  factories, `__post_init__`), and from then on is the class's own.

What differs from the stdlib, none of which our code asks: the class's
`__dataclass_params__` says `frozen=False, init=False` (the record makes
those methods, not the dataclass machinery); its docstring, when the body has
none, is `Name(field, ...)`; `inspect.signature()` sees `(*args, **kwargs)`
until the first call; keyword-only fields and `InitVar`s are not supported
(the first is refused at the decorator). A field without a default after
one with a default is refused at the decorator, as the stdlib does.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable
from dataclasses import MISSING, FrozenInstanceError, dataclass, fields
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


class _Factory:
    """The default a parameter with a default factory shows (as the stdlib's)."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


# The frozen dataclass's own, less the check for a subclass that is not a
# dataclass (a record's subclasses are records, which are frozen alike).
def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


# Pickling and copying a slotted instance set its slots through these, not
# the frozen __setattr__ (as the dataclass's own do).
def _getstate(self: Any) -> list[Any]:
    return [getattr(self, f.name) for f in fields(self)]


def _setstate(self: Any, state: list[Any]) -> None:
    for f, value in zip(fields(self), state, strict=True):
        object.__setattr__(self, f.name, value)


_STATE = {"__getstate__": _getstate, "__setstate__": _setstate}


def _init_on_first_call(self: Any, *args: Any, **kwargs: Any) -> None:
    """Every record's `__init__` until its first call, which compiles the
    class's own, puts it in the class's place of this one, and runs it."""
    owner = next(c for c in type(self).__mro__ if vars(c).get("__init__") is _init_on_first_call)
    init = _compile_init(owner)
    type.__setattr__(owner, "__init__", init)
    init(self, *args, **kwargs)


def _compile_init(cls: type) -> Callable[..., None]:
    """The `__init__` the dataclass decorator writes for a frozen class."""
    names: dict[str, Any] = {"__set": object.__setattr__, "__FACTORY": _FACTORY}
    params: list[str] = []
    body: list[str] = []
    for f in fields(cls):
        default, factory = f"__default_{f.name}", f"__factory_{f.name}"
        names[default], names[factory] = f.default, f.default_factory
        if f.init:
            if f.default is not MISSING:
                params.append(f"{f.name}={default}")
            elif f.default_factory is not MISSING:
                params.append(f"{f.name}=__FACTORY")
            else:
                params.append(f.name)
            value = f.name
            if f.default_factory is not MISSING:
                value = f"{factory}() if {f.name} is __FACTORY else {f.name}"
        elif f.default is not MISSING:
            value = default
        elif f.default_factory is not MISSING:
            value = f"{factory}()"
        else:
            continue
        body.append(f"    __set(__record_self__, {f.name!r}, {value})")
    if hasattr(cls, "__post_init__"):
        body.append("    __record_self__.__post_init__()")
    source = "def __init__({}):\n{}".format(
        ", ".join(["__record_self__", *params]), "\n".join(body) or "    pass"
    )
    exec(source, names)  # noqa: S102 - source made from the fields' names above
    init: Callable[..., None] = names["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    return init


def _check_init_fields(made: type) -> None:
    """What the dataclass decorator refuses when it writes `__init__`."""
    after: str | None = None
    for f in fields(made):
        if f.kw_only:
            raise TypeError(f"{made.__name__}.{f.name}: @record has no keyword-only fields")
        if not f.init:
            continue
        if f.default is MISSING and f.default_factory is MISSING:
            if after is not None:
                raise TypeError(
                    f"non-default argument {f.name!r} follows default argument {after!r}"
                )
        else:
            after = f.name


@overload
def record(cls: type[T], /) -> type[T]: ...
@overload
def record(*, init: bool = True, slots: bool = True) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(frozen_default=True)
def record(
    cls: type[T] | None = None, /, *, init: bool = True, slots: bool = True
) -> type[T] | Callable[[type[T]], type[T]]:
    """`@dataclass(frozen=True, slots=True)`, without compiling a method for
    the class while it is made (see the module's docstring). A method the
    class body defines itself is kept, as the dataclass keeps it.
    `@record(init=False, slots=False)`: those two as the dataclass has them."""
    if cls is None:
        return lambda cls: _record(cls, init=init, slots=slots)
    return _record(cls, init=init, slots=slots)


def _record(cls: type[T], *, init: bool, slots: bool) -> type[T]:
    own = dict(cls.__dict__)
    for name in ("__setattr__", "__delattr__"):
        if name in own:  # as the frozen dataclass refuses it
            raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")
    keep_repr, keep_eq = "__repr__" in own, "__eq__" in own
    # As dataclass(eq=True, frozen=True): a __hash__ of the body's own is kept,
    # unless it is the None that Python sets for a body defining __eq__ alone.
    body_hash = own.get("__hash__", MISSING)
    keep_hash = not (body_hash is MISSING or (body_hash is None and keep_eq))
    # The decorator writes a class without a docstring one from
    # inspect.signature(); ours is written below, from the fields.
    undocumented = not own.get("__doc__")
    if undocumented:
        cls.__doc__ = cls.__name__
    made = dataclass(slots=slots, init=False, eq=False, repr=False)(cls)
    if init:
        _check_init_fields(made)
    every = fields(made)  # type: ignore[arg-type]
    if undocumented:
        made.__doc__ = f"{made.__name__}({', '.join(f.name for f in every)})"
    setattr(made, _KEY, _key_of(tuple(f.name for f in every if f.compare)))
    setattr(made, _SHOWN, tuple(f.name for f in every if f.repr))
    shared: dict[str, Any] = {"__setattr__": _frozen_setattr, "__delattr__": _frozen_delattr}
    if init and "__init__" not in own:
        shared["__init__"] = _init_on_first_call
    if slots:
        shared.update(
            {name: method for name, method in _STATE.items() if name not in own},
        )
    if not keep_repr:
        shared["__repr__"] = _repr
    if not keep_eq:
        shared["__eq__"] = _eq
    if not keep_hash:
        shared["__hash__"] = _hash
    for name, method in shared.items():
        setattr(made, name, method)
    return made
