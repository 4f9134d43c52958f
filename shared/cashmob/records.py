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
most of them at cold start, and a request uses a few. So a record is made
without the decorator: its fields are collected and its slots made here (the
decorator took ~0.1 ms a class for that alone on Python 3.13, reading each
string annotation three times over for ClassVar, InitVar and KW_ONLY; here
~0.03 ms), and no method is compiled:

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
until the first call; keyword-only fields, `InitVar`s and `KW_ONLY` are not
supported (refused at the decorator); a `ClassVar` is a class attribute, as
the stdlib has it, but not in `__dataclass_fields__`. What the stdlib refuses
when a class is made is refused alike: a field without a default after one
with a default, a mutable default, a `field()` without an annotation, a body
with `__slots__` of its own. `fields()` counts a field by the stdlib's own
(private) marker, `dataclasses._FIELD`, which every Python since 3.7 has.
"""

from __future__ import annotations

import abc
import inspect
import reprlib
from collections.abc import Callable
from dataclasses import (
    _FIELD,
    KW_ONLY,
    MISSING,
    Field,
    FrozenInstanceError,
    InitVar,
    dataclass,
    field,
    fields,
)
from operator import attrgetter
from types import MemberDescriptorType
from typing import Any, ClassVar, TypeVar, dataclass_transform, get_origin, overload

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


# `__dataclass_params__`: the decorator's own, for
# `@dataclass(init=False, repr=False, eq=False, slots=...)`.
_PARAMS = {
    slots: dataclass(init=False, repr=False, eq=False, slots=slots)(
        type("_Params", (), {})
    ).__dataclass_params__
    for slots in (True, False)
}
# Annotations that are no field: our records use ClassVar alone (Settings);
# InitVar and KW_ONLY change `__init__`, which a record does not support.
_PSEUDO = ("ClassVar", "typing.ClassVar")
_REFUSED = ("InitVar", "dataclasses.InitVar", "KW_ONLY", "dataclasses.KW_ONLY")


def _annotation_name(annotation: Any) -> str:
    """The name an annotation is written with, for the few that are no field."""
    if isinstance(annotation, str):  # `from __future__ import annotations`
        return annotation.split("[", 1)[0].strip()
    if annotation is ClassVar or get_origin(annotation) is ClassVar:
        return "ClassVar"
    if annotation is InitVar or isinstance(annotation, InitVar):
        return "InitVar"
    return "KW_ONLY" if annotation is KW_ONLY else ""


def _collect_fields(cls: type) -> None:
    """`__dataclass_fields__` as the dataclass decorator makes it (the bases'
    fields first, then the class's own in their order) and its checks: a
    mutable default, a `field()` without an annotation."""
    found: dict[str, Field[Any]] = {}
    for base in cls.__mro__[-1:0:-1]:
        found.update(base.__dict__.get("__dataclass_fields__", {}))
    own = inspect.get_annotations(cls)
    for name, annotation in own.items():
        kind = _annotation_name(annotation)
        if kind in _PSEUDO:
            continue  # a class attribute, as the dataclass leaves it
        if kind in _REFUSED:
            raise TypeError(f"{cls.__name__}.{name}: @record has no {kind.rsplit('.')[-1]}")
        default = getattr(cls, name, MISSING)
        if isinstance(default, Field):
            made = default
        else:
            made = field(default=MISSING if isinstance(default, MemberDescriptorType) else default)
        made.name, made.type, made._field_type = name, annotation, _FIELD  # type: ignore[attr-defined]
        if made.kw_only is MISSING:
            made.kw_only = False
        if made.default.__class__.__hash__ is None:
            raise ValueError(
                f"mutable default {type(made.default)} for field {name} is not allowed:"
                " use default_factory"
            )
        found[name] = made
        if isinstance(default, Field):  # the class attribute becomes the default itself
            if made.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, made.default)
    for name, value in cls.__dict__.items():
        if isinstance(value, Field) and name not in own:
            raise TypeError(f"{name!r} is a field but has no type annotation")
    cls.__dataclass_fields__ = found  # type: ignore[attr-defined]
    if "__match_args__" not in cls.__dict__:
        cls.__match_args__ = tuple(found)  # type: ignore[attr-defined]


def _slotted(cls: type[T]) -> type[T]:
    """The class again, with a slot for each field its bases have no slot for
    (the dataclass decorator's `slots=True`)."""
    if "__slots__" in cls.__dict__:
        raise TypeError(f"{cls.__name__} already specifies __slots__")
    names = tuple(cls.__dataclass_fields__)  # type: ignore[attr-defined]
    inherited: set[str] = set()
    for base in cls.__mro__[1:-1]:
        slots = base.__dict__.get("__slots__", ())
        inherited.update((slots,) if isinstance(slots, str) else slots)
    namespace = dict(cls.__dict__)
    namespace["__slots__"] = tuple(name for name in names if name not in inherited)
    for name in (*names, "__dict__", "__weakref__"):
        namespace.pop(name, None)
    made = type(cls)(cls.__name__, cls.__bases__, namespace)
    made.__qualname__ = cls.__qualname__
    return made


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
    _collect_fields(cls)
    cls.__dataclass_params__ = _PARAMS[slots]  # type: ignore[attr-defined]
    made = _slotted(cls) if slots else cls
    abc.update_abstractmethods(made)
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
