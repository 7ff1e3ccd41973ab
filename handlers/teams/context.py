"""What the Teams handlers need besides the SDK's context (the Teams side of `handlers/slack/context.py`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from bot.core.clock import Clock
from bot.core.crypto import SecretBox
from bot.core.settings import Settings

PERSONAL = "personal"


@dataclass(frozen=True)
class TeamsContext:
    settings: Settings
    session_factory: sessionmaker[Session]
    clock: Clock

    @property
    def box(self) -> SecretBox:
        return SecretBox(self.settings.secret_key)
