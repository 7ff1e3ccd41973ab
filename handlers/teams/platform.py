"""Microsoft Teams as the jobs see it (`bot.delivery.ports.ChatPlatform`): the deployment's one tenant
(TEAMS_TENANT_ID) with its Graph directory for the nightly sync, and the sender the outbox hands Teams
rows to (`handlers.teams.sender.TeamsSender`).

The sender is made once per process and handed to every dispatcher run: its SDK app (and connection
pool) and the tenant's pace, a 429's hold included, outlive one run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from sqlalchemy.orm import Session, sessionmaker

from bot.core.models import Platform, Workspace
from bot.core.settings import Settings, load_environment
from bot.core.workspaces import get_or_create_workspace
from bot.delivery.ports import Directory, Sender
from handlers.teams.app import TokenProvider
from handlers.teams.directory import build_graph_client, build_teams_directory
from handlers.teams.install import GraphInstaller, InstallResult
from handlers.teams.manifest import app_id
from handlers.teams.sender import TeamsSender


class TeamsPlatform:
    name = Platform.TEAMS.value

    def __init__(
        self,
        settings: Settings,
        session_factory: sessionmaker[Session] | None = None,
        *,
        token: TokenProvider | None = None,
        installer: Callable[[str], InstallResult] | None = None,
    ) -> None:
        """`installer`: how the sender installs the app for someone Teams will not open a chat with; by
        default through Microsoft Graph (`handlers.teams.install.GraphInstaller`)."""
        self._settings = settings
        self._installer = installer
        self._session_factory = session_factory
        # Tests mint the Bot Connector's tokens themselves; a deployment logs in with its client secret.
        self._token = token
        self._sender: TeamsSender | None = None
        self._lock = threading.Lock()

    def sender(self) -> Sender | None:
        if self._session_factory is None:
            return None  # a platform built only for its directory (org sync) sends nothing
        with self._lock:
            if self._sender is None:
                self._sender = TeamsSender(
                    self._settings,
                    self._session_factory,
                    token=self._token,
                    installer=self._installer or self._graph_installer(),
                )
            return self._sender

    def _graph_installer(self) -> GraphInstaller:
        manifest_id = app_id(self._settings.teams_client_id or "", load_environment().get("TEAMS_APP_ID"))
        return GraphInstaller(build_graph_client(self._settings), manifest_id)

    def directories(self, session: Session) -> Iterator[tuple[Workspace, Directory]]:
        tenant = self._settings.teams_tenant_id or ""
        yield get_or_create_workspace(session, tenant, platform=self.name), build_teams_directory(self._settings)
