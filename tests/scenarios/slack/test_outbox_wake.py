"""A message goes out as soon as it is queued, not at the dispatcher's next poll: in this process by an
event set at commit, from another process by PostgreSQL's NOTIFY. The poll stays as the fallback."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from slack_sdk import WebClient
from sqlalchemy import Engine, insert, text
from sqlalchemy.orm import Session, sessionmaker

from bot.core.clock import SystemClock
from bot.core.database import make_engine
from bot.core.models import OutboxMessage, OutboxState, Workspace
from bot.core.settings import Settings
from bot.delivery.outbox import QUEUED, OutboxDispatcher, allow_lingering, enqueue, listen_for_queued, stop_lingering
from bot.delivery.scheduler import Scheduler
from bot.jobs import build_jobs
from handlers.slack.client import build_web_client
from handlers.slack.platform import SlackPlatform
from handlers.slack.sender import SlackSender
from tests.fakes.slack.api import FakeSlack

# Far longer than any wait below: a message that arrives in time was woken for, not polled for.
NEVER_POLLS = 60.0


def _lingering(session_factory: sessionmaker[Session], client: WebClient) -> threading.Thread:
    allow_lingering()
    QUEUED.clear()
    dispatcher = OutboxDispatcher(
        session_factory,
        SlackSender(client, rate_per_minute=100_000, burst=1000),
        SystemClock(),
        wake=QUEUED,
        poll_seconds=NEVER_POLLS,
    )
    thread = threading.Thread(target=dispatcher.run_once, kwargs={"time_budget": 30}, daemon=True)
    thread.start()
    time.sleep(0.2)  # it has looked, found nothing, and waits
    return thread


def _stop(thread: threading.Thread) -> None:
    stop_lingering()
    thread.join(5)
    assert not thread.is_alive(), "a stopping dispatcher must not linger"
    allow_lingering()


def test_a_message_queued_in_this_process_goes_out_without_waiting_for_the_poll(
    settings: Settings, session_factory: sessionmaker[Session], workspace: Workspace, slack: FakeSlack
) -> None:
    thread = _lingering(session_factory, build_web_client(settings, for_outbox=True))
    try:
        with session_factory.begin() as session:
            enqueue(session, workspace.id, "now", {"text": "Thank you, Ana"}, channel_id="C0KUDOS")
        sent = slack.wait_for("chat.postMessage", timeout=5)
        assert [m["text"] for m in sent] == ["Thank you, Ana"]
        # A transaction that queues and then rolls back wakes nobody for nothing, and sends nothing.
        with pytest.raises(RuntimeError), session_factory.begin() as session:
            enqueue(session, workspace.id, "never", {"text": "never"}, channel_id="C0KUDOS")
            raise RuntimeError("the request failed after queueing")
        time.sleep(0.3)
        assert len(slack.calls_to("chat.postMessage")) == 1
    finally:
        _stop(thread)


@pytest.mark.postgres
def test_a_message_queued_by_another_process_wakes_the_dispatcher_through_notify(
    settings: Settings,
    session_factory: sessionmaker[Session],
    workspace: Workspace,
    slack: FakeSlack,
    db_url: str,
    engine: Engine,
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    stop = threading.Event()
    listening = listen_for_queued(db_url, stop)
    assert listening is not None
    thread = _lingering(session_factory, build_web_client(settings, for_outbox=True))
    other = make_engine(db_url)  # another process: no in-process event, only its NOTIFY
    try:
        time.sleep(0.5)  # the listener is connected
        with other.begin() as connection:
            connection.execute(
                insert(OutboxMessage).values(
                    workspace_id=workspace.id,
                    idempotency_key="from-the-web-process",
                    channel_id="C0KUDOS",
                    payload={"text": "Queued elsewhere"},
                    state=OutboxState.PENDING.value,
                    due_at=datetime.now(UTC),
                    attempts=0,
                )
            )
            connection.execute(text("NOTIFY empathy_outbox"))
        sent = slack.wait_for("chat.postMessage", timeout=5)
        assert [m["text"] for m in sent] == ["Queued elsewhere"]
    finally:
        stop.set()
        _stop(thread)
        listening.join(5)
        other.dispose()


def test_a_worker_stops_at_once_even_while_its_dispatcher_lingers(
    settings: Settings, session_factory: sessionmaker[Session], engine: Engine
) -> None:
    scheduler = Scheduler(
        build_jobs(settings, session_factory, [SlackPlatform(settings, session_factory)], linger=True),
        session_factory,
        engine,
        SystemClock(),
    )
    assert scheduler.start()
    time.sleep(2.5)  # the dispatch job has started and waits for work
    started = time.monotonic()
    scheduler.shutdown()
    assert time.monotonic() - started < 5  # not the rest of its 50-second run
