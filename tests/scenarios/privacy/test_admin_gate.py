"""Admin powers need an active person: someone who left but is still listed in EMPATHY_ADMINS (the
list only changes at the next deploy) tries every admin action through the real app, and each one
is refused kindly and changes nothing. `empathy-bot doctor` names the stale entry."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.cli.main import main
from bot.core.models import AuditEntry, OutboxMessage, Person, WorkspaceSetting
from bot.kudos.models import CompanyValue
from bot.onboarding.models import OnboardingJourney, OnboardingStep, OnboardingTemplate, StepKind
from bot.suggestions.models import Suggestion
from handlers.slack.render import kudos as kudos_views
from handlers.slack.render import suggestions as suggest_views
from surveys.models import PulseSchedule
from tests.conftest import make_env
from tests.fakes.slack.api import FakeSlack
from tests.scenarios.privacy.test_name_escaping import committed
from tests.support.harness import Harness, make_harness
from tests.support.people import slack_id, slack_is

MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
GONE = "U0GONE"
LISTED = f"{GONE.lower()}@example.com,{GONE}"
# Every refusal says who may do it instead: "Only HR admins can…", "only they (or HR) can tick it".
REFUSED = re.compile(r"[Oo]nly HR|\(or HR\)|Ask HR|Only the suggestion owners \(HR")


@pytest.fixture
def bot(slack: FakeSlack, db_url: str, engine: Engine, session_factory: sessionmaker[Session]) -> Harness:
    harness = make_harness(
        slack,
        db_url,
        engine,
        session_factory,
        people=[(GONE, "Gwen Gone"), ("U0PRIYA", "Priya Natarajan"), ("U0ANA", "Ana Souza")],
        hr=("U0PRIYA",),
        now=MONDAY,
        env={"EMPATHY_ADMINS": LISTED},
    )
    with session_factory.begin() as session:
        gone = session.scalar(select(Person).where(slack_is(GONE)))
        assert gone is not None
        gone.active, gone.deactivated_at = False, MONDAY
    return harness


def said_since(bot: Harness, before: int, acked: dict[str, Any] | None = None) -> str:
    """Everything the app told the person after call number `before`: the ack's text or field errors,
    response_url replies and DMs (Home buttons have no response_url), waiting for late listeners."""
    deadline = time.monotonic() + 5
    while True:
        later = bot.slack.calls[before:]
        words = [json.dumps(acked)] if acked else []
        words += [json.dumps(c.body) for c in later if c.method.startswith("response_url.")]
        words += [
            json.dumps(c.body)
            for c in later
            if c.method == "chat.postMessage" and c.body["channel"] in (GONE, "D0GONE")
        ]
        if REFUSED.search(" ".join(words)) or time.monotonic() > deadline:
            return " ".join(words)
        time.sleep(0.02)


def snapshot(session_factory: sessionmaker[Session]) -> dict[str, Any]:
    """What an admin action could change."""
    with session_factory() as session:
        return {
            "settings": session.scalars(select(WorkspaceSetting.key)).all(),
            "audit": session.scalars(select(AuditEntry.action)).all(),
            "schedules": session.scalar(select(func.count()).select_from(PulseSchedule)),
            "values": session.scalars(select(CompanyValue.tag).order_by(CompanyValue.id)).all(),
            "templates": session.scalars(select(OnboardingTemplate.version).order_by(OnboardingTemplate.id)).all(),
            "done": session.scalars(select(OnboardingStep.id).where(OnboardingStep.done_at.is_not(None))).all(),
            "journeys": session.scalar(select(func.count()).select_from(OnboardingJourney)),
            "suggestions": session.scalars(select(Suggestion.status)).all(),
        }


def test_a_deactivated_listed_admin_is_refused_every_admin_action(bot: Harness) -> None:
    # A real HR admin starts Ana's onboarding (so there is a task that is not Gwen's to tick) and the
    # kudos values and templates exist, so "changes nothing" is measured against real rows.
    started = bot.command("/onboard", "<@U0ANA> start 2026-11-30", user="U0PRIYA")
    assert started["text"].startswith("Done:"), started
    committed(bot)
    bot.job("onboarding")  # day 0: Ana's first tasks are created
    with bot.session_factory() as session:
        ana_task = session.scalar(
            select(OnboardingStep.id).where(OnboardingStep.kind == StepKind.TASK).order_by(OnboardingStep.id)
        )
    assert ana_task is not None
    care = {
        kudos_views.VALUE_LINES_BLOCK: {kudos_views.VALUE_LINES_INPUT: {"type": "plain_text_input", "value": "Care"}}
    }
    assert bot.submit("U0PRIYA", kudos_views.VALUES_VIEW, care) == {}
    bot.slack.reset()
    for user_id, name in [(GONE, "Gwen Gone"), ("U0PRIYA", "Priya Natarajan"), ("U0ANA", "Ana Souza")]:
        bot.slack.add_user(user_id, email=f"{user_id.lower()}@example.com", real_name=name)
    before = snapshot(bot.session_factory)
    assert before["values"] and before["templates"] and before["journeys"] == 1

    values_lines = {
        kudos_views.VALUE_LINES_BLOCK: {kudos_views.VALUE_LINES_INPUT: {"type": "plain_text_input", "value": ":x: Me"}}
    }
    template = {
        block: {block: {"type": "plain_text_input", "value": value}}
        for block, value in (("name", "default"), ("description", "mine"), ("steps", "0 | task | new_hire | Hi"))
    }
    template["buddy"] = {"buddy": {"type": "static_select", "selected_option": {"value": "random_from_team"}}}
    pulse_settings = {
        block: {"value": {"type": "static_select", "selected_option": {"value": value}}}
        for block, value in {
            "team": "everyone", "cadence": "weekly", "weekday": "tuesday", "questions": "5", "open_days": "3",
            "reminder": "24",
        }.items()
    }  # fmt: skip
    pulse_settings["time"] = {"value": {"type": "timepicker", "selected_time": "09:30"}}
    pulse_settings["packs"] = {"value": {"type": "checkboxes", "selected_options": [{"value": "engagement"}]}}

    attempts: list[tuple[str, Any]] = [
        ("/empathy config", lambda: bot.command("/empathy", "config", user=GONE)),
        ("/empathy config set", lambda: bot.command("/empathy", "config suggestions-channel C0MINE", user=GONE)),
        ("/empathy audit", lambda: bot.command("/empathy", "audit", user=GONE)),
        ("/pulse send", lambda: bot.command("/pulse", "send", user=GONE)),
        ("/pulse schedule", lambda: bot.command("/pulse", "schedule", user=GONE)),
        ("/pulse settings", lambda: bot.command("/pulse", "settings", user=GONE)),
        ("pulse settings button", lambda: bot.click(GONE, "pulse.settings_open")),
        ("pulse settings modal", lambda: bot.submit(GONE, "pulse.settings", pulse_settings)),
        ("/suggest digest", lambda: bot.command("/suggest", "digest <#C0MINE>", user=GONE)),
        ("kudos values button", lambda: bot.click(GONE, kudos_views.VALUES_ACTION, "values")),
        ("kudos values modal", lambda: bot.submit(GONE, kudos_views.VALUES_VIEW, values_lines)),
        ("template button", lambda: bot.click(GONE, "onboard.template_open.default", "default")),
        ("template modal", lambda: bot.submit(GONE, "onboard.template_view", template, metadata="default")),
        ("tick someone else's task", lambda: bot.click(GONE, "onboard.done", str(ana_task))),
        ("/onboard someone", lambda: bot.command("/onboard", "<@U0PRIYA> start 2026-12-01", user=GONE)),
    ]
    for what, attempt in attempts:
        count = len(bot.slack.calls)
        said = said_since(bot, count, attempt())
        assert REFUSED.search(said), f"{what}: not refused kindly: {said}"
        assert snapshot(bot.session_factory) == before, f"{what} changed something"
    assert not bot.slack.calls_to("views.open"), "a modal opened for someone with no admin powers"

    # Their Home is an ordinary one: no admin tools.
    bot.requests.app_home_opened(GONE)
    [home] = bot.slack.wait_for("views.publish")
    assert "Edit values" not in json.dumps(home) and "Onboarding templates" not in json.dumps(home)

    # They are no longer where anonymous suggestions go: the next one reaches the active HR admin only.
    submission = {
        suggest_views.TEXT_BLOCK: {suggest_views.TEXT_INPUT: {"type": "plain_text_input", "value": "Quiet Fridays"}},
        suggest_views.CATEGORY_BLOCK: {
            suggest_views.CATEGORY_INPUT: {"type": "static_select", "selected_option": {"value": "culture"}}
        },
    }
    assert bot.submit("U0ANA", suggest_views.SUGGEST_VIEW, submission)["response_action"] == "update"
    queue = bot.command("/suggest", "queue", user=GONE)
    assert "Quiet Fridays" not in json.dumps(queue) and "only for its owners (HR" in queue["text"]
    with bot.session_factory() as session:
        reference = session.scalar(select(Suggestion.reference))
    count = len(bot.slack.calls)
    bot.click(GONE, suggest_views.STATUS_ACTION, f"{reference}|acknowledged")  # an owner's button
    assert "Only the suggestion owners (HR" in said_since(bot, count)
    with bot.session_factory() as session:
        assert session.scalars(select(Suggestion.status)).all() == ["new"]
    bot.clock.advance(timedelta(hours=1))
    bot.job("suggestions.tend")
    bot.dispatch()
    assert "Quiet Fridays" not in json.dumps(bot.dm(GONE))
    with bot.session_factory() as session:
        routed = session.scalars(select(OutboxMessage.channel_id)).all() + [
            slack_id(p)
            for p in session.scalars(select(Person).join(OutboxMessage, OutboxMessage.person_id == Person.id))
        ]
    assert GONE not in routed and "C0MINE" not in routed


@pytest.fixture
def doctor_env(slack: FakeSlack, db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    env = make_env(slack, db_url, EMPATHY_ADMINS=f"{LISTED},nobody@example.com,U0PRIYA")
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_doctor_names_listed_admins_who_are_inactive_or_unknown(
    bot: Harness, doctor_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor"]) == 0  # a warning: the other admins still work
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "EMPATHY_ADMINS" in line)
    assert line.startswith("! EMPATHY_ADMINS:")
    assert "u0gone@example.com, U0GONE inactive, so without admin powers" in line
    assert "nobody@example.com not in the directory" in line and "U0PRIYA" not in line
    assert "take people who left out of EMPATHY_ADMINS" in out
    assert "✓ HR admins: 1 found" in out  # Priya, not Gwen
