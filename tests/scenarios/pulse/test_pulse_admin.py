"""HR's side of pulses: the settings modal, `/pulse settings`, and the `empathy-bot pulse` commands."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.cli.main import main
from bot.core.models import OutboxMessage, Person, Role, RoleGrant, RoleSource, Team, Workspace
from surveys.models import CustomPack, PulseRound, PulseSchedule
from tests.conftest import make_env
from tests.fakes.slack.api import FakeSlack
from tests.support.people import slack_account
from tests.support.slack_requests import SlackRequests


@pytest.fixture
def org(session_factory: sessionmaker[Session], workspace: Workspace, slack: FakeSlack) -> dict[str, int]:
    with session_factory.begin() as session:
        team = Team(workspace_id=workspace.id, name="Platform")
        session.add(team)
        session.flush()
        ids = {}
        for slack_id, name in [("U0PRIYA", "Priya Natarajan"), ("U0ANA", "Ana Souza"), ("U0BEN", "Ben Carter")]:
            slack.add_user(slack_id, email=f"{slack_id.lower()}@example.com", real_name=name)
            person = Person(
                workspace_id=workspace.id,
                accounts=slack_account(slack_id),
                email=f"{slack_id.lower()}@example.com",
                name=name,
                team_id=team.id,
                timezone="Europe/Lisbon",
            )
            session.add(person)
            session.flush()
            ids[slack_id] = person.id
        session.add(RoleGrant(workspace_id=workspace.id, person_id=ids["U0PRIYA"], role=Role.HR, source=RoleSource.CSV))
        ids["team"] = team.id
    return ids


def modal_values(**overrides: Any) -> dict[str, Any]:
    chosen = {
        "team": "everyone",
        "cadence": "weekly",
        "weekday": "tuesday",
        "questions": "5",
        "open_days": "3",
        "reminder": "24",
        **overrides,
    }
    values: dict[str, Any] = {
        block: {"value": {"type": "static_select", "selected_option": {"value": value}}}
        for block, value in chosen.items()
    }
    values["time"] = {"value": {"type": "timepicker", "selected_time": overrides.get("time", "09:30")}}
    packs = overrides.get("packs", ["engagement", "cbi_work"])
    values["packs"] = {"value": {"type": "checkboxes", "selected_options": [{"value": p} for p in packs]}}
    return values


def schedules(session_factory: sessionmaker[Session]) -> list[PulseSchedule]:
    with session_factory() as session:
        return list(session.scalars(select(PulseSchedule)))


# -- the modal --------------------------------------------------------------------------------------


def test_hr_opens_the_settings_modal_from_the_command(org, slack_requests: SlackRequests, slack: FakeSlack) -> None:  # type: ignore[no-untyped-def]
    assert slack_requests.command("/pulse", "settings", user_id="U0PRIYA").status_code == 200
    view = slack.wait_for("views.open")[0]["view"]
    assert view["callback_id"] == "pulse.settings"
    assert len(view["blocks"]) <= 100
    block_ids = {b.get("block_id") for b in view["blocks"]}
    assert {"team", "cadence", "weekday", "time", "questions", "open_days", "reminder", "packs"} <= block_ids


def test_employees_cannot_open_the_settings(org, slack_requests: SlackRequests, slack: FakeSlack) -> None:  # type: ignore[no-untyped-def]
    slack_requests.command("/pulse", "settings", user_id="U0ANA")
    reply = next(iter(_wait_replies(slack)))
    assert reply.startswith("Only HR admins can change pulse settings")
    assert slack.calls_to("views.open") == []


def test_saving_the_modal_stores_the_schedule_and_refreshes_home(
    org, slack_requests: SlackRequests, slack: FakeSlack, session_factory
) -> None:  # type: ignore[no-untyped-def]
    response = slack_requests.view_submission("pulse.settings", modal_values(team=str(org["team"])), user_id="U0PRIYA")
    assert response.status_code == 200
    assert response.data in (b"", b"{}") or response.get_json() in (None, {})
    home = slack.wait_for("views.publish")[0]
    assert home["user_id"] == "U0PRIYA"
    assert "weekly on Tuesday at 09:30" in str(home["view"]["blocks"])
    [saved] = schedules(session_factory)
    assert (saved.team_id, saved.weekday, saved.send_time, saved.packs) == (
        org["team"],
        1,
        "09:30",
        ["engagement", "cbi_work"],
    )


@pytest.mark.parametrize(
    ("overrides", "block", "words"),
    [
        ({"reminder": "48", "open_days": "1"}, "reminder", "The reminder must come between 1 hour and the close"),
        ({"packs": []}, "packs", "Choose at least one question pack"),
        ({"questions": "40"}, "questions", "Questions per pulse must be between 1 and 15"),
        ({"cadence": "hourly"}, "cadence", "Cadence 'hourly' isn't one of weekly, fortnightly, monthly"),
    ],
)
def test_bad_settings_are_shown_on_the_field_and_change_nothing(
    org, slack_requests: SlackRequests, session_factory, overrides: dict, block: str, words: str
) -> None:  # type: ignore[no-untyped-def]
    response = slack_requests.view_submission("pulse.settings", modal_values(**overrides), user_id="U0PRIYA")
    reply = response.get_json()
    assert reply["response_action"] == "errors"
    assert reply["errors"][block].startswith(words)
    assert schedules(session_factory) == []


def test_an_employee_cannot_submit_settings_either(org, slack_requests: SlackRequests, session_factory) -> None:  # type: ignore[no-untyped-def]
    reply = slack_requests.view_submission("pulse.settings", modal_values(), user_id="U0ANA").get_json()
    assert reply["response_action"] == "errors"
    assert "Only HR admins" in reply["errors"]["team"]
    assert schedules(session_factory) == []


def test_the_home_button_opens_the_modal_for_hr(org, slack_requests: SlackRequests, slack: FakeSlack) -> None:  # type: ignore[no-untyped-def]
    slack_requests.app_home_opened("U0PRIYA")
    home = slack.wait_for("views.publish")[0]["view"]
    button = next(
        e
        for b in home["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "pulse.settings_open"
    )
    slack_requests.block_action(button["action_id"], button["value"], user_id="U0PRIYA")
    assert slack.wait_for("views.open")[0]["view"]["callback_id"] == "pulse.settings"


def _wait_replies(slack: FakeSlack) -> list[str]:
    for _ in range(100):
        replies = [c.body.get("text", "") for c in slack.calls if c.method.startswith("response_url.")]
        if replies:
            return replies
        time.sleep(0.05)
    raise AssertionError("no reply")


# -- the command line --------------------------------------------------------------------------------


@pytest.fixture
def cli(slack: FakeSlack, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in make_env(slack, db_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)


def test_cli_schedule_send_and_list(cli, org, session_factory, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    assert (
        main(
            ["pulse", "schedule", "--team", "platform", "--day", "Friday", "--time", "9:00", "--cadence", "fortnightly"]
        )
        == 0
    )
    assert "Platform: fortnightly on Friday at 09:00 local time" in capsys.readouterr().out
    assert main(["pulse", "send"]) == 0
    assert "Pulse for everyone opened: 3 DMs queued" in capsys.readouterr().out
    assert main(["pulse", "send"]) == 0
    assert "already sent today, so nothing new was sent" in capsys.readouterr().out
    assert main(["pulse", "list"]) == 0
    listing = capsys.readouterr().out
    assert "fortnightly on Friday" in listing and "adhoc:" in listing
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 3
        assert session.scalar(select(func.count()).select_from(PulseRound)) == 1


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["pulse", "schedule", "--day", "someday"], "day 'someday' isn't a day of the week"),
        (["pulse", "schedule", "--time", "25:00"], "time '25:00' isn't a time like 10:00"),
        (["pulse", "schedule", "--packs", "mbi"], "unknown question pack mbi"),
        (["pulse", "send", "--team", "Narnia"], "There's no team called 'Narnia'. The teams are: Platform."),
    ],
)
def test_cli_bad_pulse_input_is_one_kind_line(cli, org, session_factory, capsys, args: list[str], words: str) -> None:  # type: ignore[no-untyped-def]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert schedules(session_factory) == []
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(PulseRound)) == 0


GOOD_PACK = """id: focus
name: Focus time
kind: engagement
attribution: Our team
licence: internal
questions:
  - {id: deep_work, driver: focus, scale: agree5, text: "I get enough uninterrupted time for deep work."}
"""


def test_a_custom_pack_is_added_from_a_file(cli, org, tmp_path: Path, session_factory, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "focus.yml").write_text(GOOD_PACK)
    assert main(["pulse", "packs", "add", str(tmp_path / "focus.yml")]) == 0
    assert "Added the pack 'focus' (1 questions)" in capsys.readouterr().out
    assert main(["pulse", "packs", "list"]) == 0
    assert "focus" in capsys.readouterr().out
    assert main(["pulse", "schedule", "--packs", "focus,cbi_work"]) == 0
    assert main(["pulse", "packs", "add", str(tmp_path / "focus.yml")]) == 1
    assert "there is already a pack with id 'focus'" in capsys.readouterr().err


def test_a_bad_pack_file_is_refused_with_line_numbers(cli, org, tmp_path: Path, session_factory, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = GOOD_PACK.replace("scale: agree5", "scale: agree7").replace("kind: engagement", "kind: vibes")
    (tmp_path / "bad.yml").write_text(bad)
    assert main(["pulse", "packs", "add", str(tmp_path / "bad.yml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("This question pack was not loaded: 2 problems")
    assert "line 3" in err and "line 7" in err and "agree7" in err
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(CustomPack)) == 0
