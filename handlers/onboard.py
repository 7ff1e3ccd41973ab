"""Onboarding journeys (issue #7): listeners and App Home section."""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from sqlalchemy.orm import Session

from bot.app import AppContext
from bot.models import Person, Workspace
from bot.people import HomeRole
from handlers.coming_soon import handle_coming_soon


def home_blocks(
    session: Session, workspace: Workspace, person: Person | None, role: HomeRole, empathy: AppContext
) -> list[dict[str, Any]]:
    """This feature's App Home section for `person` (blocks, possibly none)."""
    return []


def register(app: App) -> None:
    app.command("/onboard")(handle_coming_soon)
