"""Workspaces: every row in the database belongs to one chat workspace (a Slack team, a Teams tenant)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.models import Platform, Workspace


def get_or_create_workspace(
    session: Session, external_id: str, name: str = "", *, platform: str = Platform.SLACK.value
) -> Workspace:
    workspace = find_workspace(session, external_id, platform=platform)
    if workspace is None:
        workspace = Workspace(platform=platform, external_id=external_id, name=name)
        session.add(workspace)
        session.flush()
    elif name and workspace.name != name:
        workspace.name = name
    return workspace


def find_workspace(session: Session, external_id: str, *, platform: str = Platform.SLACK.value) -> Workspace | None:
    return session.scalar(select(Workspace).where(Workspace.platform == platform, Workspace.external_id == external_id))
