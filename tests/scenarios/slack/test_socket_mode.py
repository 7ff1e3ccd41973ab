"""Socket Mode end to end: the real Bolt app behind the client `empathy-bot serve` runs
(handlers/slack/socket_mode.py), a real WebSocket to tests/fakes/slack/socket_mode.py, and the real WebClient against the
fake Slack API for `apps.connections.open` and everything the listeners do.

Timing bounds here are loose on purpose (a loaded 2-core machine); benchmarks/socket_mode.py has the figures.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.cli.main import CommandError, _serve_socket_mode
from bot.kudos.models import Kudos
from handlers.slack.socket_mode import SocketMode
from tests.conftest import TEAM_ID
from tests.fakes.slack.api import FakeSlack
from tests.fakes.slack.socket_mode import FakeSocketMode, app_home_opened, slash_command
from tests.support.harness import Harness, make_harness

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
APP_TOKEN = "xapp-1-A0EMPATHY-1-socketmodetoken"
PEOPLE = [("U0ANA", "Ana Souza"), ("U0BEN", "Ben Okafor")]
# Slack waits 3 s for an ack; an ack during a refresh took ~3 s with slack_sdk's built-in client.
PROMPT = 1.0


@pytest.fixture
def harness(slack: FakeSlack, db_url: str, engine: Engine, session_factory: sessionmaker[Session]) -> Harness:
    return make_harness(
        slack, db_url, engine, session_factory, people=PEOPLE, now=NOW, env={"SLACK_APP_TOKEN": APP_TOKEN}
    )


@pytest.fixture
def socket_server(slack: FakeSlack) -> Iterator[FakeSocketMode]:
    with FakeSocketMode(slack) as server:
        yield server


@pytest.fixture
def client(harness: Harness, socket_server: FakeSocketMode) -> Iterator[SocketMode]:
    assert harness.settings.socket_mode
    running = SocketMode(harness.app, APP_TOKEN)
    running.start()
    socket_server.wait_connections(1)
    yield running
    running.stop()


def kudos_command(harness: Harness, text: str, envelope: str | None = None) -> dict:
    return slash_command(
        "/kudos",
        text,
        user_id="U0ANA",
        team_id=TEAM_ID,
        response_url=harness.requests.response_url(),
        envelope=envelope,
    )


def kudos_stored(harness: Harness) -> int:
    with harness.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(Kudos)) or 0)


def test_a_slash_command_is_acked_over_the_socket_and_handled(
    harness: Harness, socket_server: FakeSocketMode, client: SocketMode, slack: FakeSlack
) -> None:
    opened = slack.calls_to("apps.connections.open")
    assert len(opened) == 1

    help_ack = socket_server.ack_of(socket_server.push(kudos_command(harness, "help")))
    assert help_ack.payload is not None and help_ack.payload["response_type"] == "ephemeral"
    assert "/kudos" in help_ack.payload["text"]

    given = socket_server.ack_of(socket_server.push(kudos_command(harness, "<@U0BEN> thanks for the review")))
    assert given.payload is None  # acked before the database work; the answer comes by response_url
    reply = harness.wait_reply(1)
    assert "Ben" in reply["text"] or "<@U0BEN>" in reply["text"]
    assert kudos_stored(harness) == 1


def test_requests_during_a_refresh_are_acked_at_once_and_each_once(
    harness: Harness, socket_server: FakeSocketMode, client: SocketMode, slack: FakeSlack
) -> None:
    old = socket_server.refresh(close_after=4)
    # Slack delivers on either connection meanwhile: one on the old, then on the newest, after a pause
    # (the built-in client read neither while its old connection's idle 3 s read held it up).
    sent = [socket_server.push(kudos_command(harness, "help"), on=old)]
    time.sleep(0.3)
    for _ in range(6):
        sent.append(socket_server.push(kudos_command(harness, "help")))
        time.sleep(0.05)

    latencies = [socket_server.ack_latency(envelope) for envelope in sent]
    assert max(latencies) < PROMPT, latencies
    assert all(len(socket_server.acks_of(envelope)) == 1 for envelope in sent)
    # The app opened a second connection with a fresh URL while the old one was still open.
    new = socket_server.wait_connections(2)
    assert new.ticket != old.ticket
    assert len(slack.calls_to("apps.connections.open")) == 2
    assert old.closed_at is None or old.closed_at > new.opened_at

    # Once Slack closes the old connection, the app keeps the new one and opens no third.
    deadline = time.monotonic() + 8
    while old.closed_at is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert old.closed_at is not None
    time.sleep(0.3)
    assert [c.number for c in socket_server.open_connections()] == [new.number]
    assert client.connections() == 1
    assert socket_server.ack_latency(socket_server.push(kudos_command(harness, "help"))) < PROMPT


def test_a_second_disconnect_on_a_replaced_connection_opens_no_third(
    harness: Harness, socket_server: FakeSocketMode, client: SocketMode, slack: FakeSlack
) -> None:
    old = socket_server.refresh(close_after=3)
    socket_server.wait_connections(2)
    socket_server.refresh(close_after=3, reason="warning", on=old)
    time.sleep(0.5)
    assert len(socket_server.connections) == 2
    assert len(slack.calls_to("apps.connections.open")) == 2


def test_a_connection_closed_without_notice_is_replaced_at_once(
    harness: Harness, socket_server: FakeSocketMode, client: SocketMode, slack: FakeSlack
) -> None:
    closed = socket_server.hang_up()
    new = socket_server.wait_connections(2, timeout=5)
    assert closed.closed_at is not None
    assert new.opened_at - closed.closed_at < 2.0
    assert len(slack.calls_to("apps.connections.open")) == 2

    socket_server.push(kudos_command(harness, "<@U0BEN> thanks for staying late"))
    assert harness.wait_reply(1)
    assert kudos_stored(harness) == 1


def test_reconnecting_backs_off_while_slack_refuses_and_recovers(
    harness: Harness, socket_server: FakeSocketMode, client: SocketMode, slack: FakeSlack
) -> None:
    slack.error_next("apps.connections.open", "internal_error", times=2)
    socket_server.hang_up()
    socket_server.wait_connections(2, timeout=8)
    # The two refusals, then the call that worked: no tight loop of calls.
    assert len(slack.calls_to("apps.connections.open")) == 1 + 3


def test_reconnecting_waits_as_long_as_slack_asks_when_rate_limited(
    harness: Harness, socket_server: FakeSocketMode, client: SocketMode, slack: FakeSlack
) -> None:
    # apps.connections.open is limited per minute: the WebClient retries a 429 once after its
    # Retry-After, and then the client itself must wait that long too, not its 0.5 s first backoff.
    slack.fail_next("apps.connections.open", status=429, times=2, retry_after=2)
    closed = socket_server.hang_up()
    new = socket_server.wait_connections(2, timeout=10)
    assert closed.closed_at is not None
    assert new.opened_at - closed.closed_at >= 3.9  # 2 s in the WebClient, 2 s in the client
    assert len(slack.calls_to("apps.connections.open")) == 1 + 3


def test_a_redelivered_envelope_is_acked_again_but_handled_once(
    harness: Harness, socket_server: FakeSocketMode, client: SocketMode, slack: FakeSlack
) -> None:
    envelope = kudos_command(harness, "<@U0BEN> thanks for the demo")
    socket_server.push(envelope)
    socket_server.ack_of(envelope["envelope_id"])
    harness.wait_reply(1)

    # Slack missed the ack (the connection was being replaced) and delivers it again, on a new connection.
    socket_server.hang_up()
    socket_server.wait_connections(2)
    socket_server.push({**envelope, "retry_attempt": 1, "retry_reason": "timeout"})
    deadline = time.monotonic() + 30
    while len(socket_server.acks_of(envelope["envelope_id"])) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(socket_server.acks_of(envelope["envelope_id"])) == 2
    time.sleep(0.5)  # room for a second handling to show up
    assert len(harness.replies()) == 1  # one "sent", not a second "already on its way"
    assert kudos_stored(harness) == 1


def test_an_envelope_delivered_twice_at_once_is_handled_once(
    harness: Harness, socket_server: FakeSocketMode, client: SocketMode
) -> None:
    # The second copy arrives while the first is still being handled, on another connection.
    socket_server.refresh(close_after=3)
    new = socket_server.wait_connections(2)
    envelope = kudos_command(harness, "<@U0BEN> thanks for covering my shift")
    socket_server.push(envelope, on=socket_server.connections[0])
    socket_server.push({**envelope, "retry_attempt": 1, "retry_reason": "timeout"}, on=new)
    socket_server.ack_of(envelope["envelope_id"])
    harness.wait_reply(1)
    time.sleep(0.5)
    assert len(harness.replies()) == 1
    assert kudos_stored(harness) == 1


def test_a_redelivered_help_gets_the_same_answer(
    harness: Harness, socket_server: FakeSocketMode, client: SocketMode
) -> None:
    envelope = kudos_command(harness, "help")
    socket_server.push(envelope)
    socket_server.ack_of(envelope["envelope_id"])
    socket_server.push(envelope)
    deadline = time.monotonic() + 30
    while len(socket_server.acks_of(envelope["envelope_id"])) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    first, second = socket_server.acks_of(envelope["envelope_id"])
    assert first.payload == second.payload and first.payload is not None


def test_an_event_sent_again_under_a_new_envelope_is_handled_once(
    harness: Harness, socket_server: FakeSocketMode, client: SocketMode, slack: FakeSlack
) -> None:
    # After a restart the in-memory envelope ids are gone; the event id in the database still holds.
    first = app_home_opened("U0ANA", team_id=TEAM_ID, event_id="Ev0SOCKET1")
    again = app_home_opened("U0ANA", team_id=TEAM_ID, event_id="Ev0SOCKET1")
    socket_server.ack_of(socket_server.push(first))
    slack.wait_for("views.publish", 1)
    socket_server.ack_of(socket_server.push(again))
    time.sleep(0.5)
    assert len(slack.calls_to("views.publish")) == 1


def test_concurrent_requests_are_acked_without_waiting_for_each_other(
    harness: Harness, socket_server: FakeSocketMode, client: SocketMode
) -> None:
    envelopes = [kudos_command(harness, "help") for _ in range(20)]
    threads = [threading.Thread(target=socket_server.push, args=(e,)) for e in envelopes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(socket_server.ack_latency(e["envelope_id"]) < PROMPT * 3 for e in envelopes)


def test_stop_closes_the_connection_and_reconnects_no_more(
    harness: Harness, socket_server: FakeSocketMode, slack: FakeSlack
) -> None:
    running = SocketMode(harness.app, APP_TOKEN)
    running.start()
    connection = socket_server.wait_connections(1)
    running.stop()
    assert socket_server.wait_all_closed()
    assert connection.closed_at is not None
    time.sleep(0.5)
    assert len(socket_server.connections) == 1
    assert len(slack.calls_to("apps.connections.open")) == 1
    assert not [t for t in threading.enumerate() if t.name.startswith("socket-mode")]


def test_serve_says_what_to_do_when_slack_refuses_the_app_token(harness: Harness, slack: FakeSlack) -> None:
    slack.error_next("apps.connections.open", "invalid_auth")
    with pytest.raises(CommandError, match=r"refused SLACK_APP_TOKEN \(invalid_auth\).*connections:write"):
        _serve_socket_mode(harness.settings, None)


def test_serve_answers_over_socket_mode_until_sigterm_then_closes(
    harness: Harness, socket_server: FakeSocketMode, slack: FakeSlack
) -> None:
    """`empathy-bot serve`'s own Socket Mode path: the app it builds, the client it picks, its signal stop."""
    acked: list[dict | None] = []

    def slack_side() -> None:
        try:
            socket_server.wait_connections(1)
            acked.append(socket_server.ack_of(socket_server.push(kudos_command(harness, "help"))).payload)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    thread = threading.Thread(target=slack_side)
    thread.start()
    try:
        assert _serve_socket_mode(harness.settings, None) == 0
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        thread.join()
    assert acked and acked[0] is not None and "/kudos" in acked[0]["text"]
    assert socket_server.wait_all_closed()
    assert not [t for t in threading.enumerate() if t.name.startswith("socket-mode")]


def test_stop_acks_the_requests_in_hand_before_closing(
    harness: Harness, socket_server: FakeSocketMode, slack: FakeSlack
) -> None:
    entered = threading.Event()

    def slow(body: dict, next: Callable[[], None]) -> None:
        entered.set()
        time.sleep(0.5)  # a request still being answered when SIGTERM comes
        next()

    harness.app.use(slow)
    running = SocketMode(harness.app, APP_TOKEN)
    running.start()
    socket_server.wait_connections(1)
    envelope_id = socket_server.push(kudos_command(harness, "help"))
    assert entered.wait(5)
    running.stop()
    assert socket_server.ack_of(envelope_id, timeout=1).payload is not None
    assert socket_server.wait_all_closed()


def test_debug_logging_never_shows_what_people_typed(
    harness: Harness, socket_server: FakeSocketMode, caplog: pytest.LogCaptureFixture
) -> None:
    # LOG_LEVEL=DEBUG: the WebSocket library logs each frame's opening bytes, and nothing in the
    # protocol keeps a person's words out of them (here the payload comes first in the envelope).
    caplog.set_level(logging.DEBUG)
    harness.app.client  # noqa: B018  (create_app ran guard_loggers already)
    running = SocketMode(harness.app, APP_TOKEN)
    running.start()
    try:
        envelope = kudos_command(harness, "<@U0BEN> zqx-secret")
        payload_first = {"payload": {"text": envelope["payload"]["text"], **envelope["payload"]}}
        socket_server.push(payload_first | {k: v for k, v in envelope.items() if k != "payload"})
        socket_server.ack_of(envelope["envelope_id"])
        harness.wait_reply(1)
    finally:
        running.stop()
    assert "zqx-secret" not in caplog.text
    assert APP_TOKEN not in caplog.text
