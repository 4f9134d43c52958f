"""Storage: the only code that touches DynamoDB."""

from .repository import DuplicateEvent, Page, Store

__all__ = ["DuplicateEvent", "Page", "Store"]
