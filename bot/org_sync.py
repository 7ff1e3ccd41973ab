"""Bring the directory in line with Slack: names, emails, time zones, deactivations.

Sync adds people it does not know (so a company without an org file still works) but never
deactivates someone just because Slack did not list them; only Slack's own `deleted` flag does.
Bots are never created, and a person row that turns out to be a bot is switched off.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.directory import Directory, DirectoryUser
from bot.models import Person, PersonSource, Workspace, utcnow


@dataclass
class SyncReport:
    created: int = 0
    updated: int = 0
    deactivated: int = 0
    unchanged: int = 0
    skipped_bots: int = 0

    def __str__(self) -> str:
        return (
            f"{self.created} added, {self.updated} updated, {self.deactivated} deactivated, "
            f"{self.unchanged} unchanged, {self.skipped_bots} bots skipped"
        )


def sync_directory(
    session: Session, workspace: Workspace, directory: Directory, *, now: datetime | None = None
) -> SyncReport:
    now = now or utcnow()
    people = session.scalars(select(Person).where(Person.workspace_id == workspace.id)).all()
    by_slack_id = {p.slack_user_id: p for p in people if p.slack_user_id}
    by_email = {p.email: p for p in people if p.email}
    report = SyncReport()
    for user in directory.list_users():
        person = by_slack_id.get(user.user_id) or (by_email.get(user.email) if user.email else None)
        if user.is_bot:
            report.skipped_bots += 1
            if person is not None and (person.active or not person.is_bot):
                person.is_bot, person.active, person.deactivated_at = True, False, now
            continue
        if person is None:
            if not user.deleted:
                person = _create(session, workspace, user)
                by_slack_id[user.user_id] = person
                report.created += 1
            continue
        _apply(person, user, now, report)
    session.flush()
    return report


def _create(session: Session, workspace: Workspace, user: DirectoryUser) -> Person:
    person = Person(
        workspace_id=workspace.id,
        slack_user_id=user.user_id,
        email=user.email,
        name=user.name,
        timezone=user.timezone,
        source=PersonSource.SLACK.value,
        active=True,
    )
    session.add(person)
    return person


def _apply(person: Person, user: DirectoryUser, now: datetime, report: SyncReport) -> None:
    if user.deleted:
        if person.active:
            person.active, person.deactivated_at = False, now
            report.deactivated += 1
        else:
            report.unchanged += 1
        return
    changes = {
        "slack_user_id": user.user_id,
        "name": user.name or person.name,
        "email": user.email or person.email,
        "timezone": user.timezone or person.timezone,
    }
    changed = {k: v for k, v in changes.items() if getattr(person, k) != v}
    for key, value in changed.items():
        setattr(person, key, value)
    if changed:
        report.updated += 1
    else:
        report.unchanged += 1
