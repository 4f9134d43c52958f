"""Request parameters decoded and checked as Stripe checks them, against each
route's schema (`schema`: stripe-python's own generated types).

Refusals, each a 400 `invalid_request_error` with Stripe's code and message,
made before the request executes (so never stored under its Idempotency-Key):

- unknown parameter: `parameter_unknown`, "Received unknown parameter: a[b][c]";
- missing required one: `parameter_missing`, "Missing required param: a[b].";
- not an integer where one is expected: `parameter_invalid_integer`, "Invalid integer: x";
- a boolean other than true/false: "Invalid boolean: x";
- an enum value outside its Literal: "Invalid a[b]: must be one of x, y, or z";
- an empty string where the parameter cannot be unset: `parameter_invalid_empty`;
- an object or array of the wrong shape: "Invalid object" / "Invalid array";
- `payment_method_types` on the endpoints 2026-09-30.endive took it from
  (PaymentIntent create/update/confirm, SetupIntent create/update):
  `payment_method_types_no_longer_supported`;
- `allowed_payment_method_types` with `automatic_payment_methods`,
  `excluded_payment_method_types` or `payment_method_configuration`:
  `parameters_exclusive`.

`flag` and `positive_int` read a checked parameter the way the rules need it.
"""

from __future__ import annotations

import re
from typing import Any

import stripe

from .errors import StripeFailure, invalid
from .schema import AnyOf, Enum, ListOf, MapOf, Node, Obj, Scalar, schema

# ---------------------------------------------------------------- form decoding

# ---------------------------------------------------------------- form decoding


def decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`a[b][0]=x` pairs (how stripe-python encodes params) into nested values."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+|\[\]", key) or [key]
        node = root
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise _refuse("Invalid object", param=_path(parts[: depth + 1]))
            node = child
        if isinstance(node.get(parts[-1]), dict):
            raise _refuse("Invalid object", param=_path(parts))
        node[parts[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    node = {k: _lists(v) for k, v in node.items()}
    if node and all(k.isdigit() for k in node):
        return [node[k] for k in sorted(node, key=int)]
    return node


def _path(parts: list[str]) -> str:
    return parts[0] + "".join(f"[{p}]" for p in parts[1:])


# Stripe's changelog, 2026-09-30.endive: `payment_method_types` is no longer
# writable on these calls, answered with its own code rather than as unknown.
PAYMENT_METHOD_TYPES_REMOVED_FROM = frozenset(
    {
        "create_payment_intent",
        "update_payment_intent",
        "confirm_payment_intent",
        "create_setup_intent",
        "update_setup_intent",
    }
)
# Fields Stripe lets an empty string unset although the generated types say
# plain `str`: a Customer's email (changelog 2013-08-12, "the email property
# on Customer ... set to null by providing empty string values"; Stripe on
# stripe-node#1834, 2023: "pass the empty string '' in order to trigger the
# emptying of the email ... waiting on ... the definitions upstream").
EMPTYABLE_DESPITE_TYPES: dict[str, tuple[str, ...]] = {"update_customer": ("email",)}
# allowed_payment_method_types excludes each of these (changelog 2026-07-29.dahlia).
EXCLUSIVE_WITH_ALLOWED = (
    "automatic_payment_methods",
    "excluded_payment_method_types",
    "payment_method_configuration",
)


# ---------------------------------------------------------------- checking


def _refuse(message: str, *, param: str, code: str | None = None) -> StripeFailure:
    return invalid(message, code=code, param=param, store=False)


def _empty(param: str) -> StripeFailure:
    return _refuse(
        f"You passed an empty string for '{param}'. We assume empty values are an attempt "
        f"to unset a parameter; however '{param}' cannot be unset. You should remove "
        f"'{param}' from your request or supply a non-empty value.",
        code="parameter_invalid_empty",
        param=param,
    )


def _one_of(values: tuple[str, ...]) -> str:
    if len(values) <= 2:
        return " or ".join(values)
    return f"{', '.join(values[:-1])}, or {values[-1]}"


def _shape(value: Any) -> str:
    return "object" if isinstance(value, dict) else "array" if isinstance(value, list) else "scalar"


def _accepts(node: Node) -> set[str]:
    if isinstance(node, Obj):
        return {"object"}
    if isinstance(node, MapOf):
        return {"object", "array"}  # a map whose keys are all digits decodes as a list
    if isinstance(node, ListOf):
        return {"array"}
    if isinstance(node, AnyOf):
        return set().union(*(_accepts(o) for o in node.options)) if node.options else set()
    if isinstance(node, Scalar) and node.kind == "any":
        return {"object", "array", "scalar"}
    return {"scalar"}


def _mismatch(node: Node, value: Any, path: str) -> StripeFailure:
    if isinstance(node, Obj | MapOf):
        return _refuse("Invalid object", param=path)
    if isinstance(node, ListOf):
        return _refuse("Invalid array", param=path)
    if isinstance(node, Scalar) and node.kind == "int":
        return _refuse(f"Invalid integer: {value}", code="parameter_invalid_integer", param=path)
    if isinstance(node, Scalar) and node.kind == "bool":
        return _refuse(f"Invalid boolean: {value}", param=path)
    return _refuse(f"Invalid string: {value}", param=path)


def check_value(node: Node, value: Any, path: str) -> Any:
    """The value if it fits the node (maps decoded as lists become maps again);
    otherwise the refusal Stripe would answer, for the parameter at `path`."""
    if isinstance(node, AnyOf):
        if value == "":
            if node.empty:
                return value
            raise _empty(path)
        shape = _shape(value)
        candidates = [o for o in node.options if shape in _accepts(o)]
        if not candidates:
            raise _mismatch(node.options[0], value, path) if node.options else _empty(path)
        failures: list[StripeFailure] = []
        for option in candidates:
            try:
                return check_value(option, value, path)
            except StripeFailure as failure:
                failures.append(failure)
        raise failures[0]
    if value == "" and not (isinstance(node, Scalar) and node.kind == "any"):
        raise _empty(path)
    if isinstance(node, Obj):
        if not isinstance(value, dict):
            raise _mismatch(node, value, path)
        return check_object(node, value, path)
    if isinstance(node, MapOf):
        if isinstance(value, list):
            value = {str(i): v for i, v in enumerate(value)}
        if not isinstance(value, dict):
            raise _mismatch(node, value, path)
        out = {}
        for key, item in value.items():
            # A map value of "" unsets that key (metadata[key]=).
            out[key] = item if item == "" else check_value(node.value, item, f"{path}[{key}]")
        return out
    if isinstance(node, ListOf):
        if not isinstance(value, list):
            raise _mismatch(node, value, path)
        return [check_value(node.item, item, f"{path}[{i}]") for i, item in enumerate(value)]
    if not isinstance(value, str):
        if isinstance(node, Scalar) and node.kind == "any":
            return value
        raise _mismatch(node, value, path)
    if isinstance(node, Enum):
        if value not in node.values:
            raise _refuse(f"Invalid {path}: must be one of {_one_of(node.values)}", param=path)
        return value
    if node.kind == "int" and not re.fullmatch(r"-?\d+", value):
        raise _mismatch(node, value, path)
    if node.kind == "bool" and value not in ("true", "false"):
        raise _mismatch(node, value, path)
    if node.kind == "float":
        try:
            float(value)
        except ValueError:
            raise _refuse(f"Invalid decimal: {value}", param=path) from None
    return value


def check_object(node: Obj, value: dict[str, Any], path: str = "") -> dict[str, Any]:
    def at(name: str) -> str:
        return f"{path}[{name}]" if path else name

    for name in value:
        if name not in node.fields:
            raise _refuse(
                f"Received unknown parameter: {at(name)}", code="parameter_unknown", param=at(name)
            )
    for name, (_, required) in node.fields.items():
        if required and name not in value:
            raise _refuse(
                f"Missing required param: {at(name)}.", code="parameter_missing", param=at(name)
            )
    return {name: check_value(node.fields[name][0], item, at(name)) for name, item in value.items()}


def check(route: str, params: dict[str, Any]) -> dict[str, Any]:
    """The request's parameters, checked against the route's stripe.params type.
    Raises the StripeFailure (400, not stored) Stripe would answer."""
    shape = schema(route)
    if (
        "payment_method_types" in params
        and route in PAYMENT_METHOD_TYPES_REMOVED_FROM
        and "payment_method_types" not in shape.fields
    ):
        raise _refuse(
            f"The `payment_method_types` parameter is no longer supported on API version "
            f"{stripe.api_version}. Use `allowed_payment_method_types` to limit the payment "
            "method types, or dynamic payment methods (leave it out) to manage them from the "
            "Dashboard.",
            code="payment_method_types_no_longer_supported",
            param="payment_method_types",
        )
    unset = {name: "" for name in EMPTYABLE_DESPITE_TYPES.get(route, ()) if params.get(name) == ""}
    checked = {**check_object(shape, {k: v for k, v in params.items() if k not in unset}), **unset}
    if "allowed_payment_method_types" in checked:
        for other in EXCLUSIVE_WITH_ALLOWED:
            if other in checked:
                raise _refuse(
                    "You may only specify one of these parameters: "
                    f"allowed_payment_method_types, {other}.",
                    code="parameters_exclusive",
                    param=other,
                )
    return checked


# ---------------------------------------------------------------- reading checked values


def flag(params: dict[str, Any], name: str) -> bool:
    return str(params.get(name, "false")).lower() == "true"


def positive_int(params: dict[str, Any], name: str, *, required: bool = True) -> int | None:
    """An integer parameter of at least 1 (an amount, a limit); None when absent
    and not required."""
    value = params.get(name)
    if value is None:
        if required:
            raise invalid(
                f"Missing required param: {name}.",
                code="parameter_missing",
                param=name,
                store=False,
            )
        return None
    try:
        amount = int(value)
    except (TypeError, ValueError):
        raise invalid(
            f"Invalid integer: {value}", code="parameter_invalid_integer", param=name, store=False
        ) from None
    if amount < 1:
        raise invalid(
            "This value must be greater than or equal to 1.",
            code="parameter_invalid_integer",
            param=name,
            store=False,
        )
    return amount
