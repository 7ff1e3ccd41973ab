"""Microsoft Teams as the jobs see it (`bot.delivery.ports.ChatPlatform`): the deployment's one tenant
(TEAMS_TENANT_ID) with its Graph directory for the nightly sync.

Sending through the Bot Connector is not wired into the outbox yet: `sender()` is None, so rows for
Teams people wait in the outbox (the dispatcher leaves a platform without a sender alone) rather than
fail.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy.orm import Session

from bot.core.models import Platform, Workspace
from bot.core.settings import Settings
from bot.core.workspaces import get_or_create_workspace
from bot.delivery.ports import Directory, Sender
from handlers.teams.directory import build_teams_directory


class TeamsPlatform:
    name = Platform.TEAMS.value

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def sender(self) -> Sender | None:
        return None

    def directories(self, session: Session) -> Iterator[tuple[Workspace, Directory]]:
        tenant = self._settings.teams_tenant_id or ""
        yield get_or_create_workspace(session, tenant, platform=self.name), build_teams_directory(self._settings)
