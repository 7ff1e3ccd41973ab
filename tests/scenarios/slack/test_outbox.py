"""The outbox sends each message exactly once: through 429s, 5xx, crashes and concurrent dispatchers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.clock import ManualClock
from bot.core.models import OutboxMessage, OutboxState, Person, Workspace
from bot.core.settings import Settings
from bot.delivery.outbox import OutboxDispatcher, enqueue
from bot.delivery.rate_limit import TokenBucket
from handlers.slack.client import build_web_client
from handlers.slack.sender import SlackSender
from tests.fakes.slack.api import FakeSlack
from tests.support.people import dm_of, slack_account

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class FakeTime:
    """Monotonic time and sleep that move together, so pacing is checked without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def outbox_client(settings: Settings) -> WebClient:
    return build_web_client(settings, for_outbox=True)


def dispatcher(
    session_factory: sessionmaker[Session], client: WebClient, clock: ManualClock, **kwargs: Any
) -> OutboxDispatcher:
    return OutboxDispatcher(session_factory, SlackSender(client, rate_per_minute=100_000, burst=1000), clock, **kwargs)


def add_person(session_factory: sessionmaker[Session], workspace: Workspace, slack: FakeSlack, **fields: Any) -> int:
    slack.add_user("U0ANA", email="ana@example.com", real_name="Ana Souza")
    with session_factory.begin() as session:
        person = Person(
            workspace_id=workspace.id, accounts=slack_account("U0ANA"), email="ana@example.com", name="Ana", **fields
        )
        session.add(person)
        session.flush()
        return person.id


def queue(
    session_factory: sessionmaker[Session], workspace: Workspace, key: str, clock: ManualClock, **target: Any
) -> int:
    target = target or {"channel_id": "C0KUDOS"}
    with session_factory.begin() as session:
        return enqueue(session, workspace.id, key, {"text": f"hello {key}"}, now=clock.now(), **target).id


def row(session_factory: sessionmaker[Session], row_id: int) -> OutboxMessage:
    with session_factory() as session:
        found = session.get(OutboxMessage, row_id)
        assert found is not None
        return found


def posted(slack: FakeSlack) -> list[dict[str, Any]]:
    """Successful posts only (failed attempts are recorded by the fake too)."""
    return [c.body for c in slack.calls if c.method == "chat.postMessage" and c.status == 200]


# -- enqueue -----------------------------------------------------------------------------------


def test_enqueue_is_idempotent_by_key(session_factory: sessionmaker[Session], workspace: Workspace, clock) -> None:
    first = queue(session_factory, workspace, "welcome:42", clock)
    second = queue(session_factory, workspace, "welcome:42", clock)
    assert first == second
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_enqueue_refuses_a_message_without_text_or_target(
    session_factory: sessionmaker[Session], workspace: Workspace
) -> None:
    with session_factory() as session, pytest.raises(ValueError, match="text"):
        enqueue(session, workspace.id, "k", {"blocks": []}, channel_id="C1")
    with session_factory() as session, pytest.raises(ValueError, match="exactly one"):
        enqueue(session, workspace.id, "k", {"text": "hi"})


# -- sending -----------------------------------------------------------------------------------


def test_a_dm_opens_the_channel_once_and_records_the_ts(
    session_factory: sessionmaker[Session], workspace: Workspace, slack: FakeSlack, outbox_client: WebClient, clock
) -> None:
    person_id = add_person(session_factory, workspace, slack)
    first = queue(session_factory, workspace, "dm:1", clock, person_id=person_id)
    second = queue(session_factory, workspace, "dm:2", clock, person_id=person_id)

    report = dispatcher(session_factory, outbox_client, clock).run_once()

    assert report.sent == 2
    assert len(slack.calls_to("conversations.open")) == 1
    with session_factory() as session:
        assert dm_of(session.get(Person, person_id)) == "D0ANA"
    messages = slack.messages("D0ANA")
    assert [m["text"] for m in messages] == ["hello dm:1", "hello dm:2"]
    for row_id, message in zip((first, second), messages, strict=True):
        sent = row(session_factory, row_id)
        assert (sent.state, sent.sent_ts, sent.sent_channel_id) == (OutboxState.SENT, message["ts"], "D0ANA")
        assert message["metadata"]["event_payload"] == {"outbox_id": str(row_id)}


def test_nothing_is_sent_before_it_is_due(
    session_factory: sessionmaker[Session], workspace: Workspace, slack: FakeSlack, outbox_client: WebClient, clock
) -> None:
    with session_factory.begin() as session:
        enqueue(session, workspace.id, "later", {"text": "later"}, channel_id="C1", due_at=START + timedelta(hours=1))
    assert dispatcher(session_factory, outbox_client, clock).run_once().sent == 0
    clock.advance(timedelta(hours=1))
    assert dispatcher(session_factory, outbox_client, clock).run_once().sent == 1
    assert len(posted(slack)) == 1


def test_a_429_is_retried_after_retry_after_and_sent_once(
    session_factory: sessionmaker[Session], workspace: Workspace, slack: FakeSlack, outbox_client: WebClient, clock
) -> None:
    row_id = queue(session_factory, workspace, "k429", clock)
    slack.fail_next("chat.postMessage", status=429, retry_after=7)
    fake_time = FakeTime()
    sender = SlackSender(outbox_client, rate_per_minute=100_000, burst=1000, monotonic=fake_time.monotonic)
    worker = OutboxDispatcher(session_factory, sender, clock, sleep=fake_time.sleep, monotonic=fake_time.monotonic)

    assert worker.run_once(time_budget=0.5).retried == 1
    waiting = row(session_factory, row_id)
    assert (waiting.state, waiting.due_at, waiting.attempts) == (OutboxState.PENDING, START + timedelta(seconds=7), 0)
    assert waiting.last_error == "ratelimited"
    # The whole workspace waits out Retry-After, not just this message.
    assert sender.pace(workspace.external_id).wait_time() == pytest.approx(7, abs=0.01)

    clock.advance(6)
    fake_time.sleep(6)
    assert worker.run_once(time_budget=0.5).sent == 0
    clock.advance(1)
    fake_time.sleep(1)
    assert worker.run_once().sent == 1

    assert len(slack.calls_to("chat.postMessage")) == 2
    assert len(slack.messages("C0KUDOS")) == 1
    assert row(session_factory, row_id).state == OutboxState.SENT


def test_a_500_is_retried_with_backoff_and_sent_once(
    session_factory: sessionmaker[Session], workspace: Workspace, slack: FakeSlack, outbox_client: WebClient, clock
) -> None:
    row_id = queue(session_factory, workspace, "k500", clock)
    slack.fail_next("chat.postMessage", status=500, times=2)
    worker = dispatcher(session_factory, outbox_client, clock)
    for _ in range(3):
        worker.run_once()
        clock.advance(timedelta(minutes=10))
    assert len(slack.calls_to("chat.postMessage")) == 3
    assert len(slack.messages("C0KUDOS")) == 1
    sent = row(session_factory, row_id)
    assert (sent.state, sent.attempts, sent.last_error) == (OutboxState.SENT, 3, None)


def test_gives_up_after_max_attempts_with_the_error_recorded(
    session_factory: sessionmaker[Session], workspace: Workspace, slack: FakeSlack, outbox_client: WebClient, clock
) -> None:
    row_id = queue(session_factory, workspace, "doomed", clock)
    slack.fail_next("chat.postMessage", status=503, times=50)
    worker = dispatcher(session_factory, outbox_client, clock, max_attempts=3)
    for _ in range(5):
        worker.run_once()
        clock.advance(timedelta(minutes=10))
    failed = row(session_factory, row_id)
    assert failed.state == OutboxState.FAILED
    assert failed.last_error == "gave up after 3 attempts: slack http 503"
    assert len(slack.calls_to("chat.postMessage")) == 3


def test_a_permanent_error_fails_at_once(
    session_factory: sessionmaker[Session], workspace: Workspace, slack: FakeSlack, outbox_client: WebClient, clock
) -> None:
    row_id = queue(session_factory, workspace, "gone", clock)
    slack.error_next("chat.postMessage", "channel_not_found")
    report = dispatcher(session_factory, outbox_client, clock).run_once()
    assert report.failed == 1
    assert (row(session_factory, row_id).state, row(session_factory, row_id).last_error) == (
        OutboxState.FAILED,
        "channel_not_found",
    )


def test_a_deactivated_person_gets_nothing(
    session_factory: sessionmaker[Session], workspace: Workspace, slack: FakeSlack, outbox_client: WebClient, clock
) -> None:
    person_id = add_person(session_factory, workspace, slack, active=False)
    row_id = queue(session_factory, workspace, "dm", clock, person_id=person_id)
    dispatcher(session_factory, outbox_client, clock).run_once()
    assert row(session_factory, row_id).state == OutboxState.FAILED
    assert slack.calls_to("conversations.open") == []
    assert slack.calls_to("chat.postMessage") == []


# -- crashes -----------------------------------------------------------------------------------


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs, no handler catches it."""


def crash_after_slack_accepts(
    session_factory: sessionmaker[Session], client: WebClient, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run a dispatcher that dies between Slack's answer and recording it."""
    doomed = dispatcher(session_factory, client, clock, worker_id="doomed")
    monkeypatch.setattr(doomed, "_mark_sent", lambda *a: (_ for _ in ()).throw(Crash()))
    with pytest.raises(Crash):
        doomed.run_once()


def test_a_crash_after_slack_accepted_the_message_does_not_send_it_again(
    session_factory: sessionmaker[Session],
    workspace: Workspace,
    slack: FakeSlack,
    outbox_client: WebClient,
    clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    person_id = add_person(session_factory, workspace, slack)
    row_id = queue(session_factory, workspace, "dm", clock, person_id=person_id)
    crash_after_slack_accepts(session_factory, outbox_client, clock, monkeypatch)
    assert row(session_factory, row_id).state == OutboxState.SENDING
    assert len(slack.messages("D0ANA")) == 1

    clock.advance(timedelta(minutes=1))
    restarted = dispatcher(session_factory, outbox_client, clock, worker_id="restarted")
    assert restarted.run_once().recovered == 0  # lease not yet expired: the first might be alive
    clock.advance(timedelta(minutes=2))
    assert restarted.run_once().recovered == 1

    assert len(slack.calls_to("chat.postMessage")) == 1
    messages = slack.messages("D0ANA")
    assert len(messages) == 1
    recovered = row(session_factory, row_id)
    assert (recovered.state, recovered.sent_ts) == (OutboxState.SENT, messages[0]["ts"])


def test_a_crash_before_the_message_reached_slack_sends_it_after_restart(
    session_factory: sessionmaker[Session],
    workspace: Workspace,
    slack: FakeSlack,
    outbox_client: WebClient,
    clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    row_id = queue(session_factory, workspace, "k", clock)
    crashing_client = build_web_client_like(outbox_client)
    monkeypatch.setattr(crashing_client, "chat_postMessage", lambda **kw: (_ for _ in ()).throw(Crash()))
    with pytest.raises(Crash):
        dispatcher(session_factory, crashing_client, clock, worker_id="doomed").run_once()
    assert row(session_factory, row_id).state == OutboxState.SENDING

    clock.advance(timedelta(minutes=5))
    report = dispatcher(session_factory, outbox_client, clock, worker_id="restarted").run_once()
    assert (report.recovered, report.sent) == (1, 1)
    assert len(slack.messages("C0KUDOS")) == 1
    assert row(session_factory, row_id).state == OutboxState.SENT


def test_when_history_cannot_be_read_a_crash_costs_at_most_one_duplicate(
    session_factory: sessionmaker[Session],
    workspace: Workspace,
    slack: FakeSlack,
    outbox_client: WebClient,
    clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    row_id = queue(session_factory, workspace, "k", clock)
    crash_after_slack_accepts(session_factory, outbox_client, clock, monkeypatch)
    slack.error_next("conversations.history", "missing_scope")
    clock.advance(timedelta(minutes=5))
    dispatcher(session_factory, outbox_client, clock, worker_id="restarted").run_once()
    assert len(slack.messages("C0KUDOS")) == 2  # the documented bound: never lost, at most one extra
    assert row(session_factory, row_id).state == OutboxState.SENT


def build_web_client_like(client: WebClient) -> WebClient:
    return WebClient(token=client.token, base_url=client.base_url, retry_handlers=[])


# -- concurrency and pacing --------------------------------------------------------------------


def test_two_concurrent_dispatchers_send_every_row_exactly_once(
    session_factory: sessionmaker[Session], workspace: Workspace, slack: FakeSlack, settings: Settings, clock
) -> None:
    with session_factory.begin() as session:
        for n in range(120):
            enqueue(session, workspace.id, f"fanout:{n}", {"text": f"n{n}"}, channel_id=f"C{n % 4}", now=clock.now())
    reports = []

    def work(name: str) -> None:
        client = build_web_client(settings, for_outbox=True)
        reports.append(dispatcher(session_factory, client, clock, worker_id=name).run_once())

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    ids = [c["metadata"]["event_payload"]["outbox_id"] for c in slack.calls_to("chat.postMessage")]
    assert len(ids) == 120
    assert len(set(ids)) == 120
    assert sum(r.sent for r in reports) == 120
    with session_factory() as session:
        states = session.scalars(select(OutboxMessage.state)).all()
        assert set(states) == {OutboxState.SENT}


def test_sending_is_paced_by_the_workspace_token_bucket(
    session_factory: sessionmaker[Session], workspace: Workspace, slack: FakeSlack, outbox_client: WebClient, clock
) -> None:
    for n in range(12):
        queue(session_factory, workspace, f"paced:{n}", clock)
    fake_time = FakeTime()
    worker = OutboxDispatcher(
        session_factory,
        SlackSender(outbox_client, rate_per_minute=120, burst=2, monotonic=fake_time.monotonic),  # 2 a second
        clock,
        sleep=fake_time.sleep,
        monotonic=fake_time.monotonic,
    )
    assert worker.run_once(time_budget=3600).sent == 12
    # The first two go at once (burst); the other ten wait half a second each.
    assert sum(fake_time.slept) == pytest.approx(5.0, abs=0.01)


def test_token_bucket_holds_after_a_429() -> None:
    fake_time = FakeTime()
    bucket = TokenBucket(rate_per_minute=60, burst=2, monotonic=fake_time.monotonic)
    assert bucket.try_take() and bucket.try_take()
    assert not bucket.try_take()
    assert bucket.wait_time() == pytest.approx(1.0)
    fake_time.now += 1
    assert bucket.try_take()
    bucket.hold(30)
    fake_time.now += 29.5
    assert not bucket.try_take()
    fake_time.now += 1.5
    assert bucket.try_take()


def test_enqueue_many_is_idempotent_and_checks_every_row(
    session_factory: sessionmaker[Session], workspace: Workspace, clock
) -> None:
    from bot.delivery.outbox import OutboxRow, enqueue_many

    rows = [OutboxRow(f"bulk:{n}", {"text": f"hi {n}"}, clock.now(), channel_id="C1") for n in range(1200)]
    for _ in range(2):
        with session_factory.begin() as session:
            enqueue_many(session, workspace.id, rows)
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1200
    with session_factory() as session, pytest.raises(ValueError, match="bulk:bad"):
        enqueue_many(session, workspace.id, [OutboxRow("bulk:bad", {"text": ""}, clock.now(), channel_id="C1")])
