"""What the suggestion box leaves on disk, attacked the way the #15 audit did it.

- Messages to an author (status changes, replies) in the outbox: read the raw SQLite files (WAL
  included) and PostgreSQL's table files, before and after delivery and the `tend` cleanup.
- The daily limit: replay the SQLite write-ahead log commit by commit, and diff backups, looking for
  a row that moves with one person's submissions and not with everyone's.
- Reply handles: look for Fernet tokens (which carry their creation second) in the rows and files,
  after the migration or the `tend` job re-sealed the old ones; replies must still reach old authors.
- The limit under races: ten submissions at once from threads, and from two processes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from bot.core.clock import ManualClock
from bot.core.crypto import SecretBox
from bot.core.database import alembic_config, make_engine, make_session_factory
from bot.core.models import OutboxMessage, OutboxState, Person, PersonAccount, Workspace
from bot.core.settings import Settings
from bot.delivery.outbox import OutboxDispatcher, enqueue_sealed, open_target
from bot.suggestions import service as suggestions
from bot.suggestions.models import Suggestion, SuggestionTally
from handlers.slack.client import build_web_client
from handlers.slack.render import suggestions as views
from handlers.slack.sender import SlackSender
from tests.conftest import SECRET_KEY
from tests.fakes.slack.api import FakeSlack
from tests.scenarios.suggestions.test_suggestions import MONDAY, buttons, channel_messages, make_box, submit_one
from tests.support.forensics import (
    copy_database,
    fernet_tokens,
    pg_table_bytes,
    sqlite_file_bytes,
    sqlite_path,
    wal_commits,
)
from tests.support.migrating import database_at
from tests.support.people import dm_of, slack_account, slack_is

BOX = SecretBox(SECRET_KEY)


def _raw(engine: Engine, db_url: str, table: str) -> bytes:
    """What an attacker with the files reads: the whole SQLite database with its WAL, or one PostgreSQL table."""
    if engine.dialect.name == "sqlite":
        return sqlite_file_bytes(sqlite_path(db_url))
    return pg_table_bytes(engine, table)


def _author_rows(session: Session) -> list[OutboxMessage]:
    return list(
        session.scalars(
            select(OutboxMessage).where(OutboxMessage.idempotency_key.like(suggestions.AUTHOR_KEY_PREFIX + "%"))
        )
    )


# -- 5. messages to the author ---------------------------------------------------------------------


def test_an_author_s_dms_are_never_readable_in_the_database_files(
    slack: FakeSlack, db_url: str, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    box = make_box(slack, db_url, engine, session_factory)
    reference = submit_one(box)
    relay = channel_messages(box)[-1]
    box.click("U0PRIYA", buttons(relay)["Acknowledge"], "C0IDEAS", relay["ts"])
    box.wait_reply(1)
    box.click("U0PRIYA", buttons(relay)["Reply"], "C0IDEAS", relay["ts"])
    modal = box.slack.wait_for("views.open")[-1]["view"]
    assert box.submit_text("U0PRIYA", views.OWNER_REPLY_VIEW, modal["private_metadata"], "Which side?") == {}

    # What the audit found in clear: the DM's words with the reference, and whom it was for.
    tells = [
        f"Your suggestion {reference} is now".encode(),
        f"A reply to your suggestion {reference}".encode(),
        b"Answer anonymously",
        b"D0ANA",
    ]

    def attack(stage: str) -> None:
        raw = _raw(engine, db_url, "outbox_message")
        for tell in tells:
            assert tell not in raw, (stage, tell)
        with session_factory() as session:
            for row in _author_rows(session):
                assert (row.person_id, row.channel_id, row.sent_channel_id, row.sent_ts) == (None,) * 4, stage
                assert reference not in json.dumps(row.payload) and reference not in row.idempotency_key

    with session_factory() as session:
        ana = session.scalar(select(Person).where(slack_is("U0ANA")))
        assert ana is not None
        queued = _author_rows(session)
        assert len(queued) == 2 and {open_target(r, BOX).person_id for r in queued} == {ana.id}
        sealed = [r.payload["sealed"].encode() for r in queued]
    attack("queued")

    box.dispatch()
    box.dispatch()  # a second run sends nothing again
    to_ana = [json.dumps(m) for m in box.slack.messages("U0ANA")]
    assert sum(f"Your suggestion {reference} is now" in m for m in to_ana) == 1
    assert sum(f"A reply to your suggestion {reference}" in m for m in to_ana) == 1
    with session_factory() as session:
        assert {r.state for r in _author_rows(session)} == {OutboxState.SENT.value}
        # Opening the DM for a sealed row is not written down: that write would name the recipient.
        assert dm_of(session.get(Person, ana.id)) is None  # type: ignore[union-attr]
    attack("delivered")

    assert box.job("suggestions.tend")["author messages scrubbed"] == 2
    attack("after tend")
    with session_factory() as session:
        assert _author_rows(session) == []
    if engine.dialect.name == "sqlite":
        # The key holder's attack: even the sealed bytes of the deleted rows are gone, WAL included.
        raw = sqlite_file_bytes(sqlite_path(db_url))
        assert not [token for token in sealed if token in raw]
        assert Path(f"{sqlite_path(db_url)}-wal").stat().st_size == 0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MONDAY)


def _ana(session_factory: sessionmaker[Session], workspace: Workspace, slack: FakeSlack) -> int:
    slack.add_user("U0ANA", email="ana@example.com", real_name="Ana Souza")
    with session_factory.begin() as session:
        person = Person(workspace_id=workspace.id, accounts=slack_account("U0ANA"), email="ana@example.com", name="Ana")
        session.add(person)
        session.flush()
        return person.id


def _queue_sealed(
    session_factory: sessionmaker[Session],
    workspace: Workspace,
    person_id: int,
    clock: ManualClock,
    key: str = "suggestion-author:abc",
) -> int:
    with session_factory.begin() as session:
        return enqueue_sealed(
            session,
            workspace.id,
            key,
            {"text": "S-7KQ2 is now acknowledged"},
            person_id=person_id,
            box=BOX,
            due_at=clock.now(),
        ).id


class Crash(BaseException):
    """The process dying between Slack's answer and the commit that records it."""


def test_a_sealed_dm_is_sent_exactly_once_across_a_crash(
    session_factory: sessionmaker[Session],
    workspace: Workspace,
    slack: FakeSlack,
    settings: Settings,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    person_id = _ana(session_factory, workspace, slack)
    row_id = _queue_sealed(session_factory, workspace, person_id, clock)
    client = build_web_client(settings, for_outbox=True)

    def worker(name: str) -> OutboxDispatcher:
        return OutboxDispatcher(
            session_factory, SlackSender(client, rate_per_minute=100_000, burst=1000), clock, worker_id=name, box=BOX
        )

    doomed = worker("doomed")
    monkeypatch.setattr(doomed, "_mark_sent", lambda *a: (_ for _ in ()).throw(Crash()))
    with pytest.raises(Crash):
        doomed.run_once()
    assert len(slack.messages("U0ANA")) == 1
    clock.advance(timedelta(minutes=5))
    assert worker("restarted").run_once().recovered == 1
    assert len(slack.calls_to("chat.postMessage")) == 1  # found in the DM's history, not posted again
    with session_factory() as session:
        row = session.get(OutboxMessage, row_id)
        assert row is not None and row.state == OutboxState.SENT.value
        assert (row.person_id, row.sent_channel_id, row.sent_ts) == (None, None, None)
        assert dm_of(session.get(Person, person_id)) is None  # type: ignore[union-attr]


def test_a_sealed_dm_that_fails_records_nothing_about_its_recipient(
    session_factory: sessionmaker[Session],
    workspace: Workspace,
    slack: FakeSlack,
    settings: Settings,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    person_id = _ana(session_factory, workspace, slack)
    row_id = _queue_sealed(session_factory, workspace, person_id, clock)
    slack.error_next("chat.postMessage", "account_inactive")
    client = build_web_client(settings, for_outbox=True)
    OutboxDispatcher(
        session_factory, SlackSender(client, rate_per_minute=100_000, burst=1000), clock, box=BOX
    ).run_once()
    # Without the key, a dispatcher cannot even tell whom a sealed row is for: it fails it.
    no_key = _queue_sealed(session_factory, workspace, person_id, clock, key="suggestion-author:def")
    OutboxDispatcher(session_factory, SlackSender(client, rate_per_minute=100_000, burst=1000), clock).run_once()
    with session_factory() as session:
        failed = session.get(OutboxMessage, row_id)
        assert failed is not None and failed.state == OutboxState.FAILED.value
        assert "account_inactive" not in (failed.last_error or "") and "withheld" in (failed.last_error or "")
        assert session.get(OutboxMessage, no_key).state == OutboxState.FAILED.value  # type: ignore[union-attr]
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert not [r for r in caplog.records if "account_inactive" in r.getMessage()]  # nor in the log


def test_a_sealed_payload_copied_into_another_row_does_not_open(
    session_factory: sessionmaker[Session],
    workspace: Workspace,
    slack: FakeSlack,
    settings: Settings,
    clock: ManualClock,
) -> None:
    """Someone who can write to the database copies Ana's sealed DM into a row of theirs, to have it resent."""
    person_id = _ana(session_factory, workspace, slack)
    original = _queue_sealed(session_factory, workspace, person_id, clock)
    with session_factory.begin() as session:
        row = session.get(OutboxMessage, original)
        assert row is not None
        session.add(
            OutboxMessage(
                workspace_id=workspace.id,
                idempotency_key="suggestion-author:copy",
                payload=dict(row.payload),
                due_at=clock.now(),
            )
        )
        row.state = OutboxState.SENT.value
    client = build_web_client(settings, for_outbox=True)
    report = OutboxDispatcher(
        session_factory, SlackSender(client, rate_per_minute=100_000, burst=1000), clock, box=BOX
    ).run_once()
    assert (report.sent, report.failed) == (0, 1)
    assert slack.calls_to("chat.postMessage") == []


def test_forgetting_an_author_removes_the_sealed_dms_waiting_for_them(
    session_factory: sessionmaker[Session], workspace: Workspace, slack: FakeSlack, clock: ManualClock
) -> None:
    person_id = _ana(session_factory, workspace, slack)
    with session_factory.begin() as session:
        chen = Person(workspace_id=workspace.id, accounts=slack_account("U0CHEN"), name="Chen")
        session.add(chen)
        session.flush()
        chen_id = chen.id
    _queue_sealed(session_factory, workspace, person_id, clock)
    for_chen = _queue_sealed(session_factory, workspace, chen_id, clock, key="suggestion-author:chen")
    with session_factory.begin() as session:
        ana = session.get(Person, person_id)
        assert ana is not None
        done = suggestions.forget(session, ana, box=BOX)
        assert done["messages to you as an author"] == 1
    with session_factory() as session:
        assert session.scalars(select(OutboxMessage.id)).all() == [for_chen]


# -- 6. the daily tally ------------------------------------------------------------------------------

NOW = datetime(2026, 11, 23, 14, 3, tzinfo=UTC)


@pytest.fixture
def box_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, suggestions_relay_delay_minutes=0, suggestions_channel="C0IDEAS")


def _people(session_factory: sessionmaker[Session], workspace: Workspace, *slack_ids: str) -> None:
    with session_factory.begin() as session:
        for slack_id in slack_ids:
            session.add(
                Person(
                    workspace_id=workspace.id,
                    accounts=slack_account(slack_id),
                    email=f"{slack_id}@example.com",
                    name=slack_id,
                )
            )


def _submit_as(
    session_factory: sessionmaker[Session], settings: Settings, slack_id: str, form: str, *, share: bool = False
) -> str:
    with session_factory.begin() as session:
        workspace = session.scalars(select(Workspace)).one()
        person = session.scalar(select(Person).where(slack_is(slack_id)))
        assert person is not None
        return suggestions.submit(
            session,
            workspace,
            person,
            text=f"Idea {form}",
            category="workplace",
            share_name=share,
            form_id=form,
            box=BOX,
            settings=settings,
            now=NOW,
        ).suggestion.reference


def _tables(connection: sqlite3.Connection) -> dict[tuple[str, int], tuple[Any, ...]]:
    """Every row of every table, by (table, rowid)."""
    rows = {}
    names = [n for (n,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for name in names:
        try:
            found = list(connection.execute(f'SELECT rowid, * FROM "{name}"'))
        except sqlite3.OperationalError:  # a WITHOUT ROWID table: its rows are known by their content
            found = [(hash(row), *row) for row in connection.execute(f'SELECT * FROM "{name}"')]
        for rowid, *values in found:
            rows[(name, rowid)] = tuple(values)
    return rows


def _changed(
    before: dict[tuple[str, int], tuple[Any, ...]], after: dict[tuple[str, int], tuple[Any, ...]]
) -> set[tuple[str, int]]:
    return {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}


def _links(states: list[dict[tuple[str, int], tuple[Any, ...]]]) -> set[tuple[str, int]]:
    """Rows that changed with Ana's signed and anonymous submissions but not with Chen's, between them.

    `states`: before anything, after Ana's signed one, after Chen's, after Ana's anonymous one."""
    signed, chen, anonymous = (_changed(a, b) for a, b in pairwise(states))
    return (signed & anonymous) - chen


def test_replaying_the_log_or_diffing_backups_cannot_link_an_anonymous_suggestion_to_a_signed_one(
    db_url: str,
    session_factory: sessionmaker[Session],
    workspace: Workspace,
    box_settings: Settings,
    tmp_path: Path,
) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("the write-ahead log and file backups are SQLite's; PostgreSQL's WAL is the operator's")
    _people(session_factory, workspace, "U0ANA", "U0CHEN")
    path = sqlite_path(db_url)
    backups = [sqlite3.connect(copy_database(path, tmp_path / "b0"))]
    signed = _submit_as(session_factory, box_settings, "U0ANA", "V1", share=True)
    backups.append(sqlite3.connect(copy_database(path, tmp_path / "b1")))
    _submit_as(session_factory, box_settings, "U0CHEN", "V2")
    backups.append(sqlite3.connect(copy_database(path, tmp_path / "b2")))
    anonymous = _submit_as(session_factory, box_settings, "U0ANA", "V3")
    backups.append(sqlite3.connect(copy_database(path, tmp_path / "b3")))

    # The attacker's replay: the database after each commit, and which commit stored each suggestion.
    commits = wal_commits(path)
    snapshots = [_tables(c) for c in commits]
    stored = [{r for (r,) in c.execute("SELECT reference FROM suggestion")} for c in commits]
    stored_at = [
        next(n for n, refs in enumerate(stored) if signed in refs),
        next(n for n, refs in enumerate(stored) if len(refs) == 2),
        next(n for n, refs in enumerate(stored) if anonymous in refs),
    ]
    assert len(stored_at) == 3 and 0 < stored_at[0] < stored_at[1] < stored_at[2]
    states = [snapshots[n - 1] for n in stored_at[:1]] + [snapshots[n] for n in stored_at]
    assert _links(states) == set()
    assert _links([_tables(c) for c in backups]) == set()

    # The one row that moves with every submission: same row, same size, new random bytes each time.
    tallies = [v for s in states[1:] for (t, _), v in s.items() if t == "suggestion_tally"]
    sealed = [v[-1] for v in tallies]
    assert len(tallies) == 3 and len({len(b) for b in sealed}) == 1 and len(set(sealed)) == 3
    with session_factory() as session:
        tally = session.scalars(select(SuggestionTally)).one()
        ids = dict(session.execute(select(PersonAccount.external_user_id, PersonAccount.person_id)).all())
        assert suggestions._open_tally(BOX, tally) == {ids["U0ANA"]: 2, ids["U0CHEN"]: 1}


# -- 18. the limit under races ------------------------------------------------------------------------


def _race(engines: list[Engine], settings: Settings, tries: int, start: threading.Barrier | Any) -> tuple[int, int]:
    """`tries` submissions by Ana at once, spread over `engines`; returns (accepted, refused)."""
    outcomes: list[str] = []
    factories = [make_session_factory(e) for e in engines]

    def one(n: int) -> None:
        factory = factories[n % len(factories)]
        start.wait(timeout=30)
        try:
            _submit_as(factory, settings, "U0ANA", f"V{uuid.uuid4().hex}")
            outcomes.append("accepted")
        except suggestions.RateLimited:
            outcomes.append("refused")

    threads = [threading.Thread(target=one, args=(n,)) for n in range(tries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes.count("accepted"), outcomes.count("refused")


def test_ten_submissions_at_once_accept_exactly_the_limit(
    db_url: str, engine: Engine, session_factory: sessionmaker[Session], workspace: Workspace, box_settings: Settings
) -> None:
    _people(session_factory, workspace, "U0ANA", "U0CHEN")
    limited = dataclasses.replace(box_settings, suggestions_per_day=3)
    second = make_engine(db_url)  # another pool, as another process would have
    try:
        accepted, refused = _race([engine, second], limited, 10, threading.Barrier(10))
    finally:
        second.dispose()
    assert (accepted, refused) == (3, 7)
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Suggestion)) == 3


def _process_race(db_url: str, settings: Settings, tries: int, start: Any, results: Any) -> None:
    engine = make_engine(db_url)
    try:
        results.put(_race([engine], settings, tries, start))
    finally:
        engine.dispose()


def test_two_processes_submitting_at_once_accept_exactly_the_limit(
    db_url: str, session_factory: sessionmaker[Session], workspace: Workspace, box_settings: Settings
) -> None:
    _people(session_factory, workspace, "U0ANA")
    limited = dataclasses.replace(box_settings, suggestions_per_day=3)
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(10), context.Queue()
    processes = [context.Process(target=_process_race, args=(db_url, limited, 5, start, results)) for _ in range(2)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert (sum(a for a, _ in outcomes), sum(r for _, r in outcomes)) == (3, 7)
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Suggestion)) == 3


# -- 7. reply handles -------------------------------------------------------------------------------------


def test_old_fernet_handles_are_resealed_and_their_authors_still_get_replies(
    slack: FakeSlack, db_url: str, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    box = make_box(slack, db_url, engine, session_factory)
    reference = submit_one(box)
    with session_factory.begin() as session:
        ana = session.scalar(select(Person).where(slack_is("U0ANA")))
        assert ana is not None
        handle = session.scalars(select(Suggestion.reply_handle)).one() or ""
        assert handle.startswith("v2.") and not fernet_tokens(handle.encode())
        # A suggestion from before: its handle is a Fernet token, with the second it was made in clear.
        session.execute(update(Suggestion).values(reply_handle=BOX.seal(str(ana.id).encode())))
    assert fernet_tokens(_raw(engine, db_url, "suggestion"))

    assert box.job("suggestions.tend")["handles resealed"] == 1
    assert box.job("suggestions.tend")["handles resealed"] == 0  # idempotent
    with session_factory() as session:
        handles = session.scalars(select(Suggestion.reply_handle)).all()
        assert [h[:3] for h in handles if h] == ["v2."]
    assert not fernet_tokens(_raw(engine, db_url, "suggestion"))  # not in the files either (WAL, dead tuples)

    relay = channel_messages(box)[-1]
    box.click("U0PRIYA", buttons(relay)["Reply"], "C0IDEAS", relay["ts"])
    modal = box.slack.wait_for("views.open")[-1]["view"]
    assert box.submit_text("U0PRIYA", views.OWNER_REPLY_VIEW, modal["private_metadata"], "Still here?") == {}
    box.dispatch()
    assert f"A reply to your suggestion {reference}" in json.dumps(box.slack.messages("U0ANA")[-1])


@pytest.fixture
def at_0012(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A fresh database migrated up to the revision before this change."""
    with database_at("0012", db_url, tmp_path) as url:
        yield url


def _old_rows(url: str, today: date) -> int:
    """Rows as the previous code wrote them: a Fernet handle, and today's HMAC counter for Ana (sent 2)."""
    engine = make_engine(url)
    with make_session_factory(engine).begin() as session:
        # Workspaces and people as the schema had them then (Slack ids on the rows themselves).
        workspace_id = session.execute(
            text("INSERT INTO workspace (slack_team_id, name, created_at) VALUES ('T0001', 'Old', :now) RETURNING id"),
            {"now": datetime(2026, 11, 1)},
        ).scalar_one()
        ana_id = session.execute(
            text(
                "INSERT INTO person (workspace_id, slack_user_id, name, active, is_bot, source, created_at, updated_at)"
                " VALUES (:w, 'U0ANA', 'Ana', true, false, 'csv', :now, :now) RETURNING id"
            ),
            {"w": workspace_id, "now": datetime(2026, 11, 1)},
        ).scalar_one()
        session.add(
            Suggestion(
                workspace_id=workspace_id,
                reference="S-OLD1",
                submit_key="k",
                category="tools",
                text="Old idea",
                reply_handle=BOX.seal(str(ana_id).encode()),
                status="new",
                submitted_on=today,
                messages=0,
            )
        )
        session.execute(
            text("INSERT INTO suggestion_quota (workspace_id, bucket, day, count) VALUES (:w, :b, :d, 2)"),
            {
                "w": workspace_id,
                "b": suggestions._digest(SECRET_KEY, "quota", f"{ana_id}:{today.isoformat()}"),
                "d": today,
            },
        )
    engine.dispose()
    return ana_id


@pytest.mark.parametrize("key_at_hand", [True, False], ids=["with-key", "without-key"])
def test_old_handles_and_counters_survive_the_migration_without_a_fernet_token_left(
    at_0012: str, settings: Settings, monkeypatch: pytest.MonkeyPatch, key_at_hand: bool
) -> None:
    now = datetime.now(UTC)
    ana = _old_rows(at_0012, now.date())
    if key_at_hand:
        monkeypatch.setenv("EMPATHY_SECRET_KEY", SECRET_KEY)
    else:
        monkeypatch.delenv("EMPATHY_SECRET_KEY", raising=False)
    command.upgrade(alembic_config(at_0012), "head")
    engine = make_engine(at_0012)
    factory = make_session_factory(engine)
    try:
        with factory() as session:
            handle = session.scalars(select(Suggestion.reply_handle)).one() or ""
            tallies = session.scalars(select(SuggestionTally)).all()
            if key_at_hand:  # carried over: Ana may send 3 more today, not 5
                assert handle.startswith("v2.") and [suggestions._open_tally(BOX, t) for t in tallies] == [{ana: 2}]
            else:  # the HMACs cannot be mapped back without the key; the handle waits for tend
                assert fernet_tokens(handle.encode()) and tallies == []
        with factory.begin() as session:
            assert suggestions.tend(session, settings, now)["handles resealed"] == (0 if key_at_hand else 1)
        with factory() as session:
            handle = session.scalars(select(Suggestion.reply_handle)).one() or ""
            assert BOX.open_untimed(handle) == str(ana).encode() and not fernet_tokens(handle.encode())
        assert not fernet_tokens(_raw(engine, at_0012, "suggestion"))  # nor in the files (WAL, dead tuples)
    finally:
        engine.dispose()
