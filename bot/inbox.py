"""The inbox: requests acked at once and handled behind the ack by a few threads, durably.

Why: Slack waits 3 s for an ack. A listener that acks and then works on Bolt's thread pool shares
the CPU with every other request's work, so under load acks queued for the CPU behind work
(benchmarks/answer_latency: p99 1.7 s at 64 clients). A request whose ack says nothing and whose
work needs no trigger_id is instead stored here (one INSERT), acked, and handled by `EMPATHY_WORK_THREADS`
threads per process: acks cost a fifth of a whole request and never wait behind work, and the work
runs as fast as the machine allows.

Nothing is lost: the row is written before the ack and deleted only after its work ran. If the
process dies in between, any process's sweep finds the row once its claim has run out and handles
it; the work it triggers is idempotent (answers are upserts, kudos carry a submit key, events are
deduplicated by id), so a second run after a crash changes nothing.

Domain-free: a row is an opaque sealed string, and the caller says how to handle one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import threading
import uuid
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, event, func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.schema import CreateIndex, CreateTable

from bot.crypto import SecretBox
from bot.database import make_engine, make_session_factory
from bot.models import InboxRequest, utcnow

logger = logging.getLogger(__name__)

# How long the accepting process owns a row before anyone may take it over: far longer than any
# backlog should last, since taking over a row that is still queued would run its work twice.
LEASE = timedelta(minutes=5)
SWEEP_SECONDS = 5.0
# A row whose handling killed its process this often is dropped (and logged), not retried forever.
MAX_ATTEMPTS = 3

_INSERT = insert(InboxRequest)
_running: weakref.WeakSet[Inbox] = weakref.WeakSet()


class Inbox:
    def __init__(
        self,
        engine: Engine,
        box: SecretBox,
        handle: Callable[[str], None],
        *,
        threads: int,
    ) -> None:
        self.engine = engine
        self._session_factory = make_session_factory(engine)
        # SQLite takes one writer at a time and makes the others poll with growing sleeps (up to 100 ms
        # each), so under load some acks starved for seconds. Writers of one process queue here instead,
        # and at most one per process polls SQLite. PostgreSQL locks rows and needs none of this.
        self._writing: AbstractContextManager[Any] = (
            threading.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )
        self._box = box
        self._handle = handle
        self._thread_count = threads
        # The wall clock, not the app's: a claim is an operational lease, not domain time.
        self._now = utcnow
        self._owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._started_in: int | None = None
        self._start_lock = threading.Lock()
        self._stopping = threading.Event()

    def accept(self, kind: str, request: str) -> None:
        """Store a request for handling behind the ack. Raises SQLAlchemyError if it could not be stored."""
        now = self._now()
        row = {
            "kind": kind,
            "sealed": self._box.seal(request.encode()),
            "received_at": now,
            "claimed_by": self._owner,
            "claimed_until": now + LEASE,
            "attempts": 0,
        }
        # No Session and one prebuilt statement: this runs before every early ack, and building an ORM
        # unit of work (or a fresh statement) cost more than the insert itself.
        with self._writing, self.engine.begin() as connection:
            row_id = int(connection.execute(_INSERT, row).inserted_primary_key[0])
        self.start()
        self._queue.put(row_id)

    def start(self) -> None:
        """Start the work threads in this process (again after a fork: threads do not survive one)."""
        with self._start_lock:
            if self._started_in == os.getpid() or self._stopping.is_set():
                return
            self._started_in = os.getpid()
            self._threads = [
                threading.Thread(target=self._work, name=f"inbox-{n}", daemon=True) for n in range(self._thread_count)
            ]
            for thread in self._threads:
                thread.start()
            _running.add(self)

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the request in hand and stop; what is still queued stays in the database for a sweep."""
        self._stopping.set()
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)
        self.engine.dispose()
        _running.discard(self)

    def drain(self) -> int:
        """Handle every row this process may take, on the calling thread (for the CLI and tests)."""
        handled = 0
        while True:
            try:
                row_id = self._queue.get_nowait()
            except queue.Empty:
                ids = self._expired()
                if not ids:
                    return handled
                for expired in ids:
                    self._queue.put(expired)
                continue
            if row_id is not None and self._handle_row(row_id):
                handled += 1

    # -- the work threads --------------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                row_id = self._queue.get(timeout=SWEEP_SECONDS)
            except queue.Empty:
                self._sweep()
                continue
            if row_id is None:
                return
            try:
                self._handle_row(row_id)
            except SQLAlchemyError as error:
                # The database went away: the row stays, and a sweep takes it up once the claim runs out.
                logger.warning("could not handle an inbox request now: %s", type(error).__name__)

    def _sweep(self) -> None:
        try:
            for row_id in self._expired():
                self._queue.put(row_id)
        except SQLAlchemyError as error:
            logger.warning("could not look for unfinished inbox requests: %s", type(error).__name__)

    def _expired(self) -> list[int]:
        """Rows whose claim has run out: left behind by a process that died, or by a database outage."""
        with self._session_factory() as session:
            return list(
                session.scalars(
                    select(InboxRequest.id)
                    .where(InboxRequest.claimed_until < self._now())
                    .order_by(InboxRequest.id)
                    .limit(100)
                )
            )

    def _handle_row(self, row_id: int) -> bool:
        sealed = self._claim(row_id)
        if sealed is None:
            return False
        try:
            self._handle(self._box.open(sealed).decode())
        except Exception as error:
            # Listeners report their own failures to the person; this is a failure outside them. The
            # message could quote the request, so only its type is logged.
            logger.error("an inbox request failed outside its listener: %s", type(error).__name__)
        with self._writing, self._session_factory.begin() as session:
            session.execute(delete(InboxRequest).where(InboxRequest.id == row_id))
        return True

    def _claim(self, row_id: int) -> str | None:
        """The row's sealed request if this process may handle it now, else None."""
        now = self._now()
        with self._writing, self._session_factory.begin() as session:
            row = session.get(InboxRequest, row_id)
            if row is None:
                return None  # handled already
            if row.claimed_by == self._owner and row.claimed_until > now:
                return row.sealed
            taken = session.execute(
                update(InboxRequest)
                .where(InboxRequest.id == row_id, InboxRequest.claimed_until < now)
                .values(claimed_by=self._owner, claimed_until=now + LEASE, attempts=InboxRequest.attempts + 1)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                return None  # another process took it first
            if row.attempts + 1 > MAX_ATTEMPTS:
                session.execute(delete(InboxRequest).where(InboxRequest.id == row_id))
                logger.error("dropped a %s inbox request that was taken over %d times", row.kind, MAX_ATTEMPTS)
                return None
            return row.sealed

    def waiting(self) -> tuple[int, float]:
        """How many requests wait, and the age of the oldest in seconds (for /metrics)."""
        with self.engine.connect() as connection:
            count, oldest = connection.execute(
                select(func.count(InboxRequest.id), func.min(InboxRequest.received_at))
            ).one()
        return int(count or 0), max(0.0, (self._now() - oldest).total_seconds()) if oldest else 0.0


def inbox_engine(database_url: str) -> Engine:
    """Where the inbox keeps its rows: the bot's database on PostgreSQL; on SQLite, a file of its own
    beside it (`empathy-bot.inbox.sqlite3` next to `empathy-bot.sqlite3`).

    SQLite lets one connection write at a time. In the bot's own file an ack queued for that lock
    behind work transactions, and SQLite's busy wait backs off unfairly: 2 of 38,802 acks took over
    3 s (benchmarks/answer_latency). In a file of its own an ack waits only for other acks' inserts and
    for deletes of handled rows. That file holds requests in flight, never the bot's data, so its one
    table is created here rather than by Alembic; it may be deleted whenever no process runs.

    Its own connections either way: an ack must never queue for a pooled connection behind the
    listeners and work threads.
    """
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        # No ping before each use: it was a second round trip per ack. A connection that died with a
        # database restart fails one insert, which then goes through Bolt, and the pool reconnects.
        return make_engine(database_url, pool_size=6, max_overflow=6, pool_pre_ping=False)
    main = Path(str(url.database))
    side = url.set(database=str(main.with_name(f"{main.stem}.inbox{main.suffix or '.sqlite3'}")))
    engine = make_engine(side.render_as_string(hide_password=False), pool_size=6, max_overflow=6)
    # On each new connection rather than now: building the app must work while the database is unreachable.
    table = InboxRequest.__table__
    ddl = [str(CreateTable(table, if_not_exists=True).compile(dialect=engine.dialect))] + [
        str(CreateIndex(index, if_not_exists=True).compile(dialect=engine.dialect)) for index in table.indexes
    ]

    def create_table(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for statement in ddl:
            cursor.execute(statement)
        cursor.close()

    event.listen(engine, "connect", create_table)
    return engine


def stop_all() -> None:
    """Stop every inbox's threads in this process (tests: one app's threads must not outlive its test)."""
    for inbox in list(_running):
        inbox.stop()
