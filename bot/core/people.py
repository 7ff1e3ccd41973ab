"""Who is who: lookups and roles over the directory tables."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple, Protocol, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.core.accounts import external_id, find_by_account, has_account, with_ids
from bot.core.models import Person, Platform, Role, RoleGrant, Team, Workspace
from bot.core.settings import Settings


class HomeRole(enum.StrEnum):
    EMPLOYEE = "employee"
    MANAGER = "manager"
    HR = "hr"


def find_person(session: Session, workspace: Workspace, external_user_id: str) -> Person | None:
    """The person whose account on the workspace's platform has this id."""
    return find_by_account(session, workspace, external_user_id)


def direct_reports(session: Session, person: Person) -> list[Person]:
    return list(
        session.scalars(
            select(Person).where(Person.manager_id == person.id, Person.active.is_(True)).order_by(Person.name)
        )
    )


def is_hr(session: Session, person: Person | None, settings: Settings | None = None) -> bool:
    """The one gate for every admin power: an ACTIVE person granted HR by the org file or in Slack, or
    named in EMPATHY_ADMINS (even before any import).

    Activity comes first because EMPATHY_ADMINS is only edited at the next deploy: someone who left
    (deactivated in Slack or dropped from the org file) must lose admin powers at once, not when an
    operator remembers to shorten the list. Every role check in bot/, handlers/ and surveys/ goes
    through here; the set queries that pick recipients (`digest_jobs.hr_admins`, the suggestion
    routing) filter `Person.active` in SQL to the same effect.
    """
    if person is None or not person.active:
        return False
    if settings is not None and (
        (person.email or "").lower() in settings.admin_emails
        or (bool(settings.admin_slack_ids) and external_id(person, Platform.SLACK) in settings.admin_slack_ids)
    ):
        return True
    granted = session.scalar(
        select(func.count()).select_from(RoleGrant).where(RoleGrant.person_id == person.id, RoleGrant.role == Role.HR)
    )
    return bool(granted)


def home_role(session: Session, person: Person | None, settings: Settings | None = None) -> HomeRole:
    """The richest view a person may see: HR over manager over employee."""
    if person is None or not person.active:
        return HomeRole.EMPLOYEE
    if is_hr(session, person, settings):
        return HomeRole.HR
    if direct_reports(session, person):
        return HomeRole.MANAGER
    return HomeRole.EMPLOYEE


@dataclass(frozen=True)
class OrgSummary:
    active_people: int
    inactive_people: int
    teams: int
    managers: int
    without_slack: int


def org_summary(session: Session, workspace: Workspace) -> OrgSummary:
    def count(*conditions: object) -> int:
        return (
            session.scalar(
                select(func.count()).select_from(Person).where(Person.workspace_id == workspace.id, *conditions)
            )
            or 0
        )

    managers = session.scalar(
        select(func.count(func.distinct(Person.manager_id))).where(
            Person.workspace_id == workspace.id, Person.active.is_(True), Person.manager_id.is_not(None)
        )
    )
    teams = session.scalar(select(func.count()).select_from(Team).where(Team.workspace_id == workspace.id))
    return OrgSummary(
        active_people=count(Person.active.is_(True), Person.is_bot.is_(False)),
        inactive_people=count(Person.active.is_(False), Person.is_bot.is_(False)),
        teams=teams or 0,
        managers=managers or 0,
        without_slack=count(Person.active.is_(True), ~has_account()),
    )


def sub_organisation(session: Session, manager: Person) -> list[Person]:
    """Everyone below `manager` (walking manager_id), active or not."""
    return _below(manager.id, lambda ids: session.scalars(select(Person).where(Person.manager_id.in_(ids))).all())


class _HasId(Protocol):
    @property
    def id(self) -> int: ...


_P = TypeVar("_P", bound=_HasId)


def _below(manager_id: int, reports_of: Callable[[list[int]], Iterable[_P]]) -> list[_P]:
    """Everyone below `manager_id`, level by level, each once (a manager_id cycle ends the walk)."""
    found: list[_P] = []
    frontier = [manager_id]
    seen = {manager_id}
    while frontier:
        reports = reports_of(frontier)
        frontier = []
        for report in reports:
            if report.id not in seen:
                seen.add(report.id)
                found.append(report)
                frontier.append(report.id)
    return found


class Member(NamedTuple):
    """A person as an `Organisation` holds them: the columns a digest section reads, without an ORM object."""

    id: int
    manager_id: int | None
    name: str | None
    email: str | None
    active: bool
    is_bot: bool
    start_date: date | None


class Organisation:
    """A workspace's people, read in one query, and who reports to whom: for a run that asks for many
    managers' sub-organisations (the digests), where `sub_organisation` costs a query per level each."""

    def __init__(self, session: Session, workspace_id: int) -> None:
        self._reports: dict[int, list[Member]] = {}
        self._below: dict[int, list[Member]] = {}
        columns = (Person.id, Person.manager_id, Person.name, Person.email, Person.active, Person.is_bot)
        query = select(*columns, Person.start_date).where(Person.workspace_id == workspace_id).order_by(Person.id)
        for row in session.execute(query):
            member = Member(*row)
            if member.manager_id is not None:
                self._reports.setdefault(member.manager_id, []).append(member)

    def below(self, manager: Person) -> list[Member]:
        """Who `sub_organisation(session, manager)` returns: everyone below, level by level, active or not."""
        if manager.id in self._below:
            return self._below[manager.id]
        found = _below(manager.id, lambda ids: [report for i in ids for report in self._reports.get(i, [])])
        self._below[manager.id] = found
        return found


@dataclass(frozen=True)
class AdminProblem:
    entry: str  # as written in EMPATHY_ADMINS
    problem: str  # "unknown" or "inactive"


def listed_admin_problems(session: Session, settings: Settings) -> list[AdminProblem]:
    """EMPATHY_ADMINS entries that grant nothing: nobody in the directory has them, or only people who
    are no longer active (so `is_hr` refuses them). For `empathy-bot doctor`."""
    problems: list[AdminProblem] = []
    for entry in settings.admins:
        named = func.lower(Person.email) == entry.lower() if "@" in entry else with_ids(Platform.SLACK, [entry])
        found = list(session.scalars(select(Person).where(named)))
        if not found:
            problems.append(AdminProblem(entry, "unknown"))
        elif not any(p.active for p in found):
            problems.append(AdminProblem(entry, "inactive"))
    return problems
