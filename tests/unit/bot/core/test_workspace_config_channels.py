"""Channel settings take a Slack channel or a Teams channel's conversation id, and show each its own way."""

from __future__ import annotations

import pytest

from bot.core.errors import UserFacingError
from bot.core.workspace_config import parse_channel, show_channel

TEAMS_CHANNEL = "19:5e1d9c0a7b3f4e2a8d6c1b0a9f8e7d6c@thread.tacv2"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("<#C0KUDOS|kudos>", "C0KUDOS"),
        ("C0KUDOS", "C0KUDOS"),
        (TEAMS_CHANNEL, TEAMS_CHANNEL),
        (" 19:abcDEF012_-x@thread.skype ", "19:abcDEF012_-x@thread.skype"),
    ],
)
def test_a_slack_or_teams_channel_is_stored_as_its_id(typed: str, stored: str) -> None:
    assert parse_channel(typed) == stored


@pytest.mark.parametrize(
    "typed",
    ["#kudos", "19:abc@example.com", f"{TEAMS_CHANNEL};messageid=1732000000000", "19:" + "a" * 200 + "@thread.tacv2"],
)
def test_anything_else_is_refused_with_a_hint(typed: str) -> None:
    with pytest.raises(UserFacingError):
        parse_channel(typed)


def test_each_platform_shows_its_own_channel() -> None:
    assert show_channel("C0KUDOS") == "<#C0KUDOS>"
    assert show_channel(TEAMS_CHANNEL) == f"`{TEAMS_CHANNEL}`"
