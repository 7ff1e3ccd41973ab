"""Comments reach a manager only from groups of 10, never by set difference, shuffled and round-dated."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from bot.core.crypto import SecretBox
from bot.core.models import Person
from surveys.bank import QuestionBank
from surveys.comments import group_comments, sentiment_hint
from surveys.digest import manager_digest
from surveys.models import PulseUnit
from surveys.results import org_id
from surveys.rounds import close_due_rounds, open_round, record_comment
from tests.conftest import SECRET_KEY
from tests.unit.surveys.test_results import build_org

DAY = date(2026, 11, 23)


def org(reports: int) -> dict[str, tuple[str, str | None]]:
    return {"dana": ("Leadership", None), "marcus": ("Leadership", "dana")} | {
        f"p{i}": ("Platform", "marcus") for i in range(reports)
    }


def comment_round(session_factory, workspace, layout, texts: dict[str, str]) -> int:  # type: ignore[no-untyped-def]
    bank, box = QuestionBank.builtin(), SecretBox(SECRET_KEY)
    now = datetime.combine(DAY, datetime.min.time(), UTC) + timedelta(hours=9)
    with session_factory.begin() as session:
        ws = session.merge(workspace)
        people = build_org(session, ws, layout)
        opened = open_round(session, ws, bank, box, now=now, round_key="r", round_date=DAY, packs=["engagement"])
        for name, text in texts.items():
            person = people[name]
            question = session.scalar(
                select(PulseUnit.questions).where(
                    PulseUnit.round_id == opened.round.id, PulseUnit.manager_id == person.manager_id
                )
            )[0]
            record_comment(
                session,
                ws,
                box,
                person=person,
                round_id=opened.round.id,
                question_id=question,
                comment=text,
                now=now,
            )
        round_id = opened.round.id
    with session_factory.begin() as session:
        close_due_rounds(session, now + timedelta(days=4), box)
    return round_id


def test_ten_respondents_share_comments_dated_to_the_close(session_factory, workspace) -> None:  # type: ignore[no-untyped-def]
    texts = {f"p{i}": f"Comment number {i}: I love the new team rituals" for i in range(11)}
    round_id = comment_round(session_factory, workspace, org(11), texts)
    with session_factory() as session:
        comments = group_comments(session, [round_id])
        marcus = session.scalar(select(Person).where(Person.name == "Marcus"))
        digest = manager_digest(session, QuestionBank.builtin(), marcus, datetime(2026, 11, 30, tzinfo=UTC))
    shown = comments[org_id(marcus.id)]
    assert sorted(c.text for c in shown) == sorted(texts.values())
    assert {c.dated for c in shown} == {date(2026, 11, 27)}
    assert {c.sentiment for c in shown} == {"positive"}
    assert digest.sections[0].comments and len(digest.sections[0].comments) == 11


def test_fewer_than_ten_share_no_comments(session_factory, workspace) -> None:  # type: ignore[no-untyped-def]
    round_id = comment_round(session_factory, workspace, org(7), {f"p{i}": "Too many meetings" for i in range(7)})
    with session_factory() as session:
        assert group_comments(session, [round_id]) == {}


def test_comments_cannot_be_recovered_by_set_difference(session_factory, workspace) -> None:  # type: ignore[no-untyped-def]
    # Dana's organisation has 12 respondents (Marcus + 11 reports), Marcus's 11: the difference is Marcus alone.
    texts = {"marcus": "I am struggling", **{f"p{i}": "fine" for i in range(11)}}
    round_id = comment_round(session_factory, workspace, org(11), texts)
    with session_factory() as session:
        comments = group_comments(session, [round_id])
        people = {p.name: p.id for p in session.scalars(select(Person))}
    assert not (org_id(people["Dana"]) in comments and org_id(people["Marcus"]) in comments)


def test_sentiment_is_a_three_way_hint() -> None:
    assert sentiment_hint("I love working here, great team") == "positive"
    assert sentiment_hint("This is awful and exhausting") == "negative"
    assert sentiment_hint("The meeting is on Tuesday") == "neutral"
