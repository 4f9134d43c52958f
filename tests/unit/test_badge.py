"""The SVG badge (service/badge.py) for the fields of API.md's conditional
pledges and fixed-price campaigns: well-formed XML, named for assistive
technology (role="img", <title>, <desc>), and saying "+£X on conditions"
and "fixed price" only when they apply."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from cashmob.domain import FundingModel, Tally
from cashmob.service import badge

from .factories import NOW, campaign

SVG = "{http://www.w3.org/2000/svg}"


def parsed(svg: str) -> tuple[ET.Element, str, str]:
    root = ET.fromstring(svg)
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert root.get("role") == "img" and root.get("aria-labelledby") == "t d"
    assert title is not None and title.get("id") == "t" and title.text
    assert desc is not None and desc.get("id") == "d" and desc.text
    return root, title.text, desc.text


def shown(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_given_conditional_money_the_badge_adds_it_to_the_progress():
    # Given £60 counted and £85 if every condition is met, on a £100 goal
    svg = badge.render(campaign(), Tally(6000, 3), NOW, if_conditions_met=Tally(8500, 5))

    root, title, desc = parsed(svg)
    assert "+£25.00 on conditions" in desc and "+£25.00 on conditions" in title
    assert "£60.00 raised of £100.00 - 60% funded, 3 backers" in desc
    assert any("+£25.00 on conditions" in line for line in shown(root))
    assert "fixed price" not in svg
    # the extra line fits: the badge grows to hold it
    assert root.get("height") == "92" and root.get("viewBox") == "0 0 240 92"


def test_given_no_more_money_on_conditions_the_badge_is_as_before():
    plain = badge.render(campaign(), Tally(6000, 3), NOW)
    same = badge.render(campaign(), Tally(6000, 3), NOW, if_conditions_met=Tally(6000, 3))

    assert same == plain
    root, _, desc = parsed(plain)
    assert "on conditions" not in plain and root.get("height") == "76"
    assert desc == "£60.00 raised of £100.00 - 60% funded, 3 backers, 10 days left"


def test_a_fixed_price_campaign_says_so():
    fixed = campaign(funding_model=FundingModel("fixed_price"))

    root, title, desc = parsed(badge.render(fixed, Tally(13000, 40), NOW))

    assert desc.endswith("; fixed price") and title.endswith("; fixed price")
    assert "fixed price" in shown(root)[-1]
    assert "130% funded" in desc


def test_both_extras_are_on_one_line_and_the_title_is_escaped():
    fixed = campaign(funding_model=FundingModel("fixed_price"), title='Ad <b>"now"</b> & co')

    svg = badge.render(fixed, Tally(500, 1), NOW, if_conditions_met=Tally(2500, 3))

    root, title, _ = parsed(svg)
    assert title.startswith('Ad <b>"now"</b> & co: ')  # text, once parsed: escaped in the SVG
    assert "<b>" not in svg
    assert shown(root)[-1] == "+£20.00 on conditions · fixed price"


@given(
    counted=st.integers(0, 10**9),
    extra=st.integers(0, 10**9),
    backers=st.integers(0, 10**6),
    fixed=st.booleans(),
)
def test_the_badge_is_always_well_formed_and_named(counted, extra, backers, fixed):
    model = FundingModel("fixed_price") if fixed else FundingModel.ALL_OR_NOTHING
    svg = badge.render(
        campaign(funding_model=model),
        Tally(counted, backers),
        NOW,
        if_conditions_met=Tally(counted + extra, backers),
    )
    root, _, desc = parsed(svg)
    assert ("on conditions" in desc) == (extra > 0)
    assert ("fixed price" in desc) == fixed
    assert int(root.get("height")) == (92 if extra or fixed else 76)
