"""Privacy rights and retention: `/empathy privacy`, export, forget, forgetting leavers, and expiry."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.cli.main import main
from bot.core.crypto import SecretBox
from bot.core.models import AuditEntry, OutboxMessage, Person, Workspace
from bot.core.settings import Settings, SettingsError, load_settings
from bot.delivery.outbox import enqueue
from bot.privacy import FORGOTTEN_NAME, NOT_LINKED, expire, forget_leavers
from surveys.bank import QuestionBank
from surveys.models import PulseAnswer, PulseParticipant, PulseRound
from surveys.rounds import open_round, record_answer
from tests.conftest import SECRET_KEY, make_env
from tests.fakes.slack.api import FakeSlack, manifest_scopes
from tests.support.people import slack_id
from tests.support.slack_requests import SlackRequests
from tests.unit.surveys.test_results import build_org, run_round

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def open_pulse(session_factory: sessionmaker[Session], workspace: Workspace, slack: FakeSlack) -> int:
    """The test organisation with a round open; P0 has answered one question with a comment."""
    bank, box = QuestionBank.builtin(), SecretBox(SECRET_KEY)
    with session_factory.begin() as session:
        ws = session.merge(workspace)
        people = build_org(session, ws)
        people["p0"].email = "p0@example.com"
        opened = open_round(
            session, ws, bank, box, now=NOW, round_key="r:now", round_date=NOW.date(), packs=["engagement"]
        )
        [invitation] = [i for i in opened.invitations if i.person_id == people["p0"].id]
        record_answer(
            session,
            ws,
            bank,
            box,
            person=people["p0"],
            round_id=opened.round.id,
            question_id=invitation.question_ids[0],
            value=4,
            now=NOW,
        )
        return people["p0"].id


def test_a_person_sees_what_is_linked_to_them_in_plain_words(open_pulse: int, slack_requests: SlackRequests) -> None:
    reply = slack_requests.command("/empathy", "privacy", user_id="U0P0").get_json()
    assert reply["response_type"] == "ephemeral"
    text = str(reply["blocks"])
    assert "name P0" in text and "team Platform" in text and "manager Marcus" in text
    assert "*Open pulse of 2026-11-23*: that it was sent to you and that you have answered" in text
    assert NOT_LINKED in text
    assert "`/empathy privacy export`" in text


def test_export_sends_a_json_copy_by_dm(open_pulse: int, slack_requests: SlackRequests, slack: FakeSlack) -> None:
    slack.add_user("U0P0", email="p0@example.com", real_name="P0")
    reply = slack_requests.command("/empathy", "privacy export", user_id="U0P0").get_json()
    assert reply["text"].startswith("I'm putting a copy of everything I keep about you in our DM")
    slack.wait_for("files.completeUploadExternal", count=1)  # the upload runs after the ack
    [upload] = slack.files()
    assert upload["name"] == "empathy-bot-my-data.json" and upload["channel"] == "D0P0"
    data = json.loads(upload["content"])
    assert data["profile"]["email"] == "p0@example.com"
    assert data["open_pulses"] == [
        {"pulse_of": "2026-11-23", "closes_at": "2026-11-26T09:00:00+00:00", "answered": True}
    ]
    assert data["not_linked"] == NOT_LINKED
    assert "answers" not in json.dumps(data["open_pulses"])


def test_installed_from_the_manifest_the_export_file_is_uploaded(
    open_pulse: int, slack_requests: SlackRequests, slack: FakeSlack
) -> None:
    """files_upload_v2 needs files:write: before manifest.yml asked for it, Slack refused the upload and the
    person got "Slack didn't take the file" every time."""
    assert slack.scopes.split(",") == manifest_scopes()  # what a workspace installed from manifest.yml grants
    slack.add_user("U0P0", email="p0@example.com", real_name="P0")
    slack_requests.command("/empathy", "privacy export", user_id="U0P0")
    slack.wait_for("files.completeUploadExternal", count=1)
    assert slack.scope_refusals() == []
    [upload] = slack.files()
    assert upload["channel"] == "D0P0" and json.loads(upload["content"])["profile"]["email"] == "p0@example.com"


def test_an_unknown_privacy_action_is_explained(open_pulse: int, slack_requests: SlackRequests) -> None:
    reply = slack_requests.command("/empathy", "privacy delete-all", user_id="U0P0").get_json()
    assert "I don't know `/empathy privacy delete-all`" in reply["text"]


def cli_env(monkeypatch: pytest.MonkeyPatch, slack: FakeSlack, db_url: str) -> None:
    for name, value in make_env(slack, db_url).items():
        monkeypatch.setenv(name, value)


def test_forget_removes_every_link_and_keeps_the_anonymous_answers(
    open_pulse: int,
    session_factory: sessionmaker[Session],
    slack: FakeSlack,
    slack_requests: SlackRequests,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    cli_env(monkeypatch, slack, db_url)
    monkeypatch.chdir(tmp_path)
    with session_factory.begin() as session:
        person = session.get(Person, open_pulse)
        assert person is not None
        enqueue(session, person.workspace_id, "hello:p0", {"text": "Hi"}, person_id=person.id)
        answers_before = session.scalar(select(func.count()).select_from(PulseAnswer))
    assert main(["privacy", "forget", "--email", "p0@example.com", "--yes"]) == 0
    out = capsys.readouterr().out
    assert (
        "Forgot p0@example.com" in out
        and "open pulse invitations: 1" in out
        and "messages waiting to be sent: 1" in out
    )
    with session_factory() as session:
        person = session.get(Person, open_pulse)
        assert person is not None
        assert (person.name, person.email, slack_id(person), person.active) == (FORGOTTEN_NAME, None, None, False)
        assert person.forgotten_at is not None
        assert (
            session.scalar(
                select(func.count()).select_from(PulseParticipant).where(PulseParticipant.person_id == open_pulse)
            )
            == 0
        )
        assert (
            session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.person_id == open_pulse))
            == 0
        )
        assert session.scalar(select(func.count()).select_from(PulseAnswer)) == answers_before
        [entry] = session.scalars(select(AuditEntry)).all()
        assert (entry.action, entry.subject, entry.via) == ("privacy.forget", f"person {open_pulse}", "cli")
    # Slack no longer knows them as anyone here.
    reply = slack_requests.command("/empathy", "privacy", user_id="U0P0").get_json()
    assert reply["text"].startswith("I don't have anything about you")
    assert main(["privacy", "forget", "--email", "p0@example.com", "--yes"]) == 2
    assert "nobody has the email p0@example.com" in capsys.readouterr().err


def test_cli_export_writes_the_same_json(
    open_pulse: int,
    slack: FakeSlack,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    cli_env(monkeypatch, slack, db_url)
    out = tmp_path / "p0.json"
    assert main(["privacy", "export", "--email", "P0@example.com", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["profile"]["name"] == "P0"


def test_leavers_are_forgotten_after_the_grace_period(
    session_factory: sessionmaker[Session], workspace: Workspace, settings: Settings
) -> None:
    with session_factory.begin() as session:
        people = build_org(session, session.merge(workspace))
        for name, days in (("p1", 31), ("p2", 29)):
            people[name].active = False
            people[name].deactivated_at = NOW - timedelta(days=days)
        ids = {name: p.id for name, p in people.items()}
    with session_factory.begin() as session:
        assert forget_leavers(session, settings, SecretBox(SECRET_KEY), NOW) == 1
    with session_factory() as session:
        assert session.get(Person, ids["p1"]).forgotten_at == NOW  # type: ignore[union-attr]
        assert session.get(Person, ids["p2"]).name == "P2"  # type: ignore[union-attr]
    with session_factory.begin() as session:
        assert forget_leavers(session, settings, SecretBox(SECRET_KEY), NOW) == 0


def test_retention_deletes_only_what_has_expired(
    session_factory: sessionmaker[Session], workspace: Workspace, slack: FakeSlack, db_url: str
) -> None:
    settings = load_settings(make_env(slack, db_url, EMPATHY_RETENTION="comments=12,messages=1,audit=6"))
    with session_factory.begin() as session:
        build_org(session, session.merge(workspace))
    old = run_round(session_factory, workspace, {}, date(2025, 9, 1))
    recent = run_round(session_factory, workspace, {}, date(2026, 11, 2))
    with session_factory.begin() as session:
        for round_id in (old, recent):
            answer = session.scalars(select(PulseAnswer).where(PulseAnswer.round_id == round_id)).first()
            assert answer is not None
            answer.comment = "verbatim"
        for key, state, age in (("a", "sent", 40), ("b", "sent", 20), ("c", "pending", 40)):
            row = OutboxMessage(
                workspace_id=workspace.id, idempotency_key=key, payload={"text": "x"}, channel_id="C1", state=state
            )
            row.created_at = NOW - timedelta(days=age)
            session.add(row)
        session.add(AuditEntry(workspace_id=workspace.id, via="cli", action="x", at=NOW - timedelta(days=200)))
        session.add(AuditEntry(workspace_id=workspace.id, via="cli", action="y", at=NOW - timedelta(days=100)))
    with session_factory.begin() as session:
        done = expire(session, settings, NOW)
    assert (done["comments"], done["messages"], done["audit"]) == (1, 1, 1)
    with session_factory() as session:
        comments = dict(
            session.execute(
                select(PulseAnswer.round_id, PulseAnswer.comment).where(PulseAnswer.comment.is_not(None))
            ).all()
        )
        assert comments == {recent: "verbatim"}
        assert sorted(session.scalars(select(OutboxMessage.idempotency_key))) == ["b", "c"]
        assert session.scalars(select(AuditEntry.action)).all() == ["y"]
        assert session.scalar(select(func.count()).select_from(PulseRound)) == 2


@pytest.mark.parametrize("value", ["comments=two years", "answers=12", "comments"])
def test_a_retention_setting_that_makes_no_sense_is_refused(slack: FakeSlack, value: str) -> None:
    with pytest.raises(SettingsError, match=f"EMPATHY_RETENTION has '{value}': write kind=months"):
        load_settings(make_env(slack, "sqlite://", EMPATHY_RETENTION=value))
    kept = load_settings(make_env(slack, "sqlite://", EMPATHY_RETENTION="comments=0, kudos=12"))
    assert (kept.retention("comments"), kept.retention("kudos"), kept.retention("suggestions")) == (0, 12, 36)
