"""Onboarding through the real app, the real outbox and the fake Slack API, on a controllable clock."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.cli.main import main
from bot.core.models import AuditEntry, OutboxMessage, OutboxState, Person, Role, RoleGrant, RoleSource, Team, Workspace
from bot.core.settings import Settings
from bot.onboarding.models import (
    JourneyState,
    OnboardingCheckinScore,
    OnboardingCheckinSealed,
    OnboardingJourney,
    OnboardingStep,
    OnboardingTemplate,
)
from tests.conftest import TEAM_ID, make_env
from tests.fakes.slack.api import FakeSlack
from tests.support.harness import Harness, start_app
from tests.support.paths import ROOT
from tests.support.people import slack_account, slack_is

EXAMPLE = ROOT / "examples" / "onboarding.yml"
SUNDAY = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
MONDAY = date(2026, 11, 23)
PEOPLE = [
    # slack id, name, timezone, manager, team, start date
    ("U0MARCUS", "Marcus Oyelaran", "Europe/Berlin", None, "Platform", None),
    ("U0ANA", "Ana Souza", "Europe/Lisbon", "U0MARCUS", "Platform", None),
    ("U0CHEN", "Chen Wei", "Asia/Singapore", "U0MARCUS", "Platform", None),
    ("U0SOFIA", "Sofia Rossi", "Europe/Rome", None, "Sales", None),
    ("U0PRIYA", "Priya Natarajan", "Asia/Kolkata", None, "People", None),
]


class Bot(Harness):
    def job(self, name: str = "onboarding") -> Any:
        return super().job(name)

    def tick(self, hours: float = 1) -> None:
        self.clock.advance(timedelta(hours=hours))
        self.job()
        self.dispatch()

    def person(self, session: Session, slack_id: str) -> Person:  # type: ignore[override]
        found = session.scalar(select(Person).where(slack_is(slack_id)))
        assert found is not None
        return found

    def add_new_hire(
        self, slack_id: str, name: str, tz: str, team: str, start: date | None, manager: str = "U0MARCUS"
    ) -> None:
        self.slack.add_user(slack_id, email=f"{slack_id.lower()}@example.com", real_name=name, tz=tz)
        with self.session_factory.begin() as session:
            workspace = session.scalar(select(Workspace))
            session.add(
                Person(
                    workspace_id=workspace.id,
                    accounts=slack_account(slack_id),
                    email=f"{slack_id.lower()}@example.com",
                    name=name,
                    timezone=tz,
                    team_id=session.scalar(select(Team.id).where(Team.name == team)),
                    manager_id=self.person(session, manager).id if manager else None,
                    start_date=start,
                )
            )

    def action(
        self, user_id: str, element: dict[str, Any], message: dict[str, Any] | None = None, **extra: Any
    ) -> None:
        action = {"type": element["type"], "action_id": element["action_id"], "block_id": extra.pop("block_id", "a")}
        if "value" in element:
            action["value"] = element["value"]
        action.update(extra)
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user_id, "team_id": TEAM_ID},
            "trigger_id": "1.trigger",
            "response_url": self.requests.response_url(),
            "actions": [action],
        }
        if message is not None:
            payload["container"] = {"type": "message", "channel_id": "D" + user_id[1:], "message_ts": message["ts"]}
            payload["channel"] = {"id": "D" + user_id[1:]}
            payload["message"] = {"ts": message["ts"], "text": message.get("text", ""), "blocks": message["blocks"]}
        assert self.requests.interaction(payload).status_code == 200


@pytest.fixture
def bot(
    settings: Settings, engine, session_factory: sessionmaker[Session], workspace: Workspace, slack: FakeSlack
) -> Bot:  # type: ignore[no-untyped-def]
    with session_factory.begin() as session:
        teams = {name: Team(workspace_id=workspace.id, name=name) for name in ("Platform", "Sales", "People")}
        session.add_all(teams.values())
        session.flush()
        ids: dict[str, int] = {}
        for slack_id, name, tz, manager, team, start in PEOPLE:
            slack.add_user(slack_id, email=f"{slack_id.lower()}@example.com", real_name=name, tz=tz)
            person = Person(
                workspace_id=workspace.id,
                accounts=slack_account(slack_id),
                email=f"{slack_id.lower()}@example.com",
                name=name,
                timezone=tz,
                team_id=teams[team].id,
                manager_id=ids.get(manager or ""),
                start_date=start,
            )
            session.add(person)
            session.flush()
            ids[slack_id] = person.id
        session.add(RoleGrant(workspace_id=workspace.id, person_id=ids["U0PRIYA"], role=Role.HR, source=RoleSource.CSV))
    return Bot(**vars(start_app(settings, engine, session_factory, slack, SUNDAY)))


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for block in message.get("blocks", []):
        if block.get("accessory", {}).get("type") == "button":
            found.append(block["accessory"] | {"block_id": block.get("block_id")})
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            found.append(element | {"block_id": block.get("block_id")})
    return found


def responses(bot: Bot) -> list[str]:
    """What listeners said through response_url (ephemeral replies), oldest first."""
    return [c.body.get("text", "") for c in bot.slack.calls if c.method.startswith("response_url.")]


def wait_response(bot: Bot, count: int) -> str:
    """Listeners reply after their ack, on their own thread: wait for the `count`-th reply."""
    deadline = time.monotonic() + 30
    while len(found := responses(bot)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(found) >= count, found
    return found[count - 1]


def local_send_times(bot: Bot, person_id: int, tz: str) -> list[tuple[str, datetime]]:
    with bot.session_factory() as session:
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.person_id == person_id).order_by(OutboxMessage.due_at)
        ).all()
        assert all(r.state == OutboxState.SENT.value and r.sent_at >= r.due_at for r in rows)
        return [(r.idempotency_key.split(":", 2)[2], r.due_at.astimezone(ZoneInfo(tz))) for r in rows]


def test_a_journey_from_day_0_to_day_90_across_timezones(bot: Bot) -> None:
    bot.add_new_hire("U0KENJI", "Kenji Sato", "Asia/Tokyo", "Platform", MONDAY)
    bot.add_new_hire("U0LUCY", "Lucy Brown", "America/Los_Angeles", "Platform", MONDAY)
    for _ in range(100 * 24 // 6):
        bot.tick(6)
    with bot.session_factory() as session:
        kenji, lucy = bot.person(session, "U0KENJI"), bot.person(session, "U0LUCY")
        assert {j.state for j in session.scalars(select(OnboardingJourney))} == {JourneyState.FINISHED.value}
        buddies = {j.buddy_id for j in session.scalars(select(OnboardingJourney))}
        marcus = bot.person(session, "U0MARCUS")
        assert marcus.id not in buddies and None not in buddies  # a teammate, never the manager
    for person, tz in ((kenji, "Asia/Tokyo"), (lucy, "America/Los_Angeles")):
        sent = local_send_times(bot, person.id, tz)
        assert [what for what, _ in sent] == ["welcome", "s2", "s4", "s5", "s6", "s7"]
        # every one at 10:00 on its day, in the new hire's own timezone
        assert [(at.date() - MONDAY).days for _, at in sent] == [0, 1, 7, 30, 60, 90]
        assert {at.time().isoformat() for _, at in sent} == {"10:00:00"}
    kenji_dms = bot.dm("U0KENJI")
    assert "Welcome to Test Workspace, Kenji!" in kenji_dms[0]["text"]
    assert "How did your first day go?" in str(kenji_dms[1]["blocks"])
    assert len(kenji_dms) == 6
    # Marcus: one day-0 task message per new hire, and one reminder each since he never ticked them.
    marcus_texts = [m["text"] for m in bot.dm("U0MARCUS")]
    assert sum("Your onboarding task for" in t for t in marcus_texts) == 2
    assert sum(t.startswith("Reminder") for t in marcus_texts) == 2
    # Check-ins went unanswered and no consent was ever given: no early warnings.
    assert not any("overdue" in t for t in marcus_texts)


def deliver_day0(bot: Bot, slack_id: str = "U0NOOR", team: str = "Platform", tz: str = "Europe/Lisbon") -> None:
    bot.add_new_hire(slack_id, "Noor Haddad", tz, team, MONDAY)
    bot.clock.advance(timedelta(hours=12))  # Sunday noon: day 0 is within a day
    bot.job()
    bot.clock.advance(timedelta(days=1))  # Monday noon: past 10:00 everywhere in Europe
    bot.dispatch()


def test_done_buttons_tick_once_and_only_for_the_owner(bot: Bot) -> None:
    deliver_day0(bot)
    welcome = bot.dm("U0NOOR")[0]
    done = [b for b in buttons(welcome) if b["action_id"] == "onboard.done"]
    assert len(done) == 1
    bot.action("U0ANA", done[0], welcome)  # not Ana's task
    assert "only they (or HR) can tick it" in wait_response(bot, 1)
    bot.action("U0NOOR", done[0], welcome)
    bot.action("U0NOOR", done[0], welcome)  # a double click
    bot.slack.wait_for("chat.update", 2)
    with bot.session_factory() as session:
        step = session.get(OnboardingStep, int(done[0]["value"]))
        assert step.done_at is not None and step.done_by_id == bot.person(session, "U0NOOR").id
    updates = bot.slack.calls_to("chat.update")
    assert len(updates) == 2 and all("✅" in str(u["blocks"]) for u in updates)
    assert "onboard.done" not in str(updates[-1]["blocks"])


def checkin_message(bot: Bot, slack_id: str = "U0NOOR") -> dict[str, Any]:
    bot.tick(24)  # Tuesday noon: the day-1 check-in is out
    message = bot.dm(slack_id)[-1]
    assert "How did your first day go?" in str(message["blocks"])
    return message


def submit_checkin(
    bot: Bot, slack_id: str, modal: dict[str, Any], score: int, comment: str, share: bool
) -> dict[str, Any]:
    values = {
        "score": {"score": {"type": "radio_buttons", "selected_option": {"value": str(score)}}},
        "comment": {"comment": {"type": "plain_text_input", "value": comment}},
        "consent": {"consent": {"type": "checkboxes", "selected_options": [{"value": "share"}] if share else []}},
    }
    response = bot.requests.view_submission(
        "onboard.checkin_view", values, user_id=slack_id, private_metadata=modal["private_metadata"]
    )
    assert response.status_code == 200
    return response.get_json(silent=True) or {}


def open_checkin(bot: Bot, message: dict[str, Any], score: int) -> dict[str, Any]:
    button = next(b for b in buttons(message) if b["action_id"] == f"onboard.checkin.{score}")
    opened = len(bot.slack.calls_to("views.open"))
    bot.action("U0NOOR", button, message)
    modal = bot.slack.wait_for("views.open", opened + 1)[-1]["view"]
    assert "May I share this with your manager so they can help?" in str(modal)
    return modal


def test_a_low_checkin_without_consent_alerts_nobody_and_is_only_counted(bot: Bot) -> None:
    deliver_day0(bot)
    message = checkin_message(bot)
    assert "May I share this with your manager so they can help?" in str(message["blocks"])  # the rule, said
    modal = open_checkin(bot, message, 1)
    before = len(bot.dm("U0MARCUS")) + len(bot.dm("U0PRIYA"))
    assert submit_checkin(bot, "U0NOOR", modal, 1, "nobody talked to me", share=False) == {}
    bot.tick(1)
    assert len(bot.dm("U0MARCUS")) + len(bot.dm("U0PRIYA")) == before
    with bot.session_factory() as session:
        step = session.scalar(select(OnboardingStep).where(OnboardingStep.answered_at.is_not(None)))
        assert (step.consent, step.score, step.comment) == (False, None, None)
        # Counted, but sealed until the cell has answers from 5 people: nothing readable was written.
        assert session.scalar(select(func.count()).select_from(OnboardingCheckinScore)) == 0
        assert session.scalar(select(func.count()).select_from(OnboardingCheckinSealed)) == 1
    assert "counts only toward the anonymous" in str(bot.slack.wait_for("chat.update")[-1]["blocks"])
    again = submit_checkin(bot, "U0NOOR", modal, 5, "", share=True)  # a second submission
    assert "already answered" in again["errors"]["score"]
    with bot.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(OnboardingCheckinSealed)) == 1


def test_a_low_checkin_with_consent_alerts_the_manager_and_hr(bot: Bot) -> None:
    deliver_day0(bot)
    modal = open_checkin(bot, checkin_message(bot), 2)
    submit_checkin(bot, "U0NOOR", modal, 2, "still no laptop <!channel>", share=True)
    bot.dispatch()
    alert = bot.dm("U0MARCUS")[-1]
    assert alert["text"] == "Noor Haddad shared a low onboarding check-in"
    assert "still no laptop &lt;!channel&gt;" in str(alert["blocks"])
    assert bot.dm("U0PRIYA")[-1]["text"] == alert["text"]  # HR too
    with bot.session_factory() as session:
        assert session.scalar(select(OnboardingJourney.share_consent))


def test_overdue_tasks_warn_only_after_consent(bot: Bot) -> None:
    deliver_day0(bot)
    for _ in range(6):
        bot.tick(24)  # day 6: the day-0 laptop task is 6 days overdue
    assert not any("overdue" in m["text"] for m in bot.dm("U0MARCUS"))
    message = next(m for m in bot.dm("U0NOOR") if "first day" in str(m["blocks"]))
    modal = open_checkin(bot, message, 4)
    submit_checkin(bot, "U0NOOR", modal, 4, "", share=True)
    bot.tick(1)
    warnings = [m for m in bot.dm("U0MARCUS") if "overdue" in m["text"]]
    assert len(warnings) == 1 and "Set up your laptop" in str(warnings[0]["blocks"])
    bot.tick(24)
    assert len([m for m in bot.dm("U0MARCUS") if "overdue" in m["text"]]) == 1  # once


def test_the_manager_picks_a_buddy_from_a_dm_prompt(bot: Bot) -> None:
    bot.add_new_hire("U0SAM", "Sam Reyes", "Europe/Rome", "Sales", MONDAY, manager="U0SOFIA")
    bot.add_new_hire("U0LEA", "Lea Meyer", "Europe/Rome", "Sales", None, manager="U0SOFIA")
    bot.tick(12)
    prompt = bot.dm("U0SOFIA")[0]
    assert prompt["text"] == "Pick an onboarding buddy for Sam Reyes"
    select_menu = next(b for b in buttons(prompt) if b["action_id"] == "onboard.buddy_pick")
    bot.action("U0SOFIA", select_menu, prompt, block_id=select_menu["block_id"], selected_user="U0SOFIA")
    assert "other than the manager" in wait_response(bot, 1)
    bot.action("U0ANA", select_menu, prompt, block_id=select_menu["block_id"], selected_user="U0LEA")
    assert "Only Sam Reyes's manager" in wait_response(bot, 2)
    bot.action("U0SOFIA", select_menu, prompt, block_id=select_menu["block_id"], selected_user="U0LEA")
    assert "Lea Meyer* is Sam Reyes's onboarding buddy" in str(bot.slack.wait_for("chat.update")[-1]["blocks"])
    with bot.session_factory() as session:
        journey = session.scalar(select(OnboardingJourney))
        assert journey.buddy_id == bot.person(session, "U0LEA").id and not journey.buddy_pending


def test_onboard_by_hand_with_a_past_start_sends_one_catch_up(bot: Bot) -> None:
    bot.add_new_hire("U0NOOR", "Noor Haddad", "Europe/Lisbon", "Platform", None)
    reply = bot.requests.command("/onboard", "<@U0NOOR|noor> default start 2026-11-10", user_id="U0ANA").get_json()
    assert reply["text"] == "Only HR and Noor Haddad's manager can start their onboarding."
    reply = bot.requests.command("/onboard", "<@U0NOOR|noor> nope", user_id="U0PRIYA").get_json()
    assert "I don't know an onboarding template called `nope`" in reply["text"]
    reply = bot.requests.command("/onboard", "<@U0NOOR|noor> start 10/11/2026", user_id="U0MARCUS").get_json()
    assert "YYYY-MM-DD" in reply["text"]
    reply = bot.requests.command("/onboard", "<@U0NOOR|noor> start 2026-11-10", user_id="U0MARCUS").get_json()
    assert reply["text"].startswith("Done: Noor Haddad's onboarding (`default`) starts on Tue 10 Nov 2026")
    bot.tick(1)
    bot.tick(1)
    dms = bot.dm("U0NOOR")
    assert len(dms) == 1 and dms[0]["text"] == "Catching up on your onboarding at Test Workspace"
    assert "I skipped 2 earlier check-ins" in str(dms[0]["blocks"])
    again = bot.requests.command("/onboard", "<@U0NOOR>", user_id="U0PRIYA").get_json()
    assert "already has an onboarding journey" in again["text"]
    status = bot.requests.command("/onboard", "", user_id="U0NOOR").get_json()
    assert "Set up your laptop" in str(status["blocks"]) and "day 12:" in str(status["blocks"])


def test_a_leaver_gets_nothing_more(bot: Bot) -> None:
    deliver_day0(bot)
    sent = len(bot.dm("U0NOOR"))
    bot.tick(4)  # the day-1 check-in is queued for tomorrow
    with bot.session_factory.begin() as session:
        bot.person(session, "U0NOOR").active = False
    for _ in range(10):
        bot.tick(24)
    assert len(bot.dm("U0NOOR")) == sent
    with bot.session_factory() as session:
        assert session.scalar(select(OnboardingJourney.state)) == JourneyState.STOPPED.value
        assert session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state == OutboxState.CANCELLED.value)
        )


def test_team_join_adds_and_enrols_the_new_person(bot: Bot) -> None:
    user = {
        "id": "U0NEW",
        "name": "zoe",
        "real_name": "Zoe Park",
        "tz": "Asia/Seoul",
        "profile": {"email": "zoe@example.com", "real_name": "Zoe Park"},
    }
    bot.slack.add_user("U0NEW", email="zoe@example.com", real_name="Zoe Park", tz="Asia/Seoul")
    assert bot.requests.event({"type": "team_join", "user": user}, event_id="EvJOIN1").status_code == 200
    assert bot.requests.event({"type": "team_join", "user": user}, event_id="EvJOIN1").status_code == 200  # retry
    deadline = time.monotonic() + 30  # events are handled after Slack gets its 200
    while time.monotonic() < deadline:
        with bot.session_factory() as session:
            if session.scalar(select(OnboardingJourney)) is not None:
                break
        time.sleep(0.02)
    with bot.session_factory() as session:
        zoe = bot.person(session, "U0NEW")
        journey = session.scalar(select(OnboardingJourney))
        assert (zoe.timezone, journey.person_id) == ("Asia/Seoul", zoe.id)
        assert journey.start_date == date(2026, 11, 22)  # today in Seoul
    bot.clock.advance(timedelta(hours=1))  # 10:00 in Seoul
    bot.dispatch()
    assert bot.dm("U0NEW")[0]["text"] == "Welcome to Test Workspace, Zoe!"


def test_hr_edits_a_template_in_app_home_and_running_journeys_keep_their_version(bot: Bot) -> None:
    deliver_day0(bot)
    bot.requests.app_home_opened("U0PRIYA")
    home = bot.slack.wait_for("views.publish")[-1]["view"]
    assert "Onboarding templates" in str(home) and len(home["blocks"]) <= 100
    edit = next(b for b in buttons(home) if b.get("value") == "default")
    bot.action("U0PRIYA", edit | {"type": "button"})
    modal = bot.slack.wait_for("views.open")[-1]["view"]
    steps = modal["blocks"][3]["element"]["initial_value"]
    assert steps.splitlines()[0] == "0 | task | new_hire | Set up your laptop, email and Slack profile"

    def save(text: str) -> dict[str, Any]:
        values = {
            "name": {"name": {"value": "default"}},
            "description": {"description": {"value": "First 90 days"}},
            "buddy": {"buddy": {"selected_option": {"value": "none"}}},
            "steps": {"steps": {"value": text}},
        }
        response = bot.requests.view_submission(
            "onboard.template_view", values, user_id="U0PRIYA", private_metadata="default"
        )
        return response.get_json(silent=True) or {}

    bad = save("0 | task | new_hire | Laptop\n-3 | task | boss | Hi {team}")
    assert "line 2: negative day -3" in bad["errors"]["steps"]
    assert save("0 | task | new_hire | Laptop and badge\n5 | checkin | | All good?") == {}
    with bot.session_factory() as session:
        versions = session.execute(
            select(OnboardingTemplate.version, OnboardingTemplate.current).where(OnboardingTemplate.name == "default")
        ).all()
        assert sorted(versions) == [(1, False), (2, True)]
        running = session.scalar(select(OnboardingJourney))
        assert session.get(OnboardingTemplate, running.template_id).version == 1
        assert session.scalar(select(func.count()).select_from(OnboardingStep)) == 8
        assert (
            session.scalar(select(AuditEntry.subject).where(AuditEntry.action == "onboarding.template.edit"))
            == "default v2"
        )
    bot.action("U0ANA", edit | {"type": "button"})  # not HR: nothing opens
    with pytest.raises(AssertionError):
        bot.slack.wait_for("views.open", 2, timeout=1)


def test_cli_import_and_export(
    bot: Bot,
    slack: FakeSlack,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in make_env(slack, db_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.yml"
    bad.write_text(EXAMPLE.read_text().replace("day: 30", "day: -30").replace("{new_hire} to", "{newhire} to"))
    assert main(["onboarding", "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "line 16: unknown placeholder {newhire}" in err and "line 27: negative day -30" in err
    assert main(["onboarding", "import", str(EXAMPLE)]) == 0
    assert "unchanged: default, sales" in capsys.readouterr().out
    out = tmp_path / "out.yml"
    assert main(["onboarding", "export", str(out)]) == 0
    assert main(["onboarding", "import", str(out)]) == 0
    assert "unchanged: default, sales" in capsys.readouterr().out
    with bot.session_factory() as session:
        actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
        assert actions.count("onboarding.import") == 2 and actions.count("onboarding.export") == 1


def test_a_new_manager_mid_journey_gets_the_manager_reminders(bot: Bot) -> None:
    deliver_day0(bot)
    assert sum("Your onboarding task for" in m["text"] for m in bot.dm("U0MARCUS")) == 1
    with bot.session_factory.begin() as session:
        bot.person(session, "U0NOOR").manager_id = bot.person(session, "U0SOFIA").id
    for _ in range(2 * 24 // 6):
        bot.tick(6)
    assert not any(m["text"].startswith("Reminder") for m in bot.dm("U0MARCUS"))
    reminders = [m for m in bot.dm("U0SOFIA") if m["text"].startswith("Reminder")]
    assert len(reminders) == 1 and "Introduce Noor Haddad to the team" in str(reminders[0])
