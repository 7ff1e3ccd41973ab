"""Several rows in flight at once (`OutboxDispatcher(concurrency=N)`): what must still hold.

A thread-safe in-memory platform whose sends take a few milliseconds of real time, so rows really overlap:
one conversation's messages never overtake each other, a 429 on one send holds the whole workspace (the
sends already in flight finish, none starts before Retry-After), and every row goes out exactly once.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.clock import ManualClock
from bot.core.models import OutboxMessage, OutboxState, Person, Workspace
from bot.delivery.outbox import OutboxDispatcher, enqueue
from bot.delivery.ports import SLACK, FileUpload, Message, SendFailed, Sent
from bot.delivery.rate_limit import TokenBucket
from tests.support.people import slack_account

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@dataclass
class SlowSender:
    """A platform whose every call takes `delay` seconds (random up to it with `jitter`), thread-safe.
    `refuse` maps an outbox id to the Retry-After its first post is refused with."""

    platform: str = SLACK
    delay: float = 0.01
    jitter: bool = True
    rate_per_minute: float = 1_000_000
    burst: int = 1000
    refuse: dict[int, float] = field(default_factory=dict)
    posts: list[tuple[str, int, str, float, float]] = field(default_factory=list)  # conv, id, text, start, end
    held_at: float | None = None
    in_flight: int = 0
    most_in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pace: TokenBucket | None = None

    def render(self, message: Message) -> dict[str, Any]:
        return dict(message)

    def pace(self, workspace: str) -> TokenBucket:
        with self._lock:
            if self._pace is None:
                self._pace = TokenBucket(self.rate_per_minute, self.burst)
            return self._pace

    def _wait(self) -> None:
        time.sleep(random.uniform(0, self.delay) if self.jitter else self.delay)

    def open_direct(self, workspace: str, user_id: str) -> str:
        self._wait()
        return f"dm-{user_id}"

    def post(self, workspace: str, conversation: str, message: Message, *, outbox_id: int) -> Sent:
        start = time.monotonic()
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            retry_after = self.refuse.pop(outbox_id, None)
        try:
            if retry_after is not None:  # refused at once, while the posts that started before it go on
                self.pace(workspace).hold(retry_after)  # as Slack's sender does on a 429
                self.held_at = time.monotonic()
                raise SendFailed("ratelimited", retry_after=retry_after)
            self._wait()
            with self._lock:
                self.posts.append((conversation, outbox_id, str(message["text"]), start, time.monotonic()))
            return Sent(conversation, f"m{outbox_id}")
        finally:
            with self._lock:
                self.in_flight -= 1

    def update(self, workspace: str, conversation: str, ref: str, message: Message) -> Sent:
        return Sent(conversation, ref)

    def upload(self, workspace: str, conversation: str, upload: FileUpload) -> Sent:
        return Sent(conversation, "")

    def already_sent(self, workspace: str, conversation: str, outbox_id: int) -> Sent | None:
        with self._lock:
            found = [p for p in self.posts if p[1] == outbox_id]
        return Sent(conversation, f"m{outbox_id}") if found else None


def people(session_factory: sessionmaker[Session], workspace: Workspace, count: int) -> list[int]:
    with session_factory.begin() as session:
        rows = [
            Person(workspace_id=workspace.id, accounts=slack_account(f"U{n:04d}"), name=f"Person {n}")
            for n in range(count)
        ]
        session.add_all(rows)
        session.flush()
        return [p.id for p in rows]


def queue(session_factory: sessionmaker[Session], workspace: Workspace, key: str, text: str, **to: Any) -> int:
    with session_factory.begin() as session:
        return enqueue(session, workspace.id, key, {"text": text}, now=START, **to).id


def unsettled(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.state.in_([OutboxState.PENDING.value, OutboxState.SENDING.value]))
            )
            or 0
        )


def test_one_conversations_messages_never_overtake_each_other_with_many_in_flight(
    session_factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ids = people(session_factory, workspace, 6)
    # Interleaved as a day's jobs queue them: each person's 5 messages, and a channel's 5.
    for n in range(5):
        for person_id in ids:
            queue(session_factory, workspace, f"p{person_id}:{n}", f"{person_id}:{n}", person_id=person_id)
        queue(session_factory, workspace, f"c:{n}", f"c:{n}", channel_id="C0GENERAL")
    sender = SlowSender(delay=0.02)
    report = OutboxDispatcher(session_factory, sender, ManualClock(START), concurrency=8).run_once(time_budget=30)

    assert report.sent == 35 and unsettled(session_factory) == 0
    assert sender.most_in_flight > 1, "the rows were not in flight together: the test would prove nothing"
    by_conversation: dict[str, list[str]] = {}
    for conversation, _id, text, _start, _end in sorted(sender.posts, key=lambda p: p[3]):
        by_conversation.setdefault(conversation, []).append(text)
    assert by_conversation["C0GENERAL"] == [f"c:{n}" for n in range(5)]
    for person_id, n in zip(ids, range(6), strict=True):
        assert by_conversation[f"dm-U{n:04d}"] == [f"{person_id}:{k}" for k in range(5)]
    # Not just started in order: each conversation's post began after the one before it had its answer.
    for conversation in by_conversation:
        posts = sorted((p for p in sender.posts if p[0] == conversation), key=lambda p: p[3])
        assert all(later[3] >= earlier[4] for earlier, later in itertools.pairwise(posts))


def test_a_429_on_one_send_holds_the_whole_workspace_while_the_others_in_flight_finish(
    session_factory: sessionmaker[Session], workspace: Workspace
) -> None:
    channels = [f"C{n:03d}" for n in range(40)]
    rows = [queue(session_factory, workspace, f"k{n}", f"t{n}", channel_id=c) for n, c in enumerate(channels)]
    refused = rows[5]
    sender = SlowSender(delay=0.2, jitter=False, rate_per_minute=60 * 200, burst=5, refuse={refused: 1.0})
    dispatcher = OutboxDispatcher(session_factory, sender, ManualClock(START), concurrency=8, max_pace_wait=2.0)
    report = dispatcher.run_once(time_budget=30)

    assert report.retried == 1 and report.sent == 39  # the refused row is due again after its Retry-After
    held = sender.held_at
    assert held is not None
    finished_after = [p for p in sender.posts if p[3] < held < p[4]]
    assert finished_after, "the sends in flight beside the refused one went on and finished"
    # A send whose turn came just before the 429 may still be on its way (20 ms); none starts after that
    # until Retry-After has passed.
    during = [p for p in sender.posts if held + 0.02 < p[3] < held + 1.0 - 0.01]
    assert during == []
    assert any(p[3] >= held + 1.0 - 0.01 for p in sender.posts), "sending resumed after Retry-After"
    with session_factory() as session:
        row = session.get(OutboxMessage, refused)
        assert row is not None and (row.state, row.attempts) == (OutboxState.PENDING, 0)


def test_every_row_goes_out_once_with_many_in_flight_and_two_dispatchers(
    session_factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ids = people(session_factory, workspace, 30)
    for n, person_id in enumerate(ids):
        queue(session_factory, workspace, f"dm{n}", f"hello {n}", person_id=person_id)
        queue(session_factory, workspace, f"ch{n}", f"shout {n}", channel_id=f"C{n:03d}")
    sender = SlowSender(delay=0.01)
    clock = ManualClock(START)
    workers = [OutboxDispatcher(session_factory, sender, clock, concurrency=6, worker_id=f"w{n}") for n in range(2)]
    threads = [threading.Thread(target=w.run_once, kwargs={"time_budget": 30}) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert unsettled(session_factory) == 0
    sent_ids = [p[1] for p in sender.posts]
    assert len(sent_ids) == 60 and len(set(sent_ids)) == 60


@pytest.mark.parametrize("concurrency", [0, -1])
def test_concurrency_must_be_positive(session_factory: sessionmaker[Session], concurrency: int) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        OutboxDispatcher(session_factory, SlowSender(), ManualClock(START), concurrency=concurrency)


@pytest.mark.parametrize("finds_its_posts", [True, False])
def test_a_platform_that_cannot_find_its_posts_posts_one_at_a_time(
    session_factory: sessionmaker[Session], workspace: Workspace, finds_its_posts: bool
) -> None:
    """Teams cannot find a post after a crash, so each post the crash cut off would go out again: with
    one post in flight per dispatcher, a crash costs at most one duplicate, as with one row at a time."""
    for n in range(16):
        queue(session_factory, workspace, f"k{n}", f"t{n}", channel_id=f"C{n:03d}")
    sender = SlowSender(delay=0.03, jitter=False)
    sender.finds_its_posts = finds_its_posts  # type: ignore[attr-defined]
    report = OutboxDispatcher(session_factory, sender, ManualClock(START), concurrency=8).run_once(time_budget=30)

    assert report.sent == 16 and unsettled(session_factory) == 0
    if finds_its_posts:
        assert sender.most_in_flight > 1  # the same dispatcher does overlap posts it can find again
    else:
        assert sender.most_in_flight == 1
