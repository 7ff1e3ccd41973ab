"""One list of bot scopes (handlers/slack/scopes.py): it covers every Web API method the code calls, agrees with
what Slack's docs say those methods need (the fake's own table, written apart from the bot's), and
manifest.yml is exactly what `empathy-bot manifest` writes from it."""

from __future__ import annotations

import ast
import inspect
import re
import shutil
from functools import cache
from pathlib import Path

import pytest
import yaml
from slack_sdk import WebClient

from bot.cli.main import main
from handlers.slack.scopes import BOT_SCOPES, EVENT_SCOPES, METHOD_SCOPES, REQUIRED_SCOPES, render_manifest
from tests.fakes.slack.api import _METHOD_SCOPES as SLACK_DOCS_SCOPES
from tests.fakes.slack.api import manifest_scopes
from tests.support.paths import ROOT

# demo_slack.py is a stand-in client for `empathy-bot demo`, not calls to Slack.
SOURCES = sorted(
    p for folder in ("bot", "handlers") for p in (ROOT / folder).rglob("*.py") if p.name != "demo_slack.py"
)


@cache
def _web_api_methods(attribute: str) -> frozenset[str]:
    """The Slack methods a WebClient method calls, read from slack_sdk's own source: `chat_postMessage` is
    chat.postMessage; `files_upload_v2` is files.getUploadURLExternal then files.completeUploadExternal."""
    function = getattr(WebClient, attribute, None)
    if not callable(function) or attribute.startswith("_"):
        return frozenset()
    source = inspect.getsource(function)
    found = set(re.findall(r'api_call\(\s*"([\w.]+)"', source))
    for inner in re.findall(r"self\.(\w+)\(", source):
        if inner != attribute:
            found |= _web_api_methods(inner)
    return frozenset(found)


def methods_the_code_calls() -> dict[str, set[str]]:
    """Slack method → the files that use it: every `x.<WebClient method>` in bot/ and handlers/, called or
    passed on (slack_directory.py hands `client.users_list` to a helper)."""
    used: dict[str, set[str]] = {}
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute):
                for method in _web_api_methods(node.attr):
                    used.setdefault(method, set()).add(str(path.relative_to(ROOT)))
    return used


def test_the_scan_finds_the_calls_it_is_meant_to_find() -> None:
    used = methods_the_code_calls()
    # One of each way the code reaches Slack: a plain call, files_upload_v2's two calls, a method passed on.
    assert "handlers/slack/listeners/home.py" in used["views.publish"]
    assert {"files.getUploadURLExternal", "files.completeUploadExternal"} <= set(used)
    assert "handlers/slack/directory.py" in used["users.lookupByEmail"]
    assert "bot/cli/doctor.py" in used["conversations.info"]


def test_every_web_api_method_the_code_calls_is_in_the_scope_table() -> None:
    missing = {method: files for method, files in methods_the_code_calls().items() if method not in METHOD_SCOPES}
    assert not missing, f"add these to METHOD_SCOPES in handlers/slack/scopes.py with the scopes Slack lists: {missing}"
    unused = set(METHOD_SCOPES) - set(methods_the_code_calls())
    assert not unused, f"METHOD_SCOPES lists methods nothing calls any more: {unused}"


@pytest.mark.parametrize("method", sorted(METHOD_SCOPES))
def test_the_scope_table_says_what_slacks_docs_say(method: str) -> None:
    """Checked against the fake's table, written from Slack's method reference apart from the bot's."""
    documented = SLACK_DOCS_SCOPES[method]
    if isinstance(documented, dict):  # by kind of conversation: the bot's entry names the kinds it touches
        assert METHOD_SCOPES[method] and set(METHOD_SCOPES[method]) <= set(documented.values())
    else:
        assert METHOD_SCOPES[method] == ((documented,) if documented else ())


def test_the_bot_asks_for_exactly_the_scopes_its_calls_and_events_need() -> None:
    needed = {"commands"}  # the slash commands and the message shortcut
    needed |= {scope for scopes in METHOD_SCOPES.values() for scope in scopes}
    needed |= {scope for scopes in EVENT_SCOPES.values() for scope in scopes}
    assert needed == set(REQUIRED_SCOPES)
    assert len(REQUIRED_SCOPES) == len(set(REQUIRED_SCOPES)) and all(scope.why for scope in BOT_SCOPES)
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == set(EVENT_SCOPES)


def test_the_committed_manifest_is_the_generated_one(capsys: pytest.CaptureFixture[str]) -> None:
    text = (ROOT / "manifest.yml").read_text()
    assert render_manifest(text) == text
    assert manifest_scopes() == list(REQUIRED_SCOPES)  # the same list, in the same order
    assert "      - files:write       # trend charts in digests and the privacy export file" in text
    assert main(["manifest", "--check", str(ROOT / "manifest.yml")]) == 0
    assert "the bot scopes are up to date" in capsys.readouterr().out


def test_the_manifest_command_brings_an_out_of_date_manifest_back_in_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "manifest.yml"
    shutil.copy(ROOT / "manifest.yml", stale)
    committed = stale.read_text()
    stale.write_text(re.sub(r"(?m)^      - files:write .*\n", "", committed))  # a scope added only in code

    assert main(["manifest", "--check", str(stale)]) == 1
    assert "run `empathy-bot manifest` to update them" in capsys.readouterr().out
    assert "files:write" not in stale.read_text()  # --check changes nothing

    assert main(["manifest", str(stale)]) == 0
    assert stale.read_text() == committed


def test_the_manifest_command_refuses_a_file_without_a_bot_scopes_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = tmp_path / "manifest.yml"
    odd.write_text("display_information:\n  name: Empathy Bot\n")
    assert main(["manifest", str(odd)]) == 2
    assert "has no oauth_config → scopes → bot list" in capsys.readouterr().err
    assert odd.read_text() == "display_information:\n  name: Empathy Bot\n"
