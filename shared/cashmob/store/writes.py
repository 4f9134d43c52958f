"""Conditional writes: a condition DynamoDB refuses becomes a domain error."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pynamodb.exceptions import PutError, TransactWriteError

from ..domain.errors import DomainError

# A transaction's cancellation reason for an item whose condition failed.
CONDITIONAL_FAILED = "ConditionalCheckFailed"


def _conditional(error: Exception) -> bool:
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


def save_if(item: Any, condition: Any, otherwise: DomainError) -> None:
    """Puts `item` if `condition` holds (and, for a versioned item, if its stored
    version is still the item's); raises `otherwise` if not. A versioned item's
    `version` has moved on once this returns."""
    try:
        item.save(condition=condition)
    except PutError as error:
        if _conditional(error):
            raise otherwise from error
        raise


def failed_conditions(error: TransactWriteError, labels: Sequence[str]) -> set[str]:
    """The labels of a cancelled transaction's items whose condition failed;
    `labels` name the items in the order DynamoDB received them."""
    reasons = [getattr(r, "code", None) for r in error.cancellation_reasons or []]
    return {
        label for label, code in zip(labels, reasons, strict=False) if code == CONDITIONAL_FAILED
    }
