"""Workspaces: every row in the database belongs to one Slack workspace (team id)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import Workspace


def get_or_create_workspace(session: Session, slack_team_id: str, name: str = "") -> Workspace:
    workspace = session.scalar(select(Workspace).where(Workspace.slack_team_id == slack_team_id))
    if workspace is None:
        workspace = Workspace(slack_team_id=slack_team_id, name=name)
        session.add(workspace)
        session.flush()
    elif name and workspace.name != name:
        workspace.name = name
    return workspace


def find_workspace(session: Session, slack_team_id: str) -> Workspace | None:
    return session.scalar(select(Workspace).where(Workspace.slack_team_id == slack_team_id))
