"""The suggestion service on its own: submit, rate limit, statuses, replies, nudges and privacy hooks."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, timedelta
from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.crypto import SecretBox
from bot.core.models import AuditEntry, OutboxMessage, OutboxState, Person, Workspace
from bot.core.settings import Settings
from bot.delivery.outbox import open_target
from bot.registry import set_setting
from bot.suggestions import service as suggestions
from bot.suggestions.config import parse_categories, parse_owners
from bot.suggestions.models import Suggestion, SuggestionMessage, SuggestionTally
from tests.conftest import SECRET_KEY
from tests.support.people import slack_is

NOW = datetime(2026, 11, 23, 14, 3, tzinfo=UTC)  # a Monday
BOX = SecretBox(SECRET_KEY)


@pytest.fixture
def box_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, suggestions_relay_delay_minutes=0, suggestions_channel="C0IDEAS")


def _person(session: Session, slack_id: str) -> Person:
    person = session.scalar(select(Person).where(slack_is(slack_id)))
    assert person is not None
    return person


def _submit(session: Session, settings: Settings, form: str = "V1", text: str = "More plants", **kw: object):  # type: ignore[no-untyped-def]
    workspace = session.scalars(select(Workspace)).one()
    options = {"category": "workplace", "share_name": False, "now": NOW, **kw}
    return suggestions.submit(
        session,
        workspace,
        _person(session, "U0ANA"),
        text=text,
        form_id=form,
        box=BOX,
        settings=settings,
        **options,  # type: ignore[arg-type]
    )


def test_a_suggestion_names_nobody_and_is_relayed_to_the_channel(
    people: None, session_factory: sessionmaker[Session], box_settings: Settings
) -> None:
    with session_factory.begin() as session:
        submitted = _submit(session, box_settings)
        assert submitted.created
        reference = submitted.suggestion.reference
    with session_factory() as session:
        row = session.scalars(select(Suggestion)).one()
        ana = _person(session, "U0ANA")
        values = " ".join(str(v) for v in row.__dict__.values())
        for secret in ("U0ANA", "Ana", "u0ana@example.com"):
            assert secret not in values
        assert row.shared_name is None and row.submitted_on == date(2026, 11, 23)
        assert BOX.open_untimed(row.reply_handle or "").decode() == str(ana.id)
        relay = session.scalars(select(OutboxMessage)).one()
        assert relay.channel_id == "C0IDEAS" and relay.person_id is None
        assert relay.due_at == NOW
        assert relay.created_at == datetime(2026, 11, 23, tzinfo=UTC)  # the date, not the minute
        body = json.dumps(relay.payload)
        assert reference in body and "More plants" in body and "Ana" not in body and "14:03" not in body


def test_the_same_form_twice_is_one_suggestion_and_counts_once(
    people: None, session_factory: sessionmaker[Session], box_settings: Settings
) -> None:
    with session_factory.begin() as session:
        first = _submit(session, box_settings, form="V42")
    with session_factory.begin() as session:
        again = _submit(session, box_settings, form="V42")
        assert not again.created and again.suggestion.reference == first.suggestion.reference
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Suggestion)) == 1
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
        assert suggestions._open_tally(BOX, session.scalars(select(SuggestionTally)).one()) == {
            _person(session, "U0ANA").id: 1
        }


def test_the_daily_limit_refuses_kindly_and_resets_the_next_day(
    people: None, session_factory: sessionmaker[Session], box_settings: Settings
) -> None:
    limited = dataclasses.replace(box_settings, suggestions_per_day=2)
    for n in range(2):
        with session_factory.begin() as session:
            _submit(session, limited, form=f"V{n}")
    with pytest.raises(suggestions.RateLimited, match="2 suggestions today"), session_factory.begin() as session:
        _submit(session, limited, form="V9")
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Suggestion)) == 2
        # One sealed tally for the whole workspace and day: it names neither the person nor a suggestion.
        tally = session.scalars(select(SuggestionTally)).one()
        assert tally.day == NOW.date() and b"U0ANA" not in tally.sealed
    with session_factory.begin() as session:
        assert suggestions.tend(session, limited, NOW + timedelta(days=1))["old counters"] == 1
        assert _submit(session, limited, form="V10", now=NOW + timedelta(days=1)).created


@pytest.mark.parametrize(
    ("text", "category", "words"),
    [
        ("", "workplace", "is empty"),
        ("   \n\t ", "workplace", "is empty"),
        ("x" * 2001, "workplace", "2001 characters; the limit is 2000"),
        ("Fine", "snacks", "I don't know the category `snacks`"),
    ],
)
def test_bad_input_stores_nothing(
    people: None, session_factory: sessionmaker[Session], box_settings: Settings, text: str, category: str, words: str
) -> None:
    with pytest.raises(suggestions.SuggestionError, match=words), session_factory.begin() as session:
        _submit(session, box_settings, text=text, category=category)
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Suggestion)) == 0
        assert session.scalar(select(func.count()).select_from(SuggestionTally)) == 0


def test_status_moves_forward_notifies_the_author_and_is_audited_without_content(
    people: None, session_factory: sessionmaker[Session], box_settings: Settings
) -> None:
    with session_factory.begin() as session:
        reference = _submit(session, box_settings).suggestion.reference
    with session_factory.begin() as session:
        workspace = session.scalars(select(Workspace)).one()
        priya, ana = _person(session, "U0PRIYA"), _person(session, "U0ANA")
        with pytest.raises(suggestions.NotAllowed):
            suggestions.set_status(session, workspace, ana, reference, "done", box=BOX, settings=box_settings, now=NOW)
        suggestions.set_status(
            session, workspace, priya, reference, "acknowledged", box=BOX, settings=box_settings, now=NOW
        )
        with pytest.raises(suggestions.SuggestionError, match="only moves forward"):
            suggestions.set_status(
                session, workspace, priya, reference, "acknowledged", box=BOX, settings=box_settings, now=NOW
            )
        with pytest.raises(suggestions.SuggestionError, match="give a reason"):
            suggestions.set_status(
                session, workspace, priya, reference, "wont_do", note=" ", box=BOX, settings=box_settings, now=NOW
            )
        suggestions.set_status(
            session, workspace, priya, reference, "wont_do", note="No budget", box=BOX, settings=box_settings, now=NOW
        )
        with pytest.raises(suggestions.SuggestionError, match="closed"):
            suggestions.owner_reply(session, workspace, priya, reference, "hi", box=BOX, settings=box_settings, now=NOW)
    with session_factory() as session:
        ana = _person(session, "U0ANA")
        sealed = session.scalars(select(OutboxMessage).where(OutboxMessage.channel_id.is_(None))).all()
        # Sealed: no recipient and no text in clear; the dispatcher opens them for Ana.
        assert all(m.person_id is None and "No budget" not in json.dumps(m.payload) for m in sealed)
        to_ana = [open_target(m, BOX) for m in sealed]
        assert [t.person_id for t in to_ana] == [ana.id, ana.id]
        assert all(reference not in m.idempotency_key for m in sealed)
        assert "No budget" in json.dumps(to_ana[-1].payload)
        audit = session.scalars(select(AuditEntry.subject).where(AuditEntry.action == "suggestion.status")).all()
        assert audit == [f"{reference} -> acknowledged", f"{reference} -> won't do"]


def test_the_reply_round_trip_and_deletion(
    people: None, session_factory: sessionmaker[Session], box_settings: Settings
) -> None:
    with session_factory.begin() as session:
        reference = _submit(session, box_settings).suggestion.reference
        workspace = session.scalars(select(Workspace)).one()
        priya, ana = _person(session, "U0PRIYA"), _person(session, "U0ANA")
        suggestions.owner_reply(
            session, workspace, priya, reference, "Which floor?", box=BOX, settings=box_settings, now=NOW
        )
        with pytest.raises(suggestions.SuggestionError):  # only the author can answer
            suggestions.author_reply(
                session, workspace, priya, reference, "me", box=BOX, settings=box_settings, now=NOW
            )
        suggestions.author_reply(
            session, workspace, ana, reference, "The third", box=BOX, settings=box_settings, now=NOW
        )
        assert [m.text for m in session.scalars(select(SuggestionMessage).order_by(SuggestionMessage.number))] == [
            "Which floor?",
            "The third",
        ]
        with pytest.raises(suggestions.SuggestionError):
            suggestions.delete_by_author(session, workspace, priya, reference, BOX)
        assert suggestions.delete_by_author(session, workspace, ana, reference, BOX).reference == reference
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Suggestion)) == 0
        assert session.scalar(select(func.count()).select_from(SuggestionMessage)) == 0
        keys = session.scalars(select(OutboxMessage.idempotency_key)).all()
        assert not [k for k in keys if k.startswith("suggestion-relay:")]  # unsent relays withdrawn


def test_relays_wait_a_random_delay_of_up_to_twice_the_setting(
    people: None, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    delayed = dataclasses.replace(settings, suggestions_relay_delay_minutes=5, suggestions_channel="C0IDEAS")
    with session_factory.begin() as session:
        for n in range(4):
            _submit(session, delayed, form=f"V{n}", rng=Random(n))
    with session_factory() as session:
        dues = session.scalars(select(OutboxMessage.due_at)).all()
        assert all(NOW <= due <= NOW + timedelta(minutes=10) for due in dues)
        assert len(set(dues)) == 4


def test_nudges_after_two_and_seven_working_days_once_each(
    people: None, session_factory: sessionmaker[Session], box_settings: Settings
) -> None:
    friday = datetime(2026, 11, 20, 10, tzinfo=UTC)
    with session_factory.begin() as session:
        _submit(session, box_settings, now=friday)
    for at, expected in [
        (friday + timedelta(days=3), 0),  # Monday: 1 working day
        (friday + timedelta(days=4), 1),  # Tuesday: 2 → acknowledge
        (friday + timedelta(days=5), 0),  # already nudged
        (friday + timedelta(days=11), 1),  # next Tuesday: 7 → triage
        (friday + timedelta(days=12), 0),
    ]:
        with session_factory.begin() as session:
            assert suggestions.tend(session, box_settings, at)["nudges"] == expected, at


def test_delivered_messages_to_the_author_are_scrubbed(
    people: None, session_factory: sessionmaker[Session], box_settings: Settings
) -> None:
    with session_factory.begin() as session:
        reference = _submit(session, box_settings).suggestion.reference
        workspace = session.scalars(select(Workspace)).one()
        suggestions.owner_reply(
            session,
            workspace,
            _person(session, "U0PRIYA"),
            reference,
            "Thanks",
            box=BOX,
            settings=box_settings,
            now=NOW,
        )
        for row in session.scalars(select(OutboxMessage)):
            row.state = OutboxState.SENT.value
    with session_factory.begin() as session:
        assert suggestions.tend(session, box_settings, NOW)["author messages scrubbed"] == 1
        assert session.scalars(select(OutboxMessage.idempotency_key)).all() == [
            f"suggestion-relay:{session.scalars(select(Suggestion.id)).one()}"
        ]


def test_privacy_hooks(people: None, session_factory: sessionmaker[Session], box_settings: Settings) -> None:
    with session_factory.begin() as session:
        _submit(session, box_settings, form="V1", share_name=True)
        _submit(session, box_settings, form="V2")
    with session_factory.begin() as session:
        ana, priya = _person(session, "U0ANA"), _person(session, "U0PRIYA")
        assert suggestions.personal_data(session, ana, box=BOX)["suggestions_you_can_be_replied_to_on"] == 2
        assert suggestions.personal_data(session, priya, box=BOX)["suggestions_you_can_be_replied_to_on"] == 0
        assert suggestions.forget(session, ana, box=BOX) == {
            "reply handles": 2,
            "shared names": 1,
            "messages to you as an author": 0,
        }
        assert suggestions.personal_data(session, ana, box=BOX)["suggestions_you_can_be_replied_to_on"] == 0
    with session_factory.begin() as session:
        assert suggestions.expire(session, NOW + timedelta(days=40), months=2) == 0
        assert suggestions.expire(session, NOW + timedelta(days=70), months=2) == 2


def test_owners_per_category_and_configured_categories(
    people: None, session_factory: sessionmaker[Session], box_settings: Settings
) -> None:
    with session_factory.begin() as session:
        workspace = session.scalars(select(Workspace)).one()
        set_setting(session, workspace, "suggestion-owners", "tools:<@U0ANA|ana>")
        set_setting(session, workspace, "suggestion-categories", "Tools, Office")
        ana = _person(session, "U0ANA")
        assert suggestions.is_owner(session, workspace, ana, box_settings, "tools")
        assert not suggestions.is_owner(session, workspace, ana, box_settings, "office")
        assert suggestions.categories(session, workspace, box_settings) == ["tools", "office"]


@given(st.text(max_size=60))
def test_category_and_owner_parsers_accept_or_refuse_kindly(raw: str) -> None:
    for parse in (parse_categories, parse_owners):
        try:
            stored = parse(raw)
        except suggestions.UserFacingError as error:
            assert str(error)
        else:
            assert parse(stored.replace(",", ", ")) == stored if parse is parse_categories else True


@given(st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 1, 1)), st.integers(min_value=0, max_value=40))
def test_working_days_never_count_weekends(start: date, span: int) -> None:
    end = start + timedelta(days=span)
    counted = suggestions.working_days_between(start, end)
    # Every whole week adds exactly five working days, and no day counts more than once.
    assert suggestions.working_days_between(start, end + timedelta(days=7)) == counted + 5
    assert 0 <= counted <= span
    assert suggestions.working_days_between(end, end + timedelta(days=1)) == (
        1 if (end + timedelta(days=1)).weekday() < 5 else 0
    )
