"""Shared fixtures: real migrations on SQLite (always) and PostgreSQL (when
EMPATHY_TEST_DATABASE_URL is set), a fake Slack Web API on an ephemeral port, and settings
that point the real app at both."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from slack_bolt import App
from sqlalchemy import Engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

import bot.schema  # noqa: F401  (registers every table)
from bot.core.database import make_engine, make_session_factory, upgrade
from bot.core.models import Base, Person, Role, RoleGrant, RoleSource, Workspace
from bot.core.settings import Settings, load_settings
from bot.delivery.inbox import stop_all as stop_inboxes
from handlers.slack.app import create_app
from handlers.slack.web import create_web_app
from tests.fakes.slack.api import FakeSlack, manifest_scopes
from tests.support.people import slack_account, slack_is
from tests.support.slack_requests import SlackRequests

SIGNING_SECRET = "8f742231b10e8888abcd99aaabbb85a5"
SECRET_KEY = "tScCqkF2QQ5wztvPixywSY3S8A2CZu6H7-doABdigsw="
BOT_TOKEN = "xoxb-test-token"
TEAM_ID = "T0001"
METRICS_TOKEN = "metrics-token-for-the-tests-0123456789abcdef"
METRICS_AUTH = {"Authorization": f"Bearer {METRICS_TOKEN}"}

PG_URL = os.environ.get("EMPATHY_TEST_DATABASE_URL")
# pytest-xdist names each worker process (gw0, gw1, ...); a run without it is one process, "main".
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@event.listens_for(Engine, "connect")
def _test_databases_skip_the_disk_flush(dbapi_connection: object, _record: object) -> None:
    """Every SQLite test database is thrown away with its test: waiting for the disk at each commit
    (fsync, tens of thousands of times a run on a shared disk) bought nothing. A killed process still
    loses nothing (the OS has the pages); only a machine crash could, which ends the run anyway. Set on
    every engine this process opens, the app's and the CLI's included; subprocesses keep the default."""
    if type(dbapi_connection).__module__ == "sqlite3":
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under xdist, the slow end-to-end tests go first: the workers then share them out at the start,
    and the run ends on short tests that both workers finish together, instead of one worker starting
    the demo's half minute while the other sits idle. Each worker sorts its identical collection the
    same way (a stable sort), as xdist requires; a run in one process keeps the files' order."""
    if WORKER != "main":
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def _scrubs_outwait_the_other_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """`storage_scrub` rewrites a table only once every transaction of the *cluster* that began before
    it has ended, and gives up after 10 s (a snapshot held in another database can hold back what VACUUM
    may remove). Under xdist the other worker's tests are such transactions, and at load 20 some outlast
    10 s: three suggestion storage tests then found a Fernet token still in the files. Under xdist the
    scrub waits up to 120 s for them; what it does once they have ended is unchanged."""
    if WORKER == "main":
        return
    from bot.core import storage_scrub

    real = storage_scrub._vacuum_full

    def patient(engine: Engine, tables: list[str], *, wait: float = 10.0) -> bool:
        return real(engine, tables, wait=max(wait, 120.0))

    monkeypatch.setattr(storage_scrub, "_vacuum_full", patient)


@pytest.fixture(autouse=True)
def _inbox_threads_end_with_their_test() -> Iterator[None]:
    """A web app's inbox threads would otherwise poll the next test's database with this test's app."""
    yield
    stop_inboxes()


def _pg_admin_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _postgres_database() -> Iterator[str]:
    """A fresh database for this test session, migrated once; tests truncate it between them."""
    if not PG_URL:
        pytest.skip("PostgreSQL tests need EMPATHY_TEST_DATABASE_URL")
    admin_url = _pg_admin_url(PG_URL)
    # Each xdist worker migrates and truncates its own database; the worker's name in it says whose a
    # database left behind by a killed run was.
    name = f"empathy_test_{WORKER}_{uuid.uuid4().hex[:10]}"
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a migrated, empty database: SQLite, then PostgreSQL when available."""
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("_postgres_database")
    _empty_postgres(url)
    return url


def _empty_postgres(url: str) -> None:
    """Empty every table and restart every sequence, as `TRUNCATE … RESTART IDENTITY` of all tables would,
    but truncating only the tables the last test wrote to: truncating an empty table still replaces its
    files and its indexes' (about a quarter of a second per test for all of them)."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            written = connection.execute(text(_WRITTEN_TABLES)).scalars().all()
            if written:
                tables = ", ".join(f'"{name}"' for name in written)
                connection.execute(text(f"TRUNCATE {tables} CASCADE"))
            connection.execute(
                text(
                    "SELECT setval(format('%I.%I', schemaname, sequencename), start_value, false) "
                    "FROM pg_sequences WHERE schemaname = current_schema() AND last_value IS NOT NULL"
                )
            )
    finally:
        engine.dispose()


_WRITTEN_TABLES = " UNION ALL ".join(
    f"SELECT '{table.name}' WHERE EXISTS (SELECT 1 FROM \"{table.name}\")" for table in Base.metadata.sorted_tables
)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session


@pytest.fixture
def workspace(session_factory: sessionmaker[Session]) -> Workspace:
    with session_factory.begin() as session:
        workspace = Workspace(external_id=TEAM_ID, name="Test Workspace")
        session.add(workspace)
    return workspace


@pytest.fixture(scope="session")
def _fake_slack_server() -> Iterator[FakeSlack]:
    fake = FakeSlack(team_id=TEAM_ID).start()
    yield fake
    fake.stop()


@pytest.fixture
def slack(_fake_slack_server: FakeSlack) -> Iterator[FakeSlack]:
    """The fake Slack Web API, empty at the start of each test, its token granted manifest.yml's scopes;
    the test fails if the bot wrote anything that pings a whole channel (an unescaped name or text: see
    FakeSlack.broadcasts), or if Slack refused a call for a scope the manifest does not ask for."""
    _fake_slack_server.reset()
    yield _fake_slack_server
    broadcasts = _fake_slack_server.broadcasts()
    # Refusals count only while the token has exactly what manifest.yml asks for (a test that narrows the
    # grant expects some); a swallowed one still fails the test, so the manifest can't lag behind the code.
    installed_from_manifest = _fake_slack_server.scopes.split(",") == manifest_scopes()
    refusals = _fake_slack_server.scope_refusals() if installed_from_manifest else []
    _fake_slack_server.reset()
    assert not broadcasts, f"the bot wrote an unescaped broadcast mention: {broadcasts}"
    assert not refusals, f"Slack refused calls for a scope manifest.yml does not ask for: {refusals}"


def make_env(slack: FakeSlack, db_url: str, **overrides: str) -> dict[str, str]:
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.url,
        "DATABASE_URL": db_url,
        "EMPATHY_SECRET_KEY": SECRET_KEY,
        "EMPATHY_ADMINS": "hr.lead@example.com",
        "EMPATHY_METRICS_TOKEN": METRICS_TOKEN,
    }
    env.update(overrides)
    return env


@pytest.fixture
def settings(slack: FakeSlack, db_url: str) -> Settings:
    return load_settings(make_env(slack, db_url))


@pytest.fixture
def bolt_app(settings: Settings, engine: Engine) -> App:
    """The real Bolt app, its WebClient pointed at the fake Slack API through SLACK_API_URL."""
    return create_app(settings, engine=engine)


@pytest.fixture
def web(bolt_app: App) -> FlaskClient:
    return create_web_app(bolt_app).test_client()


@pytest.fixture
def slack_requests(web: FlaskClient, slack: FakeSlack) -> SlackRequests:
    return SlackRequests(web, SIGNING_SECRET, team_id=TEAM_ID, response_base=slack.url)


@pytest.fixture
def people(session_factory: sessionmaker[Session], workspace: Workspace) -> None:
    """Priya is an HR admin, Ana is not."""
    with session_factory.begin() as session:
        for slack_id, name in [("U0PRIYA", "Priya Natarajan"), ("U0ANA", "Ana Souza")]:
            session.add(
                Person(
                    workspace_id=workspace.id,
                    accounts=slack_account(slack_id),
                    email=f"{slack_id.lower()}@example.com",
                    name=name,
                )
            )
        session.flush()
        priya = session.scalar(select(Person).where(slack_is("U0PRIYA")))
        assert priya is not None
        session.add(RoleGrant(workspace_id=workspace.id, person_id=priya.id, role=Role.HR, source=RoleSource.CSV))
