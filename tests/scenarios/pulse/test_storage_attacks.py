"""Attacks on where pulse answers are stored, made the way the audit made them.

A database reader without EMPATHY_SECRET_KEY, with one snapshot or a series of backups, must not tie
any answer to anyone while a round is open. After the close, nobody, the key holder included, may
find the link in the database's files: not in SQLite's write-ahead log or free pages, not in
PostgreSQL's dead row versions, not in the inbox that held the clicks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from bot.core.crypto import Aead, SecretBox
from bot.delivery.inbox import inbox_file
from surveys.models import PulseAnswer, PulseParticipant, PulseRoundKey, PulseSealedAnswer
from tests.conftest import SECRET_KEY
from tests.scenarios.pulse import test_pulse
from tests.scenarios.pulse.test_pulse import (
    Pulse,
    _assert_len,
    answer_buttons,
    answers,
    eventually,
    open_and_deliver,
    wait_for_update,
)
from tests.support.forensics import fernet_tokens, pg_table_bytes, sqlite_file_bytes, sqlite_path, wal_commits

pulse = test_pulse.pulse  # the whole bot on a manual clock, four people in one team

CANARY = "Canary comment 7f3a: my manager never listens"
BOX = SecretBox(SECRET_KEY)


def _answer(pulse: Pulse, user_id: str, option: int, updates: int) -> None:
    message = pulse.dm(user_id)[0]
    pulse.click(user_id, answer_buttons(message)[0][option], message)
    wait_for_update(pulse, updates)


def _comment(pulse: Pulse, user_id: str, words: str, updates: int) -> None:
    message = pulse.dm(user_id)[0]
    button = next(e for e in answer_buttons(message)[0] if e["action_id"] == "pulse.comment")
    pulse.click(user_id, button, message)
    view = pulse.slack.wait_for("views.open")[-1]["view"]
    pulse.requests.view_submission(
        "pulse.comment_view",
        {"comment": {"comment": {"type": "plain_text_input", "value": words}}},
        user_id=user_id,
        private_metadata=view["private_metadata"],
    )
    wait_for_update(pulse, updates)


def _visible_without_key(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every table as a key-less reader sees it, random ids, HMAC slots and ciphertext bytes aside."""
    seen: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        seen["participant"] = sorted(
            connection.execute(text("SELECT person_id, unit_id, responded, reminded FROM pulse_participant")).all()
        )
        seen["sealed sizes"] = sorted(
            connection.execute(text("SELECT round_id, length(sealed) FROM pulse_sealed_answer")).all()
        )
        seen["clear answers"] = list(connection.execute(text("SELECT * FROM pulse_answer")).all())
    return seen


def _secrets_of_the_round(pulse: Pulse) -> set[str]:
    """The sealed round key and answer keys: what the key holder would need to re-link a closed round."""
    with pulse.session_factory() as session:
        tokens = {k.sealed_key for k in session.scalars(select(PulseRoundKey))}
        tokens |= {p.answer_key for p in session.scalars(select(PulseParticipant))}
    assert tokens
    return tokens


def test_a_reader_without_the_key_cannot_tell_answers_apart_even_across_backups(pulse: Pulse, engine) -> None:  # type: ignore[no-untyped-def]
    open_and_deliver(pulse)
    before = _visible_without_key(engine)
    # Ana, alone so far in her unit, picks the first option and writes a comment; then Chen the last option.
    _answer(pulse, "U0ANA", 0, 1)
    _comment(pulse, "U0ANA", CANARY, 2)
    after_ana = _visible_without_key(engine)
    _answer(pulse, "U0CHEN", 4, 3)
    after_chen = _visible_without_key(engine)
    eventually(lambda: _assert_len(answers(pulse), 2))

    # Diffing the backups shows who answered (needed for reminders), and one more opaque block each:
    # the same size whatever was chosen, comment or not, and no answer in clear anywhere.
    assert after_ana["clear answers"] == after_chen["clear answers"] == before["clear answers"] == []
    sizes = {size for _round, size in after_chen["sealed sizes"]}
    assert len(after_chen["sealed sizes"]) == 2 and len(sizes) == 1
    assert len(after_ana["sealed sizes"]) == len(before["sealed sizes"]) + 1
    with pulse.session_factory() as session:
        for row in session.scalars(select(PulseSealedAnswer)):
            with pytest.raises(ValueError):  # a key made up by the reader opens nothing
                Aead(Aead.new_key()).open(row.sealed)

    # The raw files (the inbox's too, which held the clicks) do not hold the comment.
    if engine.dialect.name == "sqlite":
        raw = sqlite_file_bytes(sqlite_path(str(engine.url)))
        raw += sqlite_file_bytes(inbox_file(str(engine.url)))  # type: ignore[arg-type]
    else:
        raw = pg_table_bytes(engine, "pulse_sealed_answer") + pg_table_bytes(engine, "inbox_request")
    assert CANARY.encode() not in raw


def test_after_close_the_sqlite_files_hold_nothing_that_links_even_with_the_key(pulse: Pulse, engine) -> None:  # type: ignore[no-untyped-def]
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's own files; PostgreSQL's are attacked below")
    db = sqlite_path(str(engine.url))
    side = inbox_file(str(engine.url))
    assert side is not None
    open_and_deliver(pulse)
    _answer(pulse, "U0ANA", 0, 1)
    _comment(pulse, "U0ANA", CANARY, 2)
    _answer(pulse, "U0CHEN", 4, 3)
    eventually(lambda: _assert_len(answers(pulse), 2))
    secrets = _secrets_of_the_round(pulse)

    # Before the close the attacker has material: the log replays into snapshots in which Ana's
    # participant row has flipped, and the inbox file still holds the sealed clicks.
    snapshots = wal_commits(db)
    assert any(
        s.execute("SELECT count(*) FROM pulse_participant WHERE responded = 1").fetchone()[0] > 0 for s in snapshots
    )
    assert any(token.encode() in sqlite_file_bytes(db) for token in secrets)
    assert fernet_tokens(sqlite_file_bytes(side))

    pulse.clock.advance(timedelta(days=3))
    assert pulse.job("pulse.close") == 1

    raw = sqlite_file_bytes(db)
    raw_inbox = sqlite_file_bytes(side)
    assert not any(token.encode() in raw + raw_inbox for token in secrets)
    assert wal_commits(db) == [] and wal_commits(side) == []  # both logs truncated: no page from before
    # The key holder opens every sealed thing left in either file: no round key, no answer key, no click.
    for token in fernet_tokens(raw + raw_inbox):
        try:
            opened = BOX.open(token)
        except ValueError:
            continue
        assert b"U0ANA" not in opened and b"U0CHEN" not in opened and len(opened) != 32, "a link survived"
    assert CANARY.encode() in raw  # the comment itself is kept, in clear, for the report (unlinked)
    with pulse.session_factory() as session:
        assert session.scalar(select(PulseAnswer.comment).where(PulseAnswer.comment.is_not(None))) == CANARY


@pytest.mark.postgres
def test_after_close_postgres_keeps_no_dead_row_that_links_even_with_the_key(pulse: Pulse, engine) -> None:  # type: ignore[no-untyped-def]
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's dead row versions; SQLite's files are attacked above")
    open_and_deliver(pulse)
    _answer(pulse, "U0ANA", 0, 1)
    _answer(pulse, "U0CHEN", 4, 2)
    eventually(lambda: _assert_len(answers(pulse), 2))
    secrets = _secrets_of_the_round(pulse)
    tables = ("pulse_participant", "pulse_round_key", "inbox_request")
    before = b"".join(pg_table_bytes(engine, t) for t in tables)
    assert any(token.encode() in before for token in secrets)  # the attack reads what is there

    pulse.clock.advance(timedelta(days=3))
    assert pulse.job("pulse.close") == 1

    after = b"".join(pg_table_bytes(engine, t) for t in tables)
    assert not any(token.encode() in after for token in secrets)
    for token in fernet_tokens(after):  # whatever is left there opens to no click and no key
        opened = BOX.open(token)
        assert b"U0ANA" not in opened and len(opened) != 32


def test_a_round_whose_key_changed_closes_without_the_answers_nobody_can_read(pulse: Pulse, engine) -> None:  # type: ignore[no-untyped-def]
    open_and_deliver(pulse)
    _answer(pulse, "U0ANA", 0, 1)
    eventually(lambda: _assert_len(answers(pulse), 1))
    other = SecretBox("Wv3fH2s6oQ8f0kqB2pV6wq0n3kQmWQ8kVb6l8Yx9zZc=")
    with pulse.session_factory.begin() as session:  # as if EMPATHY_SECRET_KEY had changed mid-round
        for row in session.scalars(select(PulseRoundKey)):
            row.sealed_key = other.seal(Aead.new_key())
    pulse.clock.advance(timedelta(days=3))
    assert pulse.job("pulse.close") == 1
    with pulse.session_factory() as session:
        assert session.scalar(select(PulseAnswer.id)) is None
        assert session.scalar(select(PulseSealedAnswer.id)) is None
