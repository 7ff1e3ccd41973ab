"""HR's org file: a good file loads, every bad row is reported by line, and a bad file changes nothing.

Lookups go through the real SlackDirectory and slack_sdk WebClient to the fake Slack API, on SQLite
and PostgreSQL alike.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot.core.models import Person, PersonSource, Role, RoleGrant, RoleSource, Team, Workspace
from bot.delivery.ports import Directory, DirectoryUser
from bot.org.importer import ImportReport, OrgImportError, grant_env_admins, import_org, parse_org_csv
from handlers.slack.directory import SlackDirectory
from tests.conftest import BOT_TOKEN
from tests.fakes.slack.api import FakeSlack
from tests.support.paths import ROOT
from tests.support.people import slack_id

EXAMPLE = (ROOT / "examples" / "org.csv").read_text(encoding="utf-8")
EXAMPLE_ROWS = list(csv.DictReader(io.StringIO(EXAMPLE)))
HEADER = "email,name,team,manager_email,role,start_date,slack_id,timezone"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SLACK_TZ = "Pacific/Auckland"  # no one's zone in the file, so a kept file zone is visible


def slack_id_for(email: str) -> str:
    return "U" + "".join(ch for ch in email.split("@")[0].upper() if ch.isalnum())


def seed_slack(slack: FakeSlack, emails: list[str]) -> None:
    for email in emails:
        slack.add_user(slack_id_for(email), email=email, real_name=email.split("@")[0].title(), tz=SLACK_TZ)


@pytest.fixture
def directory(slack: FakeSlack) -> SlackDirectory:
    """Everyone in the example file (and a few more) has a Slack account."""
    seed_slack(slack, [row["email"] for row in EXAMPLE_ROWS] + ["zoe@example.com", "yuki@example.com"])
    return SlackDirectory(WebClient(token=BOT_TOKEN, base_url=slack.url))


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def without(text: str, email: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith(email + ","))


def load(factory: sessionmaker[Session], workspace: Workspace, text: str, directory: Directory) -> ImportReport:
    with factory.begin() as session:
        return import_org(session, session.merge(workspace), text, directory, now=NOW)


def rejection(factory: sessionmaker[Session], workspace: Workspace, text: str, directory: Directory) -> OrgImportError:
    with pytest.raises(OrgImportError) as caught:
        load(factory, workspace, text, directory)
    return caught.value


def problems_of(factory: sessionmaker[Session], workspace: Workspace, text: str, directory: Directory) -> list[str]:
    return [str(p) for p in rejection(factory, workspace, text, directory).problems]


def counts(report: ImportReport) -> tuple[int, int, int, int, int]:
    return (report.created, report.updated, report.unchanged, report.deactivated, report.reactivated)


def snapshot(factory: sessionmaker[Session]) -> list[list[tuple[Any, ...]]]:
    """Every column of every person, team and role grant row."""
    with factory() as session:
        return [
            [_columns(row) for row in session.scalars(select(model).order_by(model.id))]
            for model in (Person, Team, RoleGrant)
        ]


def _columns(row: Person | Team | RoleGrant) -> tuple[Any, ...]:
    return tuple(getattr(row, column.key) for column in row.__table__.columns)


def person(factory: sessionmaker[Session], email: str) -> Person:
    with factory() as session:
        found = session.scalar(select(Person).where(Person.email == email))
        assert found is not None, f"{email} is not in the database"
        _ = (found.manager, found.team, found.accounts)  # load while the session is open
        return found


def grants(factory: sessionmaker[Session]) -> list[tuple[str, str]]:
    with factory() as session:
        rows = session.execute(
            select(Person.email, RoleGrant.source)
            .join(RoleGrant, RoleGrant.person_id == Person.id)
            .where(RoleGrant.role == Role.HR)
            .order_by(Person.email, RoleGrant.source)
        )
        return [(str(email), str(source)) for email, source in rows]


def lookups(slack: FakeSlack) -> list[str]:
    return [call["email"] for call in slack.calls_to("users.lookupByEmail")]


# -- the good path -----------------------------------------------------------------------------


def test_the_example_org_file_loads(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory
) -> None:
    report = load(session_factory, workspace, EXAMPLE, directory)

    assert counts(report) == (13, 0, 0, 0, 0)
    assert (report.teams_created, report.problems) == (5, [])
    with session_factory() as session:
        stored = {p.email: p for p in session.scalars(select(Person).options(selectinload(Person.accounts)))}
        as_file = {
            p.email: (
                p.name,
                p.team.name if p.team else "",
                p.manager.email if p.manager else "",
                p.start_date.isoformat() if p.start_date else "",
                p.timezone,
            )
            for p in stored.values()
        }
        assert {t.name for t in session.scalars(select(Team))} == {row["team"] for row in EXAMPLE_ROWS}
    assert as_file == {
        row["email"]: (row["name"], row["team"], row["manager_email"], row["start_date"], row["timezone"])
        for row in EXAMPLE_ROWS
    }
    assert all(slack_id(p) == slack_id_for(email) for email, p in stored.items())
    assert all((p.active, p.source) == (True, PersonSource.CSV) for p in stored.values())
    assert grants(session_factory) == [("hr.lead@example.com", RoleSource.CSV)]


def test_reimporting_the_same_file_changes_no_row(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory, slack: FakeSlack
) -> None:
    load(session_factory, workspace, EXAMPLE, directory)
    before = snapshot(session_factory)
    looked_up = lookups(slack)

    report = load(session_factory, workspace, EXAMPLE, directory)

    assert counts(report) == (0, 0, 13, 0, 0)
    assert report.teams_created == 0
    assert snapshot(session_factory) == before  # updated_at included
    assert lookups(slack) == looked_up  # everyone is known now: Slack is not asked again


def test_a_change_updates_only_that_person(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory
) -> None:
    load(session_factory, workspace, EXAMPLE, directory)
    ana_before, ben_before = person(session_factory, "ana@example.com"), person(session_factory, "ben@example.com")
    moved = EXAMPLE.replace(
        "ben@example.com,Ben Carter,Platform,eng.head@example.com,employee,2022-02-14,,Europe/London",
        "ben@example.com,Ben Carter,Field Sales,sales.head@example.com,employee,2022-02-14,,America/Chicago",
    )

    report = load(session_factory, workspace, moved, directory)

    assert counts(report) == (0, 1, 12, 0, 0)
    assert report.teams_created == 1
    ben = person(session_factory, "ben@example.com")
    assert (ben.team and ben.team.name, ben.manager and ben.manager.email, ben.timezone) == (
        "Field Sales",
        "sales.head@example.com",
        "America/Chicago",
    )
    assert ben.updated_at > ben_before.updated_at
    assert person(session_factory, "ana@example.com").updated_at == ana_before.updated_at


def test_people_missing_from_a_later_file_are_deactivated_then_reactivated(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory
) -> None:
    load(session_factory, workspace, EXAMPLE, directory)

    report = load(session_factory, workspace, without(EXAMPLE, "jonas@example.com"), directory)
    assert counts(report) == (0, 0, 12, 1, 0)
    jonas = person(session_factory, "jonas@example.com")  # kept, never deleted
    assert (jonas.active, jonas.deactivated_at) == (False, NOW)

    report = load(session_factory, workspace, EXAMPLE, directory)
    assert counts(report) == (0, 0, 12, 0, 1)
    jonas = person(session_factory, "jonas@example.com")
    assert (jonas.active, jonas.deactivated_at, jonas.name) == (True, None, "Jonas Berg")


def test_only_rows_without_slack_id_and_with_new_emails_are_looked_up(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory, slack: FakeSlack
) -> None:
    ana = "ana@example.com,Ana Souza,Platform,,employee,,U0ANAXX,Europe/Lisbon"
    ben = "ben@example.com,Ben Carter,Platform,ana@example.com,employee,,,"
    load(session_factory, workspace, csv_text(ana, ben), directory)
    assert lookups(slack) == ["ben@example.com"]
    assert (
        slack_id(person(session_factory, "ben@example.com")),
        person(session_factory, "ben@example.com").timezone,
    ) == (
        slack_id_for("ben@example.com"),
        SLACK_TZ,  # an empty timezone comes from Slack
    )
    assert slack_id(person(session_factory, "ana@example.com")) == "U0ANAXX"

    chen = "chen@example.com,Chen Wei,Platform,ana@example.com,employee,,,Asia/Singapore"
    load(session_factory, workspace, csv_text(ana, ben, chen), directory)
    assert lookups(slack) == ["ben@example.com", "chen@example.com"]  # Ben's Slack id is reused
    assert person(session_factory, "chen@example.com").timezone == "Asia/Singapore"  # the file's zone wins


def test_an_empty_timezone_keeps_the_one_already_stored(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory
) -> None:
    load(session_factory, workspace, csv_text("ana@example.com,Ana,Platform,,,,U0ANA,Europe/Lisbon"), directory)
    report = load(session_factory, workspace, csv_text("ana@example.com,Ana,Platform,,,,U0ANA,"), directory)
    assert counts(report) == (0, 0, 1, 0, 0)
    assert person(session_factory, "ana@example.com").timezone == "Europe/Lisbon"


def test_hr_grants_follow_the_file_and_other_sources_survive(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory
) -> None:
    promoted = EXAMPLE.replace(
        "Ana Souza,Platform,eng.head@example.com,employee", "Ana Souza,Platform,eng.head@example.com,HR"
    )
    load(session_factory, workspace, promoted, directory)
    assert grants(session_factory) == [("ana@example.com", RoleSource.CSV), ("hr.lead@example.com", RoleSource.CSV)]
    with session_factory.begin() as session:
        ws = session.merge(workspace)
        grant_env_admins(session, ws, ["ceo@example.com"])
        ben = session.scalars(select(Person).where(Person.email == "ben@example.com")).one()
        session.add(RoleGrant(workspace_id=ws.id, person_id=ben.id, role=Role.HR, source=RoleSource.APP))

    demoted = EXAMPLE.replace("Priya Natarajan,People,ceo@example.com,hr", "Priya Natarajan,People,ceo@example.com,")
    load(session_factory, workspace, demoted, directory)

    assert grants(session_factory) == [("ben@example.com", RoleSource.APP), ("ceo@example.com", RoleSource.ENV)]


def test_env_admins_are_granted_by_email_or_slack_id_and_removed_when_unlisted(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory
) -> None:
    load(session_factory, workspace, EXAMPLE, directory)
    admins = [" CEO@example.com ", slack_id_for("ana@example.com"), "nobody@example.com", "UNKNOWN1", ""]

    for _ in range(2):  # a second run adds nothing
        with session_factory.begin() as session:
            assert grant_env_admins(session, session.merge(workspace), admins) == 2
        assert grants(session_factory) == [
            ("ana@example.com", RoleSource.ENV),
            ("ceo@example.com", RoleSource.ENV),
            ("hr.lead@example.com", RoleSource.CSV),
        ]

    with session_factory.begin() as session:
        assert grant_env_admins(session, session.merge(workspace), ["ceo@example.com"]) == 1
    assert grants(session_factory) == [("ceo@example.com", RoleSource.ENV), ("hr.lead@example.com", RoleSource.CSV)]


def test_an_email_change_is_recognised_by_the_slack_account(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory
) -> None:
    load(session_factory, workspace, csv_text("ana@example.com,Ana Souza,Platform,,employee,,U0ANAXX,"), directory)
    before = person(session_factory, "ana@example.com")
    renamed = csv_text("ana.souza@example.com,Ana Souza,Platform,,employee,,U0ANAXX,")

    report = load(session_factory, workspace, renamed, directory)

    assert counts(report) == (0, 1, 0, 0, 0)
    assert person(session_factory, "ana.souza@example.com").id == before.id


def test_two_people_can_swap_slack_ids(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory
) -> None:
    # The unique (workspace, platform, user id) key of accounts must not trip over the moment both hold the same id.
    load(
        session_factory,
        workspace,
        csv_text("ana@example.com,Ana,P,,,,U0AAA,", "ben@example.com,Ben,P,,,,U0BBB,"),
        directory,
    )
    report = load(
        session_factory,
        workspace,
        csv_text("ana@example.com,Ana,P,,,,U0BBB,", "ben@example.com,Ben,P,,,,U0AAA,"),
        directory,
    )
    assert counts(report) == (0, 2, 0, 0, 0)
    assert [slack_id(person(session_factory, e)) for e in ("ana@example.com", "ben@example.com")] == [
        "U0BBB",
        "U0AAA",
    ]


def test_a_byte_order_mark_any_header_case_and_column_order_are_fine(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory
) -> None:
    text = "\ufeffTeam,EMAIL,Name,Role,Start_Date,Manager_Email\r\nPlatform,Ana@Example.com,Ana Souza,,2021-09-01,\r\n"
    report = load(session_factory, workspace, text, directory)
    assert counts(report) == (1, 0, 0, 0, 0)
    ana = person(session_factory, "ana@example.com")
    assert (ana.name, ana.start_date, slack_id(ana), ana.timezone) == (
        "Ana Souza",
        date(2021, 9, 1),
        slack_id_for("ana@example.com"),
        SLACK_TZ,
    )
    assert grants(session_factory) == []  # an empty role is employee


# -- bad files ---------------------------------------------------------------------------------

ANA = "ana@example.com,Ana Souza,Platform,,employee,2021-09-01,,Europe/Lisbon"


def ana_with(**cells: str) -> str:
    """Ana's line with some cells replaced."""
    values = dict(zip(HEADER.split(","), ANA.split(","), strict=True)) | cells
    return ",".join(values.values())


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            ana_with(email=""),
            "line 2: email is missing; every person needs their work email",
        ),
        (
            ana_with(email="ana-at-example.com"),
            "line 2: email 'ana-at-example.com' does not look like an email address; fix the spelling",
        ),
        (
            ana_with(name=""),
            "line 2: name is missing; write the person's full name",
        ),
        (
            ana_with(team=" "),
            "line 2: team is missing; write the name of the person's team, e.g. Platform",
        ),
        (
            ana_with(role="boss"),
            "line 2: role 'boss' is not one of employee, hr; leave it empty for employee",
        ),
        (
            ana_with(start_date="01/09/2021"),
            "line 2: start_date '01/09/2021' is not a date like 2024-03-18 (YYYY-MM-DD); fix it or leave it empty",
        ),
        (
            ana_with(start_date="2021-02-30"),
            "line 2: start_date '2021-02-30' is not a date like 2024-03-18 (YYYY-MM-DD); fix it or leave it empty",
        ),
        (
            ana_with(start_date="20210901"),
            "line 2: start_date '20210901' is not a date like 2024-03-18 (YYYY-MM-DD); fix it or leave it empty",
        ),
        (
            ana_with(timezone="Mars/Olympus"),
            "line 2: timezone 'Mars/Olympus' is not a time zone name like Europe/Berlin or America/New_York; "
            "fix it or leave it empty to use the person's Slack time zone",
        ),
        (
            ana_with(slack_id="<@U123|ana>"),
            "line 2: slack_id '<@U123|ana>' does not look like a Slack user id (like U0123ABCD); "
            "fix it or leave it empty to look the person up by email",
        ),
        (
            ana_with(slack_id="u0123abcd"),
            "line 2: slack_id 'u0123abcd' does not look like a Slack user id (like U0123ABCD); "
            "fix it or leave it empty to look the person up by email",
        ),
        (
            ana_with(manager_email="Ana@example.com"),
            "line 2: manager_email ana@example.com is the person's own email; "
            "leave it empty for the person at the top of the organisation",
        ),
        (
            ana_with(manager_email="zed@example.com"),
            "line 2: manager_email zed@example.com is not anyone's email in this file; "
            "add a line for the manager or fix the spelling",
        ),
        (
            ana_with(email="nobody@example.com"),
            "line 2: email nobody@example.com: no Slack account uses this email; check the spelling or add slack_id",
        ),
        (
            ANA.rsplit(",", 1)[0],
            "line 2: has 7 values but the header has 8 columns; "
            "check for a missing or extra comma (a value with a comma needs quotes)",
        ),
    ],
)
def test_each_bad_row_is_reported_by_line(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory, row: str, expected: str
) -> None:
    assert problems_of(session_factory, workspace, csv_text(row), directory) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "line 1: the file is empty; its first line should be: " + HEADER),
        ("\ufeff\n\n", "line 1: the file is empty; its first line should be: " + HEADER),
        (HEADER + "\n", "line 1: the file has a header but nobody in it; add one line per person"),
        (
            "email,name,team,slack_id\nana@example.com,Ana,Platform,\n",
            "line 1: the header is missing the columns manager_email, role, start_date",
        ),
        (
            HEADER.replace(",role", "") + "\n",
            "line 1: the header is missing the column role",
        ),
        (
            HEADER + ",Salary\n",
            "line 1: the header has the unknown column salary; the columns are "
            "email, name, team, manager_email, role, start_date, slack_id, timezone (remove any others)",
        ),
        (
            HEADER + ",email\n",
            "line 1: the header has email more than once; keep one of each",
        ),
    ],
)
def test_bad_headers_and_empty_files(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory, text: str, expected: str
) -> None:
    assert problems_of(session_factory, workspace, text, directory) == [expected]


def test_duplicate_emails_and_slack_ids_name_both_lines(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory
) -> None:
    text = csv_text(
        "ana@example.com,Ana,Platform,,employee,,U0AAA,",
        "ben@example.com,Ben,Platform,,employee,,U0AAA,",
        "ANA@example.com,Ana Again,Platform,,employee,,,",
    )
    assert problems_of(session_factory, workspace, text, directory) == [
        "line 3: slack_id U0AAA is already used on line 2 (ana@example.com); each Slack account belongs to one person",
        "line 4: email ana@example.com is also on line 2; each person appears once, so remove or merge one of the two lines",
    ]


def test_a_slack_account_found_by_email_cannot_also_be_another_lines_slack_id(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory
) -> None:
    ben_id = slack_id_for("ben@example.com")
    text = csv_text(f"ana@example.com,Ana,Platform,,,,{ben_id},", "ben@example.com,Ben,Platform,,,,,")
    assert problems_of(session_factory, workspace, text, directory) == [
        f"line 3: the Slack account of ben@example.com ({ben_id}) is already used on line 2; "
        "each Slack account belongs to one person"
    ]


def test_a_manager_cycle_is_reported_once_on_every_line_in_it(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory
) -> None:
    text = csv_text(
        "dmitri@example.com,Dmitri,Platform,ben@example.com,,,,",  # points into the circle, is not in it
        "ana@example.com,Ana,Platform,ben@example.com,,,,",
        "ben@example.com,Ben,Platform,chen@example.com,,,,",
        "chen@example.com,Chen,Platform,ana@example.com,,,,",
        "elif@example.com,Elif,Platform,,,,,",
    )
    chain = "ana@example.com → ben@example.com → chen@example.com → ana@example.com"
    message = f"manager_email makes a circle of managers ({chain}); someone in it must report to a person outside it"
    assert problems_of(session_factory, workspace, text, directory) == [f"line {line}: {message}" for line in (3, 4, 5)]


def test_a_file_with_several_problems_lists_them_all_and_changes_nothing(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory
) -> None:
    load(session_factory, workspace, EXAMPLE, directory)
    before = snapshot(session_factory)
    lines = EXAMPLE.splitlines()
    lines[1] = lines[1].replace("Dana Whitfield", "Dana W.")  # a valid change that must not land
    lines[3] = lines[3].replace("Engineering", "")  # line 4: no team
    lines[10] = lines[10].replace("2021-04-12", "12 April")  # line 11: bad date
    lines.append("zoe@example.com,Zoe,Sales,zed@example.com,employee,2026-01-01,,")  # line 15: unknown manager
    lines.append("stranger@example.com,Stranger,Sales,,employee,,,")  # line 16: no Slack account

    error = rejection(session_factory, workspace, "\n".join(lines) + "\n", directory)

    assert str(error).splitlines() == [
        "Nothing was imported: 4 problems in the file. Fix them and import again.",
        "line 4: team is missing; write the name of the person's team, e.g. Platform",
        "line 11: start_date '12 April' is not a date like 2024-03-18 (YYYY-MM-DD); fix it or leave it empty",
        "line 15: manager_email zed@example.com is not anyone's email in this file; "
        "add a line for the manager or fix the spelling",
        "line 16: email stranger@example.com: no Slack account uses this email; check the spelling or add slack_id",
    ]
    assert snapshot(session_factory) == before


def test_an_unknown_slack_user_rejects_the_whole_file(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory
) -> None:
    text = EXAMPLE + "stranger@example.com,Stranger,Sales,sales.head@example.com,employee,2026-01-05,,\n"
    error = rejection(session_factory, workspace, text, directory)
    assert str(error).splitlines()[0] == "Nothing was imported: 1 problem in the file. Fix them and import again."
    assert [p.line for p in error.problems] == [15]
    assert snapshot(session_factory) == [[], [], []]


def test_a_deleted_slack_account_counts_as_none(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory, slack: FakeSlack
) -> None:
    slack.add_user("U0GONE", email="gone@example.com", real_name="Gone", deleted=True)
    assert problems_of(session_factory, workspace, csv_text("gone@example.com,Gone,Sales,,,,,"), directory) == [
        "line 2: email gone@example.com: no Slack account uses this email; check the spelling or add slack_id"
    ]


class RefusingAfterFirstLookup:
    """The real directory, with Slack answering `error` to every users.lookupByEmail after the first."""

    def __init__(self, directory: SlackDirectory, slack: FakeSlack, error: str) -> None:
        self.directory, self.slack, self.error = directory, slack, error

    def lookup_by_email(self, email: str) -> DirectoryUser | None:
        try:
            return self.directory.lookup_by_email(email)
        finally:
            self.slack.error_next("users.lookupByEmail", self.error)

    def list_users(self) -> Iterator[DirectoryUser]:
        return self.directory.list_users()


def test_slack_refusing_lookups_is_one_problem_next_to_the_others(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory, slack: FakeSlack
) -> None:
    text = "stranger@example.com,Stranger,Sales,,,,,\n" + EXAMPLE.split("\n", 1)[1].replace("2021-09-01", "soon")
    refusing = RefusingAfterFirstLookup(directory, slack, "missing_scope")

    error = rejection(session_factory, workspace, csv_text(*text.splitlines()), refusing)

    assert [str(p) for p in error.problems] == [
        "Could not check the Slack accounts of the people in the file: Slack refused users.lookupByEmail "
        "(missing_scope): the app needs the users:read.email scope. Add it under OAuth & Permissions "
        "(or paste manifest.yml again), then reinstall the app",
        "line 2: email stranger@example.com: no Slack account uses this email; check the spelling or add slack_id",
        "line 6: start_date 'soon' is not a date like 2024-03-18 (YYYY-MM-DD); fix it or leave it empty",
    ]
    assert len(slack.calls_to("users.lookupByEmail")) == 2  # not once per person in the file
    assert snapshot(session_factory) == [[], [], []]


def test_quoted_multiline_fields_keep_physical_line_numbers() -> None:
    text = HEADER + '\nana@example.com,"Ana\nSouza",Platform,,,,U0ANA,\n\nben@example.com,Ben,Platform,,chief,,U0BEN,\n'
    rows, problems = parse_org_csv(text)
    assert [(r.line, r.name) for r in rows] == [(2, "Ana\nSouza"), (5, "Ben")]
    assert [str(p) for p in problems] == [
        "line 5: role 'chief' is not one of employee, hr; leave it empty for employee"
    ]


def test_unreadable_lines_are_problems_not_crashes() -> None:
    huge_name = "x" * 200_000  # beyond the csv module's field limit
    _rows, problems = parse_org_csv(
        csv_text(ANA, "ben@example.com,Ben\0,Platform,,,,,", f"chen@example.com,{huge_name}")
    )
    assert [str(p) for p in problems] == [
        "line 3: contains a NUL character; save the file again as CSV UTF-8",
        "line 4: cannot be read as CSV (field larger than field limit (131072)); check the quotes on this line",
    ]


# -- properties --------------------------------------------------------------------------------


@st.composite
def hierarchies(draw: st.DrawFn) -> list[int | None]:
    """managers[i] is the index of i's manager, always an earlier person: a forest, no cycles."""
    size = draw(st.integers(1, 25))
    return [None] + [draw(st.one_of(st.none(), st.integers(0, i - 1))) for i in range(1, size)]


def org_text(managers: list[int | None]) -> str:
    return csv_text(
        *(
            f"p{i}@example.com,Person {i},Team {i % 3},{'' if m is None else f'p{m}@example.com'},employee,,U0P{i},"
            for i, m in enumerate(managers)
        )
    )


@settings(max_examples=40, deadline=None)
@given(managers=hierarchies(), loop=st.data())
def test_any_tree_parses_and_closing_any_loop_reports_exactly_its_lines(
    managers: list[int | None], loop: st.DataObject
) -> None:
    rows, problems = parse_org_csv(org_text(managers))
    assert problems == [] and len(rows) == len(managers)
    # Point the top of some chain at the chain's bottom: exactly that chain becomes a circle.
    bottom = loop.draw(st.integers(0, len(managers) - 1))
    chain = [bottom]
    while (manager := managers[chain[-1]]) is not None:
        chain.append(manager)
    if len(chain) == 1:
        return  # a root alone cannot form a loop without managing itself (checked elsewhere)
    looped = list(managers)
    looped[chain[-1]] = bottom
    _rows, problems = parse_org_csv(org_text(looped))
    assert sorted(p.line for p in problems) == sorted(i + 2 for i in chain)
    assert all("circle of managers" in p.message for p in problems)


class NoLookups:
    """Every row in the property test has a slack_id, so the directory must never be asked."""

    def lookup_by_email(self, email: str) -> DirectoryUser | None:
        raise AssertionError(f"unexpected lookup of {email}")

    def list_users(self) -> Iterator[DirectoryUser]:
        raise AssertionError("unexpected listing")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(managers=hierarchies(), order=st.randoms(use_true_random=False))
def test_row_order_does_not_matter(
    session_factory: sessionmaker[Session], workspace: Workspace, managers: list[int | None], order: Any
) -> None:
    header, *body = org_text(managers).splitlines()
    order.shuffle(body)
    with session_factory.begin() as session:
        session.execute(Person.__table__.update().values(manager_id=None))
        session.execute(Person.__table__.delete())
        import_org(session, session.merge(workspace), csv_text(*body, header=header), NoLookups(), now=NOW)
    with session_factory() as session:
        stored = {p.email: p.manager.email if p.manager else None for p in session.scalars(select(Person))}
    assert stored == {f"p{i}@example.com": (None if m is None else f"p{m}@example.com") for i, m in enumerate(managers)}
