"""The answer path's shortcuts keep their guarantees: the custom packs' bank kept per process follows
a pack changed elsewhere at the next click, and a person's reminder is called off exactly once, by
their first response, even when two first clicks race."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import delete, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.crypto import SecretBox
from bot.core.database import make_engine, make_session_factory
from bot.core.message import Message
from bot.core.models import OutboxMessage, Person, Platform, Workspace
from bot.delivery.inbound import Click, Submission
from bot.delivery.outbox import OutboxRow, enqueue_many
from surveys import answering, jobs
from surveys.bank import QuestionBank
from surveys.models import CustomPack, PulseParticipant, PulseSealedAnswer, PulseUnit
from surveys.pack_store import add_custom_pack, workspace_bank
from surveys.pulse_messages import ANSWER_ACTION, action_value
from surveys.rounds import open_round
from tests.conftest import SECRET_KEY
from tests.support.people import slack_account
from tests.unit.surveys.test_bank import CUSTOM
from tests.unit.surveys.test_results import build_org

DAY = date(2026, 11, 23)
NOW = datetime.combine(DAY, datetime.min.time(), UTC) + timedelta(hours=9)
LAYOUT = {"marcus": ("Platform", None), "ana": ("Platform", "marcus"), "chen": ("Platform", "marcus")}


def _words(message: Message) -> str:
    return repr(message)


def _click(
    factory: sessionmaker[Session], person_id: int, round_id: int, question: str, value: int
) -> answering.Answered:
    with factory.begin() as session:
        workspace = session.scalar(select(Workspace))
        assert workspace is not None
        click = Click(ANSWER_ACTION, action_value(round_id, question, value))
        return answering.answer(
            session, workspace, session.get(Person, person_id), click, box=SecretBox(SECRET_KEY), now=NOW
        )


def _round_for_ana(session_factory: sessionmaker[Session], workspace: Workspace) -> tuple[int, int, list[str]]:
    """An engagement round opened for LAYOUT's organisation: its id, Ana's person id, her unit's questions."""
    with session_factory.begin() as session:
        ws = session.merge(workspace)
        people = build_org(session, ws, LAYOUT)
        opened = open_round(
            session,
            ws,
            QuestionBank.builtin(),
            SecretBox(SECRET_KEY),
            now=NOW,
            round_key="r",
            round_date=DAY,
            packs=["engagement"],
        )
        ana = people["ana"].id
        questions = session.scalar(
            select(PulseUnit.questions)
            .join(PulseParticipant, PulseParticipant.unit_id == PulseUnit.id)
            .where(PulseParticipant.person_id == ana)
        )
        assert questions is not None
        return opened.round.id, ana, list(questions)


def test_a_pack_changed_in_another_process_is_seen_by_the_next_click(
    session_factory: sessionmaker[Session], workspace: Workspace, db_url: str
) -> None:
    box = SecretBox(SECRET_KEY)
    with session_factory.begin() as session:
        ws = session.merge(workspace)
        add_custom_pack(session, ws.id, CUSTOM, source="team_health.yml")
        people = build_org(session, ws, LAYOUT)
        bank = workspace_bank(session, ws.id)
        opened = open_round(session, ws, bank, box, now=NOW, round_key="r", round_date=DAY, packs=["team_health"])
        ana = people["ana"].id
        round_id = opened.round.id
        questions = session.scalar(select(PulseUnit.questions).where(PulseUnit.round_id == round_id))
    assert questions and set(questions) <= {"team_health.safety", "team_health.tools"}
    first = _click(session_factory, ana, round_id, questions[0], 4)  # the bank is now kept in this process
    assert "raise a problem in my team" in _words(first.message) or "tools I need" in _words(first.message)

    # Another process (its own engine and connections) replaces the pack file with new wording.
    other = make_engine(db_url)
    try:
        with make_session_factory(other).begin() as session:
            session.execute(delete(CustomPack))
            add_custom_pack(
                session,
                workspace.id,
                CUSTOM.replace("I can raise a problem", "Raising a problem is safe").replace(
                    "I have the tools", "My tools are what I need"
                ),
                source="team_health.yml",
            )
    finally:
        other.dispose()

    second = _click(session_factory, ana, round_id, questions[0], 5)  # a change of mind: still one to go
    words = _words(second.message)
    assert "Raising a problem is safe" in words or "My tools are what I need" in words
    assert "I can raise a problem" not in words and "I have the tools" not in words


def test_two_first_clicks_racing_call_off_the_reminder_exactly_once(
    session_factory: sessionmaker[Session], workspace: Workspace, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    round_id, ana, questions = _round_for_ana(session_factory, workspace)
    key = jobs.reminder_key(round_id, ana)
    with session_factory.begin() as session:
        enqueue_many(
            session, workspace.id, [OutboxRow(key, {"text": "A reminder"}, NOW + timedelta(hours=24), person_id=ana)]
        )

    cancels: list[int] = []
    real_cancel = jobs.cancel_pending

    def counting_cancel(session: Session, workspace_id: int, key: str) -> int:
        cancelled = real_cancel(session, workspace_id, key)
        cancels.append(cancelled)
        return cancelled

    monkeypatch.setattr(answering, "cancel_pending", counting_cancel)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def click(question: str) -> None:
        try:
            start.wait(5)
            _click(session_factory, ana, round_id, question, 3)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=click, args=(q,)) for q in questions[:2]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert cancels == [1]  # one click was first and called the reminder off; the other wrote nothing
    _click(session_factory, ana, round_id, questions[2], 2)  # a later click: no UPDATE at all
    assert cancels == [1]
    with session_factory() as session:
        assert session.scalar(select(OutboxMessage.state).where(OutboxMessage.idempotency_key == key)) == "cancelled"
        assert session.scalar(select(PulseParticipant.responded).where(PulseParticipant.person_id == ana)) is True


def test_a_first_click_between_the_reminder_jobs_read_and_its_mark_gets_no_reminder(
    session_factory: sessionmaker[Session], workspace: Workspace
) -> None:
    """The reminder job read Ana as not responded; her first click commits before the job marks her.
    Only the first click calls reminders off, so the job must see that click and queue nothing."""
    round_id, ana, questions = _round_for_ana(session_factory, workspace)
    question = questions[0]
    later = NOW + timedelta(days=2)
    clicked = []

    def click_first(conn, cursor, statement: str, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("UPDATE PULSE_PARTICIPANT") and not clicked:
            clicked.append(True)
            worker = threading.Thread(target=_click, args=(session_factory, ana, round_id, question, 4))
            worker.start()
            worker.join(30)

    with session_factory.begin() as session:
        engine = session.get_bind()
        event.listen(engine, "before_cursor_execute", click_first)
        try:
            queued = jobs.send_reminders(session, later)
        finally:
            event.remove(engine, "before_cursor_execute", click_first)
    assert clicked, "the job never marked anyone: the race was not staged"
    with session_factory() as session:
        reminders = session.scalars(
            select(OutboxMessage.state).where(OutboxMessage.idempotency_key == jobs.reminder_key(round_id, ana))
        ).all()
        assert session.scalar(select(PulseParticipant.responded).where(PulseParticipant.person_id == ana)) is True
    assert [state for state in reminders if state != "cancelled"] == []
    assert queued == 2  # marcus and chen, who have not answered, are still reminded


def test_the_clicker_found_with_the_round_answers_once_and_keeps_a_comment_when_the_answer_changes(
    session_factory: sessionmaker[Session], workspace: Workspace
) -> None:
    """`who_clicked` finds who clicked and their participation in one query, and finds nobody it should
    not (not invited, another workspace's person, a forged round); the answer it leads to is stored once,
    and changing it (the insert-and-read finds the slot taken) keeps the comment given in between."""
    box = SecretBox(SECRET_KEY)
    round_id, ana, questions = _round_for_ana(session_factory, workspace)
    question = questions[0]
    with session_factory.begin() as session:
        ws = session.merge(workspace)
        outsider = Person(workspace_id=ws.id, accounts=slack_account("U0OUT"), name="Out Sider", timezone="UTC")
        session.add(outsider)

    def click(user: str, value: int, round_id: int = round_id, team: str = ws.external_id) -> answering.Answered | None:
        with session_factory.begin() as session:
            made = Click(ANSWER_ACTION, action_value(round_id, question, value))
            found = answering.who_clicked(session, Platform.SLACK.value, team, user, made)
            if found is None:
                return None
            assert found.person.id == ana and found.workspace.id == ws.id
            return answering.answer(session, found.workspace, found.person, made, box=box, now=NOW, clicker=found)

    assert click("U0OUT", 3) is None  # not invited
    assert click("U0ANA", 3, round_id=round_id + 1000) is None  # no such round
    assert click("U0ANA", 3, team="T0OTHER") is None  # no such workspace
    first = click("U0ANA", 2)
    assert first is not None and first.progress.answers[question].value == 2 and first.progress.first_response
    with session_factory.begin() as session:
        commented = answering.comment(
            session,
            session.get(Workspace, ws.id),
            session.get(Person, ana),
            Submission("pulse.comment_view", {"comment": "More focus time"}, state=f"{round_id}|{question}"),
            box=box,
            now=NOW,
        )
    assert (commented.progress.answers[question].value, commented.progress.answers[question].comment) == (
        2,
        "More focus time",
    )
    changed = click("U0ANA", 4)
    assert changed is not None and not changed.progress.first_response
    assert (changed.progress.answers[question].value, changed.progress.answers[question].comment) == (
        4,
        "More focus time",
    )
    with session_factory() as session:
        assert session.scalar(select(func.count(PulseSealedAnswer.id))) == 1
