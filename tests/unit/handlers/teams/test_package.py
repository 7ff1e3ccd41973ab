"""`empathy-bot teams package`: the zip an IT admin uploads to Teams.

The manifest inside is validated against Microsoft's own published JSON schema (vendored, see
tests/fakes/teams/schemas/README.md), through the real CLI, as an admin would run it.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from PIL import Image

from bot.cli.main import main
from handlers.slack.listeners.help import SUBCOMMANDS
from handlers.slack.render.kudos import MESSAGE_SHORTCUT
from handlers.teams.commands import BOT_COMMANDS, KUDOS_MESSAGE_ACTION, command_names
from handlers.teams.manifest import APP_ID_NAMESPACE, MANIFEST_VERSION
from handlers.teams.package import project_version

ROOT = Path(__file__).resolve().parents[4]
SCHEMA = ROOT / "tests" / "fakes" / "teams" / "schemas" / f"MicrosoftTeams.schema.v{MANIFEST_VERSION}.json"
CLIENT_ID = "1b6f1c0e-8a51-4c43-9d1e-2f3a4b5c6d7e"
HOST = "empathy.example.com"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean folder with no .env and no Teams variables, like a fresh shell on the bot's host."""
    for name in ("TEAMS_CLIENT_ID", "TEAMS_APP_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def package(workdir: Path, monkeypatch: pytest.MonkeyPatch, *args: str, client_id: str | None = CLIENT_ID) -> Path:
    if client_id is not None:
        monkeypatch.setenv("TEAMS_CLIENT_ID", client_id)
    out = workdir / "teams.zip"
    assert main(["teams", "package", "--host", HOST, "--out", str(out), *args]) == 0
    return out


def read_manifest(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("manifest.json"))


def schema_errors(manifest: dict[str, Any]) -> list[str]:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(manifest)]


# -- the package -------------------------------------------------------------------------------


def test_the_packaged_manifest_is_valid_against_microsofts_published_schema(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = read_manifest(package(workdir, monkeypatch))
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["properties"]["manifestVersion"]["const"] == manifest["manifestVersion"] == MANIFEST_VERSION
    assert manifest["$schema"].endswith(f"/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json")
    assert schema_errors(manifest) == []


def test_the_schema_check_would_catch_a_broken_manifest(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Guards the test above: Microsoft's schema, as loaded here, does reject what Teams would reject.
    manifest = read_manifest(package(workdir, monkeypatch))
    broken = json.loads(json.dumps(manifest))
    broken["bots"][0]["scopes"] = ["personal", "channel"]
    broken["composeExtensions"][0]["commands"][0]["title"] = "x" * 33
    del broken["developer"]["privacyUrl"]
    broken["accentColor"] = "coral"
    broken["id"] = "not-a-guid"
    errors = schema_errors(broken)
    for where in ("bots/0/scopes/1", "composeExtensions/0/commands/0/title", "developer", "accentColor", "id"):
        assert any(error.startswith(f"{where}:") for error in errors), (where, errors)


def test_the_zip_holds_the_manifest_and_both_icons_at_its_root(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with zipfile.ZipFile(package(workdir, monkeypatch)) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
        color = Image.open(io.BytesIO(archive.read("color.png")))
        outline = Image.open(io.BytesIO(archive.read("outline.png")))
    assert (color.format, color.size) == ("PNG", (192, 192))
    assert (outline.format, outline.size, outline.mode) == ("PNG", (32, 32), "RGBA")


def test_the_outline_icon_is_white_on_transparent(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with zipfile.ZipFile(package(workdir, monkeypatch)) as archive:
        outline = Image.open(io.BytesIO(archive.read("outline.png"))).convert("RGBA")
    data = outline.tobytes()
    pixels = [tuple(data[i : i + 4]) for i in range(0, len(data), 4)]
    assert all((r, g, b) == (255, 255, 255) for r, g, b, a in pixels if a > 0), "only white may show"
    assert outline.getpixel((0, 0))[3] == 0, "the background is transparent"
    assert sum(1 for *_, a in pixels if a == 255) >= 40, "there is a drawing to see"


def test_the_bot_the_message_action_and_sign_in_all_use_the_client_id(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = read_manifest(package(workdir, monkeypatch, client_id=CLIENT_ID.upper()))
    (bot,) = manifest["bots"]
    assert bot["botId"] == CLIENT_ID
    assert bot["scopes"] == ["personal", "team"]
    assert manifest["composeExtensions"][0]["botId"] == CLIENT_ID
    assert manifest["webApplicationInfo"] == {"id": CLIENT_ID, "resource": f"api://botid-{CLIENT_ID}"}
    assert manifest["permissions"] == ["identity"]
    assert manifest["validDomains"] == [HOST]
    assert manifest["developer"]["privacyUrl"] == f"https://{HOST}/privacy"
    assert manifest["developer"]["termsOfUseUrl"] == f"https://{HOST}/terms"
    assert manifest["version"] == project_version()


def test_the_command_menu_lists_exactly_the_bots_commands(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = read_manifest(package(workdir, monkeypatch))
    (menu,) = manifest["bots"][0]["commandLists"]
    assert menu["scopes"] == ["personal"]
    assert [c["title"] for c in menu["commands"]] == list(command_names())
    assert [c["description"] for c in menu["commands"]] == [c.description for c in BOT_COMMANDS]
    assert all(0 < len(c["description"]) <= 128 for c in menu["commands"])
    # The same features as on Slack: its slash commands, `/empathy help` and `/empathy privacy`, App Home.
    slack = {
        c["command"].lstrip("/")
        for c in yaml.safe_load((ROOT / "manifest.yml").read_text())["features"]["slash_commands"]
    }
    assert set(command_names()) == (slack - {"empathy"}) | {"help", "privacy"} | {"home"}
    assert {"help", "privacy"} <= set(SUBCOMMANDS)


def test_the_message_action_opens_the_kudos_form(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (action,) = read_manifest(package(workdir, monkeypatch))["composeExtensions"][0]["commands"]
    assert action == {
        "id": KUDOS_MESSAGE_ACTION,
        "type": "action",
        "context": ["message"],
        "fetchTask": True,
        "title": "Give kudos for this",
        "description": action["description"],
    }
    assert KUDOS_MESSAGE_ACTION == MESSAGE_SHORTCUT


def test_the_app_id_is_stable_per_client_id_unless_teams_app_id_says_otherwise(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = read_manifest(package(workdir, monkeypatch))["id"]
    again = read_manifest(package(workdir, monkeypatch))["id"]
    assert first == again == str(uuid.uuid5(APP_ID_NAMESPACE, CLIENT_ID))
    assert first != CLIENT_ID
    other = read_manifest(package(workdir, monkeypatch, client_id="2c7a2d1f-9b62-4d54-8e2f-3a4b5c6d7e8f"))["id"]
    assert other != first
    monkeypatch.setenv("TEAMS_APP_ID", "0E2D4F6A-1B3C-4D5E-8F90-A1B2C3D4E5F6")
    assert read_manifest(package(workdir, monkeypatch))["id"] == "0e2d4f6a-1b3c-4d5e-8f90-a1b2c3d4e5f6"


def test_the_same_inputs_give_the_same_bytes(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = package(workdir, monkeypatch).read_bytes()
    assert package(workdir, monkeypatch).read_bytes() == first


def test_the_client_id_can_come_from_dotenv_and_the_links_from_flags(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / ".env").write_text(f"TEAMS_CLIENT_ID={CLIENT_ID}\n")
    out = package(
        workdir,
        monkeypatch,
        "--privacy-url",
        "https://intranet.example.com/privacy",
        "--terms-url",
        "https://intranet.example.com/terms",
        client_id=None,
    )
    manifest = read_manifest(out)
    assert manifest["bots"][0]["botId"] == CLIENT_ID
    assert manifest["developer"]["privacyUrl"] == "https://intranet.example.com/privacy"
    assert manifest["developer"]["termsOfUseUrl"] == "https://intranet.example.com/terms"
    assert schema_errors(manifest) == []


def test_it_says_what_it_wrote_and_what_to_do_next(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = package(workdir, monkeypatch)
    printed = capsys.readouterr().out
    assert str(out) in printed and CLIENT_ID in printed and HOST in printed
    assert "Teams admin center" in printed and "--privacy-url" in printed


# -- bad input: one line, exit 2, nothing written ------------------------------------------------


def refused(workdir: Path, capsys: pytest.CaptureFixture[str], *args: str, host: str | None = HOST) -> str:
    out = workdir / "teams.zip"
    out.write_bytes(b"the package from last time")
    host_args = [f"--host={host}"] if host is not None else []
    assert main(["teams", "package", *host_args, "--out", str(out), *args]) == 2
    assert out.read_bytes() == b"the package from last time", "an earlier package is left as it was"
    assert sorted(p.name for p in workdir.iterdir() if p.name != ".env") == ["teams.zip"], "no stray files"
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("empathy-bot: "), captured.err
    return lines[0]


def test_a_missing_client_id_says_where_to_find_it(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(workdir, capsys)
    assert "TEAMS_CLIENT_ID is not set" in line and "Application (client) ID" in line and ".env" in line


@pytest.mark.parametrize(
    "value", ["my-bot", "1b6f1c0e8a514c439d1e2f3a4b5c6d7e", "{1b6f1c0e-8a51-4c43-9d1e-2f3a4b5c6d7e}"]
)
def test_a_malformed_client_id_is_refused(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    monkeypatch.setenv("TEAMS_CLIENT_ID", value)
    line = refused(workdir, capsys)
    assert "TEAMS_CLIENT_ID should be the Application (client) ID" in line
    assert value not in line


def test_a_missing_host_says_which_host_is_meant(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TEAMS_CLIENT_ID", CLIENT_ID)
    line = refused(workdir, capsys, host=None)
    assert "--host bot.example.com" in line and "https://HOST/api/messages" in line


@pytest.mark.parametrize(
    "host",
    [
        "",
        "http://empathy.example.com",
        "empathy.example.com:8443",
        "empathy.example.com/api/messages",
        "localhost",
        "10.0.0.7",
        "empathy_bot.example.com",
        "-empathy.example.com",
        "empathy..example.com",
        "empathy.example.com\nX",
    ],
)
def test_a_malformed_host_is_refused(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], host: str
) -> None:
    monkeypatch.setenv("TEAMS_CLIENT_ID", CLIENT_ID)
    line = refused(workdir, capsys, host=host)
    assert "--host" in line and "bot.example.com" in line


def test_a_host_given_as_an_https_address_is_taken_as_its_name(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAMS_CLIENT_ID", CLIENT_ID)
    out = workdir / "teams.zip"
    assert main(["teams", "package", "--host", "https://Empathy.Example.com/", "--out", str(out)]) == 0
    assert read_manifest(out)["validDomains"] == [HOST]


def test_a_malformed_teams_app_id_is_refused(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TEAMS_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("TEAMS_APP_ID", "empathy-bot")
    assert "TEAMS_APP_ID should be a GUID" in refused(workdir, capsys)


def test_a_plain_http_privacy_link_is_refused(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TEAMS_CLIENT_ID", CLIENT_ID)
    line = refused(workdir, capsys, "--privacy-url", "http://intranet.example.com/privacy")
    assert "--privacy-url should be an https:// address" in line


def test_an_out_folder_that_does_not_exist_is_refused(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TEAMS_CLIENT_ID", CLIENT_ID)
    assert main(["teams", "package", "--host", HOST, "--out", str(workdir / "missing" / "teams.zip")]) == 2
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and "does not exist" in line and "--out" in line
    assert not (workdir / "missing").exists()


def test_an_out_path_that_cannot_be_written_leaves_nothing_behind(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TEAMS_CLIENT_ID", CLIENT_ID)
    (workdir / "teams.zip").mkdir()  # a folder where the zip should go: the final rename fails
    assert main(["teams", "package", "--host", HOST, "--out", str(workdir / "teams.zip")]) == 2
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and line.startswith("empathy-bot: can't write") and "--out" in line
    assert sorted(p.name for p in workdir.iterdir()) == ["teams.zip"], "the temporary file is gone"
    assert list((workdir / "teams.zip").iterdir()) == []
