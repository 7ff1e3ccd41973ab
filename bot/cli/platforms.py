"""The chat platforms this deployment serves, built from the settings: the one place that chooses them.

The scheduled jobs (`bot.jobs`) take this list and name no platform themselves.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from bot.core.settings import Settings
from bot.delivery.ports import ChatPlatform
from handlers.slack.platform import SlackPlatform
from handlers.teams.platform import TeamsPlatform


def chat_platforms(settings: Settings, session_factory: sessionmaker[Session]) -> list[ChatPlatform]:
    platforms: list[ChatPlatform] = []
    if settings.slack:
        platforms.append(SlackPlatform(settings, session_factory))
    if settings.teams:
        platforms.append(TeamsPlatform(settings))
    return platforms
