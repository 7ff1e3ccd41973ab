"""Settings: every missing or malformed value stops the program with one line that says what to do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.core.settings import SettingsError, load_settings
from tests.support.paths import ROOT

GOOD = {
    "SLACK_BOT_TOKEN": "xoxb-1-2-abc",
    "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99aaabbb85a5",
}


def settings_error(**env: str) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings({**GOOD, **env})
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_defaults_for_a_first_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(dict(GOOD))
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.database_url == f"sqlite:///{tmp_path / 'empathy-bot.sqlite3'}"
    assert settings.port == 3000
    assert settings.socket_mode is False
    assert settings.secret_key_generated is True
    assert settings.admins == ()
    assert settings.metrics_token is None  # /metrics stays closed until a token is chosen


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"SLACK_BOT_TOKEN": ""}, ["SLACK_BOT_TOKEN", ".env"]),
        ({"SLACK_BOT_TOKEN": "xoxp-user-token"}, ["SLACK_BOT_TOKEN", "xoxb-"]),
        ({"SLACK_SIGNING_SECRET": ""}, ["SLACK_SIGNING_SECRET", "Basic Information"]),
        ({"SLACK_SIGNING_SECRET": "not hex!"}, ["SLACK_SIGNING_SECRET"]),
        ({"SLACK_APP_TOKEN": "xoxb-wrong"}, ["SLACK_APP_TOKEN", "xapp-"]),
        ({"SLACK_API_URL": "slack.com/api"}, ["SLACK_API_URL", "http"]),
        ({"DATABASE_URL": "not a url"}, ["DATABASE_URL", "sqlite:///"]),
        ({"DATABASE_URL": "mysql://u@h/db"}, ["DATABASE_URL", "mysql"]),
        ({"PORT": "eighty"}, ["PORT", "whole number"]),
        ({"PORT": "70000"}, ["PORT", "between 1 and 65535"]),
        ({"EMPATHY_ADMINS": "hr@example.com, priya"}, ["EMPATHY_ADMINS", "'priya'"]),
        ({"EMPATHY_SECRET_KEY": "too-short"}, ["EMPATHY_SECRET_KEY", "Fernet.generate_key"]),
        ({"EMPATHY_ENV": "production"}, ["EMPATHY_SECRET_KEY", "required in production"]),
        ({"EMPATHY_ENV": "staging"}, ["EMPATHY_ENV", "development, production"]),
        ({"EMPATHY_METRICS_TOKEN": "short"}, ["EMPATHY_METRICS_TOKEN", "at least 32", "secrets.token_urlsafe"]),
        ({"EMPATHY_METRICS_TOKEN": "a" * 20 + " " + "b" * 20}, ["EMPATHY_METRICS_TOKEN", "no spaces"]),
    ],
)
def test_bad_settings_name_the_variable_and_the_fix(env: dict[str, str], names: list[str]) -> None:
    message = settings_error(**env)
    for name in names:
        assert name in message


def test_socket_mode_needs_no_signing_secret() -> None:
    settings = load_settings({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1-2"})
    assert settings.socket_mode


def test_postgres_urls_get_the_psycopg_driver() -> None:
    settings = load_settings({**GOOD, "DATABASE_URL": "postgres://u:p@db.internal/empathy"})
    assert settings.database_url == "postgresql+psycopg://u:p@db.internal/empathy"


def test_admins_split_into_emails_and_slack_ids() -> None:
    settings = load_settings({**GOOD, "EMPATHY_ADMINS": "HR.Lead@Example.com, U0PRIYA"})
    assert settings.admin_emails == {"hr.lead@example.com"}
    assert settings.admin_slack_ids == {"U0PRIYA"}


def test_dotenv_file_is_read_and_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-from-file\nSLACK_SIGNING_SECRET=abcdef0123456789\nPORT=4000\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.setenv("PORT", "5000")
    settings = load_settings()
    assert settings.slack_bot_token == "xoxb-from-file"
    assert settings.port == 5000


def test_the_cli_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    # PYTHONPATH: this checkout's code, not whichever one the virtualenv installed.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PORT": "not-a-port", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    # Neither Slack nor Teams is configured: the line names both ways to start.
    assert result.stderr.strip().splitlines() == [
        "empathy-bot: no chat platform is configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET for Slack, or "
        "TEAMS_CLIENT_ID, TEAMS_CLIENT_SECRET and TEAMS_TENANT_ID for Microsoft Teams, in .env (README: Configuration)"
    ]


def test_the_teams_pace_defaults_inside_microsofts_limit_and_refuses_more() -> None:
    assert load_settings(GOOD).teams_rate_per_second == 40
    assert load_settings({**GOOD, "TEAMS_RATE_PER_SECOND": "25"}).teams_rate_per_second == 25
    assert settings_error(TEAMS_RATE_PER_SECOND="80") == "TEAMS_RATE_PER_SECOND must be between 1 and 50, not 80"
