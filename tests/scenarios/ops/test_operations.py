"""Operations: `empathy-bot doctor`, the /metrics gauges, and JSON logs without user content."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker

from bot.cli.main import main
from bot.core.crypto import SecretBox
from bot.core.logs import JsonFormatter, configure_logging
from bot.core.models import InboxRequest, Person, Workspace, WorkspaceSetting
from bot.core.settings import load_settings
from bot.delivery.inbox import Inbox, inbox_engine
from bot.delivery.outbox import enqueue
from handlers.slack.app import create_app
from handlers.slack.web import create_web_app
from tests.conftest import METRICS_AUTH, METRICS_TOKEN, SECRET_KEY, make_env
from tests.fakes.slack.api import FakeSlack, manifest_scopes
from tests.support.people import slack_account


@pytest.fixture
def env(slack: FakeSlack, db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in make_env(slack, db_url).items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def hr(session_factory: sessionmaker[Session], workspace: Workspace) -> None:
    with session_factory.begin() as session:
        session.add(
            Person(workspace_id=workspace.id, accounts=slack_account("U0HR"), email="hr.lead@example.com", name="Hana")
        )


def test_doctor_on_a_healthy_install(
    env: None, hr: None, slack: FakeSlack, session_factory: sessionmaker[Session], workspace: Workspace,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Installed from manifest.yml (what the fake grants unless told otherwise), a public kudos channel and a
    private suggestions channel check out: the manifest grants what doctor's own calls need."""
    assert slack.scopes.split(",") == manifest_scopes()
    with session_factory.begin() as session:
        session.add(WorkspaceSetting(workspace_id=workspace.id, key="kudos-channel", value="C0KUDOS"))
        session.add(WorkspaceSetting(workspace_id=workspace.id, key="suggestions-channel", value="G0IDEAS"))
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "✓ Database: reachable" in out and "✓ Migrations: the schema is up to date" in out
    assert "✓ Slack token: valid for Test Workspace (T0001)" in out
    assert "✓ Scopes: all granted" in out and "✓ HR admins: 1 found" in out
    assert "✓ Channel kudos-channel: C0KUDOS (bot is a member)" in out
    assert "✓ Channel suggestions-channel: G0IDEAS (bot is a member)" in out
    assert out.rstrip().endswith("All good.")


def test_doctor_notices_acked_requests_that_no_worker_picks_up(
    env: None, hr: None, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    web = Inbox(inbox_engine(db_url), SecretBox(SECRET_KEY))  # a web part that only acks, and no worker
    web.accept("click", "payload")
    assert main(["doctor"]) == 0
    assert "✓ Inbox: 1 acked request(s) waiting, the oldest for 0 s" in capsys.readouterr().out

    with web.engine.begin() as connection:
        connection.execute(update(InboxRequest).values(received_at=datetime.now(UTC) - timedelta(minutes=5)))
    assert main(["doctor"]) == 0  # a warning: the requests are safe, only late
    out = capsys.readouterr().out
    assert "! Inbox: 1 acked request(s) waiting, the oldest for 300 s" in out
    assert "→ start `empathy-bot worker`" in out
    web.engine.dispose()


def test_doctor_names_missing_scopes_and_says_how_to_fix_them(
    env: None, hr: None, slack: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    slack.scopes = "commands,chat:write"
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "✗ Scopes: missing im:write (open a DM with a person" in out
    assert "; files:write (trend charts in digests and the privacy export file" in out
    assert "→ reinstall the app with manifest.yml's scopes: https://api.slack.com/apps → your app" in out


# What manifest.yml granted before files:write, channels:read and groups:read were added.
OLD_MANIFEST_SCOPES = (
    "commands,chat:write,im:write,im:history,channels:history,groups:history,users:read,users:read.email,reactions:read"
)


def test_doctor_does_not_call_an_install_from_the_old_manifest_all_granted(
    env: None, hr: None, slack: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    """It used to: doctor's list lacked the same scopes as the manifest, so charts and exports failed
    while doctor said all was well."""
    slack.scopes = OLD_MANIFEST_SCOPES
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "all granted" not in out
    assert "✗ Scopes: missing channels:read (doctor: is the bot in a public channel" in out
    assert "groups:read (doctor: the same for a private channel" in out
    assert "files:write (trend charts in digests and the privacy export file" in out


@pytest.mark.parametrize("scope", manifest_scopes())
def test_doctor_says_all_granted_only_when_every_scope_the_manifest_asks_for_is(
    scope: str, env: None, hr: None, slack: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    slack.revoke(scope)
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert f"✗ Scopes: missing {scope} (" in out and "all granted" not in out


@pytest.mark.parametrize(
    ("key", "channel", "scope"),
    [("kudos-channel", "C0KUDOS", "channels:read"), ("suggestions-channel", "G0IDEAS", "groups:read")],
)
def test_doctor_calls_a_channel_check_refused_for_a_scope_a_missing_scope_not_a_channel_problem(
    key: str, channel: str, scope: str, env: None, hr: None, slack: FakeSlack,
    session_factory: sessionmaker[Session], workspace: Workspace, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    with session_factory.begin() as session:
        session.add(WorkspaceSetting(workspace_id=workspace.id, key=key, value=channel))
    slack.revoke(scope)  # installed before the manifest asked for it
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert slack.scope_refusals() == [f"conversations.info: {scope}"]  # Slack refused the look-up itself
    assert f"✗ Channel {key}: <#{channel}>: can't check it, the app lacks the {scope} scope (missing_scope)" in out
    assert "→ reinstall the app with manifest.yml's scopes" in out and "Install App → Reinstall to Workspace" in out
    assert "invite the bot" not in out and "/invite" not in out


def test_doctor_with_a_revoked_token(env: None, slack: FakeSlack, capsys: pytest.CaptureFixture[str]) -> None:
    slack.error_next("auth.test", "token_revoked")
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "✗ Slack token: Slack said token_revoked" in out
    assert "! People: 0 active" in out  # a warning, not a failure


def test_doctor_on_an_unmigrated_database(
    slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in make_env(slack, f"sqlite:///{tmp_path / 'new.sqlite3'}").items():
        monkeypatch.setenv(name, value)
    assert main(["doctor"]) == 1
    assert "✗ Migrations: the schema is behind this version\n    → run `empathy-bot migrate`" in capsys.readouterr().out


def test_doctor_checks_the_configured_channels(
    env: None, hr: None, slack: FakeSlack, session_factory: sessionmaker[Session], workspace: Workspace,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    with session_factory.begin() as session:
        session.add(WorkspaceSetting(workspace_id=workspace.id, key="kudos-channel", value="C0KUDOS"))
    slack.error_next("conversations.info", "channel_not_found")
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "✗ Channel kudos-channel: <#C0KUDOS>: channel_not_found" in out
    assert "invite the bot to the channel" in out


def test_metrics_report_outbox_depth_and_lag(
    web: FlaskClient, session_factory: sessionmaker[Session], workspace: Workspace
) -> None:
    with session_factory.begin() as session:
        enqueue(session, workspace.id, "k1", {"text": "hello"}, channel_id="C1")
        enqueue(session, workspace.id, "k2", {"text": "hello again"}, channel_id="C1")
    response = web.get("/metrics", headers=METRICS_AUTH)
    assert response.status_code == 200
    lines = dict(line.split(" ") for line in response.get_data(as_text=True).splitlines() if not line.startswith("#"))
    assert lines["empathy_outbox_pending"] == "2" and lines["empathy_outbox_failed_total"] == "0"
    assert float(lines["empathy_outbox_lag_seconds"]) >= 0
    assert "hello" not in response.get_data(as_text=True)


def test_metrics_count_messages_only_once_they_are_due(
    web: FlaskClient, session_factory: sessionmaker[Session], workspace: Workspace
) -> None:
    """A message queued for later (a suggestion's delayed relay) is invisible until due; a retry waiting
    after a failed attempt is counted apart, so operators still see it."""
    now = datetime.now(UTC)
    with session_factory.begin() as session:
        enqueue(session, workspace.id, "later", {"text": "later"}, channel_id="C1", due_at=now + timedelta(hours=1))
        retry = enqueue(session, workspace.id, "retry", {"text": "r"}, channel_id="C1", due_at=now + timedelta(hours=1))
        retry.attempts = 1
    lines = dict(
        line.split(" ")
        for line in web.get("/metrics", headers=METRICS_AUTH).get_data(as_text=True).splitlines()
        if not line.startswith("#")
    )
    assert lines["empathy_outbox_pending"] == "0" and lines["empathy_outbox_lag_seconds"] == "0"
    assert lines["empathy_outbox_retrying"] == "1"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer wrong-token-of-the-same-shape-0123456789abcdef",
        f"Bearer {METRICS_TOKEN[:-1]}",  # all but the last character
        f"Bearer {METRICS_TOKEN}x",
        f"Basic {METRICS_TOKEN}",
        METRICS_TOKEN,  # no scheme
    ],
)
def test_metrics_refuse_a_request_without_the_right_bearer_token(
    web: FlaskClient, session_factory: sessionmaker[Session], workspace: Workspace, authorization: str | None
) -> None:
    with session_factory.begin() as session:
        enqueue(session, workspace.id, "k1", {"text": "hello"}, channel_id="C1")
    response = web.get("/metrics", headers={} if authorization is None else {"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    body = response.get_data(as_text=True)
    assert body == "send the header Authorization: Bearer <EMPATHY_METRICS_TOKEN>\n"
    assert "empathy_" not in body and METRICS_TOKEN not in body


def test_metrics_are_off_until_a_token_is_set(
    slack: FakeSlack, db_url: str, engine: Engine, session_factory: sessionmaker[Session], workspace: Workspace
) -> None:
    settings = load_settings({k: v for k, v in make_env(slack, db_url).items() if k != "EMPATHY_METRICS_TOKEN"})
    assert settings.metrics_token is None
    web = create_web_app(create_app(settings, engine=engine)).test_client()
    for headers in ({}, METRICS_AUTH):
        response = web.get("/metrics", headers=headers)
        assert response.status_code == 404
        assert response.get_data(as_text=True) == "metrics are off: set EMPATHY_METRICS_TOKEN to turn them on\n"


def test_json_logs_are_one_object_per_line_with_extra_fields() -> None:
    record = logging.LogRecord("bot.delivery.outbox", logging.WARNING, __file__, 1, "gave up on %s", ("row 7",), None)
    record.outbox_id = 7
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "WARNING" and entry["message"] == "gave up on row 7" and entry["outbox_id"] == 7


def test_slack_libraries_never_log_below_info(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    configure_logging("DEBUG", "json")
    assert logging.getLogger("slack_sdk").level == logging.INFO
    assert isinstance(root.handlers[0].formatter, JsonFormatter)
