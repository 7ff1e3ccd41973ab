"""`/empathy config`: HR changes per-workspace settings from Slack; environment values are the defaults."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.models import Workspace, WorkspaceSetting
from bot.core.settings import Settings
from bot.core.workspace_config import get_setting
from bot.kudos.config import KUDOS_CHANNEL
from bot.suggestions.config import SUGGESTIONS_CHANNEL
from tests.support.slack_requests import SlackRequests


def test_hr_sets_the_kudos_channel_and_it_wins_over_the_default(
    people: None, slack_requests: SlackRequests, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    reply = slack_requests.command("/empathy", "config kudos-channel <#C0KUDOS|kudos>", user_id="U0PRIYA").get_json()
    assert reply["response_type"] == "ephemeral"
    assert reply["text"] == "Done: `kudos-channel` is now <#C0KUDOS>."
    with session_factory() as session:
        workspace = session.scalars(select(Workspace)).one()
        assert get_setting(session, workspace, KUDOS_CHANNEL, settings) == "C0KUDOS"
        assert get_setting(session, workspace, SUGGESTIONS_CHANNEL, settings) is None


def test_the_listing_shows_every_setting(people: None, slack_requests: SlackRequests) -> None:
    slack_requests.command("/empathy", "config suggestions-channel C0IDEAS", user_id="U0PRIYA")
    text = slack_requests.command("/empathy", "config", user_id="U0PRIYA").get_json()["text"]
    assert "`suggestions-channel`" in text and "<#C0IDEAS>" in text
    assert "`kudos-channel`" in text and "_not set_" in text


@pytest.mark.parametrize(
    ("user", "text", "words"),
    [
        ("U0ANA", "config kudos-channel #kudos", "Only HR admins can change my settings"),
        ("U0PRIYA", "config kudos-channel kudos", "pick the channel with `#`"),
        ("U0PRIYA", "config colour blue", "I don't have a setting called `colour`"),
        ("U0PRIYA", "config kudos-channel", "What should `kudos-channel` be?"),
    ],
)
def test_bad_config_is_refused_kindly_and_changes_nothing(
    people: None,
    slack_requests: SlackRequests,
    session_factory: sessionmaker[Session],
    user: str,
    text: str,
    words: str,
) -> None:
    reply = slack_requests.command("/empathy", text, user_id=user).get_json()
    assert reply["response_type"] == "ephemeral"
    assert words in reply["text"]
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(WorkspaceSetting)) == 0
