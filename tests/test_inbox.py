"""The inbox on its own: web processes that only accept, workers that take rows over, claims that
last while their holder lives and are handed back when it stops. Real migrations, both databases."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

import bot.inbox
from bot.crypto import SecretBox
from bot.database import make_engine
from bot.inbox import AVAILABLE, Inbox, inbox_engine
from bot.models import InboxRequest
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
    monkeypatch.setattr(bot.inbox, "LEASE", timedelta(seconds=1))
    monkeypatch.setattr(bot.inbox, "RENEW_SECONDS", 0.1)
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
    for _ in range(bot.inbox.MAX_ATTEMPTS):
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
