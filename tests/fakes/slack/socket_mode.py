"""A fake of Slack's Socket Mode: the WebSocket side of it, on an ephemeral port.

`FakeSlack` answers `apps.connections.open` (for an `xapp-` token) with this server's URL. Each
connection gets `hello`; the test then pushes envelopes, asks for a refresh (`disconnect`, then a
close some seconds later, as Slack does) or hangs up without notice, and reads back what the app
acked and when. Like Slack, an envelope pushed while no connection is open waits for the next one,
and goes to the newest connection that is open.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from tests.fakes.slack.api import FakeSlack
from tests.support.slack_requests import slash_command_fields

# Slack's side logs nothing: at DEBUG its frame dumps would stand for the bot's in a test of the bot's logs.
_SERVER_LOG = logging.getLogger("tests.fakes.slack.socket_mode")
_SERVER_LOG.setLevel(logging.WARNING)


@dataclass
class Ack:
    envelope_id: str
    connection: int
    at: float  # time.monotonic()
    payload: dict[str, Any] | None


@dataclass
class Connection:
    number: int
    ticket: str
    opened_at: float
    socket: ServerConnection
    closed_at: float | None = None
    told_to_leave: bool = False  # a `disconnect` was sent on it


@dataclass
class Pushed:
    envelope_id: str
    at: float  # when the fake first tried to deliver it
    connections: list[int] = field(default_factory=list)


class FakeSocketMode:
    def __init__(self, slack: FakeSlack) -> None:
        self.slack = slack
        self._lock = threading.Condition()
        self.connections: list[Connection] = []
        self.acks: list[Ack] = []
        self.pushed: dict[str, Pushed] = {}
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._timers: list[threading.Timer] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeSocketMode:
        # No compression and no keepalive pings of its own: Slack's frames are small, and a test
        # that wants a silent server gets one.
        self._server = serve(self._serve, "127.0.0.1", 0, compression=None, ping_interval=None, logger=_SERVER_LOG)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-socket-mode", daemon=True)
        self._thread.start()
        self.slack.socket_mode_url = self.url
        return self

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
        for connection in self.connections:
            connection.socket.close()

    def __enter__(self) -> FakeSocketMode:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/link/"

    # -- the server side of one connection ---------------------------------------------------

    def _serve(self, socket: ServerConnection) -> None:
        ticket = socket.request.path.partition("ticket=")[2] if socket.request else ""
        with self._lock:
            connection = Connection(len(self.connections) + 1, ticket, time.monotonic(), socket)
            self.connections.append(connection)
            self._lock.notify_all()
        hello = {
            "type": "hello",
            "num_connections": sum(1 for c in self.connections if c.closed_at is None),
            "debug_info": {"host": "fake-socket-mode", "approximate_connection_time": 18060},
            "connection_info": {"app_id": "A0EMPATHY"},
        }
        try:
            socket.send(json.dumps(hello))
            for raw in socket:
                message = json.loads(raw)
                with self._lock:
                    self.acks.append(
                        Ack(
                            str(message.get("envelope_id")), connection.number, time.monotonic(), message.get("payload")
                        )
                    )
                    self._lock.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                connection.closed_at = connection.closed_at or time.monotonic()
                self._lock.notify_all()

    # -- what a test does --------------------------------------------------------------------

    def open_connections(self) -> list[Connection]:
        with self._lock:
            return [c for c in self.connections if c.closed_at is None]

    def wait_all_closed(self, timeout: float = 5) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: all(c.closed_at is not None for c in self.connections), timeout)

    def wait_connections(self, count: int, timeout: float = 10) -> Connection:
        """Wait until `count` connections were opened in all; return the latest."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.connections) >= count, timeout):
                raise AssertionError(f"the app opened {len(self.connections)} connection(s), expected {count}")
            return self.connections[count - 1]

    def push(self, envelope: dict[str, Any], *, on: Connection | None = None, timeout: float = 10) -> str:
        """Deliver `envelope` on the newest open connection that was not told to leave (else on the
        newest open one), or on `on` while it is open, waiting for one if none is open; return its
        envelope id."""
        envelope_id = envelope["envelope_id"]
        first_try = time.monotonic()
        deadline = first_try + timeout
        with self._lock:
            pushed = self.pushed.setdefault(envelope_id, Pushed(envelope_id, first_try))
        while True:
            with self._lock:
                self._lock.wait_for(lambda: bool(self._open()), max(0.0, deadline - time.monotonic()))
                candidates = self._open()
                if on is not None and on.closed_at is None:
                    candidates = [on]
            if not candidates:
                raise AssertionError(f"no connection to deliver {envelope_id} on")
            target = candidates[0]
            try:
                target.socket.send(json.dumps(envelope))
                with self._lock:
                    pushed.connections.append(target.number)
                return str(envelope_id)
            except ConnectionClosed:
                with self._lock:
                    target.closed_at = target.closed_at or time.monotonic()
                if time.monotonic() > deadline:
                    raise AssertionError(f"no connection to deliver {envelope_id} on") from None

    def _open(self) -> list[Connection]:
        live = [c for c in self.connections if c.closed_at is None]
        return sorted(live, key=lambda c: (not c.told_to_leave, c.number), reverse=True)

    def refresh(
        self, *, close_after: float = 5.0, reason: str = "refresh_requested", on: Connection | None = None
    ) -> Connection:
        """Tell the newest connection (or `on`) to go (`disconnect`), and close it `close_after` seconds later."""
        target = on or self._open()[0]
        target.told_to_leave = True
        target.socket.send(json.dumps({"type": "disconnect", "reason": reason, "debug_info": {"host": "fake"}}))
        timer = threading.Timer(close_after, self._close, args=(target, 1001))
        timer.daemon = True
        timer.start()
        self._timers.append(timer)
        return target

    def hang_up(self) -> Connection:
        """Close the newest connection at once, without a `disconnect` first (a close frame and nothing else)."""
        target = self._open()[0]
        # On a thread: the closing handshake may wait for the client, and Slack goes on meanwhile.
        threading.Thread(target=self._close, args=(target, 1011), daemon=True).start()
        with self._lock:
            self._lock.wait_for(lambda: target.closed_at is not None, 5)
        return target

    def _close(self, target: Connection, code: int) -> None:
        with self._lock:
            # Closed from now on: nothing more is delivered on it, whenever the client answers.
            target.closed_at = target.closed_at or time.monotonic()
            self._lock.notify_all()
        target.socket.close(code, "")

    def ack_of(self, envelope_id: str, timeout: float = 10) -> Ack:
        with self._lock:
            if not self._lock.wait_for(lambda: any(a.envelope_id == envelope_id for a in self.acks), timeout):
                raise AssertionError(f"envelope {envelope_id} was not acked within {timeout} s")
            return next(a for a in self.acks if a.envelope_id == envelope_id)

    def acks_of(self, envelope_id: str) -> list[Ack]:
        with self._lock:
            return [a for a in self.acks if a.envelope_id == envelope_id]

    def ack_latency(self, envelope_id: str, timeout: float = 10) -> float:
        """Seconds from the first attempt to deliver the envelope to its ack."""
        return self.ack_of(envelope_id, timeout).at - self.pushed[envelope_id].at


# -- envelopes as Slack sends them -----------------------------------------------------------


def envelope_id() -> str:
    return str(uuid.uuid4())


def slash_command(
    command: str, text: str, *, user_id: str, team_id: str, response_url: str, envelope: str | None = None
) -> dict[str, Any]:
    return {
        "envelope_id": envelope or envelope_id(),
        "type": "slash_commands",
        "accepts_response_payload": True,
        "payload": slash_command_fields(command, text, user_id=user_id, team_id=team_id, response_url=response_url),
    }


def app_home_opened(user_id: str, *, team_id: str, event_id: str, envelope: str | None = None) -> dict[str, Any]:
    return {
        "envelope_id": envelope or envelope_id(),
        "type": "events_api",
        "accepts_response_payload": False,
        "retry_attempt": 0,
        "retry_reason": "",
        "payload": {
            "token": "legacy-verification-token",
            "team_id": team_id,
            "api_app_id": "A0EMPATHY",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": {"type": "app_home_opened", "user": user_id, "channel": "D0HOME", "tab": "home"},
        },
    }
