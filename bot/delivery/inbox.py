"""The inbox: requests acked at once and handled behind the ack, durably.

Why: Slack waits 3 s for an ack. A listener that acks and then works on Bolt's thread pool shares
the CPU with every other request's work, so under load acks queued for the CPU behind work
(benchmarks/answer_latency: p99 1.7 s at 64 clients). A request whose ack says nothing and whose
work needs no trigger_id is instead stored here (one INSERT), acked, and handled by work threads:

- in a deployment of web processes and a worker (the Procfile), the web processes only accept and
  the worker's `EMPATHY_WORK_THREADS` threads do the work, so nothing in a web process competes
  with acks for its interpreter;
- in a single `empathy-bot serve`, the accepting process does the work itself on its own threads.

One person's requests are applied in the order they arrived, whichever process or thread takes them
(six `/kudos` typed in a row must meet the daily limit at the sixth, not at whichever came last): a
row is taken only when no earlier row of the same sender is left in the table, and a handled row
leaves the table only after its work ran. So at most one request per sender is in hand at a time,
while different people's requests still run in parallel. On PostgreSQL, concurrent accepts of one
sender queue for an advisory lock so that ids follow commit order.

Nothing is lost: the row is written before the ack and deleted only after its work ran. A process
renews the claims on the rows it holds while it lives; if it dies, its claims run out within
`LEASE` and any working process takes the rows over. The work is idempotent (answers are upserts,
kudos carry a submit key, events are deduplicated by id), so a second run after a crash changes
nothing.

Domain-free: a row is an opaque sealed string, and the caller says how to handle one.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import queue
import socket
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Engine, bindparam, delete, event, exists, func, insert, select, text, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import aliased
from sqlalchemy.schema import CreateColumn, CreateIndex, CreateTable

from bot.core.crypto import SecretBox
from bot.core.database import make_engine
from bot.core.models import InboxRequest, utcnow

logger = logging.getLogger(__name__)

# How long a claim lasts without renewal: how soon rows held by a process that died are taken over.
LEASE = timedelta(minutes=2)
# A living process renews its claims this often, long before they run out.
RENEW_SECONDS = 30.0
# The claim of a row nobody has taken yet (accepted by a web process for the worker): long past.
AVAILABLE = datetime(2000, 1, 1, tzinfo=UTC)
# How often a working process looks for rows it did not accept: a dedicated worker looks often, a
# `serve` that accepts its own work looks only for what a crashed process left.
WORKER_POLL_SECONDS = 0.1
SERVE_POLL_SECONDS = 5.0
# Handled rows are deleted in batches of up to this many (sooner when the queue runs low).
DELETE_BATCH = 32
# A row whose handling killed its process this often is dropped (and logged), not retried forever.
MAX_ATTEMPTS = 3

# Senders are told apart by a keyed hash cut to this many buckets: two people who share one merely
# take turns, and a bucket does not name a person.
ORDER_BUCKETS = 65_536
# The first key of PostgreSQL's two-key advisory locks that order one sender's accepts.
_ORDER_LOCK_CLASS = 0x454D4221

_INSERT = insert(InboxRequest).returning(InboxRequest.id, sort_by_parameter_order=True)
_earlier = aliased(InboxRequest)
# True for a row while an earlier request of the same sender is still in the table.
_NOT_ITS_TURN = exists().where(_earlier.ordering_key == InboxRequest.ordering_key, _earlier.id < InboxRequest.id)
# Rows this process just accepted and claimed, but whose sender has an earlier request waiting: given up
# for whoever takes that sender's next request in turn.
_WAIT_YOUR_TURN = (
    update(InboxRequest)
    .where(InboxRequest.id.in_(bindparam("ids", expanding=True)), _NOT_ITS_TURN)
    # No holder: this process's renewals must not take it back into a lease it is not working on.
    .values(claimed_by="", claimed_until=AVAILABLE, attempts=0)
    .returning(InboxRequest.id)
)
# PostgreSQL's accept, one statement in its own transaction: one round trip, and no Python lock between
# acking threads. The sub-select takes the sender's advisory lock before the row (and so its id) exists,
# and the lock lasts until the statement's transaction commits: one sender's ids follow commit order, as
# `_queue_behind_senders` guarantees for the grouped path. (A NULL key takes no lock: the lock function
# is strict.) The sub-select is not flattened into the insert's projection because it calls a volatile
# function, so the lock is taken before the id's `nextval`.
_PG_ACCEPT = (
    "INSERT INTO inbox_request (kind, sealed, received_at, claimed_by, claimed_until, attempts, ordering_key)"
    " SELECT %(kind)s, %(sealed)s, %(received_at)s, %(claimed_by)s, %(claimed_until)s, %(attempts)s,"
    " CAST(%(ordering_key)s AS integer)"
    " FROM (SELECT pg_advisory_xact_lock(CAST(%(lock_class)s AS integer), CAST(%(ordering_key)s AS integer))) AS turn"
    " RETURNING id"
)
_SQLITE_ACCEPT = (
    "INSERT INTO inbox_request (kind, sealed, received_at, claimed_by, claimed_until, attempts, ordering_key)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
# The same as `_WAIT_YOUR_TURN`, for a row this process accepted and claimed: a separate statement, so it
# sees every earlier row of the sender that committed before the insert took its lock.
_PG_WAIT_YOUR_TURN = (
    "UPDATE inbox_request SET claimed_by = '', claimed_until = %(available)s, attempts = 0"
    " WHERE id = %(id)s AND EXISTS (SELECT 1 FROM inbox_request AS earlier"
    " WHERE earlier.ordering_key = inbox_request.ordering_key AND earlier.id < inbox_request.id)"
    " RETURNING id"
)
_running: weakref.WeakSet[Inbox] = weakref.WeakSet()


class _Held(NamedTuple):
    """A row this process has claimed: the request as it arrived, or still sealed if taken from the table."""

    row_id: int
    text: str
    sealed: bool


class _Accepted:
    """One ack's row on its way into the database, and how that went."""

    __slots__ = ("committed", "error", "mine", "row", "row_id")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.row_id = 0
        self.error: Exception | None = None
        self.committed = False
        self.mine = False  # claimed by this process at once: no earlier request of its sender waits


class Inbox:
    """`threads=0`: only accept, and leave the work to a worker. Otherwise accept and work, or only work."""

    def __init__(
        self,
        engine: Engine,
        box: SecretBox,
        handle: Callable[[str], None] | None = None,
        *,
        threads: int = 0,
        poll_seconds: float = SERVE_POLL_SECONDS,
        work_nice: int = 0,
    ) -> None:
        if threads and handle is None:
            raise ValueError("an inbox that works needs a handler")
        self.engine = engine
        # SQLite takes one writer at a time and makes the others poll with growing sleeps (up to 100 ms
        # each), so under load some acks starved for seconds. Writers queue here instead: the threads of
        # one process on a lock, the processes on an flock of a file beside the inbox's, which wakes the
        # next writer the moment the last one is done. PostgreSQL locks rows and needs none of this.
        self._writing: AbstractContextManager[Any] = (
            _WriteTurn(engine) if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )
        # On PostgreSQL each ack inserts its own row in one statement on a pooled connection (see
        # `_PG_ACCEPT`): the server commits concurrent transactions together by itself, so a Python group
        # commit only made acks queue on its lock (py-spy: 45% of a web thread's samples).
        self._direct = engine.dialect.name == "postgresql"
        # How SQLAlchemy writes a datetime to this database, for the rows written through the driver.
        self._datetime_to_db: Callable[[Any], Any] = InboxRequest.__table__.c.received_at.type.bind_processor(
            engine.dialect
        ) or (lambda value: value)
        self._box = box
        self._handle = handle
        self._thread_count = threads
        # The work threads' niceness (a worker beside web processes). Only theirs: the keeper writes the
        # inbox, and on SQLite an ack waits for the keeper's transaction; a niced keeper holding that lock
        # while nice-0 threads ran made the acks wait for it (a priority inversion).
        self._work_nice = work_nice
        self._poll_seconds = poll_seconds
        # The wall clock, not the app's: a claim is an operational lease, not domain time.
        self._now = utcnow
        self._owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._queue: queue.Queue[_Held | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._started_in: int | None = None
        self._start_lock = threading.Lock()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._done: list[int] = []  # handled here, not yet deleted
        self._pending: list[_Accepted] = []  # acks waiting for the next group commit
        self._group = threading.Condition()  # guards _pending and _leading
        self._leading = False  # an ack is committing a batch
        self._done_lock = threading.Lock()

    @property
    def works(self) -> bool:
        return self._thread_count > 0

    def accept(self, kind: str, request: str, *, who: str | None = None) -> None:
        """Store a request for handling behind the ack; returns once it is committed. Raises
        SQLAlchemyError if it could not be stored. `who` names the sender, whose requests are then
        handled one at a time in the order they were accepted."""
        now = self._now()
        mine = _Accepted(
            {
                "kind": kind,
                "sealed": self._box.seal(request.encode()),
                "received_at": now,
                "claimed_by": self._owner,
                "claimed_until": now + LEASE if self.works else AVAILABLE,
                "attempts": 1 if self.works else 0,
                "ordering_key": self._box.bucket(who, ORDER_BUCKETS) if who else None,
            }
        )
        if self._direct:
            self._insert_direct(mine)
        else:
            self._commit_grouped(mine)
        if mine.error is not None:
            raise mine.error
        if self.works:
            self.start()
            if mine.mine:
                self._queue.put(_Held(mine.row_id, request, sealed=False))
            else:
                self._wake.set()  # the keeper takes it once its sender's earlier request is done

    def _insert_direct(self, mine: _Accepted) -> None:
        """PostgreSQL: the row in one autocommitted statement (and, if this process works it, a second
        that gives it up when an earlier request of its sender waits), through the driver directly:
        SQLAlchemy's statement machinery cost more CPU than the round trip. A pooled connection of the
        inbox's engine, switched to autocommit while the ack holds it."""
        statement = _PG_ACCEPT
        errors = self.engine.dialect.loaded_dbapi.Error
        try:
            raw = self.engine.raw_connection()
        except errors as error:
            mine.error = OperationalError(statement, None, error)
            mine.committed = True
            return
        driver = raw.driver_connection
        try:
            driver.autocommit = True
            with driver.cursor() as cursor:
                cursor.execute(statement, {**mine.row, "lock_class": _ORDER_LOCK_CLASS})
                (mine.row_id,) = cursor.fetchone()
                mine.mine = self.works
                if self.works and mine.row["ordering_key"] is not None:
                    statement = _PG_WAIT_YOUR_TURN
                    cursor.execute(statement, {"id": mine.row_id, "available": AVAILABLE})
                    mine.mine = cursor.fetchone() is None
        except errors as error:
            # A connection that died with a database restart is dropped; the pool opens a new one next time.
            raw.invalidate()
            mine.error = OperationalError(statement, None, error)
            mine.error.__cause__ = error
        finally:
            try:
                if not raw.is_valid:
                    pass
                elif driver.autocommit:
                    driver.autocommit = False  # the pool's other users (claims, deletes) need transactions
            except Exception:
                raw.invalidate()  # never hand an autocommit connection back to the pool
                raise
            finally:
                raw.close()
                mine.committed = True

    def _commit_grouped(self, mine: _Accepted) -> None:
        """SQLite: the ack leads a group commit, or waits for the leader's commit that carries its row.

        A follower wakes as soon as the batch holding its row is committed, not when the next batch is:
        with one lock for committing, an ack whose row rode on another's commit still queued behind the
        next commit before it could see so.
        """
        with self._group:
            self._pending.append(mine)
            while self._leading and not mine.committed:
                self._group.wait()
            if mine.committed:
                return
            self._leading = True
        try:
            self._commit_pending()
        finally:
            with self._group:
                self._leading = False
                self._group.notify_all()

    def _commit_pending(self) -> None:
        """Group commit: one transaction for every ack that arrived while the last one was committing.

        Under load most of an ack's time went to waiting for the write lock and the commit's fsync
        (py-spy on a web process: 43%); a batch pays for both once. A lone ack commits alone, at once.
        """
        with self._group:
            batch, self._pending = self._pending, []
        try:
            if not self.works:  # a web process's accepts, the hot path: through the driver
                with self._writing:
                    ids = self._insert_sqlite([accepted.row for accepted in batch])
                for accepted, row_id in zip(batch, ids, strict=True):
                    accepted.row_id = row_id
                return
            # No Session and one prebuilt statement: building an ORM unit of work cost more than the insert.
            with self._writing, self.engine.begin() as connection:
                _queue_behind_senders(connection, [accepted.row for accepted in batch])
                ids = [int(i) for i in connection.execute(_INSERT, [accepted.row for accepted in batch]).scalars()]
                waiting = set(connection.execute(_WAIT_YOUR_TURN, {"ids": ids}).scalars()) if self.works else set()
            for accepted, row_id in zip(batch, ids, strict=True):
                accepted.row_id = row_id
                accepted.mine = self.works and row_id not in waiting
        except Exception as error:
            for accepted in batch:
                accepted.error = error
        finally:
            for accepted in batch:
                accepted.committed = True

    def _insert_sqlite(self, rows: list[dict[str, Any]]) -> list[int]:
        """A batch of rows in one SQLite transaction through the driver (SQLAlchemy's execution cost more
        CPU than SQLite's insert); raises SQLAlchemyError as the engine would."""
        to_db = self._datetime_to_db
        try:
            raw = self.engine.raw_connection()
        except self.engine.dialect.loaded_dbapi.Error as error:
            raise OperationalError(_SQLITE_ACCEPT, None, error) from error
        try:
            cursor = raw.cursor()
            ids: list[int] = []
            for row in rows:
                cursor.execute(
                    _SQLITE_ACCEPT,
                    (
                        row["kind"],
                        row["sealed"],
                        to_db(row["received_at"]),
                        row["claimed_by"],
                        to_db(row["claimed_until"]),
                        row["attempts"],
                        row["ordering_key"],
                    ),
                )
                ids.append(int(cursor.lastrowid or 0))
            cursor.close()
            raw.commit()
            return ids
        except self.engine.dialect.loaded_dbapi.Error as error:
            with contextlib.suppress(Exception):
                raw.rollback()
            raise OperationalError(_SQLITE_ACCEPT, None, error) from error
        finally:
            raw.close()

    def start(self) -> None:
        """Start the work threads in this process (again after a fork: threads do not survive one)."""
        with self._start_lock:
            if not self.works or self._started_in == os.getpid() or self._stopping.is_set():
                return
            self._started_in = os.getpid()
            self._threads = [
                threading.Thread(target=self._work, name=f"inbox-{n}", daemon=True) for n in range(self._thread_count)
            ]
            self._threads.append(threading.Thread(target=self._keep, name="inbox-keeper", daemon=True))
            for thread in self._threads:
                thread.start()
            _running.add(self)

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the requests in hand and stop; what is still queued is handed back for another process."""
        self._stopping.set()
        self._wake.set()
        for _ in range(self._thread_count):
            self._queue.put(None)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)
        if self._started_in == os.getpid():
            self._hand_back()
        self.engine.dispose()
        if isinstance(self._writing, _WriteTurn):
            self._writing.close()
        _running.discard(self)

    def drain(self) -> int:
        """Handle every row this process may take, on the calling thread (for the CLI and tests)."""
        handled = 0
        while True:
            try:
                held = self._queue.get_nowait()
            except queue.Empty:
                if not self._settle_and_take(100):
                    return handled
                continue
            if held is not None:
                self._handle_row(held)
                handled += 1

    def waiting(self) -> tuple[int, float]:
        """How many requests wait, and the age of the oldest in seconds (for /metrics)."""
        with self.engine.connect() as connection:
            count, oldest = connection.execute(
                select(func.count(InboxRequest.id), func.min(InboxRequest.received_at))
            ).one()
        return int(count or 0), max(0.0, (self._now() - oldest).total_seconds()) if oldest else 0.0

    # -- the threads -------------------------------------------------------------------------------

    def _work(self) -> None:
        if self._work_nice:
            _lower_priority(self._work_nice)
        while True:
            held = self._queue.get()
            if held is None or self._stopping.is_set():
                return  # what is still queued is handed back by stop()
            done = self._handle_row(held)
            if done >= DELETE_BATCH or self._queue.qsize() < self._thread_count:
                self._wake.set()  # rows to delete, or room for more: the keeper need not wait for its poll

    def _keep(self) -> None:
        """Delete handled rows, take rows nobody holds when there is room, and renew this process's claims."""
        renewed = time.monotonic()
        while not self._stopping.is_set():
            try:
                if time.monotonic() - renewed >= RENEW_SECONDS:
                    self._renew()
                    renewed = time.monotonic()
                self._settle_and_take(max(0, 4 * self._thread_count - self._queue.qsize()))
            except SQLAlchemyError as error:
                logger.warning("could not update the inbox: %s", type(error).__name__)
            self._wake.wait(self._poll_seconds)
            self._wake.clear()

    # -- the rows ----------------------------------------------------------------------------------

    def _handle_row(self, held: _Held) -> int:
        """Run the request's work; returns how many handled rows now wait to be deleted."""
        assert self._handle is not None
        try:
            self._handle(self._box.open(held.text).decode() if held.sealed else held.text)
        except Exception as error:
            # Listeners report their own failures to the person; this is a failure outside them. The
            # message could quote the request, so only its type is logged.
            logger.error("an inbox request failed outside its listener: %s", type(error).__name__)
        with self._done_lock:
            self._done.append(held.row_id)
            return len(self._done)

    def _settle_and_take(self, limit: int) -> int:
        """In one transaction, delete the rows handled here and claim up to `limit` rows nobody holds
        (new from a web process, or left by one that died). Returns how many were claimed.

        Deleting handled rows in batches rather than one by one: every write to SQLite's inbox file
        makes the web processes' acks wait for its lock.
        """
        with self._done_lock:
            done, self._done = self._done, []
        now = self._now()
        free = (
            select(InboxRequest.id)
            .where(InboxRequest.claimed_until < now, ~_NOT_ITS_TURN)
            .order_by(InboxRequest.claimed_until, InboxRequest.id)  # new rows first, in order; then left ones
            .limit(limit)
            .with_for_update(skip_locked=True)  # two workers on PostgreSQL claim different rows
        )
        claim = (
            update(InboxRequest)
            # Again here: on PostgreSQL a row another worker claimed meanwhile is rechecked and skipped.
            .where(InboxRequest.id.in_(free.scalar_subquery()), InboxRequest.claimed_until < now)
            .values(claimed_by=self._owner, claimed_until=now + LEASE, attempts=InboxRequest.attempts + 1)
            .returning(InboxRequest.id, InboxRequest.kind, InboxRequest.sealed, InboxRequest.attempts)
        )
        try:
            with self._writing, self.engine.begin() as connection:
                if done:
                    connection.execute(delete(InboxRequest).where(InboxRequest.id.in_(done)))
                rows = sorted(connection.execute(claim).all()) if limit > 0 else []
                given_up = [row for row in rows if row.attempts > MAX_ATTEMPTS]
                if given_up:
                    connection.execute(delete(InboxRequest).where(InboxRequest.id.in_([row.id for row in given_up])))
        except SQLAlchemyError:
            with self._done_lock:
                self._done.extend(done)  # deleted next time; their claims are renewed meanwhile
            raise
        for row in given_up:
            logger.error("dropped an inbox request (%s) that was taken over %d times", row.kind, MAX_ATTEMPTS)
        for row in rows:
            if row.attempts <= MAX_ATTEMPTS:
                self._queue.put(_Held(row.id, row.sealed, sealed=True))
        return len(rows)

    def _renew(self) -> None:
        """Push out the claims this process holds, so nobody takes over rows that are only queued here."""
        now = self._now()
        with self._writing, self.engine.begin() as connection:
            connection.execute(
                update(InboxRequest)
                .where(
                    InboxRequest.claimed_by == self._owner,
                    InboxRequest.claimed_until > AVAILABLE,  # only what it holds, never what waits for anyone
                    InboxRequest.claimed_until < now + LEASE / 2,
                )
                .values(claimed_until=now + LEASE)
            )

    def _hand_back(self) -> None:
        """On a clean stop, delete what was handled and give the rows still queued here to whoever works
        next, at once."""
        try:
            self._settle_and_take(0)
            with self._writing, self.engine.begin() as connection:
                connection.execute(
                    update(InboxRequest)
                    .where(InboxRequest.claimed_by == self._owner, InboxRequest.claimed_until > AVAILABLE)
                    .values(claimed_until=AVAILABLE)
                )
        except SQLAlchemyError as error:
            logger.warning(
                "could not hand back queued inbox requests; they wait out their claim: %s", type(error).__name__
            )


def _lower_priority(nice: int) -> None:
    """Lower the calling thread's CPU priority to `nice` (Linux: a thread's niceness is its own)."""
    with contextlib.suppress(OSError, AttributeError):
        thread = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, thread) < nice:
            os.setpriority(os.PRIO_PROCESS, thread, nice)


class _WriteTurn:
    """One writer at a time to a SQLite inbox file: a thread lock within the process, and an exclusive
    flock of `<file>.lock` between processes (web processes and the worker). A process waiting on the
    flock is woken when the holder lets go, where SQLite's busy handler would sleep 1, 2, 5, ... 100 ms
    and retry. Without a file (in memory, or a directory that does not exist) only the thread lock."""

    def __init__(self, engine: Engine) -> None:
        database = engine.url.database
        self._path = Path(f"{database}.lock") if database and database != ":memory:" else None
        self._thread_lock = threading.Lock()
        self._file: Any = None
        self._opened_in: int | None = None

    def _handle(self) -> Any:
        if self._path is None:
            return None
        if self._opened_in != os.getpid():  # a forked child opens its own: an flock belongs to an open file
            try:
                self._file = open(self._path, "a+b")  # noqa: SIM115 - held for the process's life
            except OSError:
                self._file = None
            self._opened_in = os.getpid()
        return self._file

    def close(self) -> None:
        """Let go of the lock file (it is opened again if the inbox writes once more)."""
        with self._thread_lock:
            if self._file is not None and self._opened_in == os.getpid():
                self._file.close()
            self._file, self._opened_in = None, None

    def __enter__(self) -> None:
        self._thread_lock.acquire()
        try:
            handle = self._handle()
            if handle is not None:
                fcntl.flock(handle, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            handle = self._file if self._opened_in == os.getpid() else None
            if handle is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()


def _queue_behind_senders(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """On PostgreSQL, wait for other processes' uncommitted accepts of the same senders, so that one
    sender's row ids follow the order their transactions commit in (a worker must never see a later
    request before an earlier one). SQLite's one writer at a time gives this for free."""
    keys = sorted({row["ordering_key"] for row in rows if row["ordering_key"] is not None})
    if keys and connection.dialect.name == "postgresql":
        connection.execute(
            # In key order, so that two batches locking overlapping keys cannot deadlock.
            text(
                "SELECT pg_advisory_xact_lock(:class, key)"
                " FROM (SELECT unnest(CAST(:keys AS integer[])) AS key ORDER BY 1) AS keys"
            ),
            {"class": _ORDER_LOCK_CLASS, "keys": keys},
        )


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
    side = inbox_file(database_url)
    if side is None:
        # No ping before each use: it was a second round trip per ack. A connection that died with a
        # database restart fails one insert, which then goes through Bolt, and the pool reconnects.
        return make_engine(database_url, pool_size=6, max_overflow=6, pool_pre_ping=False)
    side_url = make_url(database_url).set(database=str(side))
    engine = make_engine(side_url.render_as_string(hide_password=False), pool_size=6, max_overflow=6)
    # On each new connection rather than now: building the app must work while the database is unreachable.
    table = InboxRequest.__table__
    create = str(CreateTable(table, if_not_exists=True).compile(dialect=engine.dialect))
    # A file made by an earlier version lacks the columns added since (all nullable): added in place.
    columns = {column.name: str(CreateColumn(column).compile(dialect=engine.dialect)) for column in table.columns}
    indexes = [str(CreateIndex(index, if_not_exists=True).compile(dialect=engine.dialect)) for index in table.indexes]

    def create_table(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(create)
        present = {row[1] for row in cursor.execute(f"PRAGMA table_info({table.name})").fetchall()}
        for name, definition in columns.items():
            if name not in present:
                cursor.execute(f"ALTER TABLE {table.name} ADD COLUMN {definition}")
        for statement in indexes:
            cursor.execute(statement)
        cursor.close()

    event.listen(engine, "connect", create_table)
    return engine


def inbox_file(database_url: str) -> Path | None:
    """The SQLite file the inbox keeps its rows in, beside the database's; None on PostgreSQL."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    main = Path(str(url.database))
    return main.with_name(f"{main.stem}.inbox{main.suffix or '.sqlite3'}")


def stop_all() -> None:
    """Stop every inbox's threads in this process (tests: one app's threads must not outlive its test)."""
    for inbox in list(_running):
        inbox.stop()
