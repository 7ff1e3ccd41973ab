"""Sections other features add to a manager's weekly digest.

A provider takes the session, the manager and the digest's week (`since` inclusive, `until`
exclusive, both UTC) and returns an `ExtraSection` or None when it has nothing worth saying.
Providers cover the manager's whole sub-organisation, like the survey sections do.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.models import Person
from surveys.bank import QuestionBank
from surveys.digest import Digest, ExtraSection, manager_digest

Provider = Callable[[Session, Person, datetime, datetime], ExtraSection | None]


def providers() -> list[Provider]:
    # Imported here so each feature's module can import the digest types without a cycle.
    return []


def build_digest(session: Session, bank: QuestionBank, manager: Person, week_end: datetime) -> Digest:
    """The survey sections for the week ending `week_end`, plus every feature's extra section."""
    digest = manager_digest(session, bank, manager, week_end)
    since = week_end - timedelta(days=7)
    for provide in providers():
        extra = provide(session, manager, since, week_end)
        if extra is not None:
            digest.extras.append(extra)
    return digest
