"""Secrets come from SSM Parameter Store through Powertools Parameters; the
local stack and tests may give the value itself in the environment."""

from __future__ import annotations

from .config import Settings


class Secrets:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def _get(self, value: str, parameter: str, name: str) -> str:
        if value:
            return value
        if not parameter:
            raise RuntimeError(f"{name} is not configured (set it or its _PARAM)")
        from aws_lambda_powertools.utilities import parameters

        return str(parameters.get_parameter(parameter, decrypt=True, max_age=300))

    @property
    def stripe_secret_key(self) -> str:
        s = self._settings
        return self._get(s.stripe_secret_key, s.stripe_secret_key_param, "STRIPE_SECRET_KEY")

    @property
    def stripe_webhook_secret(self) -> str:
        s = self._settings
        return self._get(
            s.stripe_webhook_secret, s.stripe_webhook_secret_param, "STRIPE_WEBHOOK_SECRET"
        )

    @property
    def stripe_connect_webhook_secret(self) -> str:
        """The signing secret of the Connect webhook endpoint (events from
        organizers' connected accounts: `account.updated`), which Stripe signs
        with a secret of its own; "" when none is configured."""
        s = self._settings
        if not (s.stripe_connect_webhook_secret or s.stripe_connect_webhook_secret_param):
            return ""
        return self._get(
            s.stripe_connect_webhook_secret,
            s.stripe_connect_webhook_secret_param,
            "STRIPE_CONNECT_WEBHOOK_SECRET",
        )

    @property
    def pledge_token_secret(self) -> str:
        s = self._settings
        return self._get(s.pledge_token_secret, s.pledge_token_secret_param, "PLEDGE_TOKEN_SECRET")
