"""The email templates (shared/cashmob/notify/templates): every kind renders
with the values the notifier gives, in text and HTML, and is recognisable by
its subject."""

from __future__ import annotations

import string

import pytest

from cashmob.domain import FundingModel
from cashmob.notify.emails import (
    DEFAULT_LANGUAGE,
    TEMPLATES,
    Kind,
    kind_of_subject,
    render,
    template,
)

VALUES = {
    "name": "Ada <Lovelace>",
    "campaign": 'The "AGM" & ad',
    "amount": "£10.00",
    "charged": "£7.70",
    "refund": "£4.00",
    "refunded": "£4.00",
    "deadline": "06 December 2026, 18:00 UTC",
    "until": "13 December 2026, 18:05 UTC",
    "promise": "You will be charged only if the campaign reaches its goal.",
    "link": "https://site.example/pledge.html#c=cmp_1&p=plg_1&t=tok",
}


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_renders_and_is_known_by_its_subject(kind):
    email = render(kind, "ada@example.org", VALUES)
    assert kind_of_subject(email.subject) is kind
    assert VALUES["link"] in email.text
    assert 'href="https://site.example/pledge.html#c=cmp_1&amp;p=plg_1&amp;t=tok"' in email.html
    assert "Ada <Lovelace>" not in email.html and "&lt;Lovelace&gt;" in email.html
    assert "$" not in email.text + email.html + email.subject  # every placeholder filled


@pytest.mark.parametrize("kind", list(Kind))
def test_a_missing_value_is_an_error_not_a_blank(kind):
    with pytest.raises(KeyError):
        render(kind, "ada@example.org", {k: v for k, v in VALUES.items() if k != "campaign"})


def test_each_language_has_every_kind_and_the_receipt_a_promise_per_funding_model():
    languages = [d.name for d in TEMPLATES.iterdir() if d.is_dir()]
    assert DEFAULT_LANGUAGE in languages
    for language in languages:
        for kind in Kind:
            t = template(kind, language)
            assert {"subject", "text", "html"} <= set(t), (language, kind)
        promises = template(Kind.RECEIPT, language)["promise"]
        assert set(promises) == {m.value for m in FundingModel}
        for promise in promises.values():
            string.Template(promise).substitute(deadline="x")


def test_a_subject_of_no_kind_is_none():
    assert kind_of_subject("Your invoice") is None
