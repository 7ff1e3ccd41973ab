"""The outbox's queue needs no Slack: the real dispatcher delivers through an in-memory `Sender`.

`MemorySender` is a platform of its own (plain lists, its own refs and errors), so what passes here is
the queue's doing (claim, retry, crash recovery, pacing by the sender's `pace`), not Slack's.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.core.clock import ManualClock
from bot.core.models import OutboxMessage, OutboxState, Person, Workspace
from bot.delivery import charts
from bot.delivery.outbox import OutboxDispatcher, enqueue
from bot.delivery.ports import (
    SLACK,
    FileUpload,
    Message,
    Sender,
    SendFailed,
    Sent,
    UndeliverableError,
    http_reason,
)
from bot.delivery.rate_limit import TokenBucket
from tests.scenarios.slack.test_outbox import Crash, FakeTime
from tests.support.people import dm_of, slack_account

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@dataclass
class Posted:
    ref: str
    outbox_id: int | None
    message: dict[str, Any]


@dataclass
class MemorySender:
    """A chat platform in a few dicts. `fail` queues errors for the next sends; with `stored` the
    message is kept before the error is raised (the answer lost on the way back)."""

    platform: str = "memory"
    monotonic: Any = None
    rate_per_minute: float = 100_000
    burst: int = 1000
    conversations: dict[str, list[Posted]] = field(default_factory=dict)
    uploads: list[tuple[str, FileUpload]] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)
    fail: list[tuple[SendFailed, bool]] = field(default_factory=list)
    history_readable: bool = True
    uninstalled: set[str] = field(default_factory=set)
    renderer: Any = dict  # how this platform renders a row's stored message
    _paces: dict[str, TokenBucket] = field(default_factory=dict)
    _next: int = 0

    def render(self, message: Message) -> dict[str, Any]:
        return dict(self.renderer(message))

    def pace(self, workspace: str) -> TokenBucket:
        if workspace not in self._paces:
            clock = {"monotonic": self.monotonic} if self.monotonic else {}
            self._paces[workspace] = TokenBucket(self.rate_per_minute, self.burst, **clock)
        return self._paces[workspace]

    def open_direct(self, workspace: str, user_id: str) -> str:
        self._check(workspace)
        self.opened.append(user_id)
        return f"dm-{user_id}"

    def post(self, workspace: str, conversation: str, message: Message, *, outbox_id: int) -> Sent:
        self._check(workspace)
        return self._store(workspace, conversation, outbox_id, dict(message))

    def update(self, workspace: str, conversation: str, ref: str, message: Message) -> Sent:
        self._check(workspace)
        [old] = [p for p in self.conversations[conversation] if p.ref == ref]
        old.message = dict(message)
        return Sent(conversation, ref)

    def upload(self, workspace: str, conversation: str, upload: FileUpload) -> Sent:
        self._check(workspace)
        self.uploads.append((conversation, upload))
        return Sent(conversation, "")

    def already_sent(self, workspace: str, conversation: str, outbox_id: int) -> Sent | None:
        self._check(workspace)
        if not self.history_readable:
            raise SendFailed(http_reason(self.platform, 403))
        for posted in self.conversations.get(conversation, []):
            if posted.outbox_id == outbox_id:
                return Sent(conversation, posted.ref)
        return None

    def texts(self, conversation: str) -> list[str]:
        return [p.message["text"] for p in self.conversations.get(conversation, [])]

    def _check(self, workspace: str) -> None:
        if workspace in self.uninstalled:
            raise UndeliverableError("the app is no longer installed in this workspace")

    def _store(self, workspace: str, conversation: str, outbox_id: int, message: dict[str, Any]) -> Sent:
        error, stored = self.fail.pop(0) if self.fail else (None, False)
        sent = None
        if error is None or stored:
            self._next += 1
            sent = Sent(conversation, f"m{self._next}")
            self.conversations.setdefault(conversation, []).append(Posted(sent.ref, outbox_id, message))
        if error is not None:
            if error.retry_after is not None:
                self.pace(workspace).hold(error.retry_after)  # the sender holds its own pace, as Slack's does
            raise error
        assert sent is not None
        return sent


def test_the_memory_sender_keeps_to_the_port() -> None:
    assert isinstance(MemorySender(), Sender)  # every method of the port, so the tests below test the queue


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def dispatcher(
    session_factory: sessionmaker[Session], sender: MemorySender, clock: ManualClock, **kwargs: Any
) -> OutboxDispatcher:
    # Every workspace is a Slack workspace until workspaces record their platform; which sender stands
    # for that platform is the composition root's choice, and the queue does not look inside it.
    return OutboxDispatcher(session_factory, {SLACK: sender}, clock, **kwargs)


def person(session_factory: sessionmaker[Session], workspace: Workspace, user_id: str = "U0ANA", **fields: Any) -> int:
    with session_factory.begin() as session:
        row = Person(workspace_id=workspace.id, accounts=slack_account(user_id), name=user_id, **fields)
        session.add(row)
        session.flush()
        return row.id


def queue(
    session_factory: sessionmaker[Session], workspace: Workspace, key: str, payload: dict[str, Any], **target: Any
) -> int:
    with session_factory.begin() as session:
        return enqueue(session, workspace.id, key, payload, now=START, **target).id


def row(session_factory: sessionmaker[Session], row_id: int) -> OutboxMessage:
    with session_factory() as session:
        found = session.get(OutboxMessage, row_id)
        assert found is not None
        return found


def test_the_queue_imports_no_chat_platform() -> None:
    code = (
        "import sys, bot.delivery.outbox, bot.delivery.ports\n"
        "bad = sorted({m.split('.')[0] for m in sys.modules} & {'slack_sdk', 'slack_bolt', 'handlers', 'botbuilder'})\n"
        "print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_dms_and_channel_messages_go_out_once_with_the_dm_stored(
    session_factory: sessionmaker[Session], workspace: Workspace, clock: ManualClock
) -> None:
    sender = MemorySender()
    ana = person(session_factory, workspace)
    first = queue(session_factory, workspace, "dm:1", {"text": "one"}, person_id=ana)
    second = queue(session_factory, workspace, "dm:2", {"text": "two"}, person_id=ana)
    shout = queue(session_factory, workspace, "kudos", {"text": "well done"}, channel_id="C0KUDOS")

    report = dispatcher(session_factory, sender, clock).run_once()

    assert report.sent == 3
    assert sender.opened == ["U0ANA"]  # opened once, then stored
    with session_factory() as session:
        assert dm_of(session.get(Person, ana)) == "dm-U0ANA"  # type: ignore[union-attr]
    assert sender.texts("dm-U0ANA") == ["one", "two"] and sender.texts("C0KUDOS") == ["well done"]
    sent = {row_id: row(session_factory, row_id) for row_id in (first, second, shout)}
    assert {(r.state, r.sent_channel_id, r.sent_ts) for r in sent.values()} == {
        (OutboxState.SENT, "dm-U0ANA", "m1"),
        (OutboxState.SENT, "dm-U0ANA", "m2"),
        (OutboxState.SENT, "C0KUDOS", "m3"),
    }
    assert dispatcher(session_factory, sender, clock).run_once().sent == 0


def test_updates_and_chart_uploads_reach_the_sender_as_such(
    session_factory: sessionmaker[Session], workspace: Workspace, clock: ManualClock
) -> None:
    sender = MemorySender()
    queue(session_factory, workspace, "first", {"text": "before"}, channel_id="C1")
    dispatcher(session_factory, sender, clock).run_once()
    queue(session_factory, workspace, "replace", {"text": "after", "update_ts": "m1"}, channel_id="C1")
    spec = charts.trend_spec("Team", [date(2026, 11, 9), date(2026, 11, 16)], {"Engagement": [61.0, 64.0]})
    chart = {"chart": spec, "filename": "team-trend.png", "title": "Trend", "alt_text": "A line chart"}
    queue(session_factory, workspace, "chart", {"text": "A line chart", "upload": chart}, channel_id="C1")

    assert dispatcher(session_factory, sender, clock).run_once().sent == 2

    assert sender.texts("C1") == ["after"]  # replaced, not posted again
    [(conversation, upload)] = sender.uploads
    assert (conversation, upload.filename, upload.title, upload.alt_text) == (
        "C1",
        "team-trend.png",
        "Trend",
        "A line chart",
    )
    assert upload.content.startswith(b"\x89PNG")  # the queue drew the chart; the sender only shares it


def test_the_sender_renders_what_the_row_stored_and_the_rendered_form_says_what_to_do(
    session_factory: sessionmaker[Session], workspace: Workspace, clock: ManualClock
) -> None:
    spec = charts.trend_spec("Team", [date(2026, 11, 9), date(2026, 11, 16)], {"Engagement": [61.0, 64.0]})

    def render(stored: Message) -> dict[str, Any]:
        # A platform's renderer: a chart becomes the queue's upload instruction, text gets its markup.
        if "chart" in stored:
            return {"upload": {"chart": stored["chart"], "filename": "c.png", "title": "T", "alt_text": stored["text"]}}
        return {"text": f"<b>{stored['text']}</b>"}

    sender = MemorySender(renderer=render)
    queue(session_factory, workspace, "text", {"text": "hello"}, channel_id="C1")
    queue(session_factory, workspace, "chart", {"text": "a chart", "chart": spec}, channel_id="C1")

    assert dispatcher(session_factory, sender, clock).run_once().sent == 2
    assert sender.texts("C1") == ["<b>hello</b>"]
    [(_, upload)] = sender.uploads
    assert upload.alt_text == "a chart" and upload.content.startswith(b"\x89PNG")


def test_a_crash_after_the_platform_took_the_message_does_not_send_it_again(
    session_factory: sessionmaker[Session], workspace: Workspace, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender = MemorySender()
    row_id = queue(session_factory, workspace, "k", {"text": "once"}, person_id=person(session_factory, workspace))
    doomed = dispatcher(session_factory, sender, clock, worker_id="doomed")
    monkeypatch.setattr(doomed, "_mark_sent", lambda *a: (_ for _ in ()).throw(Crash()))
    with pytest.raises(Crash):
        doomed.run_once()
    assert row(session_factory, row_id).state == OutboxState.SENDING

    clock.advance(timedelta(minutes=5))
    assert dispatcher(session_factory, sender, clock, worker_id="restarted").run_once().recovered == 1

    assert sender.texts("dm-U0ANA") == ["once"]
    recovered = row(session_factory, row_id)
    assert (recovered.state, recovered.sent_ts) == (OutboxState.SENT, "m1")


def test_when_the_sender_cannot_tell_a_crash_costs_at_most_one_duplicate(
    session_factory: sessionmaker[Session], workspace: Workspace, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender = MemorySender()
    row_id = queue(session_factory, workspace, "k", {"text": "once"}, channel_id="C1")
    doomed = dispatcher(session_factory, sender, clock, worker_id="doomed")
    monkeypatch.setattr(doomed, "_mark_sent", lambda *a: (_ for _ in ()).throw(Crash()))
    with pytest.raises(Crash):
        doomed.run_once()
    sender.history_readable = False
    clock.advance(timedelta(minutes=5))
    dispatcher(session_factory, sender, clock, worker_id="restarted").run_once()
    assert sender.texts("C1") == ["once", "once"]  # never lost, at most one extra
    assert row(session_factory, row_id).state == OutboxState.SENT


def test_a_failure_that_may_have_stored_the_message_is_looked_up_before_the_retry(
    session_factory: sessionmaker[Session], workspace: Workspace, clock: ManualClock
) -> None:
    """The neutral reason vocabulary at work for a platform that is not Slack: "memory http 503"."""
    sender = MemorySender()
    row_id = queue(session_factory, workspace, "k", {"text": "once"}, channel_id="C1")
    sender.fail.append((SendFailed(http_reason("memory", 503)), True))  # stored, then the answer is a 503
    worker = dispatcher(session_factory, sender, clock)

    assert worker.run_once().retried == 1
    assert row(session_factory, row_id).last_error == "memory http 503"
    clock.advance(timedelta(minutes=10))
    assert worker.run_once().sent == 1

    assert sender.texts("C1") == ["once"]  # found, not posted again
    assert row(session_factory, row_id).sent_ts == "m1"


def test_slow_down_is_not_an_attempt_and_a_permanent_refusal_fails_at_once(
    session_factory: sessionmaker[Session], workspace: Workspace, clock: ManualClock
) -> None:
    fake_time = FakeTime()
    sender = MemorySender(monotonic=fake_time.monotonic)
    slow = queue(session_factory, workspace, "slow", {"text": "slow"}, channel_id="C1")
    sender.fail.append((SendFailed("busy", retry_after=9), False))
    worker = dispatcher(session_factory, sender, clock, sleep=fake_time.sleep, monotonic=fake_time.monotonic)
    assert worker.run_once(time_budget=1).retried == 1
    waiting = row(session_factory, slow)
    assert (waiting.state, waiting.attempts, waiting.due_at) == (OutboxState.PENDING, 0, START + timedelta(seconds=9))

    gone = queue(session_factory, workspace, "gone", {"text": "gone"}, channel_id="C2")
    sender.fail.append((SendFailed("conversation_gone", permanent=True), False))
    clock.advance(timedelta(seconds=9))
    fake_time.sleep(9)  # the sender's pace was held for 9 s too
    report = worker.run_once()
    assert (report.sent, report.failed) == (1, 1)
    assert (row(session_factory, gone).state, row(session_factory, gone).last_error) == (
        OutboxState.FAILED,
        "conversation_gone",
    )


def test_pacing_is_the_senders(
    session_factory: sessionmaker[Session], workspace: Workspace, clock: ManualClock
) -> None:
    fake_time = FakeTime()
    sender = MemorySender(monotonic=fake_time.monotonic, rate_per_minute=120, burst=2)  # 2 a second
    for n in range(12):
        queue(session_factory, workspace, f"paced:{n}", {"text": f"n{n}"}, channel_id="C1")
    worker = dispatcher(session_factory, sender, clock, sleep=fake_time.sleep, monotonic=fake_time.monotonic)
    assert worker.run_once(time_budget=3600).sent == 12
    # The first two go at once (burst); the other ten wait half a second each.
    assert sum(fake_time.slept) == pytest.approx(5.0, abs=0.01)


def test_a_deactivated_person_or_an_uninstalled_workspace_fails_without_a_send(
    session_factory: sessionmaker[Session], workspace: Workspace, clock: ManualClock
) -> None:
    sender = MemorySender()
    left = queue(
        session_factory, workspace, "left", {"text": "hi"}, person_id=person(session_factory, workspace, active=False)
    )
    dispatcher(session_factory, sender, clock).run_once()
    assert row(session_factory, left).state == OutboxState.FAILED and sender.opened == []

    sender.uninstalled.add(workspace.external_id)
    gone = queue(session_factory, workspace, "gone", {"text": "hi"}, channel_id="C1")
    dispatcher(session_factory, sender, clock).run_once()
    failed = row(session_factory, gone)
    assert (failed.state, failed.last_error) == (OutboxState.FAILED, "the app is no longer installed in this workspace")
    assert sender.conversations == {}


def test_a_workspace_whose_platform_has_no_sender_is_left_queued_loudly(
    session_factory: sessionmaker[Session], workspace: Workspace, clock: ManualClock
) -> None:
    sender = MemorySender()
    row_id = queue(session_factory, workspace, "k", {"text": "hi"}, channel_id="C1")
    with pytest.raises(LookupError, match="no sender for slack workspaces"):
        OutboxDispatcher(session_factory, {"teams": sender}, clock).run_once()
    assert row(session_factory, row_id).state != OutboxState.FAILED  # a deployment's mistake, not the message's
    assert sender.conversations == {}


@pytest.mark.parametrize(
    ("reason", "maybe_sent", "transport"),
    [
        # Recorded by the previous version on rows still queued: they must read the same.
        ("slack http 500", True, True),
        ("slack http 503", True, True),
        ("connection: RemoteDisconnected", True, True),
        ("ratelimited", False, True),
        ("slack http 404", False, True),
        ("account_inactive", False, False),
        ("fatal_error", False, False),
        # Another platform's, in the same vocabulary.
        ("teams http 502", True, True),
        ("teams http 403", False, True),
    ],
)
def test_the_reason_vocabulary(reason: str, maybe_sent: bool, transport: bool) -> None:
    from bot.delivery.ports import is_transport_reason, may_have_been_sent

    assert (may_have_been_sent(reason), is_transport_reason(reason)) == (maybe_sent, transport)
