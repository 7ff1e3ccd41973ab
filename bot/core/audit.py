"""The audit log of admin actions: who did what, and when — never the content they touched.

Config changes, imports, exports, status changes and forgets call `record`; HR reads it with
`empathy-bot audit` or `/empathy audit`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.models import AuditEntry, Person, utcnow

SUBJECT_LIMIT = 200


def record(
    session: Session,
    workspace_id: int,
    actor_id: int | None,
    action: str,
    subject: str = "",
    *,
    via: str = "slack",
    at: datetime | None = None,
) -> None:
    """Add an audit entry in the caller's transaction, so it exists exactly when the action does."""
    session.add(
        AuditEntry(
            workspace_id=workspace_id,
            actor_id=actor_id,
            via=via,
            action=action,
            subject=subject[:SUBJECT_LIMIT],
            at=at or utcnow(),
        )
    )


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    actor: str
    via: str
    action: str
    subject: str


def recent(session: Session, workspace_id: int, limit: int = 50) -> list[AuditLine]:
    """The latest entries, newest first, with each actor's name (or "someone forgotten")."""
    rows = session.execute(
        select(AuditEntry, Person.name, Person.email)
        .outerjoin(Person, Person.id == AuditEntry.actor_id)
        .where(AuditEntry.workspace_id == workspace_id)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
    ).all()
    lines: list[AuditLine] = []
    for entry, name, email in rows:
        if entry.actor_id is None:
            actor = (
                "a command-line user"
                if entry.via == "cli"
                else "the bot"
                if entry.via == "job"
                else "someone forgotten"
            )
        else:
            actor = name or email or f"person {entry.actor_id}"
        lines.append(AuditLine(entry.at, actor, entry.via, entry.action, entry.subject))
    return lines
