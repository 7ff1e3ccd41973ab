"""`empathy-bot serve` under gunicorn answers Teams at POST /api/messages beside Slack, authentication on.

A real subprocess: gunicorn forks its workers, and each builds the Flask front and its own event loop
after the fork. Outbound tokens would come from Entra through MSAL here (no test hook crosses a process
boundary), so this test checks what needs no outbound call: refusals, and an install being recorded.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select

from bot.core.database import make_engine, make_session_factory
from bot.core.models import PersonAccount
from tests.fakes.slack.api import FakeSlack
from tests.fakes.teams.auth import FakeBotFrameworkAuth
from tests.fakes.teams.connector import FakeBotConnector
from tests.fakes.teams.requests import TeamsRequests
from tests.scenarios.teams.conftest import ANA, CLIENT_ID, TENANT_ID, teams_env
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[3]
# Each test starts the real CLI in a subprocess, which imports both SDKs (gunicorn forks its workers too).
pytestmark = pytest.mark.slow


def _wait_until_healthy(base: str, server: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(
                f"serve exited with {server.returncode}: {server.stdout.read() if server.stdout else ''}"
            )
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("serve did not answer /healthz within a minute")


def test_serve_answers_teams_beside_slack(
    tmp_path: Path,
    _sqlite_template: Path,
    slack: FakeSlack,
    teams_auth: FakeBotFrameworkAuth,
    connector: FakeBotConnector,
) -> None:
    database = tmp_path / "bot.sqlite3"
    shutil.copy(_sqlite_template, database)
    port = free_port()
    env = {
        **teams_env(slack, f"sqlite:///{database}", teams_auth, connector),
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--no-scheduler"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(base, server)
        teams = TeamsRequests(
            teams_auth, client_id=CLIENT_ID, tenant_id=TENANT_ID, service_url=connector.url, base_url=base
        )

        assert teams.post(teams.installation_update(ANA), token=None).status == 401
        install = teams.installation_update(ANA)
        assert teams.post(install, audience="someone-else").status == 401
        assert teams.post(install).status == 200
        # Slack's front is still there on the same port.
        assert httpx.post(f"{base}/slack/events", content=b"{}", timeout=10).status_code in (400, 401)
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)

    engine = make_engine(f"sqlite:///{database}")
    try:
        with make_session_factory(engine)() as session:
            account = session.scalar(select(PersonAccount).where(PersonAccount.external_user_id == ANA.aad_object_id))
            assert account is not None and account.conversation_ref is not None
    finally:
        engine.dispose()
    assert "Traceback" not in output, output
    assert connector.calls == []


def test_serve_with_only_teams_settings_answers_teams_and_mounts_nothing_of_slack(
    tmp_path: Path,
    _sqlite_template: Path,
    slack: FakeSlack,
    teams_auth: FakeBotFrameworkAuth,
    connector: FakeBotConnector,
) -> None:
    database = tmp_path / "bot.sqlite3"
    shutil.copy(_sqlite_template, database)
    port = free_port()
    env = {
        **{
            k: v
            for k, v in teams_env(slack, f"sqlite:///{database}", teams_auth, connector).items()
            if "SLACK" not in k
        },
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    assert not [name for name in env if name.startswith("SLACK_")]
    # With the scheduler: the master builds the jobs with the Teams platform alone.
    server = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(base, server)
        teams = TeamsRequests(
            teams_auth, client_id=CLIENT_ID, tenant_id=TENANT_ID, service_url=connector.url, base_url=base
        )
        assert teams.post(teams.installation_update(ANA), token=None).status == 401
        assert teams.post(teams.installation_update(ANA)).status == 200
        assert httpx.post(f"{base}/slack/events", content=b"{}", timeout=10).status_code == 404
        assert httpx.get(f"{base}/slack/install", timeout=10).status_code == 404
        assert httpx.get(f"{base}/metrics", timeout=10).status_code == 401  # the token is set; none was sent
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)

    engine = make_engine(f"sqlite:///{database}")
    try:
        with make_session_factory(engine)() as session:
            account = session.scalar(select(PersonAccount).where(PersonAccount.external_user_id == ANA.aad_object_id))
            assert account is not None and account.conversation_ref is not None
    finally:
        engine.dispose()
    assert "Traceback" not in output, output
    assert slack.calls == [], "a Teams-only deployment called Slack"


def test_the_worker_with_only_teams_settings_runs_the_jobs(
    tmp_path: Path,
    _sqlite_template: Path,
    slack: FakeSlack,
    teams_auth: FakeBotFrameworkAuth,
    connector: FakeBotConnector,
) -> None:
    database = tmp_path / "bot.sqlite3"
    shutil.copy(_sqlite_template, database)
    env = {
        **{
            k: v
            for k, v in teams_env(slack, f"sqlite:///{database}", teams_auth, connector).items()
            if "SLACK" not in k
        },
        "EMPATHY_WORKER_NICE": "0",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "worker"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert worker.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("running; press Ctrl+C" in line for line in lines):
            line = worker.stdout.readline()
            if not line:
                break
            lines.append(line)
        assert any("running; press Ctrl+C" in line for line in lines), "".join(lines)
    finally:
        worker.terminate()
        rest, _ = worker.communicate(timeout=30)
    output = "".join(lines) + rest
    assert worker.returncode == 0, output
    assert "Traceback" not in output, output
    assert slack.calls == [], "a Teams-only worker called Slack"


def test_doctor_with_only_teams_settings_checks_no_slack_token(
    engine: Engine, db_url: str, slack: FakeSlack, teams_auth: FakeBotFrameworkAuth, connector: FakeBotConnector
) -> None:
    from bot.cli.doctor import run_checks

    env = {k: v for k, v in teams_env(slack, db_url, teams_auth, connector).items() if "SLACK" not in k}
    checks = run_checks(env)
    assert checks[0].name == "Settings" and checks[0].ok, checks[0].line()
    assert not [c.line() for c in checks if "Slack" in c.name], [c.line() for c in checks]
    assert not [c.line() for c in checks if not c.ok and not c.warning]
    assert slack.calls == []


def test_a_slack_workspace_command_on_a_teams_only_deployment_says_so_in_one_line(
    tmp_path: Path,
    _sqlite_template: Path,
    slack: FakeSlack,
    teams_auth: FakeBotFrameworkAuth,
    connector: FakeBotConnector,
) -> None:
    database = tmp_path / "bot.sqlite3"
    shutil.copy(_sqlite_template, database)
    env = {
        **{
            k: v
            for k, v in teams_env(slack, f"sqlite:///{database}", teams_auth, connector).items()
            if "SLACK" not in k
        },
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "org", "sync"],  # the Slack directory, by default
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    # The log lines before it are the schema check's; the operator's answer is the one line at the end.
    assert [line for line in result.stderr.splitlines() if line.startswith("empathy-bot:")] == [
        "empathy-bot: this command works on the Slack workspace, and this deployment has Microsoft Teams only: set "
        "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET in .env to add Slack (README: Configuration)"
    ]
    assert slack.calls == []
