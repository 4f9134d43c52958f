"""Settings: read from the environment (case-insensitively), typed, bounded,
and loud at init about every value it cannot use."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from cashmob.config import PARSERS, Settings, SettingsError


@pytest.fixture
def environ(monkeypatch):
    """An environment with no setting in it but the region."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-west-2")
    return monkeypatch


def test_defaults_when_the_environment_says_nothing(environ):
    settings = Settings()

    assert settings.aws_region == "eu-west-2"
    assert settings.page_size == 100 and settings.counter_shards == 10
    assert settings.stripe_read_timeout_seconds == 3.0
    assert settings.email_enabled is False
    assert settings.hold_window == timedelta(days=6)
    assert settings.table_names["pledges"] == "PledgesTable"


def test_values_come_typed_from_the_environment_whatever_the_case(environ):
    environ.setenv("PAGE_SIZE", "25")
    environ.setenv("stripe_requests_per_second", " 23.5 ")
    environ.setenv("Email_Enabled", "TRUE")
    environ.setenv("PLEDGES_TABLE", "pledges-prod")

    settings = Settings()

    assert settings.page_size == 25 and isinstance(settings.page_size, int)
    assert settings.stripe_requests_per_second == 23.5
    assert settings.email_enabled is True
    assert settings.pledges_table == "pledges-prod"


def test_constructor_values_win_over_the_environment(environ):
    environ.setenv("PAGE_SIZE", "25")

    settings = Settings(page_size=7, AWS_REGION="us-east-2", not_a_setting="ignored")

    assert settings.page_size == 7
    assert settings.aws_region == "us-east-2"
    assert Settings(aws_region="ap-south-1").aws_region == "ap-south-1"


@pytest.mark.parametrize(
    ("word", "value"),
    [("1", True), ("yes", True), ("On", True), ("0", False), ("no", False), ("off", False)],
)
def test_booleans_read_as_pydantic_read_them(environ, word, value):
    environ.setenv("PAYOUTS_ENABLED", word)

    assert Settings().payouts_enabled is value


@pytest.mark.parametrize(
    ("name", "raw", "why"),
    [
        ("COUNTER_SHARDS", "0", "at least 1"),
        ("COUNTER_SHARDS", "101", "at most 100"),
        ("PAGE_SIZE", "ten", "an integer"),
        ("PAGE_SIZE", "2.5", "an integer"),
        ("STRIPE_READ_TIMEOUT_SECONDS", "0", "greater than 0"),
        ("STRIPE_REQUESTS_PER_SECOND", "nan", "a number"),
        ("EMAIL_ENABLED", "maybe", "a boolean"),
    ],
)
def test_a_bad_value_fails_at_init_naming_the_variable(environ, name, raw, why):
    environ.setenv(name, raw)

    with pytest.raises(SettingsError, match=rf"{name}='{raw}': must be {why}"):
        Settings()


def test_every_fault_is_reported_at_once_and_secrets_are_not_shown(environ):
    environ.setenv("PAGE_SIZE", "0")
    environ.setenv("INTAKE_MESSAGE_GROUPS", "many")

    with pytest.raises(ValueError, match="invalid settings") as raised:
        Settings(stripe_webhook_secret=42)

    assert "PAGE_SIZE='0'" in str(raised.value)
    assert "INTAKE_MESSAGE_GROUPS='many'" in str(raised.value)
    assert "STRIPE_WEBHOOK_SECRET=<hidden>: must be a string" in str(raised.value)
    assert "42" not in str(raised.value).split("STRIPE_WEBHOOK_SECRET")[1]


def test_a_publishable_key_is_not_a_secret_key(environ):
    with pytest.raises(SettingsError, match="publishable key"):
        Settings(stripe_secret_key="pk_test_123")
    assert "sk_test_123" not in repr(Settings(stripe_secret_key="sk_test_123"))


def test_settings_are_frozen_and_copies_are_validated(environ):
    settings = Settings()

    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.page_size = 5  # type: ignore[misc]
    copy = settings.model_copy(update={"payouts_enabled": True})
    assert copy.payouts_enabled is True and settings.payouts_enabled is False
    assert copy == settings.model_copy(update={"payouts_enabled": "yes"})
    with pytest.raises(SettingsError):
        settings.model_copy(update={"page_size": 0})
    with pytest.raises(TypeError, match="not a setting"):
        settings.model_copy(update={"page_sise": 5})


def test_every_field_has_a_parser_and_a_valid_default(environ):
    assert {str(spec.type) for spec in Settings.model_fields.values()} <= set(PARSERS)
    defaults = {name: spec.default for name, spec in Settings.model_fields.items()}

    assert dataclasses.asdict(Settings(**defaults)) == defaults
