"""The pure domain: no boto3, pynamodb or stripe imports here."""

from .campaign import Campaign, FundingModel, Outcome, Settlement, new_campaign
from .errors import DomainError
from .money import CURRENCIES, Currency, Money
from .pledge import Backer, Payment, PaymentFlow, Pledge, choose_flow
from .settlement import Action, Tally, action_for, decide
from .states import (
    CAMPAIGN_TRANSITIONS,
    COUNTED,
    PLEDGE_TRANSITIONS,
    SETTLED,
    CampaignStatus,
    PledgeStatus,
)

__all__ = [
    "CAMPAIGN_TRANSITIONS",
    "COUNTED",
    "CURRENCIES",
    "PLEDGE_TRANSITIONS",
    "SETTLED",
    "Action",
    "Backer",
    "Campaign",
    "CampaignStatus",
    "Currency",
    "DomainError",
    "FundingModel",
    "Money",
    "Outcome",
    "Payment",
    "PaymentFlow",
    "Pledge",
    "PledgeStatus",
    "Settlement",
    "Tally",
    "action_for",
    "choose_flow",
    "decide",
    "new_campaign",
]
