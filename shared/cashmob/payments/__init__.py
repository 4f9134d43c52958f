"""Payments: the only code that talks to Stripe."""

from .gateway import ChargeResult, ChargeStatus, IntentRef, PaymentsGateway

__all__ = ["ChargeResult", "ChargeStatus", "IntentRef", "PaymentsGateway"]
