"""HR ends a round early, from the command line or App Home: the scheduled close's path, now."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.cli.main import main
from bot.core.models import AuditEntry
from surveys.models import PulseParticipant, PulseRound, PulseRoundKey, PulseSealedAnswer
from tests.conftest import make_env
from tests.scenarios.pulse import test_pulse
from tests.scenarios.pulse.test_pulse import (
    PEOPLE,
    Pulse,
    _assert_len,
    answer_buttons,
    answers,
    eventually,
    open_and_deliver,
)

pulse = test_pulse.pulse


def _closed_cleanly(pulse: Pulse) -> None:
    with pulse.session_factory() as session:
        assert session.scalar(select(PulseRound.status)) == "closed"
        for table in (PulseParticipant, PulseSealedAnswer, PulseRoundKey):
            assert session.scalar(select(func.count()).select_from(table)) == 0
        assert session.scalar(select(PulseRound.scrubbed_at)) is not None  # and scrubbed from the files
    before = len(pulse.slack.calls_to("chat.update"))
    pulse.clock.advance(timedelta(days=30))  # the CLI closes on the wall clock, past this test's own
    pulse.dispatch()  # every pulse message becomes the same thank-you
    updates = pulse.slack.calls_to("chat.update")[before:]
    assert len(updates) == len(PEOPLE) and all(u["text"].startswith("This pulse closed on") for u in updates)


@pytest.fixture
def cli(pulse: Pulse, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in make_env(pulse.slack, db_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)


def test_the_cli_ends_the_open_pulse_after_saying_what_happens(
    pulse: Pulse, cli: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    open_and_deliver(pulse)
    message = pulse.dm("U0ANA")[0]
    pulse.click("U0ANA", answer_buttons(message)[0][0], message)
    eventually(lambda: _assert_len(answers(pulse), 1))

    monkeypatch.setattr("builtins.input", lambda _prompt: "n")
    assert main(["pulse", "close"]) == 0
    said = capsys.readouterr().out
    assert "forgets who answered" in said and "Nothing was changed; the pulse stays open." in said
    with pulse.session_factory() as session:
        assert session.scalar(select(PulseRound.status)) == "open"

    assert main(["pulse", "close", "--yes"]) == 0
    assert "Ended the pulse for everyone: 1 of 4 people took part" in capsys.readouterr().out
    _closed_cleanly(pulse)
    assert len(answers(pulse)) == 1  # the answer given counts, in clear and unlinked
    with pulse.session_factory() as session:
        assert session.scalar(select(AuditEntry.action)) == "pulse.close_early"

    assert main(["pulse", "close", "--yes"]) == 0
    assert "No pulse for everyone is open" in capsys.readouterr().out
    assert main(["pulse", "close", "--team", "Nowhere", "--yes"]) == 2


def _home_button(pulse: Pulse, user_id: str) -> dict[str, Any] | None:
    published = len(pulse.slack.calls_to("views.publish"))
    pulse.requests.app_home_opened(user_id)
    view = pulse.slack.wait_for("views.publish", count=published + 1)[-1]["view"]
    for block in view["blocks"]:
        accessory = block.get("accessory") or {}
        if accessory.get("action_id") == "pulse.close_early":
            return accessory
    return None


def test_hr_ends_it_from_app_home_after_slack_asks_them_to_confirm(pulse: Pulse) -> None:
    open_and_deliver(pulse)
    assert _home_button(pulse, "U0ANA") is None  # not HR: no such button
    button = _home_button(pulse, "U0MARCUS")  # Marcus is HR
    assert button is not None
    confirm = button["confirm"]
    assert len(confirm["text"]["text"]) <= 300 and "forget who answered" in confirm["text"]["text"]

    pulse.requests.block_action("pulse.close_early", button["value"], user_id="U0ANA")  # a forged click
    pulse.slack.wait_for("chat.postMessage", count=len(PEOPLE) + 1)
    with pulse.session_factory() as session:
        assert session.scalar(select(PulseRound.status)) == "open"
    assert "Only HR admins can end a pulse early" in pulse.dm("U0ANA")[-1]["text"]

    pulse.requests.block_action("pulse.close_early", button["value"], user_id="U0MARCUS")
    eventually(lambda: _assert_text(pulse.dm("U0MARCUS")[-1], "You ended the pulse for everyone: 0 of 4"))
    _closed_cleanly(pulse)
    assert _home_button(pulse, "U0MARCUS") is None  # nothing open any more

    pulse.requests.block_action("pulse.close_early", button["value"], user_id="U0MARCUS")  # a double click
    eventually(lambda: _assert_text(pulse.dm("U0MARCUS")[-1], "had already closed"))
    with pulse.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 1


def _assert_text(message: dict[str, Any], words: str) -> None:
    assert words in message["text"], message["text"]


def test_a_late_click_after_an_early_close_says_so_with_that_day(pulse: Pulse) -> None:
    open_and_deliver(pulse)  # open until Thursday; ended on Monday
    late = pulse.dm("U0CHEN")[0]
    button = _home_button(pulse, "U0MARCUS")
    assert button is not None
    pulse.requests.block_action("pulse.close_early", button["value"], user_id="U0MARCUS")
    eventually(lambda: _assert_text(pulse.dm("U0MARCUS")[-1], "You ended the pulse"))
    pulse.click("U0CHEN", answer_buttons(late)[0][0], late)
    assert f"This pulse closed on {pulse.clock.now():%a %d %b}" in test_pulse.wait_for_reply(pulse)
    assert answers(pulse) == []


@pytest.mark.parametrize("value", ["", "not-a-round", "999999"])
def test_an_end_it_now_click_for_no_such_pulse_is_told_so_and_changes_nothing(pulse: Pulse, value: str) -> None:
    open_and_deliver(pulse)
    pulse.requests.block_action("pulse.close_early", value, user_id="U0MARCUS")
    eventually(lambda: _assert_text(pulse.dm("U0MARCUS")[-1], "I can't find that pulse any more, so nothing changed"))
    with pulse.session_factory() as session:
        assert session.scalar(select(PulseRound.status)) == "open"
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0
