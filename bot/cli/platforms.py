"""The chat platforms this deployment serves, built from the settings: the one place that chooses them.

The scheduled jobs (`bot.jobs`) take this list and name no platform themselves; a Teams tenant's
platform joins it here when Teams is configured.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from bot.core.settings import Settings
from bot.delivery.ports import ChatPlatform
from handlers.slack.platform import SlackPlatform


def chat_platforms(settings: Settings, session_factory: sessionmaker[Session]) -> list[ChatPlatform]:
    return [SlackPlatform(settings, session_factory)]
