"""Each route's parameter schema, read from stripe-python's own types.

Each route the emulator serves is tied to the stripe-python service method
that calls it (`PaymentIntentService.create`, ...); the `params` annotation of
that method names the generated TypedDict (`stripe.params.PaymentIntentCreateParams`),
generated from Stripe's OpenAPI spec for the API version stripe-python pins.
That TypedDict, walked recursively (NotRequired/Required, Literal, Union,
List, Dict, nested TypedDicts; a `Literal['']` member means "may be unset
with an empty string", a `str` member accepts any string), is the schema a
request is checked against (`params.check`). Nothing here lists parameters
by hand.

Request options of stripe-python (`api_key`, `idempotency_key`, ...; the keys
of `stripe.RequestOptions`, which every params TypedDict inherits) travel as
headers, not parameters: they are not part of the schema.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections import abc
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import stripe
import stripe.params
from typing_extensions import is_typeddict

# ---------------------------------------------------------------- routes -> SDK types

# The emulator's route names and the stripe-python call that requests each.
SDK_METHODS: dict[str, tuple[type, str]] = {
    "create_customer": (stripe.CustomerService, "create"),
    "get_customer": (stripe.CustomerService, "retrieve"),
    "update_customer": (stripe.CustomerService, "update"),
    "create_setup_intent": (stripe.SetupIntentService, "create"),
    "get_setup_intent": (stripe.SetupIntentService, "retrieve"),
    "confirm_setup_intent": (stripe.SetupIntentService, "confirm"),
    "cancel_setup_intent": (stripe.SetupIntentService, "cancel"),
    "create_payment_intent": (stripe.PaymentIntentService, "create"),
    "list_payment_intents": (stripe.PaymentIntentService, "list"),
    "get_payment_intent": (stripe.PaymentIntentService, "retrieve"),
    "update_payment_intent": (stripe.PaymentIntentService, "update"),
    "confirm_payment_intent": (stripe.PaymentIntentService, "confirm"),
    "capture_payment_intent": (stripe.PaymentIntentService, "capture"),
    "cancel_payment_intent": (stripe.PaymentIntentService, "cancel"),
    "create_refund": (stripe.RefundService, "create"),
    "get_refund": (stripe.RefundService, "retrieve"),
    "list_refunds": (stripe.RefundService, "list"),
    "get_charge": (stripe.ChargeService, "retrieve"),
    "get_event": (stripe.EventService, "retrieve"),
    "create_account": (stripe.AccountService, "create"),
    "get_account": (stripe.AccountService, "retrieve"),
    "create_account_link": (stripe.AccountLinkService, "create"),
    "create_transfer": (stripe.TransferService, "create"),
    "list_transfers": (stripe.TransferService, "list"),
    "get_transfer": (stripe.TransferService, "retrieve"),
    "create_transfer_reversal": (stripe.TransferReversalService, "create"),
    "list_events": (stripe.EventService, "list"),
}


def params_type(route: str) -> type:
    """The stripe.params TypedDict of a route, read from the SDK method's signature."""
    service, method = SDK_METHODS[route]
    annotation = inspect.signature(getattr(service, method)).parameters["params"].annotation
    found = re.search(r"\b(\w+Params)\b", str(annotation))
    if found is None:
        raise LookupError(f"{service.__name__}.{method} has no params TypedDict")
    return getattr(stripe.params, found.group(1))


# ---------------------------------------------------------------- schema


@dataclass(frozen=True)
class Scalar:
    kind: str  # "str" | "int" | "bool" | "float" | "any"


@dataclass(frozen=True)
class Enum:
    values: tuple[str, ...]


@dataclass(frozen=True)
class ListOf:
    item: Node


@dataclass(frozen=True)
class MapOf:
    value: Node


@dataclass(eq=False)
class Obj:
    name: str
    fields: dict[str, tuple[Node, bool]] = field(default_factory=dict)  # name -> (node, required)


@dataclass(frozen=True)
class AnyOf:
    options: tuple[Node, ...]
    empty: bool  # Literal[''] among the options: "" unsets the parameter


Node = Scalar | Enum | ListOf | MapOf | Obj | AnyOf

_OPTIONS = frozenset(stripe.RequestOptions.__annotations__)
_SCALARS = {str: "str", int: "int", bool: "bool", float: "float"}


def _hints(cls: type) -> dict[str, Any]:
    # Every params class inherits RequestOptions, whose annotations name types
    # its module imports only for type checkers: supply those, by their public
    # names, beside the globals of the class's own module.
    extra = {"StripeContext": stripe.StripeContext, "Mapping": abc.Mapping}
    return typing.get_type_hints(cls, localns=extra, include_extras=True)


def _literal(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def compile_type(annotation: Any, memo: dict[type, Obj] | None = None) -> Node:
    """A stripe.params annotation as a schema node."""
    memo = {} if memo is None else memo
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.NotRequired, typing.Required):
        return compile_type(args[0], memo)
    if origin is typing.Literal:
        values = tuple(_literal(a) for a in args)
        if "" in values:
            rest = tuple(v for v in values if v != "")
            return AnyOf((Enum(rest),) if rest else (), empty=True)
        return Enum(values)
    if origin in (typing.Union, types.UnionType):
        options: list[Node] = []
        empty = False
        for arg in args:
            if arg is type(None):
                continue
            node = compile_type(arg, memo)
            if isinstance(node, AnyOf):
                empty = empty or node.empty
                options.extend(node.options)
            else:
                options.append(node)
        return AnyOf(tuple(options), empty=empty)
    if origin in (list, tuple, abc.Sequence):
        return ListOf(compile_type(args[0], memo) if args else Scalar("any"))
    if origin in (dict, abc.Mapping) or (
        # stripe-python's UntypedStripeObject[...] (metadata and the like)
        isinstance(origin, type) and issubclass(origin, stripe.StripeObject)
    ):
        return MapOf(compile_type(args[-1], memo) if args else Scalar("any"))
    if is_typeddict(annotation):
        return compile_object(annotation, memo)
    if annotation in _SCALARS:
        return Scalar(_SCALARS[annotation])
    return Scalar("any")


def compile_object(cls: type, memo: dict[type, Obj] | None = None) -> Obj:
    memo = {} if memo is None else memo
    if cls in memo:
        return memo[cls]
    obj = memo[cls] = Obj(cls.__name__)
    total = getattr(cls, "__total__", True)
    for name, annotation in _hints(cls).items():
        if name in _OPTIONS:
            continue
        origin = typing.get_origin(annotation)
        required = (
            True
            if origin is typing.Required
            else False
            if origin is typing.NotRequired
            else bool(total)
        )
        obj.fields[name] = (compile_type(annotation, memo), required)
    return obj


@cache
def schema(route: str) -> Obj:
    """The checked shape of a route's parameters (built once per route)."""
    return compile_object(params_type(route))
