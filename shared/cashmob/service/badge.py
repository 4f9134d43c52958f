"""An accessible SVG progress badge."""

from __future__ import annotations

import re
from datetime import datetime
from xml.sax.saxutils import escape

from ..domain import Campaign, CampaignStatus, Money, Tally

# What a badge's text may carry: XML 1.0's Char production without the
# controls it merely discourages (DEL, C1). Input validation refuses control
# characters; this keeps the badge well-formed whatever is stored. Spelled
# as the characters it refuses: the negated class of those it keeps is the
# same set but takes milliseconds to compile, at every cold start.
_SPACE = re.compile(r"[\t\n\r]+")
_NOT_XML = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _plain(text: str) -> str:
    return _NOT_XML.sub("", _SPACE.sub(" ", text))


def _xml(text: str) -> str:
    return escape(_plain(text))


def _time_left(campaign: Campaign, now: datetime) -> str:
    if campaign.status is not CampaignStatus.LIVE:
        return campaign.status.value
    seconds = int((campaign.deadline - now).total_seconds())
    if seconds <= 0:
        return "closing"
    days, rest = divmod(seconds, 86400)
    if days:
        return f"{days} day{'s' * (days != 1)} left"
    hours = rest // 3600
    if hours:
        return f"{hours} hour{'s' * (hours != 1)} left"
    return f"{max(rest // 60, 1)} min left"


def _extras(campaign: Campaign, tally: Tally, if_conditions_met: Tally | None) -> list[str]:
    """What the badge adds to the progress: conditional money and a fixed price."""
    extras = []
    if if_conditions_met is not None and if_conditions_met.amount > tally.amount:
        more = Money(if_conditions_met.amount - tally.amount, campaign.currency).format()
        extras.append(f"+{more} on conditions")
    if campaign.funding_model.value == "fixed_price":
        extras.append("fixed price")
    return extras


def render(
    campaign: Campaign, tally: Tally, now: datetime, *, if_conditions_met: Tally | None = None
) -> str:
    """The badge of `campaign` with `tally` pledged (API.md `pledged`) and,
    when given, everything pledged if every condition is met
    (`pledged_if_conditions_met`): the difference shows as "+£X on
    conditions"; a `fixed_price` campaign says so."""
    raised = Money(tally.amount, campaign.currency).format()
    percent = tally.amount * 100 // campaign.goal.amount
    bar = min(percent, 100) * 2  # px of a 200px track
    backers = f"{tally.backers} backer{'s' * (tally.backers != 1)}"
    summary = (
        f"{raised} raised of {campaign.goal.format()} - {percent}% funded, {backers}, "
        f"{_time_left(campaign, now)}"
    )
    extras = _extras(campaign, tally, if_conditions_met)
    if extras:
        summary += "; " + ", ".join(extras)
    name = _plain(campaign.title)
    title = _xml(f"{name}: {summary}")
    label = _xml(name if len(name) <= 40 else name[:39] + "…")
    height = 92 if extras else 76
    extra_line = (
        f'<text x="20" y="78" font-family="system-ui,sans-serif" font-size="11" '
        f'fill="#57606a">{_xml(" · ".join(extras))}</text>\n'
        if extras
        else ""
    )
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="240" height="{height}" viewBox="0 0 240 {height}" role="img" aria-labelledby="t d">
<title id="t">{title}</title>
<desc id="d">{_xml(summary)}</desc>
<rect width="240" height="{height}" rx="6" fill="#ffffff" stroke="#d0d7de"/>
<text x="20" y="22" font-family="system-ui,sans-serif" font-size="12" font-weight="600" fill="#1f2328">{label}</text>
<rect x="20" y="32" width="200" height="10" rx="5" fill="#eaeef2"/>
<rect x="20" y="32" width="{bar}" height="10" rx="5" fill="#1a7f37"/>
<text x="20" y="60" font-family="system-ui,sans-serif" font-size="11" fill="#1f2328">{_xml(raised)} of {_xml(campaign.goal.format())} · {percent}% · {_xml(backers)} · {_xml(_time_left(campaign, now))}</text>
{extra_line}</svg>
"""
