"""The inbox on its own: web processes that only accept, workers that take rows over, claims that
last while their holder lives and are handed back when it stops. Real migrations, both databases."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

import bot.delivery.inbox
from bot.core.crypto import SecretBox
from bot.core.database import make_engine
from bot.core.models import InboxRequest
from bot.delivery.inbox import AVAILABLE, Inbox, inbox_engine
from tests.conftest import SECRET_KEY


@pytest.fixture
def rows_engine(db_url: str) -> Iterator[Engine]:
    """Where the inbox keeps its rows (on SQLite, the file beside the database)."""
    engine = inbox_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def inbox_of(db_url: str) -> Callable[..., Inbox]:
    """A new inbox, as one process would have it: its own engine, its own owner id."""

    def make(handle: Callable[[str], None] | None = None, *, threads: int = 0, poll: float = 0.05) -> Inbox:
        return Inbox(inbox_engine(db_url), SecretBox(SECRET_KEY), handle, threads=threads, poll_seconds=poll)

    return make


def _rows(engine: Engine) -> list[InboxRequest]:
    with Session(engine) as session:
        return list(session.scalars(select(InboxRequest).order_by(InboxRequest.id)))


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class _Recorder:
    def __init__(self, delay: float = 0.0) -> None:
        self.seen: Counter[str] = Counter()
        self.delay = delay
        self._lock = threading.Lock()

    def __call__(self, request: str) -> None:
        time.sleep(self.delay)
        with self._lock:
            self.seen[request] += 1


def test_a_web_process_that_only_accepts_leaves_sealed_rows_for_any_worker(
    inbox_of: Callable[..., Inbox], rows_engine: Engine
) -> None:
    web = inbox_of()
    web.accept("click", "payload=U0ANA answered 4")
    web.start()  # nothing to start: it does no work

    [row] = _rows(rows_engine)
    assert row.claimed_until == AVAILABLE and row.attempts == 0
    assert "U0ANA" not in row.sealed
    assert not [t for t in threading.enumerate() if t.name.startswith("inbox-")]

    recorder = _Recorder()
    worker = inbox_of(recorder)  # drains on this thread
    assert worker.drain() == 1
    assert recorder.seen == Counter({"payload=U0ANA answered 4": 1})
    assert _rows(rows_engine) == [] and worker.drain() == 0


def test_two_workers_handle_every_request_exactly_once(inbox_of: Callable[..., Inbox], rows_engine: Engine) -> None:
    web = inbox_of()
    requests = [f"request {n}" for n in range(120)]
    # The backlog is there before either starts, and each request takes long enough (one worker alone
    # would need 0.8 s) that the second one's start on a busy machine still finds work left to share.
    first, second = _Recorder(delay=0.02), _Recorder(delay=0.02)
    workers = [inbox_of(first, threads=3), inbox_of(second, threads=3)]
    for request in requests:
        web.accept("event", request)
    for worker in workers:
        worker.start()

    _wait_until(lambda: not _rows(rows_engine), "the workers to empty the inbox")
    for worker in workers:
        worker.stop()
    both = first.seen + second.seen
    assert both == Counter(requests)  # each once: none lost, none run twice
    assert first.seen and second.seen  # and both took a share


def test_a_slow_request_is_not_taken_over_while_its_worker_lives(
    inbox_of: Callable[..., Inbox], rows_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.delivery.inbox, "LEASE", timedelta(seconds=1))
    monkeypatch.setattr(bot.delivery.inbox, "RENEW_SECONDS", 0.1)
    slow, other = _Recorder(delay=2.5), _Recorder()
    holder = inbox_of(slow, threads=1)
    holder.accept("event", "slow request")  # claimed by the process that accepted it, for 1 s

    bystander = inbox_of(other, threads=1)
    bystander.start()
    _wait_until(lambda: slow.seen["slow request"] == 1, "the slow request to finish", timeout=10)
    _wait_until(lambda: not _rows(rows_engine), "its row to be deleted")
    assert other.seen == Counter()  # the claim was renewed past its 1 s lease, so nobody ran it twice


def test_a_stopping_worker_hands_back_what_it_had_not_started(
    inbox_of: Callable[..., Inbox], rows_engine: Engine
) -> None:
    web = inbox_of()
    for n in range(6):
        web.accept("event", f"request {n}")
    started = threading.Event()
    release = threading.Event()
    handled: list[str] = []

    def stuck(request: str) -> None:
        handled.append(request)
        started.set()
        release.wait(5)

    stopping = inbox_of(stuck, threads=1)
    stopping.start()
    assert started.wait(5)
    stopper = threading.Thread(target=stopping.stop)
    stopper.start()
    release.set()
    stopper.join(10)

    left = _rows(rows_engine)
    assert len(left) == 6 - len(handled) > 0
    assert {row.claimed_until for row in left} == {AVAILABLE}  # anyone may take them now, not in 2 minutes
    recorder = _Recorder()
    assert inbox_of(recorder).drain() == len(left)
    assert sorted(handled + list(recorder.seen)) == sorted(f"request {n}" for n in range(6))


def test_a_request_that_keeps_killing_its_worker_is_dropped_after_three_takeovers(
    inbox_of: Callable[..., Inbox], rows_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    inbox_of().accept("event", "poison")
    for _ in range(bot.delivery.inbox.MAX_ATTEMPTS):
        dying = inbox_of(_Recorder())
        assert dying._settle_and_take(10) == 1  # claimed; then the process "dies" before handling it
        with rows_engine.begin() as connection:
            connection.execute(InboxRequest.__table__.update().values(claimed_until=AVAILABLE))
    recorder = _Recorder()
    assert inbox_of(recorder).drain() == 0
    assert recorder.seen == Counter() and _rows(rows_engine) == []
    assert "dropped an inbox request (event) that was taken over 3 times" in caplog.text
    assert "poison" not in caplog.text


def test_acks_arriving_together_are_each_committed_once(inbox_of: Callable[..., Inbox], rows_engine: Engine) -> None:
    web = inbox_of()
    requests = [f"request {n}" for n in range(64)]
    start = threading.Barrier(len(requests))

    def ack(request: str) -> None:
        start.wait()
        web.accept("click", request)

    threads = [threading.Thread(target=ack, args=(request,)) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert len({row.id for row in _rows(rows_engine)}) == len(requests)
    recorder = _Recorder()
    assert inbox_of(recorder).drain() == len(requests)
    assert recorder.seen == Counter(requests)


def test_every_ack_in_a_failed_commit_is_told_so(tmp_path: Path) -> None:
    web = Inbox(make_engine(f"sqlite:///{tmp_path}/missing/inbox.sqlite3"), SecretBox(SECRET_KEY))
    failures: list[BaseException] = []
    start = threading.Barrier(8)

    def ack() -> None:
        start.wait()
        try:
            web.accept("click", "payload")
        except SQLAlchemyError as error:
            failures.append(error)

    threads = [threading.Thread(target=ack) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(failures) == 8  # so each falls back to Bolt; none is acked as kept


def test_an_ack_that_cannot_reach_postgresql_is_told_so(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's accept path: one statement through the driver")
    web = Inbox(make_engine(db_url.rsplit("/", 1)[0] + "/no_such_database_here"), SecretBox(SECRET_KEY))
    with pytest.raises(SQLAlchemyError):
        web.accept("click", "payload", who="T0ACME:U0ANA")  # so it falls back to Bolt; it is not acked as kept
    web.stop()


def test_on_postgresql_one_senders_ids_follow_the_order_their_accepts_commit(
    db_url: str, inbox_of: Callable[..., Inbox], rows_engine: Engine
) -> None:
    """An accept of Ana's waits for another process's uncommitted accept of hers, and its row gets the
    later id: a worker can never see her later request before her earlier one."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite writes one transaction at a time")
    web = inbox_of()
    key = SecretBox(SECRET_KEY).bucket("T0ACME:U0ANA", bot.delivery.inbox.ORDER_BUCKETS)
    now = datetime.now(UTC)
    with rows_engine.connect() as other:  # another process, its accept of Ana's not yet committed
        other.execute(
            text("SELECT pg_advisory_xact_lock(:c, :k)"), {"c": bot.delivery.inbox._ORDER_LOCK_CLASS, "k": key}
        )
        thread = threading.Thread(target=web.accept, args=("command", "ana later"), kwargs={"who": "T0ACME:U0ANA"})
        thread.start()
        time.sleep(0.3)
        assert thread.is_alive()  # queued behind the other process's accept
        other.execute(
            insert(InboxRequest).values(
                kind="command",
                sealed="earlier",
                received_at=now,
                claimed_by="",
                claimed_until=AVAILABLE,
                attempts=0,
                ordering_key=key,
            )
        )
        web.accept("command", "ben", who="T0ACME:U0BEN")  # another sender does not wait
        other.commit()
    thread.join(10)
    rows = _rows(rows_engine)
    assert [row.sealed == "earlier" for row in rows if row.ordering_key == key] == [True, False]
    web.stop()


# -- one sender's requests in the order they arrived ---------------------------------------------------


class _Timeline:
    """When each request's work started and ended, and how many of one sender's ran at once."""

    def __init__(self, slow: dict[str, float]) -> None:
        self.slow = slow
        self.started: list[str] = []
        self.ended: dict[str, float] = {}
        self.overlaps: list[str] = []
        self._running: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, request: str) -> None:
        sender = request.split()[0]
        with self._lock:
            self.started.append(request)
            self._running[sender] += 1
            if self._running[sender] > 1:
                self.overlaps.append(request)
        time.sleep(self.slow.get(request, 0.0))
        with self._lock:
            self._running[sender] -= 1
            self.ended[request] = time.monotonic()

    def order_of(self, sender: str) -> list[str]:
        return [request for request in self.started if request.split()[0] == sender]


def test_two_workers_take_one_senders_requests_one_at_a_time_in_order(
    inbox_of: Callable[..., Inbox], rows_engine: Engine
) -> None:
    """Ana's six requests wait behind her slow first one; Ben's, sent in between, do not."""
    web = inbox_of()
    ana = [f"ana {n}" for n in range(6)]
    ben = [f"ben {n}" for n in range(6)]
    for mine, his in zip(ana, ben, strict=True):
        web.accept("command", mine, who="T0ACME:U0ANA")
        web.accept("command", his, who="T0ACME:U0BEN")
    timeline = _Timeline(slow={"ana 0": 0.6, "ana 3": 0.2})
    workers = [inbox_of(timeline, threads=4), inbox_of(timeline, threads=4)]
    for worker in workers:
        worker.start()

    _wait_until(lambda: not _rows(rows_engine), "the workers to empty the inbox")
    for worker in workers:
        worker.stop()
    assert timeline.order_of("ana") == ana
    assert timeline.order_of("ben") == ben
    assert timeline.overlaps == []
    # Different people still run in parallel: Ben was done before Ana's first request was.
    assert max(timeline.ended[r] for r in ben) < timeline.ended["ana 0"]


def test_a_process_that_accepts_and_works_keeps_one_senders_order(
    inbox_of: Callable[..., Inbox], rows_engine: Engine
) -> None:
    """`empathy-bot serve`: the accepting process hands its rows to its own threads without the table,
    except a row whose sender has an earlier one still in hand."""
    timeline = _Timeline(slow={"ana 0": 0.4, "ana 2": 0.1})
    serving = inbox_of(timeline, threads=4)
    ana = [f"ana {n}" for n in range(6)]
    for request in ana:
        serving.accept("command", request, who="T0ACME:U0ANA")
    serving.accept("command", "ben 0", who="T0ACME:U0BEN")

    _wait_until(lambda: not _rows(rows_engine), "the inbox to empty")
    serving.stop()
    assert timeline.order_of("ana") == ana
    assert timeline.overlaps == []
    assert timeline.ended["ben 0"] < timeline.ended["ana 0"]


def test_two_serving_processes_keep_one_senders_order_between_them(
    inbox_of: Callable[..., Inbox], rows_engine: Engine
) -> None:
    """Gunicorn's two workers each accept and work: a request accepted by one waits for the sender's
    earlier request held by the other."""
    timeline = _Timeline(slow={"ana 0": 0.4, "ana 1": 0.2})
    processes = [inbox_of(timeline, threads=3), inbox_of(timeline, threads=3)]
    ana = [f"ana {n}" for n in range(6)]
    for n, request in enumerate(ana):
        processes[n % 2].accept("command", request, who="T0ACME:U0ANA")

    _wait_until(lambda: not _rows(rows_engine), "the inbox to empty")
    for process in processes:
        process.stop()
    assert timeline.order_of("ana") == ana
    assert timeline.overlaps == []


def test_the_ordering_key_names_a_bucket_not_a_person(inbox_of: Callable[..., Inbox], rows_engine: Engine) -> None:
    web = inbox_of()
    web.accept("command", "one", who="T0ACME:U0ANA")
    web.accept("command", "two", who="T0ACME:U0ANA")
    web.accept("command", "three", who="T0ACME:U0BEN")
    web.accept("event", "nobody's")
    keys = [row.ordering_key for row in _rows(rows_engine)]
    assert keys[0] == keys[1] != keys[2] and keys[3] is None
    assert all(0 <= key < bot.delivery.inbox.ORDER_BUCKETS for key in keys[:3])
    # Keyed with EMPATHY_SECRET_KEY: another key puts the same person elsewhere, so a reader without it
    # cannot compute anyone's bucket.
    other = SecretBox(Fernet.generate_key().decode())
    assert other.bucket("T0ACME:U0ANA", bot.delivery.inbox.ORDER_BUCKETS) != keys[0]


def test_an_inbox_file_from_the_previous_version_gains_the_ordering_key_and_keeps_its_rows(
    db_url: str, inbox_of: Callable[..., Inbox]
) -> None:
    side = bot.delivery.inbox.inbox_file(db_url)
    if side is None:
        pytest.skip("PostgreSQL keeps the inbox in the bot's database, upgraded by Alembic")
    old = make_engine(f"sqlite:///{side}")
    with old.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TABLE inbox_request (id INTEGER NOT NULL PRIMARY KEY, kind VARCHAR(32) NOT NULL, "
            "sealed TEXT NOT NULL, received_at DATETIME NOT NULL, claimed_by VARCHAR(64) NOT NULL, "
            "claimed_until DATETIME NOT NULL, attempts INTEGER NOT NULL)"
        )
        connection.exec_driver_sql(
            "INSERT INTO inbox_request VALUES (1, 'event', ?, '2026-11-30 09:00:00', 'gone:1', '2000-01-01 00:00:00', 0)",
            (SecretBox(SECRET_KEY).seal(b"left by the old version"),),
        )
    old.dispose()

    inbox_of().accept("command", "new", who="T0ACME:U0ANA")
    recorder = _Recorder()
    assert inbox_of(recorder).drain() == 2
    assert recorder.seen == Counter(["left by the old version", "new"])


def test_a_request_waiting_for_its_senders_turn_is_not_renewed_into_a_lease(
    inbox_of: Callable[..., Inbox], rows_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A serving process renews the claims it works on; a row it accepted but left for the sender's turn
    is not among them, or it would sit claimed and unworked until the lease ran out (found by
    benchmarks/answer_latency: 1,654 clicks stuck for 2 minutes)."""
    monkeypatch.setattr(bot.delivery.inbox, "RENEW_SECONDS", 0.05)
    timeline = _Timeline(slow={"ana 0": 1.0})
    serving = inbox_of(timeline, threads=2, poll=5.0)
    serving.accept("command", "ana 0", who="T0ACME:U0ANA")
    serving.accept("command", "ana 1", who="T0ACME:U0ANA")
    _wait_until(lambda: timeline.started == ["ana 0"], "the first request to start")
    time.sleep(0.3)  # several renewals while the first is in hand
    waiting = [row for row in _rows(rows_engine) if row.id != min(r.id for r in _rows(rows_engine))]
    assert [row.claimed_until for row in waiting] == [AVAILABLE]

    _wait_until(lambda: not _rows(rows_engine), "both requests to be handled", timeout=5)
    serving.stop()
    assert timeline.order_of("ana") == ["ana 0", "ana 1"]
