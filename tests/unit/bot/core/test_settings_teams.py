"""Teams settings: off unless TEAMS_CLIENT_ID is set; then every credential is required and well formed, and
each mistake stops the program with one line that says how to fix it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.core.settings import SettingsError, load_settings
from tests.support.paths import ROOT
from tests.unit.bot.core.test_settings import GOOD, settings_error

CLIENT_ID = "5f3c2a1b-9d8e-4f70-a6b5-c4d3e2f1a0b9"
TENANT_ID = "0e1d2c3b-4a59-4687-9786-a5b4c3d2e1f0"
TEAMS = {"TEAMS_CLIENT_ID": CLIENT_ID, "TEAMS_CLIENT_SECRET": "s3cr~et.value", "TEAMS_TENANT_ID": TENANT_ID}


def test_teams_is_off_without_a_client_id() -> None:
    settings = load_settings(dict(GOOD))
    assert settings.teams is False
    assert (settings.teams_client_id, settings.teams_client_secret, settings.teams_tenant_id) == (None, None, None)


def test_teams_settings_and_microsofts_endpoints_by_default() -> None:
    settings = load_settings({**GOOD, **TEAMS, "TEAMS_CLIENT_ID": CLIENT_ID.upper()})
    assert settings.teams is True
    assert settings.teams_client_id == CLIENT_ID  # GUIDs compare lower-case everywhere
    assert settings.teams_client_secret == "s3cr~et.value"
    assert settings.teams_tenant_id == TENANT_ID
    assert settings.teams_openid_url == "https://login.botframework.com/v1/.well-known/openidconfiguration"
    assert settings.teams_login_url == "https://login.microsoftonline.com"
    assert settings.teams_service_url == "https://smba.trafficmanager.net/teams/"
    assert settings.graph_api_url == "https://graph.microsoft.com/v1.0"


def test_endpoint_overrides_for_tests_and_other_clouds() -> None:
    settings = load_settings(
        {
            **GOOD,
            **TEAMS,
            "TEAMS_OPENID_URL": "http://127.0.0.1:9001/v1/.well-known/openidconfiguration",
            "TEAMS_LOGIN_URL": "http://127.0.0.1:9001/",
            "TEAMS_SERVICE_URL": "http://127.0.0.1:9002",
            "GRAPH_API_URL": "http://127.0.0.1:9003/v1.0/",
        }
    )
    assert settings.teams_openid_url == "http://127.0.0.1:9001/v1/.well-known/openidconfiguration"
    assert settings.teams_login_url == "http://127.0.0.1:9001"
    assert settings.teams_service_url == "http://127.0.0.1:9002/"
    assert settings.graph_api_url == "http://127.0.0.1:9003/v1.0"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"TEAMS_CLIENT_ID": ""}, ["TEAMS_CLIENT_ID is missing", "Application (client) ID"]),
        ({"TEAMS_CLIENT_ID": "empathy-bot"}, ["TEAMS_CLIENT_ID", "GUID", "Application (client) ID"]),
        ({"TEAMS_CLIENT_SECRET": ""}, ["TEAMS_CLIENT_SECRET", "Certificates & secrets"]),
        ({"TEAMS_TENANT_ID": ""}, ["TEAMS_TENANT_ID", "Directory (tenant) ID"]),
        ({"TEAMS_TENANT_ID": "contoso.onmicrosoft.com"}, ["TEAMS_TENANT_ID", "GUID", "not the domain name"]),
        ({"TEAMS_OPENID_URL": "login.botframework.com"}, ["TEAMS_OPENID_URL", "http"]),
        ({"TEAMS_OPENID_URL": "https://login.botframework.com/v1/.well-known/keys"}, ["/openidconfiguration"]),
        ({"TEAMS_LOGIN_URL": "ftp://login"}, ["TEAMS_LOGIN_URL", "http"]),
        ({"TEAMS_SERVICE_URL": "smba.trafficmanager.net"}, ["TEAMS_SERVICE_URL", "http"]),
        ({"GRAPH_API_URL": "graph"}, ["GRAPH_API_URL", "https://graph.microsoft.com/v1.0"]),
        (
            {"DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS": "true"},
            ["DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS", "remove it"],
        ),
    ],
)
def test_bad_teams_settings_name_the_variable_and_the_fix(env: dict[str, str], names: list[str]) -> None:
    message = settings_error(**{**TEAMS, **env})
    for name in names:
        assert name in message


def test_unauthenticated_requests_are_refused_even_with_teams_off() -> None:
    """The SDK reads the variable itself; a stale one must not wait for the day Teams is turned on."""
    with pytest.raises(SettingsError, match="DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS"):
        load_settings({**GOOD, "DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS": "1"})


def _cli(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT), **GOOD, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_refuses_to_start_with_unauthenticated_requests_allowed(tmp_path: Path) -> None:
    result = _cli(tmp_path, **TEAMS, DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS="true")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "empathy-bot: DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS is set: remove it from the environment and .env; "
        "Empathy Bot only accepts Teams requests signed by Microsoft"
    ]


def test_serve_with_half_the_teams_credentials_prints_one_line(tmp_path: Path) -> None:
    result = _cli(tmp_path, TEAMS_CLIENT_ID=CLIENT_ID)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("empathy-bot: TEAMS_CLIENT_SECRET is not set")


def test_importing_the_teams_package_loads_no_dotenv_into_the_environment(tmp_path: Path) -> None:
    """The SDK loads `.env` into os.environ on import, and its App falls back to CLIENT_ID, CLIENT_SECRET…"""
    (tmp_path / ".env").write_text("CLIENT_SECRET=from-a-stray-env-file\nSERVICE_URL=https://elsewhere.example/\n")
    probe = (
        "import os, handlers.teams, microsoft_teams.apps; "
        "print(os.environ.get('CLIENT_SECRET'), os.environ.get('SERVICE_URL'), os.environ.get('PYTHON_DOTENV_DISABLED'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["None", "None", "None"]


# -- a Teams-only deployment ------------------------------------------------------------------------


def test_teams_alone_is_a_deployment_without_slack() -> None:
    settings = load_settings(dict(TEAMS))
    assert settings.teams is True and settings.slack is False
    assert (settings.slack_bot_token, settings.slack_signing_secret, settings.early_acks) == ("", "", False)


def test_slack_and_teams_together_still_serve_both() -> None:
    settings = load_settings({**GOOD, **TEAMS})
    assert settings.teams is True and settings.slack is True


def test_any_slack_setting_beside_teams_means_slack_must_be_complete() -> None:
    # Half a Slack configuration is a mistake to point out, not a sign that Slack is off.
    with pytest.raises(SettingsError, match=r"^SLACK_BOT_TOKEN is not set"):
        load_settings({**TEAMS, "SLACK_SIGNING_SECRET": GOOD["SLACK_SIGNING_SECRET"]})
    with pytest.raises(SettingsError, match=r"^SLACK_SIGNING_SECRET is not set"):
        load_settings({**TEAMS, "SLACK_BOT_TOKEN": GOOD["SLACK_BOT_TOKEN"]})


def test_neither_platform_is_one_line_naming_both() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"DATABASE_URL": "sqlite:///x.sqlite3"})
    message = str(caught.value)
    assert "\n" not in message and message.startswith("no chat platform is configured")
    assert "SLACK_BOT_TOKEN" in message and "TEAMS_CLIENT_ID" in message
    # Commands that only touch the database still need no platform.
    assert load_settings({}, require_slack=False).slack is False


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_with_neither_platform_print_one_line(tmp_path: Path, command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", command],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("empathy-bot: no chat platform is configured: set SLACK_BOT_TOKEN")
    assert "TEAMS_CLIENT_ID, TEAMS_CLIENT_SECRET and TEAMS_TENANT_ID" in line
