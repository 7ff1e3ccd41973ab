"""Load the organisation from HR's CSV file: all-or-nothing, every problem listed by line.

Everything is checked first, Slack lookups included; only a clean file is written, in the
caller's one transaction. Re-importing the same file changes no row.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.directory import Directory, DirectoryError
from bot.models import Person, PersonSource, Role, RoleGrant, RoleSource, Team, Workspace, utcnow

REQUIRED_COLUMNS = ("email", "name", "team", "manager_email", "role", "start_date")
OPTIONAL_COLUMNS = ("slack_id", "timezone")
ROLES = ("employee", "hr")
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
_SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


@dataclass(frozen=True)
class RowProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


class OrgImportError(Exception):
    def __init__(self, problems: list[RowProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: p.line)
        super().__init__(str(self))

    def __str__(self) -> str:
        count = len(self.problems)
        head = (
            f"Nothing was imported: {count} problem{'s' if count != 1 else ''} in the file. Fix them and import again."
        )
        return "\n".join([head, *(f"  {p}" for p in self.problems)])


@dataclass
class OrgRow:
    line: int
    email: str
    name: str
    team: str
    manager_email: str | None
    role: str
    start_date: date | None
    slack_id: str | None
    timezone: str | None
    # A row with problems is kept (invalid) so cross-row checks still know its email: a manager whose
    # own row has a typo must not also be reported as "not in this file".
    valid: bool = True


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    reactivated: int = 0
    teams_created: int = 0
    problems: list[RowProblem] = field(default_factory=list)


# -- parsing -----------------------------------------------------------------------------------


def parse_org_csv(text: str) -> tuple[list[OrgRow], list[RowProblem]]:
    """Rows and every problem that can be seen in the file alone."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    if header is None or not any(h.strip() for h in header):
        return [], [
            RowProblem(
                1, f"the file is empty; the first line should be: {','.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}"
            )
        ]
    columns = [h.strip().lower() for h in header]
    problems = _header_problems(columns)
    if problems:
        return [], problems
    rows: list[OrgRow] = []
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(columns):
            problems.append(RowProblem(line, f"has {len(values)} values but the header has {len(columns)} columns"))
            continue
        row, row_problems = _parse_row(line, dict(zip(columns, (v.strip() for v in values), strict=True)))
        problems += row_problems
        if row is not None:
            rows.append(row)
    if not rows and not problems:
        problems.append(RowProblem(1, "the file has a header but nobody in it"))
    # Checks across rows see every row with an email; only the file as a whole is ever written.
    return rows, problems


def _header_problems(columns: list[str]) -> list[RowProblem]:
    problems = []
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        problems.append(
            RowProblem(1, f"the header is missing the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        )
    unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        allowed = ", ".join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
        problems.append(
            RowProblem(
                1,
                f"the header has unknown column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; the columns are {allowed}",
            )
        )
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        problems.append(RowProblem(1, f"the header repeats {', '.join(duplicated)}"))
    return problems


def _parse_row(line: int, values: dict[str, str]) -> tuple[OrgRow | None, list[RowProblem]]:
    problems: list[str] = []
    email = values["email"].lower()
    if not email:
        problems.append("email is missing; every person needs their work email")
    elif not _EMAIL.match(email):
        problems.append(f"email '{values['email']}' does not look like an email address")
    if not values["name"]:
        problems.append("name is missing")
    if not values["team"]:
        problems.append("team is missing; use the name of the person's team, e.g. Platform")
    role = values["role"].lower() or "employee"
    if role not in ROLES:
        problems.append(f"role '{values['role']}' is not one of employee, hr")
    start_date = None
    if values["start_date"]:
        try:
            start_date = date.fromisoformat(values["start_date"])
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", values["start_date"]):
                raise ValueError
        except ValueError:
            problems.append(f"start_date '{values['start_date']}' is not a date like 2024-03-18 (YYYY-MM-DD)")
    timezone = values.get("timezone") or None
    if timezone and not _valid_timezone(timezone):
        problems.append(f"timezone '{timezone}' is not a time zone name like Europe/Berlin or America/New_York")
    slack_id = values.get("slack_id") or None
    if slack_id and not _SLACK_ID.match(slack_id):
        problems.append(
            f"slack_id '{slack_id}' does not look like a Slack user id (like U0123ABCD); leave it empty to look it up by email"
        )
    manager_email = values["manager_email"].lower() or None
    if manager_email and manager_email == email:
        problems.append("manager_email is the person's own email; leave it empty for the top of the organisation")
    row = OrgRow(line, email, values["name"], values["team"], manager_email, role, start_date, slack_id, timezone)
    row.valid = not problems
    return (row if email else None), [RowProblem(line, p) for p in problems]


def _valid_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


# -- checks across rows --------------------------------------------------------------------------


def _cross_row_problems(rows: list[OrgRow]) -> list[RowProblem]:
    problems: list[RowProblem] = []
    first_line: dict[str, int] = {}
    for row in rows:
        if row.email in first_line:
            problems.append(
                RowProblem(
                    row.line, f"{row.email} is already on line {first_line[row.email]}; each person appears once"
                )
            )
        else:
            first_line[row.email] = row.line
    slack_line: dict[str, int] = {}
    for row in rows:
        if row.slack_id and row.slack_id in slack_line:
            problems.append(
                RowProblem(row.line, f"slack_id {row.slack_id} is already used on line {slack_line[row.slack_id]}")
            )
        elif row.slack_id:
            slack_line[row.slack_id] = row.line
    for row in rows:
        if row.manager_email and row.manager_email not in first_line:
            problems.append(
                RowProblem(
                    row.line,
                    f"manager_email {row.manager_email} is not anyone's email in this file; add the manager or fix the spelling",
                )
            )
    problems += _cycle_problems(rows)
    return problems


def _cycle_problems(rows: list[OrgRow]) -> list[RowProblem]:
    manager_of = {r.email: r.manager_email for r in rows if r.manager_email and r.manager_email != r.email}
    line_of = {r.email: r.line for r in rows}
    reported: set[str] = set()
    problems: list[RowProblem] = []
    for start in manager_of:
        path: list[str] = []
        seen: set[str] = set()
        current: str | None = start
        while current is not None and current not in seen:
            seen.add(current)
            path.append(current)
            current = manager_of.get(current)
        if current is None or current in reported:
            continue
        cycle = path[path.index(current) :]
        chain = " → ".join([*cycle, current])
        for email in cycle:
            reported.add(email)
            problems.append(
                RowProblem(
                    line_of[email], f"managers go round in a circle ({chain}); someone in it must report outside it"
                )
            )
    return problems


# -- Slack lookups --------------------------------------------------------------------------------


def _resolve_slack_accounts(rows: list[OrgRow], existing: dict[str, Person], directory: Directory) -> list[RowProblem]:
    """Fill slack_id (and an empty timezone) for rows without one. Known people need no lookup."""
    problems: list[RowProblem] = []
    for row in rows:
        known = existing.get(row.email)
        if row.slack_id is None and known is not None and known.slack_user_id:
            row.slack_id = known.slack_user_id
        if row.slack_id is not None:
            if row.timezone is None and known is not None:
                row.timezone = known.timezone
            continue
        try:
            user = directory.lookup_by_email(row.email)
        except DirectoryError as error:
            return [RowProblem(0, f"Could not check Slack accounts: {error}")]
        if user is None or user.deleted:
            problems.append(
                RowProblem(row.line, f"no Slack account uses {row.email}; check the spelling or add their slack_id")
            )
            continue
        row.slack_id = user.user_id
        row.timezone = row.timezone or user.timezone or (known.timezone if known else None)
    return problems


# -- writing -------------------------------------------------------------------------------------


def import_org(
    session: Session, workspace: Workspace, text: str, directory: Directory, *, now: datetime | None = None
) -> ImportReport:
    """Validate the whole file, then upsert it. Raises OrgImportError (and writes nothing) on any problem."""
    now = now or utcnow()
    rows, problems = parse_org_csv(text)
    problems += _cross_row_problems(rows)
    people = session.scalars(select(Person).where(Person.workspace_id == workspace.id)).all()
    by_email = {p.email: p for p in people if p.email}
    problems += _resolve_slack_accounts([r for r in rows if r.valid], by_email, directory)
    if problems:
        raise OrgImportError(problems)
    return _write(session, workspace, rows, people, now)


def _match_people(rows: list[OrgRow], people: Iterable[Person]) -> dict[str, Person]:
    """Existing people by the file's emails: by email, else by Slack account (their email changed)."""
    by_email = {p.email: p for p in people if p.email}
    by_slack_id = {p.slack_user_id: p for p in people if p.slack_user_id}
    in_file = {r.email for r in rows}
    matched: dict[str, Person] = {}
    for row in rows:
        person = by_email.get(row.email)
        if person is None and row.slack_id in by_slack_id:
            candidate = by_slack_id[row.slack_id]
            if candidate.email not in in_file:
                person = candidate
        if person is not None:
            matched[row.email] = person
    return matched


def _write(
    session: Session, workspace: Workspace, rows: list[OrgRow], people: Iterable[Person], now: datetime
) -> ImportReport:
    people = list(people)
    report = ImportReport()
    teams = _ensure_teams(session, workspace, {r.team for r in rows}, report)
    matched = _match_people(rows, people)
    # Release Slack ids that move to another row before assigning, so the unique key never clashes.
    taken = {r.slack_id for r in rows}
    for person in people:
        if person.slack_user_id in taken and matched.get(person.email or "") is not person:
            person.slack_user_id = None
    for row in rows:
        person = matched.get(row.email)
        if person is not None and person.slack_user_id != row.slack_id:
            person.slack_user_id = None
    session.flush()

    changed: set[str] = set()
    fresh: set[str] = set()  # created or reactivated: counted as such, not as updated
    for row in rows:
        person = matched.get(row.email)
        if person is None:
            person = Person(workspace_id=workspace.id, source=PersonSource.CSV.value, active=True)
            session.add(person)
            matched[row.email] = person
            report.created += 1
            fresh.add(row.email)
        elif not person.active:
            person.active, person.deactivated_at = True, None
            report.reactivated += 1
            fresh.add(row.email)
        if _assign(person, row, teams):
            changed.add(row.email)
    session.flush()
    changed |= _link_managers(rows, matched)
    report.updated = len(changed - fresh)
    report.unchanged = len(rows) - len(fresh) - report.updated
    report.deactivated = _deactivate_absent(people, set(matched.values()), now)
    _replace_csv_grants(session, workspace, rows, matched)
    session.flush()
    return report


def _ensure_teams(session: Session, workspace: Workspace, names: set[str], report: ImportReport) -> dict[str, Team]:
    teams = {t.name: t for t in session.scalars(select(Team).where(Team.workspace_id == workspace.id))}
    for name in sorted(names - teams.keys()):
        teams[name] = Team(workspace_id=workspace.id, name=name)
        session.add(teams[name])
        report.teams_created += 1
    session.flush()
    return teams


def _assign(person: Person, row: OrgRow, teams: dict[str, Team]) -> bool:
    """Set the row's values; True if anything changed (unchanged people keep their updated_at)."""
    values = {
        "email": row.email,
        "name": row.name,
        "team_id": teams[row.team].id,
        "start_date": row.start_date,
        "timezone": row.timezone,
        "slack_user_id": row.slack_id,
        "source": PersonSource.CSV.value,
    }
    changed = False
    for key, value in values.items():
        if getattr(person, key) != value:
            setattr(person, key, value)
            changed = True
    return changed


def _link_managers(rows: list[OrgRow], people: dict[str, Person]) -> set[str]:
    changed = set()
    for row in rows:
        person = people[row.email]
        manager_id = people[row.manager_email].id if row.manager_email else None
        if person.manager_id != manager_id:
            person.manager_id = manager_id
            changed.add(row.email)
    return changed


def _deactivate_absent(people: list[Person], kept: set[Person], now: datetime) -> int:
    count = 0
    for person in people:
        if person not in kept and person.active:
            person.active, person.deactivated_at = False, now
            count += 1
    return count


def _replace_csv_grants(session: Session, workspace: Workspace, rows: list[OrgRow], people: dict[str, Person]) -> None:
    wanted = {people[r.email].id for r in rows if r.role == "hr"}
    current = set(
        session.scalars(
            select(RoleGrant.person_id).where(
                RoleGrant.workspace_id == workspace.id, RoleGrant.role == Role.HR, RoleGrant.source == RoleSource.CSV
            )
        )
    )
    if current - wanted:
        session.execute(
            delete(RoleGrant).where(
                RoleGrant.workspace_id == workspace.id,
                RoleGrant.role == Role.HR,
                RoleGrant.source == RoleSource.CSV,
                RoleGrant.person_id.in_(current - wanted),
            )
        )
    for person_id in sorted(wanted - current):
        session.add(RoleGrant(workspace_id=workspace.id, person_id=person_id, role=Role.HR, source=RoleSource.CSV))


def grant_env_admins(session: Session, workspace: Workspace, admins: Iterable[str]) -> int:
    """Keep EMPATHY_ADMINS' HR grants in step with the setting; returns how many people hold one."""
    entries = [a.strip() for a in admins if a.strip()]
    emails = {a.lower() for a in entries if "@" in a}
    slack_ids = {a for a in entries if "@" not in a}
    people = session.scalars(select(Person).where(Person.workspace_id == workspace.id)).all()
    wanted = {p.id for p in people if (p.email in emails) or (p.slack_user_id in slack_ids)}
    current = set(
        session.scalars(
            select(RoleGrant.person_id).where(
                RoleGrant.workspace_id == workspace.id, RoleGrant.source == RoleSource.ENV
            )
        )
    )
    if current - wanted:
        session.execute(
            delete(RoleGrant).where(
                RoleGrant.workspace_id == workspace.id,
                RoleGrant.source == RoleSource.ENV,
                RoleGrant.person_id.in_(current - wanted),
            )
        )
    for person_id in sorted(wanted - current):
        session.add(RoleGrant(workspace_id=workspace.id, person_id=person_id, role=Role.HR, source=RoleSource.ENV))
    session.flush()
    return len(wanted)
