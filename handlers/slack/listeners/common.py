"""Small helpers shared by listeners."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from bot.core.accounts import external_id, find_workspace_and_person
from bot.core.models import Person, Platform, Workspace
from bot.core.people import find_person
from bot.core.text import escape as escape
from bot.core.workspaces import get_or_create_workspace
from handlers.slack.render.message import error_text as error_text
from handlers.slack.render.message import hint_text as hint_text


def slack_id(person: Person) -> str | None:
    """The person's Slack user id (for mentions), if they have a Slack account."""
    return external_id(person, Platform.SLACK)


def request_ids(context: dict[str, Any]) -> tuple[str, str | None]:
    """Slack's ids of the workspace a request came from and of the user who sent it (if any)."""
    return context.get("team_id") or context.get("enterprise_id") or "", context.get("user_id")


def request_identity(session: Session, context: dict[str, Any]) -> tuple[Workspace, Person | None]:
    """The workspace a request came from and the person who sent it (None if not in the directory)."""
    team_id, user_id = request_ids(context)
    if user_id:
        found, person = find_workspace_and_person(session, Platform.SLACK.value, team_id, user_id)
        if found is not None:
            return found, person
    workspace = get_or_create_workspace(session, team_id)
    person = find_person(session, workspace, user_id) if user_id else None
    return workspace, person


def ephemeral(text: str, blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"response_type": "ephemeral", "text": text}
    if blocks:
        reply["blocks"] = blocks
    return reply


def mrkdwn_section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def context_block(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150], "emoji": True}}
