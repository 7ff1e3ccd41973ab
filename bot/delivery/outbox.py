"""The durable outbox: every message the bot sends on its own initiative.

Enqueueing is idempotent by `(workspace, idempotency_key)`: a job that runs twice, or two jobs
racing, leave one row. The dispatcher claims due rows in batches, hands each to the `Sender` of
its workspace's platform with up to `concurrency` in flight (one conversation's rows one after the
other), and records where each message landed (Slack's `ts`).

The queue and the platform
--------------------------
This module is the queue and imports no platform: enqueue, claim, lease, backoff, giving up, crash
recovery, sealed rows, and the DM channel stored per person. What depends on the platform is the
sender's (`bot.delivery.ports.Sender`; Slack's is `handlers.slack.sender.SlackSender`): rendering the
stored message, posting, replacing, uploading, opening a DM, pacing each workspace (a token bucket that a 429 holds for its
Retry-After), classifying the platform's errors (permanent, retry later, slow down), and finding a
message it already sent. The queue reads back only the neutral reasons a failure records (see ports).

How duplicates are prevented across a crash
-------------------------------------------
A row is claimed (state `sending`, committed) *before* the Slack call and marked `sent` in its
own commit right after. A crash between the two leaves a row in `sending`. Once its lease has
expired, a dispatcher recovers it: every message we post carries its outbox id (on Slack, message
metadata `event_type=empathy_outbox`, `outbox_id=<row id>`), so the dispatcher asks the sender
whether the conversation's recent history holds it (`already_sent`) and, if so, marks the row sent
without posting again. Only when
the history cannot be read (a missing scope, Slack down) does it post again; because each
dispatcher holds at most `concurrency` rows in flight, a crash can then cause at most that many
duplicates per dispatcher (one per post the crash cut off), never a lost message. A platform whose
posts can never be found (Teams: `finds_its_posts` is False) posts one row at a time per dispatcher,
so a crash costs it at most one duplicate.

The same check runs before retrying a post that failed with a 5xx or a dropped connection: Slack may
have stored the message before failing, so the retry looks for it in the history first.

Several dispatchers can run against one database: on PostgreSQL the claim uses
`FOR UPDATE SKIP LOCKED`, and on both databases the claim is a compare-and-set on the row's
state, so no row is ever claimed twice.

Sealed messages
---------------
Some messages must not say whom they are for to someone reading the database: a DM to the
author of an anonymous suggestion ties that person to the suggestion. `enqueue_sealed` stores
such a row with no person, no channel and a payload of `{"sealed": ...}`: the recipient's person
id and the message, sealed together with EMPATHY_SECRET_KEY (AES-GCM, no timestamp, bound to the
row's key, padded so the length says nothing about the person). Only the dispatcher opens it, in memory, to send it. It
records neither the DM channel nor Slack's `ts` afterwards, does not store a DM channel it had to
open for it (that write, in the same few commits as the row's, would name the recipient), and
records only a generic reason when it fails. Crash recovery works as for any row: the recipient's
DM channel comes from the sealed person id, and Slack's history shows whether the message is
there.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import json
import logging
import random
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import event, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bot.core.clock import Clock
from bot.core.crypto import SecretBox, pad, unpad
from bot.core.database import upsert_insert
from bot.core.message import UnreadableMessage, payload_has_text
from bot.core.models import OutboxMessage, OutboxState, Person, PersonAccount, Workspace
from bot.delivery.ports import (
    RATE_LIMITED,
    FileUpload,
    Pace,
    Rendered,
    Sender,
    SendFailed,
    Sent,
    UndeliverableError,
    finds_its_posts,
    is_transport_reason,
    may_have_been_sent,
)

logger = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(minutes=2)
MAX_PACE_WAIT = 5.0


def enqueue(
    session: Session,
    workspace_id: int,
    key: str,
    payload: dict[str, Any],
    *,
    person_id: int | None = None,
    channel_id: str | None = None,
    due_at: datetime | None = None,
    now: datetime | None = None,
) -> OutboxMessage:
    """Queue a message once. Returns the row for `key`, whether this call created it or not.

    `payload` is `bot.core.message.outbox_payload(message)`: a neutral message the platform renders at send
    time. (Rows queued by earlier versions hold chat.postMessage's keyword arguments, without channel;
    they still send as they are.)
    """
    if (person_id is None) == (channel_id is None):
        raise ValueError("an outbox message goes to exactly one of person_id or channel_id")
    if not payload_has_text(payload):
        raise ValueError("an outbox payload needs 'text' (the notification and screen-reader fallback)")
    return _insert(session, workspace_id, key, payload, person_id, channel_id, due_at or now or datetime.now(UTC))


def enqueue_sealed(
    session: Session,
    workspace_id: int,
    key: str,
    payload: dict[str, Any],
    *,
    person_id: int,
    box: SecretBox,
    due_at: datetime,
) -> OutboxMessage:
    """Queue a DM whose recipient must stay unreadable in the database (see "Sealed messages" above).

    `key` must say nothing about the recipient or the subject either (callers use an HMAC)."""
    if not payload_has_text(payload):
        raise ValueError("an outbox payload needs 'text' (the notification and screen-reader fallback)")
    # Bound to its row's workspace and key (associated data): copied into another row, it does not open.
    sealed = box.seal_bytes(_seal_plaintext(person_id, payload), _binding(workspace_id, key))
    return _insert(session, workspace_id, key, {SEALED: base64.urlsafe_b64encode(sealed).decode()}, None, None, due_at)


SEALED = "sealed"
SEALED_PAD = 1024  # sealed sizes are multiples of this: a length tells nothing about the recipient


def is_sealed(payload: dict[str, Any]) -> bool:
    return SEALED in payload


def _binding(workspace_id: int, key: str) -> bytes:
    return f"outbox:{workspace_id}:{key}".encode()


def _seal_plaintext(person_id: int, payload: dict[str, Any]) -> bytes:
    # A fixed-width person id: its number of digits would otherwise show in the sealed length.
    body = struct.pack(">Q", person_id) + json.dumps(payload, separators=(",", ":")).encode()
    size = -(-(len(body) + 4) // SEALED_PAD) * SEALED_PAD
    return pad(body, size)


@dataclass(frozen=True)
class Target:
    """Where a row goes and what it says, with a sealed row opened."""

    person_id: int | None
    channel_id: str | None
    payload: dict[str, Any]
    sealed: bool = False


def open_target(row: OutboxMessage, box: SecretBox | None) -> Target:
    """The row's recipient and message; raises UndeliverableError if a sealed row cannot be opened."""
    if not is_sealed(row.payload):
        return Target(row.person_id, row.channel_id, row.payload)
    if box is None:
        raise UndeliverableError("sealed message, but this dispatcher has no EMPATHY_SECRET_KEY")
    try:
        sealed = base64.urlsafe_b64decode(str(row.payload[SEALED]).encode())
        body = unpad(box.open_bytes(sealed, _binding(row.workspace_id, row.idempotency_key)))
    except ValueError:
        raise UndeliverableError("sealed with another EMPATHY_SECRET_KEY, or moved from another row") from None
    (person_id,) = struct.unpack(">Q", body[:8])
    return Target(int(person_id), None, json.loads(body[8:]), sealed=True)


def _insert(
    session: Session,
    workspace_id: int,
    key: str,
    payload: dict[str, Any],
    person_id: int | None,
    channel_id: str | None,
    due_at: datetime,
) -> OutboxMessage:
    values = {
        "workspace_id": workspace_id,
        "idempotency_key": key,
        "person_id": person_id,
        "channel_id": channel_id,
        "payload": payload,
        "state": OutboxState.PENDING.value,
        "due_at": due_at,
        "attempts": 0,
    }
    statement = (
        upsert_insert(session, OutboxMessage)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["workspace_id", "idempotency_key"])
    )
    session.execute(statement)
    announce(session)
    row = session.scalar(
        select(OutboxMessage).where(OutboxMessage.workspace_id == workspace_id, OutboxMessage.idempotency_key == key)
    )
    assert row is not None  # just inserted, or there before
    return row


@dataclass(frozen=True)
class OutboxRow:
    key: str
    payload: dict[str, Any]
    due_at: datetime
    person_id: int | None = None
    channel_id: str | None = None


def enqueue_many(session: Session, workspace_id: int, rows: Sequence[OutboxRow], *, batch: int = 500) -> None:
    """Queue many messages at once (a pulse fan-out); keys already queued are left as they are."""
    statement = upsert_insert(session, OutboxMessage).on_conflict_do_nothing(
        index_elements=["workspace_id", "idempotency_key"]
    )
    values = []
    for row in rows:
        if (row.person_id is None) == (row.channel_id is None) or not payload_has_text(row.payload):
            raise ValueError(f"outbox row {row.key}: needs text and exactly one of person_id or channel_id")
        values.append(
            {
                "workspace_id": workspace_id,
                "idempotency_key": row.key,
                "person_id": row.person_id,
                "channel_id": row.channel_id,
                "payload": row.payload,
                "state": OutboxState.PENDING.value,
                "due_at": row.due_at,
                "attempts": 0,
            }
        )
    for start in range(0, len(values), batch):
        session.execute(statement, values[start : start + batch])
    if values:
        announce(session)


# -- waking the dispatcher -----------------------------------------------------------------------------

# Set when a transaction that queued messages commits, in this process; a PostgreSQL NOTIFY on this
# channel carries the same news to the other processes (`listen_for_queued`). The dispatcher still
# polls, so a lost wake delays a message by at most one poll, never loses it.
QUEUED = threading.Event()
NOTIFY_CHANNEL = "empathy_outbox"
_ANNOUNCED = "outbox_announced"
# Set while this process's scheduler shuts down: a lingering dispatcher returns at once, so a stop
# waits only for the message in hand, not for the rest of a 50-second run.
_LINGER_STOP = threading.Event()


def stop_lingering() -> None:
    _LINGER_STOP.set()
    QUEUED.set()


def allow_lingering() -> None:
    _LINGER_STOP.clear()


def announce(session: Session) -> None:
    """Wake the dispatchers once this transaction commits (not before: they could not see the row yet)."""
    if session.info.get(_ANNOUNCED):
        return
    session.info[_ANNOUNCED] = True
    if session.get_bind().dialect.name == "postgresql":
        # Delivered at commit, only if it commits, and once however many rows the transaction queued.
        session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))

    def committed(done: Session) -> None:
        done.info.pop(_ANNOUNCED, None)
        QUEUED.set()

    def rolled_back(done: Session) -> None:
        done.info.pop(_ANNOUNCED, None)

    event.listen(session, "after_commit", committed, once=True)
    event.listen(session, "after_soft_rollback", lambda done, _previous: rolled_back(done), once=True)


def listen_for_queued(database_url: str, stop: threading.Event) -> threading.Thread | None:
    """On PostgreSQL, a thread that sets `QUEUED` whenever any process queues a message (LISTEN)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return None
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)

    def listen() -> None:
        delay = 1.0
        while not stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as connection:
                    connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    delay = 1.0
                    while not stop.is_set():
                        for _notice in connection.notifies(timeout=1.0):
                            QUEUED.set()
            except psycopg.Error as error:
                logger.warning("cannot listen for queued messages (%s); polling meanwhile", type(error).__name__)
                stop.wait(delay)
                delay = min(30.0, delay * 2)

    thread = threading.Thread(target=listen, name="outbox-listen", daemon=True)
    thread.start()
    return thread


@dataclass
class DispatchReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    recovered: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        return self.sent + self.retried + self.failed

    def log_summary(self) -> str:
        """For the scheduler's log: sends are routine (DEBUG); failures and recoveries are news.
        Each retry logs its own line when it is scheduled."""
        news = {"failed": self.failed, "recovered after a crash": self.recovered}
        return ", ".join(f"{key}: {value}" for key, value in news.items() if value)


@dataclass(frozen=True)
class _Route:
    """How rows of one workspace go out: its platform's sender, the platform's id of the workspace, its pace."""

    sender: Sender
    workspace: str
    pace: Pace
    platform: str
    # Held by the one thread waiting for the pace, so the others wait their turn behind it.
    turn: threading.Lock = field(default_factory=threading.Lock, compare=False)


@dataclass(frozen=True)
class _Claimed:
    id: int
    workspace_id: int
    lane: Hashable


class _Hand:
    """The rows a dispatcher holds (claimed, not yet settled), queued per conversation (lane)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.error: BaseException | None = None
        self._changed = threading.Condition()
        self._lanes: dict[Hashable, collections.deque[_Claimed]] = {}
        self._held = 0
        self._per_workspace: collections.Counter[int] = collections.Counter()
        self._report = DispatchReport()

    def room(self) -> int:
        with self._changed:
            return max(0, self.capacity - self._held)

    def busy(self) -> bool:
        with self._changed:
            return self._held > 0

    def workspaces_at(self, limit: int) -> list[int]:
        with self._changed:
            return [ws for ws, n in self._per_workspace.items() if n >= limit]

    def add(self, row: _Claimed) -> bool:
        """Queue a claimed row in its lane; True when the lane is new and needs a thread."""
        with self._changed:
            self._held += 1
            self._per_workspace[row.workspace_id] += 1
            lane = self._lanes.get(row.lane)
            if lane is not None:
                lane.append(row)
                return False
            self._lanes[row.lane] = collections.deque([row])
            return True

    def next(self, lane: Hashable) -> _Claimed | None:
        """The lane's next row; None (and the lane closed) once it is empty."""
        with self._changed:
            rows = self._lanes[lane]
            if rows:
                return rows[0]
            del self._lanes[lane]
            return None

    def done(self, row: _Claimed) -> None:
        with self._changed:
            self._lanes[row.lane].popleft()
            self._held -= 1
            self._per_workspace[row.workspace_id] -= 1
            if not self._per_workspace[row.workspace_id]:
                del self._per_workspace[row.workspace_id]
            self._changed.notify_all()

    def fail(self, error: BaseException) -> None:
        with self._changed:
            if self.error is None:
                self.error = error
            self._changed.notify_all()

    def wait_for_room(self, timeout: float) -> None:
        with self._changed:
            self._changed.wait(timeout)

    def merge(self, report: DispatchReport) -> None:
        with self._changed:
            self._report.sent += report.sent
            self._report.retried += report.retried
            self._report.failed += report.failed
            self._report.recovered += report.recovered
            self._report.errors += report.errors

    def merge_into(self, report: DispatchReport) -> None:
        with self._changed:
            report.sent += self._report.sent
            report.retried += self._report.retried
            report.failed += self._report.failed
            report.recovered += self._report.recovered
            report.errors += self._report.errors


class OutboxDispatcher:
    """Hands due rows to the `Sender` of their workspace's platform (`senders`: one sender, or one per
    platform name). The queue is platform-neutral: pacing, the platform's errors and finding a message
    already sent after a crash are the sender's (`bot.delivery.ports`)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        senders: Sender | Mapping[str, Sender],
        clock: Clock,
        *,
        max_attempts: int = 8,
        lease: timedelta = DEFAULT_LEASE,
        worker_id: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        box: SecretBox | None = None,
        wake: threading.Event | None = None,
        poll_seconds: float = 1.0,
        concurrency: int = 1,
        max_pace_wait: float | None = None,
    ) -> None:
        """`concurrency`: rows in hand (and sends in flight) at once; the jobs pass `EMPATHY_OUTBOX_CONCURRENCY`
        (16 by default). With 1 the rows go one at a time on the calling thread, in claim order.
        `max_pace_wait`: how long a row in hand may wait for its workspace's pace before it goes back to
        the queue (default a quarter of the lease, at most 5 s), so no row waits claimed near its lease."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.session_factory = session_factory
        # Opens sealed rows (DMs to suggestion authors); without it such rows fail, kindly to nobody.
        self.box = box
        self.senders: dict[str, Sender] = dict(senders) if isinstance(senders, Mapping) else {senders.platform: senders}
        self.clock = clock
        self.max_attempts = max_attempts
        self.lease = lease
        self.worker_id = worker_id or f"{socket.gethostname()}:{id(self):x}"
        self.sleep = sleep
        self.monotonic = monotonic
        self._routes: dict[int, _Route] = {}
        self._routes_lock = threading.Lock()
        self.concurrency = concurrency
        # A platform that cannot find its own posts after a crash (Teams) would post again every row the
        # crash cut off between its post and its record: its posts go one at a time per dispatcher, so a
        # crash costs at most one duplicate, whatever the concurrency.
        self._blind_post = threading.Lock()
        self.max_pace_wait = (
            max_pace_wait if max_pace_wait is not None else min(MAX_PACE_WAIT, lease.total_seconds() / 4)
        )
        # With `wake`, `run_once` stays for its whole time budget and sends a message as soon as it is
        # queued, instead of at the next run; it still looks every `poll_seconds` in case a wake is lost.
        self.wake = wake
        self.poll_seconds = poll_seconds

    # -- the loop ------------------------------------------------------------------------------

    def run_once(self, *, time_budget: float = 50.0) -> DispatchReport:
        """Send what is due until nothing is, or `time_budget` seconds have passed.

        Up to `concurrency` rows are in hand at once, each on a thread of its own, so a platform that takes
        a few hundred milliseconds to answer does not leave its rate unused. The rows of one conversation
        go one after the other in claim order (a lane). Rows in hand when the budget runs out are finished
        first (each waits for its pace at most `max_pace_wait`)."""
        report = DispatchReport()
        deadline = self.monotonic() + time_budget
        self.recover_stale(report)
        hand = _Hand(self.concurrency)
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="outbox-send") if self.concurrency > 1 else None
        try:
            self._fill(hand, pool, deadline)
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
        hand.merge_into(report)
        if hand.error is not None:
            raise hand.error
        return report

    def _fill(self, hand: _Hand, pool: ThreadPoolExecutor | None, deadline: float) -> None:
        """Claim rows while there is room in `hand`, and start a lane for each new conversation."""
        # A lingering dispatcher stops claiming when the scheduler shuts down; the rows in hand still go.
        lingering = self.wake is not None
        while self.monotonic() < deadline and hand.error is None and not (lingering and _LINGER_STOP.is_set()):
            room = hand.room()
            if room == 0:
                hand.wait_for_room(self.poll_seconds)
                continue
            if self.wake is not None:
                self.wake.clear()  # before looking: a row queued from now on sets it again
            # Whether rows were in hand when the claim skipped their workspaces: they may have finished since.
            busy = hand.busy()
            claimed = self._claim(room, skip=self._skipped_workspaces(hand))
            if not claimed:
                if busy or hand.busy():
                    # A row in hand finishing may free a workspace, and a row queued meanwhile is looked for
                    # again soon: the lanes are the ones sending now.
                    hand.wait_for_room(0.05)
                    continue
                wait = self._wait_for_throttled()
                if wait is not None and self.monotonic() + wait < deadline:
                    self.sleep(wait)
                    continue
                if self.wake is None:
                    break
                self.wake.wait(max(0.0, min(self.poll_seconds, deadline - self.monotonic())))
                continue
            for row in claimed:
                if hand.add(row):
                    if pool is None:
                        self._work_lane(hand, row.lane)
                    else:
                        pool.submit(self._work_lane, hand, row.lane)

    def _work_lane(self, hand: _Hand, lane: Hashable) -> None:
        """Deliver one conversation's rows in hand, in order, until its lane is empty."""
        report = DispatchReport()
        try:
            while (row := hand.next(lane)) is not None:
                try:
                    self._deliver(row.id, report)
                except BaseException as error:
                    # Loud in run_once's caller, as before several rows were in flight; the row stays claimed
                    # and its lease hands it to a dispatcher that can send it.
                    hand.fail(error)
                finally:
                    hand.done(row)
        finally:
            hand.merge(report)

    def _route(self, session: Session, workspace_id: int) -> _Route:
        """The sender, platform workspace id and pace for a workspace, looked up once per dispatcher."""
        with self._routes_lock:
            route = self._routes.get(workspace_id)
        if route is None:
            workspace = session.get(Workspace, workspace_id)
            if workspace is None:
                raise UndeliverableError("the workspace no longer exists")
            platform = workspace.platform
            sender = self.senders.get(platform)
            if sender is None:
                # A deployment without this platform's sender: loud, and the row is left for one that has it.
                raise LookupError(f"no sender for {platform} workspaces is configured")
            with self._routes_lock:
                route = self._routes.setdefault(
                    workspace_id, _Route(sender, workspace.external_id, sender.pace(workspace.external_id), platform)
                )
        return route

    def _throttled_workspaces(self) -> list[int]:
        """Workspaces whose pace is held longer than a row may wait in hand (after a 429)."""
        with self._routes_lock:
            routes = list(self._routes.items())
        return [ws for ws, route in routes if route.pace.wait_time() > self.max_pace_wait]

    def _skipped_workspaces(self, hand: _Hand) -> list[int]:
        # One slot stays free for another workspace: a long fan-out waiting on its pace must not keep a
        # second workspace's messages waiting behind it.
        busy = hand.workspaces_at(max(1, self.concurrency - 1)) if self.concurrency > 1 else []
        return sorted({*self._throttled_workspaces(), *busy})

    def _wait_for_throttled(self) -> float | None:
        """How long until a throttled workspace may send again, if one has due rows."""
        throttled = self._throttled_workspaces()
        if not throttled:
            return None
        with self.session_factory() as session:
            due = session.scalar(
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.state == OutboxState.PENDING.value,
                    OutboxMessage.due_at <= self.clock.now(),
                    OutboxMessage.workspace_id.in_(throttled),
                )
                .limit(1)
            )
        if due is None:
            return None
        with self._routes_lock:
            waits = [self._routes[ws].pace.wait_time() for ws in throttled]
        return max(0.01, min(waits) - self.max_pace_wait)

    # -- claiming ------------------------------------------------------------------------------

    def _claim(self, limit: int, skip: list[int]) -> list[_Claimed]:
        """Claim up to `limit` due rows in one transaction, oldest first: a compare-and-set from pending to
        sending with this dispatcher's id and a fresh lease."""
        # SQLite has no row locks, so two dispatchers can pick the same rows; the compare-and-set lets
        # exactly one of them have each, and the other simply tries the next ones.
        for _ in range(20):
            now = self.clock.now()
            with self.session_factory() as session, session.begin():
                query = (
                    select(OutboxMessage.id)
                    .where(OutboxMessage.state == OutboxState.PENDING.value, OutboxMessage.due_at <= now)
                    .order_by(OutboxMessage.due_at, OutboxMessage.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
                if skip:
                    query = query.where(OutboxMessage.workspace_id.not_in(skip))
                ids = list(session.scalars(query))
                if not ids:
                    return []
                claimed = session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_(ids), OutboxMessage.state == OutboxState.PENDING.value)
                    .values(
                        state=OutboxState.SENDING.value,
                        claimed_at=now,
                        claimed_by=self.worker_id,
                        attempts=OutboxMessage.attempts + 1,
                    )
                    .returning(
                        OutboxMessage.id,
                        OutboxMessage.workspace_id,
                        OutboxMessage.idempotency_key,
                        OutboxMessage.person_id,
                        OutboxMessage.channel_id,
                        OutboxMessage.payload,
                    )
                    .execution_options(synchronize_session=False)
                )
                rows = {row.id: row for row in claimed}
            if rows:
                return [
                    _Claimed(
                        r.id,
                        r.workspace_id,
                        self._lane(r.workspace_id, r.idempotency_key, r.person_id, r.channel_id, r.payload),
                    )
                    for r in (rows[i] for i in ids if i in rows)
                ]
        return []

    def _lane(
        self, workspace_id: int, key: str, person_id: int | None, channel_id: str | None, payload: dict[str, Any]
    ) -> Hashable:
        """The conversation a row goes to, as far as the queue can tell: its rows must not overtake each other."""
        if channel_id is not None:
            return ("channel", workspace_id, channel_id)
        if person_id is None and is_sealed(payload):
            # Opened in memory only, as for sending; the lane is never written anywhere.
            try:
                person_id = open_target(
                    OutboxMessage(workspace_id=workspace_id, idempotency_key=key, payload=payload), self.box
                ).person_id
            except UndeliverableError:
                return ("undeliverable", workspace_id, key)
        return ("person", person_id)

    # -- delivering ----------------------------------------------------------------------------

    def _deliver(self, row_id: int, report: DispatchReport) -> None:
        with self.session_factory() as session, contextlib.ExitStack() as posting:
            row = session.get(OutboxMessage, row_id)
            assert row is not None
            try:
                route = self._route(session, row.workspace_id)
                target = open_target(row, self.box)
                # The stored message as the platform will send it: the sender renders it.
                payload = route.sender.render(target.payload)
                # The DM is opened before the pace is taken, so the post goes out the moment its turn comes.
                channel = self._resolve_channel(session, target, route)
                found = self._find_delivered(session, row, target, route) if _may_have_posted(row, payload) else None
                session.commit()  # ends the read: no connection is held while waiting for the pace or the platform
                if found is None and (held := self._take_turn(route)) is not None:
                    # Held longer than a row may wait in hand: back to the queue, without costing an attempt.
                    row.attempts = max(0, row.attempts - 1)
                    self._retry_later(session, row, RATE_LIMITED, report, delay=held)
                    session.commit()
                    return
                if found is None and not finds_its_posts(route.sender):
                    # Held until the row is marked sent below (the stack closes after the last commit).
                    posting.enter_context(self._blind_post)
                sent = found if found is not None else self._send(route, channel, row.id, payload)
            except UndeliverableError as error:
                self._fail(session, row, str(error), report)
            except UnreadableMessage as error:
                # Queued by a newer version during a deploy: left for a dispatcher that can read it.
                self._retry_later(session, row, f"unreadable here: {error}", report)
            except SendFailed as error:
                self._handle_failure(session, row, error, report)
            else:
                self._mark_sent(session, row, sent.conversation, sent.ref)
                report.sent += 1
            session.commit()

    def _take_turn(self, route: _Route) -> float | None:
        """Wait for the workspace's pace; None once a send may start, or the wait if it is longer than
        `max_pace_wait`. One thread waits per workspace at a time, so the rows in hand go out in turn."""
        with route.turn:
            while not route.pace.try_take():
                wait = route.pace.wait_time()
                if wait > self.max_pace_wait:
                    return wait
                self.sleep(max(0.002, wait))
        return None

    def _send(self, route: _Route, channel: str, row_id: int, payload: Rendered) -> Sent:
        """The rendered message through the sender call its instruction keys ask for: a file, a replacement,
        or a post (`bot.delivery.ports.Rendered`)."""
        if "upload" in payload:
            return route.sender.upload(route.workspace, channel, _file_upload(payload["upload"]))
        if "update_ts" in payload:
            # Replaces a message the bot sent earlier; doing it twice changes nothing.
            fields = {k: v for k, v in payload.items() if k != "update_ts"}
            return route.sender.update(route.workspace, channel, payload["update_ts"], fields)
        return route.sender.post(route.workspace, channel, payload, outbox_id=row_id)

    def _resolve_channel(self, session: Session, target: Target, route: _Route) -> str:
        if target.channel_id:
            return target.channel_id
        account = _account(session, target.person_id, route.platform)
        if account is None:
            raise UndeliverableError("recipient is deactivated, a bot, or has no account on the workspace's platform")
        if account.conversation_ref is not None:
            return account.conversation_ref
        # No connection held across the platform's answer: with many rows in flight the pool would run dry.
        session.commit()
        channel = route.sender.open_direct(route.workspace, account.external_user_id)
        if not target.sealed:
            account.conversation_ref = channel
            # Commit now: the DM channel is worth keeping even if the post below fails.
            session.commit()
        # A sealed row's recipient is not written: a person row changing between this row's claim and
        # its "sent" would name them. Opening a DM gives the same channel every time.
        return channel

    def _mark_sent(self, session: Session, row: OutboxMessage, channel: str, ts: str) -> None:
        row.state = OutboxState.SENT.value
        if is_sealed(row.payload):
            # The DM channel is the recipient's; nothing reads these back for a sealed row.
            row.sent_channel_id = row.sent_ts = None
        else:
            row.sent_channel_id = channel
            row.sent_ts = ts
        row.sent_at = self.clock.now()
        row.last_error = None

    def _handle_failure(self, session: Session, row: OutboxMessage, error: SendFailed, report: DispatchReport) -> None:
        if error.retry_after is not None:
            # Being told to slow down is not the message's fault: it does not use up an attempt. The
            # sender has already held the workspace's pace.
            row.attempts = max(0, row.attempts - 1)
            self._retry_later(session, row, error.reason, report, delay=error.retry_after)
        elif error.permanent:
            self._fail(session, row, error.reason, report)
        else:
            self._retry_later(session, row, error.reason, report)

    def _retry_later(
        self,
        session: Session,
        row: OutboxMessage,
        reason: str,
        report: DispatchReport,
        *,
        delay: float | None = None,
    ) -> None:
        if row.attempts >= self.max_attempts:
            self._fail(session, row, f"gave up after {row.attempts} attempts: {reason}", report)
            return
        reason = _withheld(reason) if is_sealed(row.payload) else reason
        if delay is None:
            delay = backoff_seconds(row.attempts)
        row.state = OutboxState.PENDING.value
        row.due_at = self.clock.now() + timedelta(seconds=delay)
        row.last_error = reason
        row.claimed_at = None
        row.claimed_by = None
        report.retried += 1
        logger.info("outbox message %s will be retried in %.0f s (%s)", row.id, delay, reason)

    def _fail(self, session: Session, row: OutboxMessage, reason: str, report: DispatchReport) -> None:
        # A sealed row's reason is withheld in the row, the report and the log alike.
        reason = _withheld(reason) if is_sealed(row.payload) else reason
        row.state = OutboxState.FAILED.value
        row.last_error = reason
        report.failed += 1
        report.errors.append(f"outbox {row.id}: {reason}")
        logger.warning("outbox message %s failed: %s", row.id, reason)

    # -- crash recovery ------------------------------------------------------------------------

    def recover_stale(self, report: DispatchReport | None = None) -> int:
        """Settle rows left in `sending` by a dispatcher that died (see the module docstring)."""
        report = report or DispatchReport()
        cutoff = self.clock.now() - self.lease
        with self.session_factory() as session:
            stale = session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.state == OutboxState.SENDING.value, OutboxMessage.claimed_at < cutoff
                )
            ).all()
            for row in stale:
                if not self._take_over(session, row):
                    continue
                try:
                    target = open_target(row, self.box)
                    route = self._route(session, row.workspace_id)
                except UndeliverableError:
                    found = None  # it could not have been sent either: back to pending, where it fails
                else:
                    found = self._find_delivered(session, row, target, route)
                if found is not None:
                    self._mark_sent(session, row, found.conversation, found.ref)
                else:
                    row.state = OutboxState.PENDING.value
                    row.claimed_at = None
                    row.claimed_by = None
                report.recovered += 1
                session.commit()
        return report.recovered

    def _take_over(self, session: Session, row: OutboxMessage) -> bool:
        """Compare-and-set the claim to us, so two dispatchers never recover the same row."""
        taken = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == row.id,
                OutboxMessage.state == OutboxState.SENDING.value,
                OutboxMessage.claimed_by == row.claimed_by,
            )
            .values(claimed_by=self.worker_id)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        if taken.rowcount != 1:
            return False
        session.refresh(row)
        return True

    def _find_delivered(self, session: Session, row: OutboxMessage, target: Target, route: _Route) -> Sent | None:
        """Where the message is if the platform already has it (the sender's `already_sent`)."""
        channel = target.channel_id
        if channel is None:
            account = _account(session, target.person_id, route.platform)
            channel = account.conversation_ref if account else None
            if channel is None and target.sealed and account is not None:
                # Sealed rows never store the DM channel they opened: open it again (same channel) to look.
                try:
                    channel = self._resolve_channel(session, target, route)
                except (SendFailed, UndeliverableError):
                    channel = None
        if channel is None:
            return None  # the DM was never opened, so nothing can have been posted
        try:
            return route.sender.already_sent(route.workspace, channel, row.id)
        except (SendFailed, UndeliverableError) as error:
            # Only the error's code: the platform's text can hold its whole answer (message bodies).
            code = error.code if isinstance(error, SendFailed) else type(error).__name__
            logger.warning("outbox %s: cannot read history to check delivery (%s); sending again", row.id, code)
            return None


def _account(session: Session, person_id: int | None, platform: str) -> PersonAccount | None:
    """The account on `platform` of a person who may be messaged (active, not a bot), with one query."""
    if person_id is None:
        return None
    return session.scalar(
        select(PersonAccount)
        .join(Person, Person.id == PersonAccount.person_id)
        .where(
            PersonAccount.person_id == person_id,
            PersonAccount.platform == platform,
            Person.active.is_(True),
            Person.is_bot.is_(False),
        )
    )


def _file_upload(upload: dict[str, Any]) -> FileUpload:
    """The chart a row describes, drawn as a PNG to share.

    Files carry no marker, so a crash between the platform's upload and our commit can't be detected
    afterwards: that upload may be shared twice (at most once more per crash)."""
    from bot.delivery import charts  # matplotlib is slow to import; only the dispatcher needs it

    return FileUpload(
        content=charts.render(upload["chart"]),
        filename=upload["filename"],
        title=upload["title"],
        alt_text=upload["alt_text"],
    )


def _may_have_posted(row: OutboxMessage, payload: Rendered) -> bool:
    """Whether the last attempt failed in a way that leaves it unknown if the platform posted the message.

    A 5xx or a dropped connection can come after Slack stored the message (benchmarks/fanout_faults.py
    --rate-500-after: every such retry was a duplicate). Such a row is checked against the channel's
    history, like a crashed one, before it is posted again. A 429 or an `ok: false` means not posted.
    """
    if "upload" in payload or "update_ts" in payload:  # the rendered payload: a neutral row's kind shows there
        return False
    return row.attempts > 1 and may_have_been_sent(row.last_error or "")


def _withheld(reason: str) -> str:
    """What a sealed row may record of a failure: the kind of transport trouble (which `_may_have_posted`
    needs), never the platform's reason about the recipient ("account_inactive", "user_not_found", ...)."""
    if is_transport_reason(reason):
        return reason
    gave_up = re.match(r"(gave up after \d+ attempts: )(.*)", reason)
    if gave_up:
        return gave_up.group(1) + _withheld(gave_up.group(2))
    return "not delivered (the reason is withheld: the message is sealed)"


def backoff_seconds(attempt: int, *, base: float = 2.0, cap: float = 600.0) -> float:
    """Exponential backoff with full jitter, so retries after an outage do not arrive together."""
    return random.uniform(base / 2, min(cap, base * 2 ** max(0, attempt - 1)))
