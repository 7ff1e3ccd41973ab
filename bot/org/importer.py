"""Load the organisation from HR's CSV file: all-or-nothing, every problem listed by line.

The work goes in three steps, and only a clean file reaches the third:

1. `parse_org_csv` reads the file and finds every problem visible in the file alone (columns,
   values, duplicates, unknown managers, manager circles).
2. `import_org` looks up the Slack account of every row that needs one.
3. It writes the whole file in the caller's transaction, so the caller's commit is one unit.

Any problem raises `OrgImportError` before the first write, listing them all by physical line.
When the directory cannot be read at all (no network, a missing scope), the import stops asking and
reports that as one problem on line 0 (it concerns the whole file, not a row), next to the row
problems already found; its text has no line prefix.

Re-importing the same file changes no row: values are compared before they are assigned.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from zoneinfo import available_timezones

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from bot.core.accounts import external_id, link, unlink
from bot.core.models import Person, PersonSource, Platform, Role, RoleGrant, RoleSource, Team, Workspace, utcnow
from bot.delivery.ports import Directory, DirectoryError, DirectoryUser

REQUIRED_COLUMNS = ("email", "name", "team", "manager_email", "role", "start_date")
OPTIONAL_COLUMNS = ("slack_id", "timezone")
ALL_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
ROLES = ("employee", "hr")
_EMAIL = re.compile(r"^[^@\s,;<>\"']+@[^@\s,;<>\"']+\.[^@\s,;<>\"'.]+$")
_SLACK_ID = re.compile(r"^[UW][A-Z0-9]+$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class RowProblem:
    line: int  # physical line in the file, header = 1; 0 = about the whole file
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


class OrgImportError(Exception):
    """The file was rejected and nothing was written. `str()` is the message for HR."""

    def __init__(self, problems: list[RowProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: p.line)
        super().__init__(str(self))

    def __str__(self) -> str:
        count = len(self.problems)
        head = f"Nothing was imported: {count} {'problem' if count == 1 else 'problems'} in the file. Fix them and import again."
        return "\n".join([head, *map(str, self.problems)])


@dataclass
class OrgRow:
    line: int
    email: str  # lowercased
    name: str
    team: str
    manager_email: str | None  # lowercased
    role: str
    start_date: date | None
    slack_id: str | None
    timezone: str | None
    # Rows with problems are kept so cross-row checks still know their email: a manager whose own
    # row has a bad date must not also be reported as "not in this file".
    email_ok: bool = True
    slack_id_from_file: bool = False


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    reactivated: int = 0  # reactivated people are counted here only, even if other values changed too
    teams_created: int = 0
    problems: list[RowProblem] = field(default_factory=list)


# -- parsing -----------------------------------------------------------------------------------


def parse_org_csv(text: str) -> tuple[list[OrgRow], list[RowProblem]]:
    """The file's rows and every problem that can be seen in the file alone."""
    records, problems = _records(text)
    if not records:
        return [], [*problems, RowProblem(1, f"the file is empty; its first line should be: {','.join(ALL_COLUMNS)}")]
    (header_line, header), body = records[0], records[1:]
    columns = [h.strip().lower() for h in header]
    header_problems = _header_problems(header_line, columns)
    if header_problems:
        return [], problems + header_problems
    rows: list[OrgRow] = []
    for line, values in body:
        row, row_problems = _parse_row(line, columns, values)
        problems += row_problems
        if row is not None:
            rows.append(row)
    if not rows and not problems:
        problems.append(RowProblem(header_line, "the file has a header but nobody in it; add one line per person"))
    return rows, sorted(problems + _cross_row_problems(rows), key=lambda p: p.line)


def _records(text: str) -> tuple[list[tuple[int, list[str]]], list[RowProblem]]:
    """(first physical line, values) of every non-blank record; a quoted field may span lines."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    records: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for values in reader:
            if any(v.strip() for v in values):
                records.append((start, values))
            start = reader.line_num + 1
    except csv.Error as error:
        return records, [RowProblem(start, f"cannot be read as CSV ({error}); check the quotes on this line")]
    return records, []


def _header_problems(line: int, columns: list[str]) -> list[RowProblem]:
    problems: list[RowProblem] = []
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        problems.append(RowProblem(line, f"the header is missing the {_noun(missing, 'column')} {', '.join(missing)}"))
    unknown = [c or "(an empty name)" for c in columns if c not in ALL_COLUMNS]
    if unknown:
        problems.append(
            RowProblem(
                line,
                f"the header has the unknown {_noun(unknown, 'column')} {', '.join(unknown)}; "
                f"the columns are {', '.join(ALL_COLUMNS)} (remove any others)",
            )
        )
    repeated = sorted({c for c in columns if c and columns.count(c) > 1})
    if repeated:
        problems.append(RowProblem(line, f"the header has {', '.join(repeated)} more than once; keep one of each"))
    return problems


def _parse_row(line: int, columns: list[str], values: list[str]) -> tuple[OrgRow | None, list[RowProblem]]:
    if len(values) != len(columns):
        message = (
            f"has {len(values)} values but the header has {len(columns)} columns; "
            "check for a missing or extra comma (a value with a comma needs quotes)"
        )
        return None, [RowProblem(line, message)]
    if any("\0" in value for value in values):
        # PostgreSQL cannot store it; it usually means the file was saved in another encoding.
        return None, [RowProblem(line, "contains a NUL character; save the file again as CSV UTF-8")]
    cells = {column: value.strip() for column, value in zip(columns, values, strict=True)}
    row = OrgRow(
        line=line,
        email=cells["email"].lower(),
        name=cells["name"],
        team=cells["team"],
        manager_email=cells["manager_email"].lower() or None,
        role=cells["role"].lower() or "employee",
        start_date=_parse_date(cells["start_date"]),
        slack_id=cells.get("slack_id") or None,
        timezone=cells.get("timezone") or None,
    )
    row.slack_id_from_file = row.slack_id is not None
    row.email_ok = bool(_EMAIL.match(row.email))
    problems = [RowProblem(line, m) for m in _row_messages(row, cells)]
    return (row if row.email else None), problems


def _row_messages(row: OrgRow, cells: dict[str, str]) -> list[str]:
    """What is wrong with one row on its own, in column order."""
    messages: list[str] = []
    if not row.email:
        messages.append("email is missing; every person needs their work email")
    elif not row.email_ok:
        messages.append(f"email '{cells['email']}' does not look like an email address; fix the spelling")
    if not row.name:
        messages.append("name is missing; write the person's full name")
    if not row.team:
        messages.append("team is missing; write the name of the person's team, e.g. Platform")
    if row.manager_email and row.manager_email == row.email:
        messages.append(
            f"manager_email {row.manager_email} is the person's own email; "
            "leave it empty for the person at the top of the organisation"
        )
    if row.role not in ROLES:
        messages.append(f"role '{cells['role']}' is not one of employee, hr; leave it empty for employee")
    if cells["start_date"] and row.start_date is None:
        messages.append(
            f"start_date '{cells['start_date']}' is not a date like 2024-03-18 (YYYY-MM-DD); fix it or leave it empty"
        )
    if row.slack_id and not _SLACK_ID.match(row.slack_id):
        messages.append(
            f"slack_id '{row.slack_id}' does not look like a Slack user id (like U0123ABCD); "
            "fix it or leave it empty to look the person up by email"
        )
    if row.timezone and row.timezone not in _time_zones():
        messages.append(
            f"timezone '{row.timezone}' is not a time zone name like Europe/Berlin or America/New_York; "
            "fix it or leave it empty to use the person's Slack time zone"
        )
    return messages


def _parse_date(text: str) -> date | None:
    # fromisoformat alone would also take 20240318 and 2024-W12-1.
    if not _ISO_DATE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


@cache
def _time_zones() -> frozenset[str]:
    # The IANA list itself: ZoneInfo() would also accept file names such as "localtime".
    return frozenset(available_timezones())


# -- checks across rows --------------------------------------------------------------------------


def _cross_row_problems(rows: list[OrgRow]) -> list[RowProblem]:
    first_line: dict[str, int] = {}
    problems: list[RowProblem] = []
    for row in rows:
        if row.email in first_line:
            problems.append(
                RowProblem(
                    row.line,
                    f"email {row.email} is also on line {first_line[row.email]}; "
                    "each person appears once, so remove or merge one of the two lines",
                )
            )
        first_line.setdefault(row.email, row.line)
    for row in rows:
        if row.manager_email and row.manager_email not in first_line:
            problems.append(
                RowProblem(
                    row.line,
                    f"manager_email {row.manager_email} is not anyone's email in this file; "
                    "add a line for the manager or fix the spelling",
                )
            )
    return problems + _slack_id_clashes(rows) + _cycle_problems(rows)


def _slack_id_clashes(rows: list[OrgRow]) -> list[RowProblem]:
    """Two lines with one Slack account. Runs again after lookups, which can find new clashes."""
    owner: dict[str, OrgRow] = {}
    problems: list[RowProblem] = []
    for row in rows:
        if row.slack_id is None:
            continue
        first = owner.setdefault(row.slack_id, row)
        if first is row:
            continue
        if row.slack_id_from_file:
            message = f"slack_id {row.slack_id} is already used on line {first.line} ({first.email})"
        else:
            message = f"the Slack account of {row.email} ({row.slack_id}) is already used on line {first.line}"
        problems.append(RowProblem(row.line, f"{message}; each Slack account belongs to one person"))
    return problems


def _cycle_problems(rows: list[OrgRow]) -> list[RowProblem]:
    """Every line in a circle of managers, once, each naming the whole circle."""
    manager_of = {r.email: r.manager_email for r in rows if r.manager_email and r.manager_email != r.email}
    line_of: dict[str, int] = {}
    for row in rows:
        line_of.setdefault(row.email, row.line)
    problems: list[RowProblem] = []
    for cycle in _cycles(manager_of):
        # Start the chain at the circle's first line in the file, so every line names it alike.
        first = min(range(len(cycle)), key=lambda i: line_of[cycle[i]])
        chain = " → ".join([*cycle[first:], *cycle[: first + 1]])
        message = (
            f"manager_email makes a circle of managers ({chain}); someone in it must report to a person outside it"
        )
        problems += [RowProblem(line_of[email], message) for email in cycle]
    return problems


def _cycles(manager_of: dict[str, str | None]) -> Iterator[list[str]]:
    """Each circle in the reporting lines once; every person is walked over once."""
    done: set[str] = set()
    for start in manager_of:
        path: list[str] = []
        on_path: set[str] = set()
        current: str | None = start
        while current is not None and current not in done and current not in on_path:
            path.append(current)
            on_path.add(current)
            current = manager_of.get(current)
        if current is not None and current in on_path:
            yield path[path.index(current) :]
        done |= on_path


# -- Slack lookups --------------------------------------------------------------------------------


def _resolve_slack_accounts(
    rows: list[OrgRow], known: dict[str, Person], directory: Directory, platform: str
) -> list[RowProblem]:
    """Fill slack_id (and an empty timezone) for rows without one; only unknown emails are looked up."""
    problems: list[RowProblem] = []
    looked_up: dict[str, DirectoryUser | None] = {}
    for row in rows:
        person = known.get(row.email)
        if row.slack_id is None and person is not None and (known_id := external_id(person, platform)):
            row.slack_id = known_id
        if row.slack_id is not None or not row.email_ok:
            row.timezone = row.timezone or (person.timezone if person else None)
            continue
        if row.email not in looked_up:
            try:
                looked_up[row.email] = directory.lookup_by_email(row.email)
            except DirectoryError as error:
                # Every further lookup would fail the same way; say it once.
                return [
                    *problems,
                    RowProblem(0, f"Could not check the Slack accounts of the people in the file: {error}"),
                ]
        user = looked_up[row.email]
        if user is None or user.deleted:
            problems.append(
                RowProblem(
                    row.line,
                    f"email {row.email}: no Slack account uses this email; check the spelling or add slack_id",
                )
            )
            continue
        row.slack_id = user.user_id
        row.timezone = row.timezone or user.timezone or (person.timezone if person else None)
    return problems


# -- writing -------------------------------------------------------------------------------------


def import_org(
    session: Session, workspace: Workspace, text: str, directory: Directory, *, now: datetime | None = None
) -> ImportReport:
    """Validate the whole file, then upsert it. Raises OrgImportError (having written nothing) on any problem."""
    rows, problems = parse_org_csv(text)
    people = list(
        session.scalars(
            select(Person).options(selectinload(Person.accounts)).where(Person.workspace_id == workspace.id)
        )
    )
    by_email = {p.email: p for p in people if p.email}
    problems += _resolve_slack_accounts(rows, by_email, directory, workspace.platform)
    # Only now are all Slack ids known; clashes between ids from the file were reported already.
    problems += [p for p in _slack_id_clashes(rows) if p not in problems]
    if problems:
        raise OrgImportError(problems)
    return _write(session, workspace, rows, people, now or utcnow())


def _write(
    session: Session, workspace: Workspace, rows: list[OrgRow], people: list[Person], now: datetime
) -> ImportReport:
    report = ImportReport()
    teams = _ensure_teams(session, workspace, {r.team for r in rows}, report)
    matched = _match_people(rows, people, workspace.platform)
    _release_moved_accounts(session, rows, people, matched, workspace.platform)
    changed: set[str] = set()
    fresh: set[str] = set()  # created or reactivated: counted as such, not as updated
    for row in rows:
        person = matched.get(row.email)
        if person is None:
            person = matched[row.email] = Person(workspace_id=workspace.id, active=True, accounts=[])
            session.add(person)
            report.created += 1
            fresh.add(row.email)
        elif not person.active:
            person.active, person.deactivated_at = True, None
            report.reactivated += 1
            fresh.add(row.email)
        if _assign(person, row, teams):
            changed.add(row.email)
    session.flush()  # new people need ids before anyone can point at them as manager (or own an account)
    for row in rows:
        if _link_account(session, matched[row.email], row.slack_id, workspace.platform):
            changed.add(row.email)
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


def _match_people(rows: list[OrgRow], people: Iterable[Person], platform: str) -> dict[str, Person]:
    """Existing people by the file's emails: by email, else by Slack account (their email changed)."""
    by_email = {p.email: p for p in people if p.email}
    by_slack_id = {user_id: p for p in people if (user_id := external_id(p, platform))}
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


def _release_moved_accounts(
    session: Session, rows: list[OrgRow], people: list[Person], matched: dict[str, Person], platform: str
) -> None:
    """Remove accounts that move to another person first, so the unique key never clashes mid-write."""
    owner = {r.slack_id: matched.get(r.email) for r in rows}
    moved = [p for p in people if (user_id := external_id(p, platform)) is not None and owner.get(user_id, p) is not p]
    for person in moved:
        unlink(session, person, platform)
    if moved:
        session.flush()


def _link_account(session: Session, person: Person, user_id: str | None, platform: str) -> bool:
    """Give the person the row's account (or none); True if that changed it."""
    if external_id(person, platform) == user_id:
        return False
    if user_id is None:
        unlink(session, person, platform)
    else:
        link(session, person, platform, user_id)
    return True


def _assign(person: Person, row: OrgRow, teams: dict[str, Team]) -> bool:
    """Set the row's values; True if anything changed (unchanged people keep their updated_at)."""
    values = {
        "email": row.email,
        "name": row.name,
        "team_id": teams[row.team].id,
        "start_date": row.start_date,
        "timezone": row.timezone,
        "source": PersonSource.CSV.value,
    }
    return _set_changed(person, values)


def _link_managers(rows: list[OrgRow], people: dict[str, Person]) -> set[str]:
    return {
        row.email
        for row in rows
        if _set_changed(people[row.email], {"manager_id": people[row.manager_email].id if row.manager_email else None})
    }


def _set_changed(person: Person, values: dict[str, object]) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(person, key) != value:
            setattr(person, key, value)
            changed = True
    return changed


def _deactivate_absent(people: list[Person], kept: set[Person], now: datetime) -> int:
    absent = [p for p in people if p not in kept and p.active]
    for person in absent:
        person.active, person.deactivated_at = False, now
    return len(absent)


def _replace_csv_grants(session: Session, workspace: Workspace, rows: list[OrgRow], people: dict[str, Person]) -> None:
    wanted = {people[r.email].id for r in rows if r.role == Role.HR}
    _sync_grants(session, workspace, RoleSource.CSV, wanted)


def grant_env_admins(session: Session, workspace: Workspace, admins: Iterable[str]) -> int:
    """Keep EMPATHY_ADMINS' HR grants in step with the setting (emails or Slack user ids).

    Returns how many people in the workspace hold one; entries that match nobody are ignored.
    """
    entries = [a.strip() for a in admins if a.strip()]
    emails = {a.lower() for a in entries if "@" in a}
    slack_ids = {a for a in entries if "@" not in a}
    people = session.scalars(
        select(Person).options(selectinload(Person.accounts)).where(Person.workspace_id == workspace.id)
    )
    wanted = {p.id for p in people if p.email in emails or external_id(p, Platform.SLACK) in slack_ids}
    _sync_grants(session, workspace, RoleSource.ENV, wanted)
    session.flush()
    return len(wanted)


def _sync_grants(session: Session, workspace: Workspace, source: RoleSource, wanted: set[int]) -> None:
    """Make the HR grants of one source exactly `wanted`; grants of other sources are never touched."""
    of_source = (RoleGrant.workspace_id == workspace.id, RoleGrant.role == Role.HR, RoleGrant.source == source)
    current = set(session.scalars(select(RoleGrant.person_id).where(*of_source)))
    if current - wanted:
        session.execute(delete(RoleGrant).where(*of_source, RoleGrant.person_id.in_(current - wanted)))
    for person_id in sorted(wanted - current):
        session.add(RoleGrant(workspace_id=workspace.id, person_id=person_id, role=Role.HR, source=source))


def _noun(items: list[str], noun: str) -> str:
    return noun if len(items) == 1 else f"{noun}s"
