"""Multi-workspace install: Slack's OAuth flow through the real app, then two workspaces side by side
that never see each other's people, answers, digests, App Home, suggestions or kudos."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from flask.testing import FlaskClient
from slack_bolt import App
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.core.accounts import with_ids
from bot.core.clock import ManualClock
from bot.core.crypto import SecretBox
from bot.core.database import alembic_config, make_engine
from bot.core.models import Person, Role, RoleGrant, RoleSource, Workspace
from bot.core.settings import Settings, load_settings
from bot.delivery.outbox import enqueue
from bot.delivery.scheduler import run_job
from bot.jobs import build_jobs
from handlers.slack.app import NOT_INSTALLED, create_app
from handlers.slack.client import build_web_client
from handlers.slack.installations import BOTS_TABLE, INSTALLATIONS_TABLE, TokenSource, seal_clear_tokens
from handlers.slack.platform import SlackPlatform
from handlers.slack.render import suggestions as suggest_views
from handlers.slack.web import create_web_app
from tests.conftest import SECRET_KEY, SIGNING_SECRET, make_env
from tests.fakes.slack.api import Call, FakeSlack
from tests.support.forensics import pg_table_bytes, sqlite_file_bytes, sqlite_path
from tests.support.slack_requests import SlackRequests
from tests.unit.surveys.test_results import ORG, build_org, run_round

MONDAY = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
FIRST, SECOND = "T0FIRST", "T0SECOND"
TOKENS = {FIRST: "xoxb-first-install", SECOND: "xoxb-second-install"}


@pytest.fixture
def oauth_settings(slack: FakeSlack, db_url: str) -> Settings:
    """OAuth distribution mode: a client id and secret, no single bot token."""
    env = make_env(slack, db_url, SLACK_CLIENT_ID="111.222", SLACK_CLIENT_SECRET="client-secret")
    del env["SLACK_BOT_TOKEN"]
    return load_settings(env)


@dataclass
class Installed:
    app: App
    web: FlaskClient
    settings: Settings
    session_factory: sessionmaker[Session]
    slack: FakeSlack

    def requests(self, team_id: str) -> SlackRequests:
        return SlackRequests(self.web, SIGNING_SECRET, team_id=team_id, response_base=self.slack.url)


def install(web: FlaskClient, slack: FakeSlack, team_id: str, name: str) -> str:
    """Walk Slack's install flow as a browser does: the install page sets a state cookie, Slack sends
    the browser back with a code and that state. Returns the redirect's response body."""
    page = web.get("/slack/install")
    assert page.status_code == 200
    state = re.search(r"state=([\w-]+)", page.get_data(as_text=True))
    assert state is not None, "the install page links to Slack's authorize URL with a state"
    code = f"code-{team_id}"
    slack.add_installation(code, team_id, name, TOKENS[team_id])
    done = web.get(f"/slack/oauth_redirect?code={code}&state={state.group(1)}")
    assert done.status_code == 200, done.get_data(as_text=True)
    return done.get_data(as_text=True)


@pytest.fixture
def installed(
    oauth_settings: Settings, engine: Engine, session_factory: sessionmaker[Session], slack: FakeSlack
) -> Installed:
    app = create_app(oauth_settings, engine=engine, clock=ManualClock(MONDAY))
    web = create_web_app(app).test_client()
    install(web, slack, FIRST, "First Company")
    install(web, slack, SECOND, "Second Company")
    return Installed(app, web, oauth_settings, session_factory, slack)


def test_the_install_flow_stores_each_workspace_token(
    oauth_settings: Settings, engine: Engine, slack: FakeSlack
) -> None:
    web = create_web_app(create_app(oauth_settings, engine=engine)).test_client()
    install(web, slack, SECOND, "Second Company")
    tokens = TokenSource(oauth_settings, engine, lambda token: build_web_client(oauth_settings, token=token))
    assert tokens.installed_teams() == [SECOND]
    assert tokens.token_for(SECOND) == TOKENS[SECOND]
    assert tokens.token_for(FIRST) is None
    [exchange] = slack.calls_to("oauth.v2.access")
    assert exchange["code"] == f"code-{SECOND}"


def test_a_state_is_good_for_one_install_only(oauth_settings: Settings, engine: Engine, slack: FakeSlack) -> None:
    web = create_web_app(create_app(oauth_settings, engine=engine)).test_client()
    page = web.get("/slack/install").get_data(as_text=True)
    state = re.search(r"state=([\w-]+)", page)
    assert state is not None
    slack.add_installation("code-a", FIRST, "First Company", TOKENS[FIRST])
    assert web.get(f"/slack/oauth_redirect?code=code-a&state={state.group(1)}").status_code == 200
    slack.add_installation("code-b", SECOND, "Second Company", TOKENS[SECOND])
    replay = web.get(f"/slack/oauth_redirect?code=code-b&state={state.group(1)}")
    assert replay.status_code == 400
    assert TokenSource(oauth_settings, engine, lambda token: build_web_client(oauth_settings)).installed_teams() == [
        FIRST
    ]


def test_each_workspace_is_answered_with_its_own_token(installed: Installed) -> None:
    installed.requests(SECOND).app_home_opened("U0SECONDPERSON")
    [publish] = installed.slack.wait_for("views.publish", count=1)
    [call] = [c for c in installed.slack.calls if c.method == "views.publish"]
    assert call.token == TOKENS[SECOND]
    assert publish["user_id"] == "U0SECONDPERSON"


def test_a_workspace_that_never_installed_is_refused(installed: Installed) -> None:
    reply = installed.requests("T0STRANGER").command("/empathy", "help", user_id="U0STRANGER")
    assert reply.status_code == 200
    [answer] = [c for c in installed.slack.calls if c.method.startswith("response_url.")]
    assert answer.body["text"] == NOT_INSTALLED
    assert not [c for c in installed.slack.calls if c.method == "views.publish"]


# -- two workspaces, one database ------------------------------------------------------------------


def prefixed(prefix: str) -> dict[str, tuple[str, str | None]]:
    """The test organisation with every name prefixed, so Slack ids differ between workspaces."""
    return {prefix + name: (team, prefix + manager if manager else None) for name, (team, manager) in ORG.items()}


@pytest.fixture
def two_workspaces(installed: Installed) -> Installed:
    """Six closed weekly rounds in each workspace: everyone in the first answers 5, in the second 1."""
    workspaces: dict[str, Workspace] = {}
    with installed.session_factory.begin() as session:
        for team_id, prefix in ((FIRST, "a"), (SECOND, "b")):
            workspace = session.scalar(select(Workspace).where(Workspace.external_id == team_id))
            if workspace is None:
                workspace = Workspace(external_id=team_id, name=team_id)
                session.add(workspace)
                session.flush()
            for name in build_org(session, workspace, prefixed(prefix)):
                installed.slack.add_user(f"U0{name.upper()}", email=f"{name}@example.com", real_name=name.title())
            workspaces[prefix] = workspace
    for prefix, value in (("a", 5), ("b", 1)):
        for week in range(6):
            day = date(2026, 10, 19) + timedelta(weeks=week)
            run_round(installed.session_factory, workspaces[prefix], dict.fromkeys(prefixed(prefix), value), day)
    return installed


def test_two_workspaces_never_see_each_other(two_workspaces: Installed) -> None:
    installed, slack = two_workspaces, two_workspaces.slack
    jobs = {
        job.name: job
        for job in build_jobs(
            installed.settings,
            installed.session_factory,
            [SlackPlatform(installed.settings, installed.session_factory)],
        )
    }
    clock = ManualClock(MONDAY)
    assert run_job(jobs["digest.weekly"], installed.session_factory, clock) == 6  # 3 managers in each
    run_job(jobs["outbox.dispatch"], installed.session_factory, clock)

    posts = [c for c in slack.calls if c.method == "chat.postMessage"]
    assert len(posts) == 6
    for post in posts:
        channel = str(post.body["channel"])
        expected = TOKENS[FIRST] if channel.startswith("D0A") else TOKENS[SECOND]
        assert post.token == expected, f"{channel} was sent with the other workspace's token"
    first_text = str(slack.messages("D0ADANA")[0]["blocks"])
    second_text = str(slack.messages("D0BDANA")[0]["blocks"])
    assert "Amarcus" in first_text and "Bmarcus" not in first_text
    assert "Bmarcus" in second_text and "Amarcus" not in second_text
    # Everyone in the first workspace answered 5 and in the second 1 (on 1-5 and 0-10 items alike):
    # each digest holds only its own workspace's answers.
    assert "Engagement*: 67" in first_text and "Engagement*: 33" not in first_text
    assert "Engagement*: 33" in second_text and "Engagement*: 67" not in second_text

    installed.requests(SECOND).app_home_opened("U0BMARCUS")
    [home] = slack.wait_for("views.publish", count=1)
    assert "Bmarcus" in str(home["view"]["blocks"]) and "Amarcus" not in str(home["view"]["blocks"])
    assert [c.token for c in slack.calls if c.method == "views.publish"] == [TOKENS[SECOND]]


def test_suggestions_and_kudos_stay_in_their_workspace(two_workspaces: Installed) -> None:
    installed, slack = two_workspaces, two_workspaces.slack
    with installed.session_factory.begin() as session:
        for person in session.scalars(select(Person).where(with_ids("slack", ["U0ADANA", "U0BDANA"]))):
            session.add(
                RoleGrant(workspace_id=person.workspace_id, person_id=person.id, role=Role.HR, source=RoleSource.CSV)
            )
    first, second = installed.requests(FIRST), installed.requests(SECOND)

    values = {
        suggest_views.TEXT_BLOCK: {suggest_views.TEXT_INPUT: {"type": "plain_text_input", "value": "Quiet Fridays"}},
        suggest_views.CATEGORY_BLOCK: {
            suggest_views.CATEGORY_INPUT: {"type": "static_select", "selected_option": {"value": "culture"}}
        },
    }
    submitted = first.view_submission(suggest_views.SUGGEST_VIEW, values, user_id="U0AP1").get_json()
    assert submitted["response_action"] == "update"
    first_queue = first.command("/suggest", "queue", user_id="U0ADANA").get_json()["text"]
    second_queue = second.command("/suggest", "queue", user_id="U0BDANA").get_json()["text"]
    assert "Quiet Fridays" in first_queue
    assert "Quiet Fridays" not in second_queue and "queue is empty" in second_queue

    def kudos(requests: SlackRequests, text: str, user: str) -> str:
        """/kudos acks at once and answers through the response_url."""

        def replies() -> list[Call]:
            return [c for c in slack.calls if c.method.startswith("response_url.")]

        before = len(replies())
        assert requests.command("/kudos", text, user_id=user).status_code == 200
        deadline = time.monotonic() + 30
        while len(replies()) == before and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(replies()) > before, "no reply through the response_url"
        return str(replies()[-1].body["text"])

    assert "Thank you for noticing" in kudos(first, "<@U0AP2> for the release", "U0AP1")
    assert "I don't know <@U0AP2>" in kudos(second, "<@U0AP2> for the release", "U0BP1")
    assert "received 0" in kudos(second, "stats", "U0BP2")
    assert "received 1" in kudos(first, "stats", "U0AP2")

    run_job(
        {
            job.name: job
            for job in build_jobs(
                installed.settings,
                installed.session_factory,
                [SlackPlatform(installed.settings, installed.session_factory)],
            )
        }["outbox.dispatch"],
        installed.session_factory,
        ManualClock(MONDAY),
    )
    kudos_dm = [c for c in slack.calls if c.method == "chat.postMessage" and c.body["channel"] == "D0AP2"]
    assert len(kudos_dm) == 1 and kudos_dm[0].token == TOKENS[FIRST]


# -- tokens at rest ----------------------------------------------------------------------------------

REFRESH = "xoxe-1-first-refresh-token"
ROTATED = [("xoxb-rotated-second-token", "xoxe-1-second-refresh-token")]


def raw_bytes(engine: Engine, db_url: str) -> bytes:
    """What an attacker with a copy of the database files reads: pages, WAL, dead tuples."""
    if engine.dialect.name == "sqlite":
        return sqlite_file_bytes(sqlite_path(db_url))
    return pg_table_bytes(engine, BOTS_TABLE) + pg_table_bytes(engine, INSTALLATIONS_TABLE)


def test_tokens_are_sealed_at_rest_and_still_work_through_rotation(
    oauth_settings: Settings, engine: Engine, db_url: str, slack: FakeSlack
) -> None:
    web = create_web_app(create_app(oauth_settings, engine=engine, clock=ManualClock(MONDAY))).test_client()
    page = web.get("/slack/install").get_data(as_text=True)
    state = re.search(r"state=([\w-]+)", page)
    assert state is not None
    # A rotating token that expires within the app's 2-hour refresh margin: the first use refreshes it.
    slack.add_installation(
        "code-r", FIRST, "First Company", TOKENS[FIRST], refresh_token=REFRESH, expires_in=3600, rotated=ROTATED
    )
    assert web.get(f"/slack/oauth_redirect?code=code-r&state={state.group(1)}").status_code == 200
    stolen = raw_bytes(engine, db_url)
    assert b"xoxb-" not in stolen and b"xoxe-" not in stolen
    assert TOKENS[FIRST].encode() not in stolen and REFRESH.encode() not in stolen

    # A request is answered with the (opened, then refreshed) token...
    requests = SlackRequests(web, SIGNING_SECRET, team_id=FIRST, response_base=slack.url)
    requests.app_home_opened("U0FIRSTPERSON")
    slack.wait_for("views.publish")
    [publish] = [c for c in slack.calls if c.method == "views.publish"]
    assert publish.token == ROTATED[0][0]
    [refresh] = [c.body for c in slack.calls if c.method == "oauth.v2.access" and c.body.get("grant_type")]
    assert refresh["refresh_token"] == REFRESH
    # ...and the rotated pair went back sealed too.
    stolen = raw_bytes(engine, db_url)
    assert b"xoxb-" not in stolen and b"xoxe-" not in stolen
    tokens = TokenSource(oauth_settings, engine, lambda token: build_web_client(oauth_settings, token=token))
    assert tokens.token_for(FIRST) == ROTATED[0][0]
    assert tokens.store is not None
    bot = tokens.store.find_bot(enterprise_id=None, team_id=FIRST)
    assert bot is not None and bot.bot_refresh_token == ROTATED[0][1]

    # Sends from the outbox use it as well.
    with sessionmaker(engine).begin() as session:
        workspace = session.scalar(select(Workspace).where(Workspace.external_id == FIRST))
        assert workspace is not None
        enqueue(session, workspace.id, "hello", {"text": "Hello"}, channel_id="C0FIRST", now=MONDAY)
    jobs = {
        job.name: job
        for job in build_jobs(
            oauth_settings, sessionmaker(engine), [SlackPlatform(oauth_settings, sessionmaker(engine))]
        )
    }
    run_job(jobs["outbox.dispatch"], sessionmaker(engine), ManualClock(MONDAY))
    [post] = [c for c in slack.calls if c.method == "chat.postMessage"]
    assert post.token == ROTATED[0][0]


def _clear_install(engine: Engine) -> None:
    """A row as versions before sealing wrote it: slack_sdk's own store, tokens in clear."""
    plain = SQLAlchemyInstallationStore(
        client_id="111.222", engine=engine, bots_table_name=BOTS_TABLE, installations_table_name=INSTALLATIONS_TABLE
    )
    plain.save(
        Installation(
            app_id="A0EMPATHY",
            team_id=SECOND,
            team_name="Second Company",
            bot_token=TOKENS[SECOND],
            bot_id="B0002",
            bot_user_id="UBOT",
            bot_scopes="commands,chat:write",
            user_id="U0INSTALLER",
            incoming_webhook_url="https://hooks.slack.com/services/T0SECOND/B0/secret",
        )
    )


def test_rows_stored_in_clear_keep_working_until_sealed_at_start(
    oauth_settings: Settings, engine: Engine, db_url: str, slack: FakeSlack
) -> None:
    _clear_install(engine)
    tokens = TokenSource(oauth_settings, engine, lambda token: build_web_client(oauth_settings, token=token))
    assert tokens.token_for(SECOND) == TOKENS[SECOND]  # read back in clear: still works
    assert TOKENS[SECOND].encode() in raw_bytes(engine, db_url)  # (the attack sees it before the fix-up)

    assert seal_clear_tokens(engine, SecretBox(SECRET_KEY)) == 2  # its installation row and its bot row
    assert seal_clear_tokens(engine, SecretBox(SECRET_KEY)) == 0  # nothing left in clear
    with engine.connect() as connection:
        for table in (BOTS_TABLE, INSTALLATIONS_TABLE):
            assert connection.execute(text(f"SELECT bot_token FROM {table}")).scalar_one().startswith("v2.")
    if engine.dialect.name == "sqlite":
        # The files, WAL included: secure_delete zeroed the old cells and the scrub truncated the log.
        # (On PostgreSQL, VACUUM FULL must keep row versions another session's snapshot can still see,
        # and the test server is shared; tokens written by the store itself are never in clear there.)
        stolen = raw_bytes(engine, db_url)
        assert b"xoxb-" not in stolen and b"hooks.slack.com/services" not in stolen
    assert tokens.token_for(SECOND) == TOKENS[SECOND]
    installation = tokens.store.find_installation(enterprise_id=None, team_id=SECOND)  # type: ignore[union-attr]
    assert installation is not None and installation.incoming_webhook_url.endswith("/secret")


def test_the_migration_seals_clear_rows_when_it_has_the_key(
    tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    config = alembic_config(url)
    command.upgrade(config, "0012")
    old = make_engine(url)
    _clear_install(old)
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("EMPATHY_SECRET_KEY", SECRET_KEY)
    command.upgrade(config, "head")
    with old.connect() as connection:
        stored = connection.execute(text(f"SELECT bot_token FROM {BOTS_TABLE}")).scalar_one()
    assert stored.startswith("v2.") and SecretBox(SECRET_KEY).open_untimed(stored).decode() == TOKENS[SECOND]
    settings = load_settings({**make_env(slack, url), "SLACK_CLIENT_ID": "111.222", "SLACK_CLIENT_SECRET": "s"})
    assert TokenSource(settings, old, lambda token: build_web_client(settings)).token_for(SECOND) == TOKENS[SECOND]
    old.dispose()
