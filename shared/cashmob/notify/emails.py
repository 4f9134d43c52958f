"""The emails backers receive, rendered from the templates in `templates/`
(one directory per language, one TOML file per kind: `subject`, `text`,
`html`, with `string.Template` placeholders). No sentence is written here."""

from __future__ import annotations

import html
import re
import string
import tomllib
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from ..records import record

TEMPLATES = Path(__file__).with_name("templates")
DEFAULT_LANGUAGE = "en"


class Kind(StrEnum):
    RECEIPT = "receipt"  # the pledge became active
    FINISH_PAYMENT = "finish_payment"  # the charge needs the backer
    REMINDER = "reminder"  # ... and still does
    COLLECTED = "collected"
    RELEASED = "released"
    FAILED = "failed"
    REFUNDED = "refunded"


@record
class Email:
    to: str
    subject: str
    text: str
    html: str
    kind: Kind


@cache
def _template(language: str, name: str) -> dict[str, Any]:
    path = TEMPLATES / language / f"{name}.toml"
    if not path.is_file():
        path = TEMPLATES / DEFAULT_LANGUAGE / f"{name}.toml"
    return tomllib.loads(path.read_text(encoding="utf-8"))


def common(language: str = DEFAULT_LANGUAGE) -> dict[str, Any]:
    """What every email of `language` shares (the nameless greeting, the date format)."""
    return _template(language, "common")


def template(kind: Kind, language: str = DEFAULT_LANGUAGE) -> dict[str, Any]:
    return _template(language, kind.value)


def render(
    kind: Kind, to: str, values: dict[str, str], *, language: str = DEFAULT_LANGUAGE
) -> Email:
    """The email of `kind` with `values` in its placeholders (escaped in the
    HTML body); a placeholder without a value is an error, not a blank."""
    t = template(kind, language)
    escaped = {key: html.escape(value) for key, value in values.items()}
    return Email(
        to=to,
        subject=string.Template(t["subject"]).substitute(values),
        text=string.Template(t["text"]).substitute(values).strip() + "\n",
        html=string.Template(t["html"]).substitute(escaped).strip() + "\n",
        kind=kind,
    )


def kind_of_subject(subject: str, language: str = DEFAULT_LANGUAGE) -> Kind | None:
    """Which kind of email a subject line is (the demo counts them by kind)."""
    for kind in Kind:
        pieces = PLACEHOLDER.split(template(kind, language)["subject"])
        if re.fullmatch(".+".join(map(re.escape, pieces)), subject, flags=re.DOTALL):
            return kind
    return None


PLACEHOLDER = re.compile(r"\$\{?\w+\}?")
