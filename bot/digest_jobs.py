"""The weekly manager digests: one per manager per ISO week, through the outbox."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from bot.digest_sections import build_digest
from bot.models import Person, Workspace
from bot.outbox import enqueue
from handlers.digest_views import digest_message
from surveys.pack_store import workspace_bank


class WeekError(ValueError):
    pass


def week_end_for(now: datetime) -> datetime:
    """Monday 00:00 UTC of the current week: the digest covers the seven days before it."""
    today = now.astimezone(UTC).date()
    return datetime.combine(today - timedelta(days=today.weekday()), time(0), UTC)


def parse_week(value: str) -> datetime:
    """'2026-W48' → the Monday after that week, 00:00 UTC (the end of the week the digest covers)."""
    match = re.fullmatch(r"(\d{4})-W(\d{2})", value.strip())
    if not match:
        raise WeekError(f"'{value}' isn't a week like 2026-W48")
    try:
        monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise WeekError(f"'{value}' isn't a week of that year") from None
    return datetime.combine(monday + timedelta(days=7), time(0), UTC)


def digest_key(week_end: datetime, manager_id: int) -> str:
    year, week, _ = (week_end - timedelta(days=1)).isocalendar()
    return f"digest:{year}-W{week:02d}:{manager_id}"


def managers(session: Session, workspace_id: int) -> list[Person]:
    report = aliased(Person)
    return list(
        session.scalars(
            select(Person)
            .where(Person.workspace_id == workspace_id, Person.active.is_(True))
            .where(select(report.id).where(report.manager_id == Person.id, report.active.is_(True)).exists())
            .order_by(Person.id)
        )
    )


def queue_digests(session: Session, week_end: datetime, *, manager_email: str | None = None) -> int:
    """Queue every manager's digest for the week; running it again queues nothing new."""
    queued = 0
    for workspace in session.scalars(select(Workspace)):
        bank = workspace_bank(session, workspace.id)
        for manager in managers(session, workspace.id):
            if manager_email and (manager.email or "").lower() != manager_email.lower():
                continue
            digest = build_digest(session, bank, manager, week_end)
            if digest.empty:
                continue
            enqueue(
                session,
                workspace.id,
                digest_key(week_end, manager.id),
                digest_message(digest, manager.first_name),
                person_id=manager.id,
            )
            queued += 1
    return queued
