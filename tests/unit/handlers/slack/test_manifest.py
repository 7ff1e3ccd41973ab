"""The shipped manifest declares what the code relies on."""

from __future__ import annotations

import yaml

from handlers.slack.render.kudos import MESSAGE_SHORTCUT
from tests.support.paths import ROOT


def manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def test_manifest_declares_every_command_the_app_listens_to() -> None:
    commands = {c["command"] for c in manifest()["features"]["slash_commands"]}
    assert commands == {"/empathy", "/pulse", "/kudos", "/suggest", "/onboard"}
    assert all(c["should_escape"] for c in manifest()["features"]["slash_commands"])


def test_manifest_turns_on_socket_mode_home_tab_and_interactivity() -> None:
    data = manifest()
    assert data["settings"]["socket_mode_enabled"] is True
    assert data["settings"]["interactivity"]["is_enabled"] is True
    assert data["features"]["app_home"]["home_tab_enabled"] is True
    assert "app_home_opened" in data["settings"]["event_subscriptions"]["bot_events"]


def test_manifest_subscribes_to_the_events_and_shortcuts_the_code_handles() -> None:
    data = manifest()
    events = set(data["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_home_opened", "team_join", "reaction_added", "reaction_removed"} <= events
    shortcuts = {(s["callback_id"], s["type"]) for s in data["features"]["shortcuts"]}
    assert (MESSAGE_SHORTCUT, "message") in shortcuts


def test_manifest_has_the_scopes_the_code_uses() -> None:
    scopes = set(manifest()["oauth_config"]["scopes"]["bot"])
    # chat.postMessage, conversations.open, conversations.history (outbox), users.list/lookupByEmail (org)
    assert {"commands", "chat:write", "im:write", "im:history", "users:read", "users:read.email"} <= scopes
    assert "reactions:read" in scopes  # reaction_added / reaction_removed for emoji kudos


def test_procfile_declares_release_web_and_worker() -> None:
    lines = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line)
    assert lines == {
        "release": "empathy-bot migrate",
        "web": "empathy-bot serve --no-scheduler",
        "worker": "empathy-bot worker",
    }
