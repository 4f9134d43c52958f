"""What every model of the API shares: the base classes, money, the text
people type, and the error body."""

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt

Currency = Annotated[str, Field(pattern=r"^[a-z]{3}$", examples=["gbp"])]


Amount = Annotated[StrictInt, Field(ge=1, le=99_999_999, description="Integer minor units")]


# Text people type: no control characters (C0, DEL, C1), nor what is not a
# character at all (lone surrogates, U+FFFE/U+FFFF); multi-line fields may
# hold tabs and line breaks. Such input is refused (422), never stored.
_NOT_IN_A_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


_NOT_IN_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _one_line(value: str) -> str:
    if _NOT_IN_A_LINE.search(value):
        raise ValueError("must not contain control characters")
    return value


def _lines(value: str) -> str:
    if _NOT_IN_LINES.search(value):
        raise ValueError("must not contain control characters other than tab and line breaks")
    return value


# Applied after a field's own constraints, so that they stay in the schema.
ONE_LINE = AfterValidator(_one_line)


LINES = AfterValidator(_lines)


ONE_LINE_DOC = "One line: no control characters."


LINES_DOC = "No control characters except tab and line breaks."


Text = Annotated[str, Field(max_length=5000, description=LINES_DOC), LINES]


class Schema(BaseModel):
    """Every model here. Cold start: pydantic builds a model's validator and
    serializer with its first use (a route's first request, or the OpenAPI
    document), not at import, so an instance builds only the models of the
    routes it serves. That first build is not thread-safe in pydantic 2.13
    (pydantic#13419): fine while an instance serves one request at a time, as
    in Lambda and the local gateway (`gateway.invoke_in_process`)."""

    model_config = ConfigDict(defer_build=True)


class Strict(Schema):
    model_config = ConfigDict(extra="forbid")


class MoneyIn(Strict):
    amount: Amount
    currency: Currency


class MoneyOut(Schema):
    amount: int
    currency: str


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


# Why the organizer gives the money back (kept on the campaign or pledge, and
# sent in the Stripe Refund's metadata, whose values hold 500 characters).
RefundReason = Annotated[
    str,
    Field(min_length=1, max_length=500, description=ONE_LINE_DOC + " Not blank."),
    ONE_LINE,
    AfterValidator(_not_blank),
]


class ErrorDetail(Schema):
    code: str
    message: str
    details: list[dict] | None = None


class ErrorBody(Schema):
    error: ErrorDetail
