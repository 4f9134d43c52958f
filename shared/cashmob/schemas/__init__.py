"""Request and response models of the HTTP API (they generate docs/openapi.json),
one module per resource, as the API has one Router per resource.

Cold start: a module is imported with the first of its names asked of the
package (PEP 562), so an instance defines only the models of the routes it
serves: the API's routes name them as `schemas.<Model>` in annotations that
Powertools resolves with a route's first request. `GET /campaigns/{id}`, the
most common first request, brings `common` and `campaigns`; the pledges' and
the organizers' models wait for routes that use them. (`common` is there from
init: the routes' error responses name `ErrorBody`.)

No `from __future__ import annotations` in these modules: with it every
field's annotation is a string that pydantic has to evaluate when it creates
the class, about a quarter of the models' import time."""

from __future__ import annotations

import importlib
from typing import Any

# Each module's models (tests/unit/test_schemas.py holds this to the modules).
MODELS = {
    "common": ("Schema", "Strict", "MoneyIn", "MoneyOut", "ErrorDetail", "ErrorBody"),
    "campaigns": (
        "CreateCampaign",
        "Pledged",
        "SettlementOut",
        "PayoutOut",
        "CampaignOut",
        "CampaignList",
        "RefundCampaign",
        "Backer",
        "BackerList",
    ),
    "pledges": (
        "Condition",
        "CreatePledge",
        "PledgeOut",
        "RefundPledgeIn",
        "PaymentError",
        "PaymentOut",
        "PledgeCreated",
        "PledgeDetail",
        "OwnerPledge",
        "OwnerPledgeList",
    ),
    "organizers": ("OrganizerPayouts", "OrganizerOut", "StartPayouts", "PayoutLink"),
}
HOME = {model: module for module, models in MODELS.items() for model in models}


def __getattr__(name: str) -> Any:
    module = HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *HOME})
