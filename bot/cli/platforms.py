"""The chat platforms this deployment serves, built from the settings: the one place that chooses them.

The scheduled jobs (`bot.jobs`) take this list and name no platform themselves.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from bot.core.models import Platform
from bot.core.settings import Settings
from bot.delivery.ports import ChatPlatform
from bot.digest_jobs import Fits
from handlers.slack.platform import SlackPlatform
from handlers.teams.platform import TeamsPlatform


def chat_platforms(settings: Settings, session_factory: sessionmaker[Session]) -> list[ChatPlatform]:
    platforms: list[ChatPlatform] = []
    if settings.slack:
        platforms.append(SlackPlatform(settings, session_factory))
    if settings.teams:
        platforms.append(TeamsPlatform(settings, session_factory))
    return platforms


def message_fits(settings: Settings) -> Fits:
    """Each configured platform's check that a message fits in one of its messages (Teams: 100 KB)."""
    if not settings.teams:
        return {}
    from handlers.teams.render.message import fits

    return {Platform.TEAMS.value: fits}
