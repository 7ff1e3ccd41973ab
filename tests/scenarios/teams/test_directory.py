"""Org sync on a Teams tenant: the real TeamsDirectory and GraphClient against the fake Graph, on SQLite
and PostgreSQL.

People are created with Teams accounts keyed by their Entra object id, managers come from Entra,
time zones from mailboxes (Windows names mapped to IANA), disabled accounts leave as on Slack, and a
sync that Graph refuses changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot.cli.main import main
from bot.cli.platforms import chat_platforms
from bot.core.clock import ManualClock
from bot.core.models import Person, PersonAccount, PersonSource, Platform, Workspace
from bot.core.settings import load_settings
from bot.delivery.ports import DirectoryError
from bot.jobs import build_jobs
from bot.org.importer import import_org
from bot.org.sync import SyncReport, sync_directory
from handlers.teams.directory import TeamsDirectory
from handlers.teams.graph import GraphClient
from tests.conftest import SECRET_KEY
from tests.fakes.teams.graph import TOKEN, FakeGraph
from tests.fakes.teams.login import FakeLogin

NOW = datetime(2026, 11, 23, 3, 17, tzinfo=UTC)
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
TEAMS = Platform.TEAMS.value


def oid(n: int) -> str:
    """An Entra object id."""
    return f"6e1c0b7a-0000-4000-8000-{n:012d}"


ADA, BEN, CHLOE, DEV, GUS, ROOM = (oid(n) for n in range(1, 7))


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with FakeGraph() as fake:
        yield fake
    assert all(r.authorized for r in fake.requests), "every Graph request carries the bearer token"


@pytest.fixture
def waits() -> list[float]:
    """The seconds the client waited out (recorded instead of slept)."""
    return []


@pytest.fixture
def directory(graph: FakeGraph, waits: list[float]) -> TeamsDirectory:
    return TeamsDirectory(GraphClient(graph.api_url, lambda: TOKEN, sleep=waits.append))


@pytest.fixture
def tenant(session_factory: sessionmaker[Session]) -> Workspace:
    with session_factory.begin() as session:
        workspace = Workspace(platform=TEAMS, external_id=TENANT, name="Contoso")
        session.add(workspace)
    return workspace


def small_org(graph: FakeGraph) -> None:
    graph.add_user(ADA, "Ada Lovelace", mail="Ada@Contoso.com", timezone="W. Europe Standard Time")
    graph.add_user(BEN, "Ben Okafor", mail="ben@contoso.com", manager=ADA, timezone="Pacific Standard Time")
    graph.add_user(CHLOE, "Chloé Martin", mail="chloe@contoso.com", manager=BEN, timezone="Tokyo Standard Time")
    # No mail attribute (no Exchange licence): the sign-in name is the address, and there is no mailbox.
    graph.add_user(DEV, "Dev Patel", upn="dev@contoso.com", manager=ADA)
    graph.add_user(
        GUS,
        "Gus (Partner)",
        mail="gus@partner.example",
        user_type="Guest",
        upn="gus_partner.example#EXT#@contoso.onmicrosoft.com",
    )
    graph.add_user(ROOM, "Board Room", mail="boardroom@contoso.com", enabled=False)


def sync(factory: sessionmaker[Session], workspace: Workspace, directory: TeamsDirectory) -> SyncReport:
    with factory.begin() as session:
        return sync_directory(session, session.merge(workspace), directory, now=NOW)


def counts(report: SyncReport) -> tuple[int, int, int, int, int]:
    return (report.created, report.updated, report.deactivated, report.unchanged, report.skipped_bots)


def people(factory: sessionmaker[Session]) -> dict[str, Person]:
    """Everyone by their Teams object id (or email when they have no Teams account)."""
    with factory() as session:
        found = session.scalars(select(Person).options(selectinload(Person.accounts))).all()
        return {(p.account(TEAMS).external_user_id if p.account(TEAMS) else p.email or ""): p for p in found}


def rows(factory: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    with factory() as session:
        persons = [
            tuple(getattr(p, c.key) for c in Person.__table__.columns)
            for p in session.scalars(select(Person).order_by(Person.id))
        ]
        accounts = [
            tuple(getattr(a, c.key) for c in PersonAccount.__table__.columns)
            for a in session.scalars(select(PersonAccount).order_by(PersonAccount.id))
        ]
        return persons + accounts


def test_a_small_org_arrives_with_teams_accounts_managers_and_iana_time_zones(
    session_factory: sessionmaker[Session], tenant: Workspace, directory: TeamsDirectory, graph: FakeGraph
) -> None:
    small_org(graph)

    report = sync(session_factory, tenant, directory)

    assert counts(report) == (4, 0, 0, 0, 0)
    found = people(session_factory)
    assert set(found) == {ADA, BEN, CHLOE, DEV}, "the guest and the disabled room are not people of the org"
    ada, ben, chloe, dev = found[ADA], found[BEN], found[CHLOE], found[DEV]
    assert [(p.name, p.email, p.timezone) for p in (ada, ben, chloe, dev)] == [
        ("Ada Lovelace", "ada@contoso.com", "Europe/Berlin"),
        ("Ben Okafor", "ben@contoso.com", "America/Los_Angeles"),
        ("Chloé Martin", "chloe@contoso.com", "Asia/Tokyo"),
        ("Dev Patel", "dev@contoso.com", None),  # no mailbox: unknown, not a failure
    ]
    assert (ada.manager_id, ben.manager_id, chloe.manager_id, dev.manager_id) == (None, ada.id, ben.id, ada.id)
    assert all(p.active and p.source == PersonSource.TEAMS.value for p in found.values())
    assert all([(a.platform, a.workspace_id) for a in p.accounts] == [(TEAMS, tenant.id)] for p in found.values()), (
        "one Teams account each, keyed by the object id"
    )
    # One listing with the fields the bot needs and the managers expanded: no call per person for them.
    (listing,) = graph.calls("^/users$")
    assert listing.query["$select"] == "id,displayName,mail,userPrincipalName,accountEnabled,userType"
    assert listing.query["$expand"] == "manager($select=id)"
    assert graph.calls("/manager$") == []


def test_syncing_again_changes_nothing(
    session_factory: sessionmaker[Session], tenant: Workspace, directory: TeamsDirectory, graph: FakeGraph
) -> None:
    small_org(graph)
    sync(session_factory, tenant, directory)
    before = rows(session_factory)

    report = sync(session_factory, tenant, directory)

    assert counts(report) == (0, 0, 0, 4, 0)
    assert rows(session_factory) == before


def test_a_disabled_account_is_someone_who_left(
    session_factory: sessionmaker[Session], tenant: Workspace, directory: TeamsDirectory, graph: FakeGraph
) -> None:
    small_org(graph)
    sync(session_factory, tenant, directory)
    graph.users[CHLOE]["accountEnabled"] = False

    report = sync(session_factory, tenant, directory)

    assert counts(report) == (0, 0, 1, 3, 0)
    chloe = people(session_factory)[CHLOE]
    assert (chloe.active, chloe.deactivated_at) == (False, NOW)
    assert chloe.manager_id is not None, "leaving keeps the reporting line for the history"
    later = sync(session_factory, tenant, directory)
    assert counts(later) == (0, 0, 0, 4, 0), "nor is anyone reactivated by the sync"


def test_every_page_is_read_by_following_next_links(
    session_factory: sessionmaker[Session], tenant: Workspace, directory: TeamsDirectory, graph: FakeGraph
) -> None:
    for n in range(1, 12):
        graph.add_user(oid(100 + n), f"Person {n}", mail=f"person{n}@contoso.com", manager=oid(101) if n > 1 else None)
    graph.page_size = 4

    report = sync(session_factory, tenant, directory)

    assert report.created == 11
    listings = graph.calls("^/users$")
    assert [r.query.get("$skiptoken") for r in listings] == [None, "4", "8"]
    assert all(r.query["$select"] and r.query["$expand"] for r in listings), "the next link keeps the query"
    found = people(session_factory)
    assert {p.manager_id for key, p in found.items() if key != oid(101)} == {found[oid(101)].id}


def test_throttling_is_waited_out_as_graph_asks(
    session_factory: sessionmaker[Session],
    tenant: Workspace,
    directory: TeamsDirectory,
    graph: FakeGraph,
    waits: list[float],
) -> None:
    small_org(graph)
    graph.fail("^/users$", 429, retry_after="7")
    graph.fail("/mailboxSettings/", 503, retry_after="2")

    report = sync(session_factory, tenant, directory)

    assert report.created == 4
    assert waits == [7.0, 2.0]
    assert [r.status for r in graph.calls("^/users$")] == [429, 200]
    assert people(session_factory)[ADA].timezone == "Europe/Berlin", "the retried call's answer is used"


def test_throttling_that_never_ends_stops_with_a_clear_error_after_bounded_retries(
    session_factory: sessionmaker[Session],
    tenant: Workspace,
    directory: TeamsDirectory,
    graph: FakeGraph,
    waits: list[float],
) -> None:
    small_org(graph)
    graph.fail("^/users$", 429, retry_after="600", times=1000)

    with pytest.raises(
        DirectoryError, match=r"slow down \(GET /users: 429 TooManyRequests\); try again in a few minutes"
    ):
        sync(session_factory, tenant, directory)

    assert len(graph.calls("^/users$")) == 6
    assert waits == [120.0] * 5, "a Retry-After longer than two minutes is cut short"
    assert people(session_factory) == {}


def test_a_missing_permission_names_it_says_how_to_grant_consent_and_changes_nothing(
    session_factory: sessionmaker[Session], tenant: Workspace, directory: TeamsDirectory, graph: FakeGraph
) -> None:
    small_org(graph)
    graph.page_size = 2
    sync(session_factory, tenant, directory)
    before = rows(session_factory)
    graph.users[BEN]["displayName"] = "Ben O."
    graph.users[DEV]["displayName"] = "Devesh Patel"
    # The first page is read and applied, the second is refused: the sync's transaction must roll back.
    graph.fail("^/users$", 403, after=1)

    with pytest.raises(DirectoryError) as refused:
        sync(session_factory, tenant, directory)

    message = str(refused.value)
    assert "User.Read.All application permission" in message
    assert "Grant admin consent" in message and "API permissions" in message
    assert rows(session_factory) == before


def test_without_mailbox_permission_time_zones_are_unknown_and_it_is_said_once(
    session_factory: sessionmaker[Session],
    tenant: Workspace,
    directory: TeamsDirectory,
    graph: FakeGraph,
    caplog: pytest.LogCaptureFixture,
) -> None:
    small_org(graph)
    with session_factory.begin() as session:  # known from the org file: an unknown zone must not erase it
        session.add(Person(workspace_id=tenant.id, email="ben@contoso.com", name="Ben", timezone="Europe/Paris"))
    graph.deny("MailboxSettings.Read")

    with caplog.at_level(logging.WARNING, logger="handlers.teams.directory"):
        report = sync(session_factory, tenant, directory)

    assert (report.created, report.updated) == (3, 1)
    found = people(session_factory)
    assert {key: p.timezone for key, p in found.items()} == {ADA: None, BEN: "Europe/Paris", CHLOE: None, DEV: None}
    assert len(graph.calls("/mailboxSettings/")) == 1, "after one refusal nobody else's mailbox is asked"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "MailboxSettings.Read" in warnings[0]


def test_managers_are_read_one_by_one_when_graph_refuses_to_expand_them(
    session_factory: sessionmaker[Session], tenant: Workspace, directory: TeamsDirectory, graph: FakeGraph
) -> None:
    small_org(graph)
    graph.refuse_expand = True

    sync(session_factory, tenant, directory)

    found = people(session_factory)
    assert (found[BEN].manager_id, found[CHLOE].manager_id, found[DEV].manager_id) == (
        found[ADA].id,
        found[BEN].id,
        found[ADA].id,
    )
    asked = {r.path.split("/")[2] for r in graph.calls("/manager$")}
    assert asked == {ADA, BEN, CHLOE, DEV}, "asked for members only: not the guest, not the disabled room"


def test_people_from_the_org_file_are_matched_by_email_and_keep_the_managers_entra_does_not_name(
    session_factory: sessionmaker[Session], tenant: Workspace, directory: TeamsDirectory, graph: FakeGraph
) -> None:
    small_org(graph)
    graph.add_user(oid(7), "Erin Walsh", mail="erin@contoso.com", timezone="GMT Standard Time")  # no manager in Entra
    org_csv = "\n".join(
        [
            "email,name,team,manager_email,role,start_date",
            "ada@contoso.com,Ada Lovelace,Leadership,,hr,2020-01-06",
            "ben@contoso.com,Ben Okafor,Engineering,ada@contoso.com,employee,2021-03-01",
            "chloe@contoso.com,Chloé Martin,Engineering,ada@contoso.com,employee,2022-09-12",
            "erin@contoso.com,Erin Walsh,Engineering,ben@contoso.com,employee,2023-02-01",
        ]
    )
    with session_factory.begin() as session:
        imported = import_org(session, session.merge(tenant), org_csv, directory, now=NOW)
    assert imported.created == 4
    by_email = {p.email: p for p in people(session_factory).values()}
    assert by_email["erin@contoso.com"].account(TEAMS).external_user_id == oid(7), "the import found the Entra id"
    assert by_email["ada@contoso.com"].timezone == "Europe/Berlin", "and the time zone the file left empty"

    report = sync(session_factory, tenant, directory)

    assert report.created == 1, "only Dev, whom the file does not name, is new"
    found = people(session_factory)
    assert len(found) == 5
    ada, ben, chloe, erin = found[ADA], found[BEN], found[CHLOE], found[oid(7)]
    assert chloe.manager_id == ben.id, "Entra names Chloé's manager: it wins over the file's"
    assert erin.manager_id == ben.id, "Entra names nobody for Erin: the file's manager stays"
    assert ben.manager_id == ada.id
    assert all(p.source == PersonSource.CSV.value for p in (ada, ben, chloe, erin))


def test_a_person_without_a_teams_account_is_matched_by_email_not_duplicated(
    session_factory: sessionmaker[Session], tenant: Workspace, directory: TeamsDirectory, graph: FakeGraph
) -> None:
    small_org(graph)
    with session_factory.begin() as session:
        session.add(Person(workspace_id=tenant.id, email="ada@contoso.com", name="Ada L.", source="csv"))

    report = sync(session_factory, tenant, directory)

    assert (report.created, report.updated) == (3, 1)
    ada = people(session_factory)[ADA]
    assert (ada.name, ada.email, ada.source) == ("Ada Lovelace", "ada@contoso.com", "csv")


CLIENT_ID = "00000000-0000-0000-0000-00000000b07a"
CLIENT_SECRET = "a-client-secret"


@pytest.fixture
def login(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLogin]:
    """Entra's login endpoint, whose certificate this test's HTTPS clients (MSAL's) trust."""
    with FakeLogin(TENANT, CLIENT_ID, CLIENT_SECRET) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle)
        yield fake


def teams_env(db_url: str, graph: FakeGraph, login: FakeLogin) -> dict[str, str]:
    return {
        "DATABASE_URL": db_url,
        "EMPATHY_SECRET_KEY": SECRET_KEY,
        "TEAMS_CLIENT_ID": CLIENT_ID,
        "TEAMS_CLIENT_SECRET": CLIENT_SECRET,
        "TEAMS_TENANT_ID": TENANT,
        "TEAMS_LOGIN_URL": login.url,
        "GRAPH_API_URL": graph.api_url,
    }


def test_org_sync_on_the_command_line_reads_the_tenant_through_graph(
    db_url: str,
    graph: FakeGraph,
    login: FakeLogin,
    session_factory: sessionmaker[Session],
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    small_org(graph)
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_CLIENT_ID", "EMPATHY_ADMINS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in teams_env(db_url, graph, login).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no stray .env

    assert main(["org", "sync", "--platform", "teams"]) == 0

    assert capsys.readouterr().out.strip() == (
        "Synced from Microsoft Teams: 4 added, 0 updated, 0 deactivated, 0 bots skipped."
    )
    with session_factory() as session:
        (workspace,) = session.scalars(select(Workspace)).all()
        assert (workspace.platform, workspace.external_id) == (TEAMS, TENANT)
    assert set(people(session_factory)) == {ADA, BEN, CHLOE, DEV}
    assert len(login.token_requests) == 1, "MSAL's cached token serves every Graph call of the run"
    assert len(graph.requests) > 1


def test_the_nightly_job_syncs_the_teams_tenant(
    db_url: str,
    graph: FakeGraph,
    login: FakeLogin,
    session_factory: sessionmaker[Session],
    tenant: Workspace,
) -> None:
    small_org(graph)
    settings = load_settings(teams_env(db_url, graph, login), require_slack=False)
    # The platforms as the CLI's worker chooses them from the settings: Teams only, Slack not set up.
    platforms = chat_platforms(settings, session_factory)
    assert [platform.name for platform in platforms] == ["teams"]
    job = {job.name: job for job in build_jobs(settings, session_factory, platforms)}["org.sync"]

    with session_factory.begin() as session:
        [report] = job.func(session, ManualClock(NOW))

    assert isinstance(report, SyncReport) and report.created == 4
    found = people(session_factory)
    assert set(found) == {ADA, BEN, CHLOE, DEV}
    assert all(p.workspace_id == tenant.id for p in found.values()), "the tenant's existing workspace"


def test_org_sync_on_teams_without_its_settings_says_what_to_set(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "TEAMS_CLIENT_ID",
        "TEAMS_CLIENT_SECRET",
        "TEAMS_TENANT_ID",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("EMPATHY_SECRET_KEY", SECRET_KEY)
    monkeypatch.chdir(tmp_path)

    assert main(["org", "sync", "--platform", "teams"]) == 2

    err = capsys.readouterr().err.strip()
    assert err == (
        "empathy-bot: Teams is not set up: put TEAMS_CLIENT_ID, TEAMS_CLIENT_SECRET and TEAMS_TENANT_ID "
        "from the bot's Entra app registration into .env"
    )


def test_a_circle_of_managers_in_entra_is_not_copied(
    session_factory: sessionmaker[Session], tenant: Workspace, directory: TeamsDirectory, graph: FakeGraph
) -> None:
    # Entra accepts any manager, including one that closes a circle; the reporting lines must stay a tree.
    graph.add_user(ADA, "Ada Lovelace", mail="ada@contoso.com", manager=CHLOE)
    graph.add_user(BEN, "Ben Okafor", mail="ben@contoso.com", manager=ADA)
    graph.add_user(CHLOE, "Chloé Martin", mail="chloe@contoso.com", manager=BEN)
    graph.add_user(DEV, "Dev Patel", mail="dev@contoso.com", manager=DEV)

    sync(session_factory, tenant, directory)

    found = people(session_factory)
    ada, ben, chloe, dev = found[ADA], found[BEN], found[CHLOE], found[DEV]
    assert (ada.manager_id, ben.manager_id, chloe.manager_id) == (chloe.id, ada.id, None)
    assert dev.manager_id is None


def test_without_the_directory_permission_nothing_is_read_and_the_error_says_how_to_grant_it(
    session_factory: sessionmaker[Session], tenant: Workspace, directory: TeamsDirectory, graph: FakeGraph
) -> None:
    small_org(graph)
    graph.deny("User.Read.All")

    with pytest.raises(DirectoryError) as refused:
        sync(session_factory, tenant, directory)

    assert str(refused.value).startswith(
        "Microsoft Graph refused GET /users (403 Authorization_RequestDenied): the app needs the User.Read.All "
        "application permission with admin consent. An Entra admin adds it under Entra admin center → App "
        "registrations → the bot's app → API permissions → Add a permission → Microsoft Graph → Application "
        "permissions, then clicks 'Grant admin consent'"
    )
    assert people(session_factory) == {}
    assert [r.status for r in graph.requests] == [403, 403], "with and without $expand, then no more asking"
