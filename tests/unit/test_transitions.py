from itertools import product

import pytest

from cashmob.domain import (
    CAMPAIGN_TRANSITIONS,
    COUNTED,
    PLEDGE_TRANSITIONS,
    SETTLED,
    CampaignStatus,
    PledgeStatus,
)
from cashmob.domain.errors import InvalidTransition

P = PledgeStatus
C = CampaignStatus

LEGAL_PLEDGE = {
    (P.PENDING, P.ACTIVE),
    (P.PENDING, P.CANCELLED),
    (P.PENDING, P.EXPIRED),
    (P.PENDING, P.RELEASED),
    (P.ACTIVE, P.COLLECTED),
    (P.ACTIVE, P.ACTION_REQUIRED),
    (P.ACTIVE, P.RELEASED),
    (P.ACTIVE, P.CANCELLED),
    (P.ACTIVE, P.FAILED),  # Stripe refused the charge for good, or the hold lapsed
    (P.ACTION_REQUIRED, P.COLLECTED),
    (P.ACTION_REQUIRED, P.FAILED),
    (P.COLLECTED, P.REFUNDED),
}
LEGAL_CAMPAIGN = {
    (C.LIVE, C.SETTLING),
    (C.LIVE, C.CANCELLED),
    (C.SETTLING, C.SUCCEEDED),
    (C.SETTLING, C.FAILED),
    # The organizer refunds everyone after the money moved (API.md).
    (C.SUCCEEDED, C.REFUNDING),
    (C.REFUNDING, C.REFUNDED),
}


@pytest.mark.parametrize(("current", "target"), list(product(P, P)))
def test_every_pledge_transition_is_legal_or_refused(current, target):
    # Given a pledge state and a target, When the table is asked,
    # Then exactly the documented moves are allowed and every other one raises.
    if (current, target) in LEGAL_PLEDGE:
        PLEDGE_TRANSITIONS.check(current, target)
        assert PLEDGE_TRANSITIONS.can(current, target)
    else:
        with pytest.raises(InvalidTransition) as raised:
            PLEDGE_TRANSITIONS.check(current, target)
        assert raised.value.current == current.value
        assert raised.value.target == target.value


@pytest.mark.parametrize(("current", "target"), list(product(C, C)))
def test_every_campaign_transition_is_legal_or_refused(current, target):
    if (current, target) in LEGAL_CAMPAIGN:
        CAMPAIGN_TRANSITIONS.check(current, target)
    else:
        with pytest.raises(InvalidTransition):
            CAMPAIGN_TRANSITIONS.check(current, target)


def test_terminal_states():
    assert {s for s in P if PLEDGE_TRANSITIONS.terminal(s)} == {
        P.FAILED,
        P.RELEASED,
        P.CANCELLED,
        P.EXPIRED,
        P.REFUNDED,
    }
    assert {s for s in C if CAMPAIGN_TRANSITIONS.terminal(s)} == {
        C.FAILED,
        C.CANCELLED,
        C.REFUNDED,
    }


def test_sources_are_the_inverse_of_the_table():
    for target in P:
        assert PLEDGE_TRANSITIONS.sources(target) == {a for a, b in LEGAL_PLEDGE if b == target}


def test_counted_and_settled_sets():
    assert {P.ACTIVE, P.ACTION_REQUIRED, P.COLLECTED} == COUNTED
    assert P.PENDING not in SETTLED and P.ACTIVE not in SETTLED and P.ACTION_REQUIRED not in SETTLED
