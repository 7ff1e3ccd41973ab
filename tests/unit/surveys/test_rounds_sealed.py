"""Sealed answers at the service level: rounds open at the upgrade, comments that must still fit, NUL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, select

from bot.core.crypto import SecretBox
from bot.core.models import Person
from surveys.bank import QuestionBank
from surveys.models import PulseAnswer, PulseParticipant, PulseRoundKey, PulseSealedAnswer, PulseUnit
from surveys.rounds import (
    CommentTooBig,
    close_due_rounds,
    close_round,
    comment_problem,
    open_round,
    record_answer,
    record_comment,
    slot_for,
)
from tests.conftest import SECRET_KEY
from tests.support.people import slack_id
from tests.unit.surveys.test_results import build_org

DAY = date(2026, 11, 23)
NOW = datetime.combine(DAY, datetime.min.time(), UTC) + timedelta(hours=9)
LAYOUT = {"marcus": ("Platform", None), "ana": ("Platform", "marcus"), "chen": ("Platform", "marcus")}


def _open(session_factory, workspace):  # type: ignore[no-untyped-def]
    bank, box = QuestionBank.builtin(), SecretBox(SECRET_KEY)
    with session_factory.begin() as session:
        ws = session.merge(workspace)
        people = build_org(session, ws, LAYOUT)
        opened = open_round(session, ws, bank, box, now=NOW, round_key="r", round_date=DAY, packs=["engagement"])
        ana = people["ana"]
        questions = session.scalar(
            select(PulseUnit.questions).where(
                PulseUnit.round_id == opened.round.id, PulseUnit.manager_id == ana.manager_id
            )
        )
        return bank, box, ws, opened.round.id, slack_id(ana), ana.id, questions


def test_a_round_open_at_the_upgrade_keeps_its_clear_answers_and_seals_the_next(session_factory, workspace) -> None:  # type: ignore[no-untyped-def]
    bank, box, ws, round_id, _ana, ana_id, questions = _open(session_factory, workspace)
    # As before migration 0013: no round key, and Ana's first answer in clear with its slot.
    with session_factory.begin() as session:
        session.execute(delete(PulseRoundKey))
        participant = session.scalar(select(PulseParticipant).where(PulseParticipant.person_id == ana_id))
        session.add(
            PulseAnswer(round_id=round_id, unit_id=participant.unit_id, question_id=questions[0], value=2,
                        slot=slot_for(box, participant, questions[0]))
        )  # fmt: skip
    with session_factory.begin() as session:
        progress = record_answer(session, ws, bank, box, person=session.get(Person, ana_id), round_id=round_id,
                                 question_id=questions[1], value=4, now=NOW)  # fmt: skip
        assert {q: a.value for q, a in progress.answers.items()} == {questions[0]: 2, questions[1]: 4}
    with session_factory.begin() as session:  # a change moves the old clear answer into a sealed row
        progress = record_answer(session, ws, bank, box, person=session.get(Person, ana_id), round_id=round_id,
                                 question_id=questions[0], value=5, now=NOW)  # fmt: skip
        assert progress.answers[questions[0]].value == 5
        assert session.scalar(select(PulseAnswer.id)) is None
        assert len(session.scalars(select(PulseSealedAnswer)).all()) == 2
    with session_factory.begin() as session:
        close_due_rounds(session, NOW + timedelta(days=4), box)
    with session_factory() as session:
        assert sorted((a.question_id, a.value, a.slot) for a in session.scalars(select(PulseAnswer))) == sorted(
            [(questions[0], 5, None), (questions[1], 4, None)]
        )


def test_a_full_length_comment_in_any_common_script_fits_the_fixed_size(session_factory, workspace) -> None:  # type: ignore[no-untyped-def]
    _bank, box, ws, round_id, _ana, ana_id, questions = _open(session_factory, workspace)
    words = ["汉" * 1000, '"\\' * 500, "\n" * 999 + "x", "é" * 1000]
    for question, text in zip(questions, words, strict=False):
        with session_factory.begin() as session:
            record_comment(session, ws, box, person=session.get(Person, ana_id), round_id=round_id, question_id=question,
                           comment=text, now=NOW)  # fmt: skip
    with session_factory() as session:
        sizes = {len(row.sealed) for row in session.scalars(select(PulseSealedAnswer))}
    assert len(sizes) == 1  # every sealed answer is as long as any other
    # 1,000 emoji (4 bytes each) do not fit: refused kindly, and nothing changes.
    assert isinstance(comment_problem("😀" * 1000), CommentTooBig)
    with session_factory.begin() as session, pytest.raises(CommentTooBig):
        record_comment(session, ws, box, person=session.get(Person, ana_id), round_id=round_id, question_id=questions[0],
                       comment="😀" * 1000, now=NOW)  # fmt: skip
    assert comment_problem("😀" * 500) is None


def test_control_characters_are_dropped_from_comments(session_factory, workspace) -> None:  # type: ignore[no-untyped-def]
    _bank, box, ws, round_id, _ana, ana_id, questions = _open(session_factory, workspace)
    with session_factory.begin() as session:
        progress = record_comment(session, ws, box, person=session.get(Person, ana_id), round_id=round_id, question_id=questions[0],
                                  comment="a\x00b\x07c\nd\ud800", now=NOW)  # fmt: skip
    assert progress.answers[questions[0]].comment == "abc\nd"
    with session_factory.begin() as session:
        close_due_rounds(session, NOW + timedelta(days=4), box)  # PostgreSQL refuses NUL in text: stored
    with session_factory() as session:
        assert session.scalar(select(PulseAnswer.comment).where(PulseAnswer.comment.is_not(None))) == "abc\nd"


def test_two_closes_racing_write_the_answers_once(session_factory, workspace, engine) -> None:  # type: ignore[no-untyped-def]
    """The scheduled close and HR's early close at the same moment: one closes, the other finds it closed."""
    import threading

    from bot.core.database import make_engine, make_session_factory
    from surveys.models import PulseRound

    bank, box, ws, round_id, _ana, ana_id, questions = _open(session_factory, workspace)
    with session_factory.begin() as session:
        record_answer(session, ws, bank, box, person=session.get(Person, ana_id), round_id=round_id, question_id=questions[0],
                      value=4, now=NOW)  # fmt: skip
    other = make_engine(str(engine.url.render_as_string(hide_password=False)))  # another process
    factories = [session_factory, make_session_factory(other)]
    barrier, results, errors = threading.Barrier(2), [], []

    def close(factory) -> None:  # type: ignore[no-untyped-def]
        try:
            with factory.begin() as session:
                pulse = session.get(PulseRound, round_id)
                barrier.wait(5)
                results.append(close_round(session, pulse, NOW + timedelta(hours=1), box))
        except Exception as error:  # SQLite may refuse the second writer's stale read: also "not twice"
            errors.append(error)

    threads = [threading.Thread(target=close, args=(f,)) for f in factories]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    other.dispose()
    assert results.count(True) == 1
    with session_factory() as session:
        assert [(a.question_id, a.value) for a in session.scalars(select(PulseAnswer))] == [(questions[0], 4)]
