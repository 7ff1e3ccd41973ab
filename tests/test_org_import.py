"""HR's org file: a good file loads, every bad row is reported by line, and a bad file changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.models import Person, Role, RoleGrant, RoleSource, Team, Workspace
from bot.org_import import OrgImportError, grant_env_admins, import_org, parse_org_csv
from bot.slack_directory import SlackDirectory
from tests.conftest import BOT_TOKEN
from tests.fake_slack import FakeSlack

EXAMPLE = (Path(__file__).resolve().parent / "data" / "org.csv").read_text()
HEADER = "email,name,team,manager_email,role,start_date,slack_id,timezone"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def directory(slack: FakeSlack) -> SlackDirectory:
    for n, line in enumerate(EXAMPLE.splitlines()[1:]):
        email, name, *_ = line.split(",")
        slack.add_user(f"U{n:04d}", email=email, real_name=name, tz="Europe/London")
    return SlackDirectory(WebClient(token=BOT_TOKEN, base_url=slack.url))


def load(session_factory: sessionmaker[Session], workspace: Workspace, text: str, directory: SlackDirectory):  # type: ignore[no-untyped-def]
    with session_factory.begin() as session:
        return import_org(session, session.merge(workspace), text, directory, now=NOW)


def problems_of(session_factory: sessionmaker[Session], workspace: Workspace, text: str, directory) -> list[str]:  # type: ignore[no-untyped-def]
    with pytest.raises(OrgImportError) as caught:
        load(session_factory, workspace, text, directory)
    return [str(p) for p in caught.value.problems]


def snapshot(session_factory: sessionmaker[Session]) -> list[tuple]:
    with session_factory() as session:
        people = [
            (p.id, p.email, p.name, p.team_id, p.manager_id, p.slack_user_id, p.timezone, p.active, p.updated_at)
            for p in session.scalars(select(Person).order_by(Person.id))
        ]
        teams = [(t.id, t.name) for t in session.scalars(select(Team).order_by(Team.id))]
        grants = [(g.person_id, g.role, g.source) for g in session.scalars(select(RoleGrant).order_by(RoleGrant.id))]
        return [people, teams, grants]


def person(session_factory: sessionmaker[Session], email: str) -> Person:
    with session_factory() as session:
        found = session.scalar(select(Person).where(Person.email == email))
        assert found is not None, email
        found.manager, found.team  # noqa: B018  load while the session is open
        return found


def with_rows(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


# -- the good path -----------------------------------------------------------------------------


def test_the_example_org_file_loads(session_factory, workspace, directory) -> None:  # type: ignore[no-untyped-def]
    report = load(session_factory, workspace, EXAMPLE, directory)
    assert (report.created, report.updated, report.unchanged, report.deactivated) == (13, 0, 0, 0)
    assert report.teams_created == 5
    ana = person(session_factory, "ana@example.com")
    assert (ana.name, ana.team.name, ana.manager.email) == ("Ana Souza", "Platform", "eng.head@example.com")
    assert (ana.timezone, ana.start_date, ana.slack_user_id) == ("Europe/Lisbon", date(2021, 9, 1), "U0003")
    assert person(session_factory, "ceo@example.com").manager_id is None
    with session_factory() as session:
        hr = session.scalars(select(Person.email).join(RoleGrant, RoleGrant.person_id == Person.id)).all()
    assert hr == ["hr.lead@example.com"]


def test_reimporting_the_same_file_changes_nothing(session_factory, workspace, directory, slack) -> None:  # type: ignore[no-untyped-def]
    load(session_factory, workspace, EXAMPLE, directory)
    before = snapshot(session_factory)
    lookups = len(slack.calls_to("users.lookupByEmail"))
    report = load(session_factory, workspace, EXAMPLE, directory)
    assert (report.created, report.updated, report.unchanged, report.deactivated) == (0, 0, 13, 0)
    assert snapshot(session_factory) == before
    assert len(slack.calls_to("users.lookupByEmail")) == lookups  # known people need no lookup


def test_only_rows_without_slack_id_are_looked_up(session_factory, workspace, directory, slack) -> None:  # type: ignore[no-untyped-def]
    text = with_rows(
        "ana@example.com,Ana Souza,Platform,,employee,2021-09-01,U0ANAXX,Europe/Lisbon",
        "ben@example.com,Ben Carter,Platform,ana@example.com,employee,2022-02-14,,",
    )
    load(session_factory, workspace, text, directory)
    assert [c["email"] for c in slack.calls_to("users.lookupByEmail")] == ["ben@example.com"]
    ben = person(session_factory, "ben@example.com")
    assert (ben.slack_user_id, ben.timezone) == ("U0004", "Europe/London")  # time zone from Slack
    assert person(session_factory, "ana@example.com").slack_user_id == "U0ANAXX"


def test_changes_are_applied_and_counted(session_factory, workspace, directory) -> None:  # type: ignore[no-untyped-def]
    load(session_factory, workspace, EXAMPLE, directory)
    moved = EXAMPLE.replace(
        "ben@example.com,Ben Carter,Platform,eng.head@example.com",
        "ben@example.com,Ben Carter,Sales,sales.head@example.com",
    )
    report = load(session_factory, workspace, moved, directory)
    assert (report.updated, report.unchanged) == (1, 12)
    ben = person(session_factory, "ben@example.com")
    assert (ben.team.name, ben.manager.email) == ("Sales", "sales.head@example.com")


def test_people_missing_from_a_later_file_are_deactivated_then_reactivated(
    session_factory, workspace, directory
) -> None:  # type: ignore[no-untyped-def]
    load(session_factory, workspace, EXAMPLE, directory)
    without_jonas = "\n".join(line for line in EXAMPLE.splitlines() if not line.startswith("jonas@")) + "\n"
    report = load(session_factory, workspace, without_jonas, directory)
    assert report.deactivated == 1
    jonas = person(session_factory, "jonas@example.com")
    assert (jonas.active, jonas.deactivated_at) == (False, NOW)

    report = load(session_factory, workspace, EXAMPLE, directory)
    assert (report.reactivated, report.deactivated, report.unchanged) == (1, 0, 12)
    assert person(session_factory, "jonas@example.com").active is True


def test_hr_grants_follow_the_file_and_env_admins_survive(session_factory, workspace, directory) -> None:  # type: ignore[no-untyped-def]
    load(session_factory, workspace, EXAMPLE, directory)
    with session_factory.begin() as session:
        assert grant_env_admins(session, session.merge(workspace), ["ceo@example.com", "U0009"]) == 2
    demoted = EXAMPLE.replace("ceo@example.com,employee,2020-06-15", "ceo@example.com,employee,2020-06-15").replace(
        "Priya Natarajan,People,ceo@example.com,hr", "Priya Natarajan,People,ceo@example.com,employee"
    )
    load(session_factory, workspace, demoted, directory)
    with session_factory() as session:
        grants = session.execute(
            select(Person.email, RoleGrant.source)
            .join(RoleGrant, RoleGrant.person_id == Person.id)
            .order_by(Person.email)
        ).all()
    assert [tuple(g) for g in grants] == [
        ("ceo@example.com", RoleSource.ENV),
        ("sales.head@example.com", RoleSource.ENV),
    ]
    with session_factory.begin() as session:
        assert grant_env_admins(session, session.merge(workspace), []) == 0
        assert session.scalars(select(RoleGrant).where(RoleGrant.role == Role.HR)).all() == []


def test_an_email_change_is_recognised_by_the_slack_account(session_factory, workspace, directory) -> None:  # type: ignore[no-untyped-def]
    load(session_factory, workspace, with_rows("ana@example.com,Ana Souza,Platform,,employee,,U0ANAXX,"), directory)
    before = person(session_factory, "ana@example.com")
    report = load(
        session_factory, workspace, with_rows("ana.souza@example.com,Ana Souza,Platform,,employee,,U0ANAXX,"), directory
    )
    assert (report.created, report.updated, report.deactivated) == (0, 1, 0)
    assert person(session_factory, "ana.souza@example.com").id == before.id


# -- bad files ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (",Ana,Platform,,employee,,,", "line 2: email is missing"),
        (
            "ana-at-example.com,Ana,Platform,,employee,,,",
            "line 2: email 'ana-at-example.com' does not look like an email",
        ),
        ("ana@example.com,,Platform,,employee,,,", "line 2: name is missing"),
        ("ana@example.com,Ana,,,employee,,,", "line 2: team is missing"),
        ("ana@example.com,Ana,Platform,,boss,,,", "line 2: role 'boss' is not one of employee, hr"),
        ("ana@example.com,Ana,Platform,,employee,01/09/2021,,", "line 2: start_date '01/09/2021' is not a date"),
        ("ana@example.com,Ana,Platform,,employee,2021-02-30,,", "line 2: start_date '2021-02-30' is not a date"),
        ("ana@example.com,Ana,Platform,,employee,,,Mars/Olympus", "line 2: timezone 'Mars/Olympus' is not a time zone"),
        ("ana@example.com,Ana,Platform,,employee,,<@U123|ana>,", "line 2: slack_id '<@U123|ana>' does not look like"),
        ("ana@example.com,Ana,Platform,ana@example.com,employee,,,", "line 2: manager_email is the person's own email"),
        (
            "ana@example.com,Ana,Platform,zed@example.com,employee,,,",
            "line 2: manager_email zed@example.com is not anyone's",
        ),
        ("nobody@example.com,No Body,Platform,,employee,,,", "line 2: no Slack account uses nobody@example.com"),
        ("ana@example.com,Ana,Platform,,employee,,", "line 2: has 7 values but the header has 8 columns"),
    ],
)
def test_each_bad_row_is_named_by_line(session_factory, workspace, directory, row: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    problems = problems_of(session_factory, workspace, with_rows(row), directory)
    assert len(problems) == 1
    assert problems[0].startswith(expected)


def test_duplicates_name_both_lines(session_factory, workspace, directory) -> None:  # type: ignore[no-untyped-def]
    problems = problems_of(
        session_factory,
        workspace,
        with_rows(
            "ana@example.com,Ana,Platform,,employee,,U0AAA,",
            "ben@example.com,Ben,Platform,,employee,,U0AAA,",
            "ANA@example.com,Ana Again,Platform,,employee,,,",
        ),
        directory,
    )
    assert problems == [
        "line 3: slack_id U0AAA is already used on line 2",
        "line 4: ana@example.com is already on line 2; each person appears once",
    ]


def test_a_manager_cycle_is_reported_on_every_line_in_it(session_factory, workspace, directory) -> None:  # type: ignore[no-untyped-def]
    problems = problems_of(
        session_factory,
        workspace,
        with_rows(
            "ana@example.com,Ana,Platform,ben@example.com,employee,,U0A1,",
            "ben@example.com,Ben,Platform,chen@example.com,employee,,U0A2,",
            "chen@example.com,Chen,Platform,ana@example.com,employee,,U0A3,",
            "dmitri@example.com,Dmitri,Platform,ana@example.com,employee,,U0A4,",
        ),
        directory,
    )
    assert [p.split(":")[0] for p in problems] == ["line 2", "line 3", "line 4"]
    assert "ana@example.com → ben@example.com → chen@example.com → ana@example.com" in problems[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the file is empty"),
        (HEADER + "\n", "the file has a header but nobody in it"),
        (
            "email,name,team\nana@example.com,Ana,Platform\n",
            "the header is missing the columns manager_email, role, start_date",
        ),
        (HEADER + ",salary\n", "the header has unknown column salary"),
    ],
)
def test_bad_headers_and_empty_files(session_factory, workspace, directory, text: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    problems = problems_of(session_factory, workspace, text, directory)
    assert problems[0].startswith("line 1: " + expected)


def test_a_bad_file_lists_every_problem_and_changes_nothing(session_factory, workspace, directory) -> None:  # type: ignore[no-untyped-def]
    load(session_factory, workspace, EXAMPLE, directory)
    before = snapshot(session_factory)
    lines = EXAMPLE.splitlines()
    lines[3] = lines[3].replace("Engineering", "")  # line 4: no team
    lines[10] = lines[10].replace("2021-04-12", "12 April")  # line 11: bad date
    lines.append("zoe@example.com,Zoe,Sales,nobody@example.com,employee,2026-01-01,U0ZOE,")  # line 15
    lines[1] = lines[1].replace("Dana Whitfield", "Dana W.")  # a valid change that must not land
    with pytest.raises(OrgImportError) as caught:
        load(session_factory, workspace, "\n".join(lines) + "\n", directory)
    message = str(caught.value)
    assert message.splitlines()[0] == "Nothing was imported: 3 problems in the file. Fix them and import again."
    assert [p.line for p in caught.value.problems] == [4, 11, 15]
    assert snapshot(session_factory) == before


def test_an_unknown_slack_user_rejects_the_whole_file(session_factory, workspace, directory) -> None:  # type: ignore[no-untyped-def]
    text = EXAMPLE + "stranger@example.com,Stranger,Sales,sales.head@example.com,employee,2026-01-05,,\n"
    problems = problems_of(session_factory, workspace, text, directory)
    assert problems == ["line 15: no Slack account uses stranger@example.com; check the spelling or add their slack_id"]
    assert snapshot(session_factory)[0] == []


def test_slack_being_unreachable_is_one_clear_problem(session_factory, workspace, directory, slack) -> None:  # type: ignore[no-untyped-def]
    slack.error_next("users.lookupByEmail", "missing_scope")
    problems = problems_of(session_factory, workspace, EXAMPLE, directory)
    assert len(problems) == 1
    assert "missing a permission" in problems[0] and "reinstall" in problems[0]


def test_a_byte_order_mark_and_header_case_are_fine() -> None:
    rows, problems = parse_org_csv("\ufeff" + HEADER.upper() + "\nana@example.com,Ana,Platform,,,,U0ANA,\n")
    assert problems == []
    assert (rows[0].email, rows[0].role, rows[0].slack_id) == ("ana@example.com", "employee", "U0ANA")


def test_quoted_multiline_fields_keep_physical_line_numbers() -> None:
    text = HEADER + '\nana@example.com,"Ana\nSouza",Platform,,,,U0ANA,\nben@example.com,Ben,Platform,,chief,,U0BEN,\n'
    _rows, problems = parse_org_csv(text)
    assert [str(p) for p in problems] == ["line 4: role 'chief' is not one of employee, hr"]


# -- properties --------------------------------------------------------------------------------


@st.composite
def hierarchies(draw: st.DrawFn) -> list[int | None]:
    """managers[i] is the index of i's manager, always an earlier person: a forest, no cycles."""
    size = draw(st.integers(1, 25))
    return [None] + [draw(st.one_of(st.none(), st.integers(0, i - 1))) for i in range(1, size)]


def org_text(managers: list[int | None]) -> str:
    rows = [
        f"p{i}@example.com,Person {i},Team {i % 3},{'' if m is None else f'p{m}@example.com'},employee,,U0P{i},"
        for i, m in enumerate(managers)
    ]
    return with_rows(*rows)


@settings(max_examples=40, deadline=None)
@given(managers=hierarchies(), loop=st.data())
def test_any_tree_parses_and_closing_any_loop_is_caught(managers: list[int | None], loop: st.DataObject) -> None:
    rows, problems = parse_org_csv(org_text(managers))
    assert problems == [] and len(rows) == len(managers)
    from bot.org_import import _cross_row_problems

    assert _cross_row_problems(rows) == []
    # Point some ancestor-or-self chain's top at a descendant: that makes exactly one loop.
    bottom = loop.draw(st.integers(0, len(managers) - 1))
    chain = [bottom]
    while managers[chain[-1]] is not None:
        chain.append(managers[chain[-1]])  # type: ignore[arg-type]
    top = chain[-1]
    if top == bottom:
        return  # a root alone cannot form a loop without managing itself (checked elsewhere)
    looped = list(managers)
    looped[top] = bottom
    rows, problems = parse_org_csv(org_text(looped))
    cycle_lines = sorted(p.line for p in _cross_row_problems(rows))
    assert cycle_lines == sorted(i + 2 for i in chain)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(managers=hierarchies(), order=st.randoms(use_true_random=False))
def test_row_order_does_not_matter(session_factory, workspace, managers: list[int | None], order) -> None:  # type: ignore[no-untyped-def]
    lines = org_text(managers).splitlines()
    body = lines[1:]
    order.shuffle(body)
    with session_factory.begin() as session:
        ws = session.merge(workspace)
        session.execute(Person.__table__.update().values(manager_id=None))
        session.execute(Person.__table__.delete())
        import_org(session, ws, "\n".join([lines[0], *body]) + "\n", NoLookups(), now=NOW)
    with session_factory() as session:
        stored = {p.email: p.manager.email if p.manager else None for p in session.scalars(select(Person))}
    assert stored == {f"p{i}@example.com": (None if m is None else f"p{m}@example.com") for i, m in enumerate(managers)}


class NoLookups:
    """Every row in the property test has a slack_id, so the directory must never be asked."""

    def lookup_by_email(self, email: str) -> None:
        raise AssertionError(f"unexpected lookup of {email}")

    def list_users(self):  # type: ignore[no-untyped-def]
        raise AssertionError("unexpected listing")
