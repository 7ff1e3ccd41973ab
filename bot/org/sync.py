"""Bring the directory in line with the platform's (Slack, Teams): names, emails, time zones,
deactivations, and managers where the platform knows them.

Sync adds people it does not know (so a company without an org file still works) but never
deactivates someone just because Slack did not list them; only Slack's own `deleted` flag does.
Nor does it reactivate anyone: who is in the organisation is HR's call (the org file), and a
Slack account that comes back is picked up by the next import.
Bots are never created, and a person row that turns out to be a bot is switched off.

Managers: a directory that names someone's manager (Entra does, Slack does not) sets it, when the
manager is someone in the workspace; a directory that names none leaves the one the org file set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.core.accounts import external_id, link
from bot.core.models import Person, PersonSource, Workspace, utcnow
from bot.delivery.ports import Directory, DirectoryUser


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


class _People:
    """The workspace's people, findable by their account's user id and by email as the sync changes them."""

    def __init__(self, session: Session, workspace: Workspace) -> None:
        self.platform = workspace.platform
        people = list(
            session.scalars(
                select(Person).options(selectinload(Person.accounts)).where(Person.workspace_id == workspace.id)
            )
        )
        self.by_user_id = {user_id: p for p in people if (user_id := external_id(p, self.platform))}
        self.by_email = {p.email: p for p in people if p.email}

    def find(self, user: DirectoryUser) -> Person | None:
        return self.by_user_id.get(user.user_id) or (self.by_email.get(user.email) if user.email else None)

    def email_free_for(self, email: str, person: Person) -> bool:
        return self.by_email.get(email, person) is person

    def remember(self, person: Person) -> None:
        if user_id := external_id(person, self.platform):
            self.by_user_id[user_id] = person
        if person.email:
            self.by_email[person.email] = person


def sync_directory(
    session: Session, workspace: Workspace, directory: Directory, *, now: datetime | None = None
) -> SyncReport:
    """Apply every directory user to the workspace's people. Raises DirectoryError if the directory cannot
    be read; the caller's rollback then leaves everything as it was."""
    now = now or utcnow()
    people = _People(session, workspace)
    report = SyncReport()
    managed: list[DirectoryUser] = []
    unchanged: set[str] = set()
    for user in directory.list_users():
        person = people.find(user)
        if user.manager_id and not user.is_bot and not user.deleted:
            managed.append(user)
        if user.is_bot:
            report.skipped_bots += 1
            if person is not None:
                _switch_off_bot(person, now)
        elif person is None:
            if not user.deleted:  # someone who left before we knew them needs no row
                people.remember(_create(session, workspace, user))
                report.created += 1
        elif user.deleted and _deactivate(person, now):
            report.deactivated += 1
        elif not user.deleted and _update(session, person, user, people):
            report.updated += 1
        else:
            report.unchanged += 1
            unchanged.add(user.user_id)
    if managed:
        session.flush()  # people created above need ids before anyone can point at them
        for user_id in _set_managers(managed, people):
            if user_id in unchanged:
                report.unchanged -= 1
                report.updated += 1
    session.flush()
    return report


def _set_managers(users: list[DirectoryUser], people: _People) -> set[str]:
    """Point each person at the manager the directory names; the user ids of those that changed. A
    manager who is not in the workspace, or a line that would close a circle, changes nothing."""
    manager_of = {p.id: p.manager_id for p in (*people.by_user_id.values(), *people.by_email.values())}
    changed: set[str] = set()
    for user in users:
        person = people.by_user_id.get(user.user_id)
        manager = people.by_user_id.get(user.manager_id or "")
        if person is None or manager is None or person.manager_id == manager.id:
            continue
        if _reports_to(manager.id, person.id, manager_of):
            continue
        person.manager_id = manager_of[person.id] = manager.id
        changed.add(user.user_id)
    return changed


def _reports_to(start: int, boss: int, manager_of: dict[int, int | None]) -> bool:
    """Whether `boss` is `start` or above them in the reporting lines."""
    seen: set[int] = set()
    current: int | None = start
    while current is not None and current not in seen:
        if current == boss:
            return True
        seen.add(current)
        current = manager_of.get(current)
    return False


def _switch_off_bot(person: Person, now: datetime) -> None:
    # Assigning a value equal to the stored one writes nothing, so updated_at stays as it was.
    person.is_bot, person.active = True, False
    person.deactivated_at = person.deactivated_at or now


def _create(session: Session, workspace: Workspace, user: DirectoryUser) -> Person:
    person = Person(
        workspace_id=workspace.id,
        email=user.email,
        name=user.name,
        timezone=user.timezone,
        source=PersonSource(workspace.platform).value,
        active=True,
        accounts=[],
    )
    session.add(person)
    link(session, person, workspace.platform, user.user_id)  # both written at the sync's one flush
    return person


def _deactivate(person: Person, now: datetime) -> bool:
    if not person.active:
        return False
    person.active, person.deactivated_at = False, now
    return True


def _update(session: Session, person: Person, user: DirectoryUser, people: _People) -> bool:
    """Copy what the platform knows better; True if anything changed."""
    relinked = external_id(person, people.platform) != user.user_id
    if relinked:  # a person matched by email learns their account's id
        link(session, person, people.platform, user.user_id)
    wanted = {
        "name": user.name or person.name,
        "timezone": user.timezone or person.timezone,
    }
    # Another row may hold the new email (an org-file row not yet linked to Slack); the unique key
    # forbids two, and the next import sorts out which row is whose.
    if user.email and people.email_free_for(user.email, person):
        wanted["email"] = user.email
    changed = {key: value for key, value in wanted.items() if getattr(person, key) != value}
    for key, value in changed.items():
        setattr(person, key, value)
    if changed or relinked:
        people.remember(person)
    return bool(changed) or relinked
