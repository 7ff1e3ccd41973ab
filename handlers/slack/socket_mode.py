"""Socket Mode: Slack's requests arrive over a WebSocket the bot opens, so no public URL is needed.

Slack replaces each connection every few hours: it sends `disconnect` on the old one, expects the app
to open a new one (`apps.connections.open`), and closes the old one some seconds later, delivering
envelopes on either meanwhile. It may also close a connection without notice. Each envelope must be
acked within 3 s, and one that is not is sent again (same `envelope_id`).

slack_sdk's built-in client stops reading while it swaps connections: its old connection's close waits
for a 3 s socket read to time out, so requests arriving during a refresh were acked about 3 s late, at
Slack's deadline; and after a close without notice it reconnected only at its next health check, up to
10 s later (benchmarks/socket_mode.py). This client, on the `websockets` library:

- reads every connection on a thread of its own, so the old connection keeps acking what it receives
  while the new one opens, and the new one is read from its first frame;
- opens the next connection at once when told to go (`disconnect`) or when the last one closes, and
  backs off (0.5 s doubling to 30 s, or Slack's Retry-After) only while opening fails;
- acks on the connection the envelope came on, or on another one if that one has closed meanwhile;
- handles an envelope once: a redelivered `envelope_id` is acked again with the first answer (Slack
  missed it) but never dispatched twice. Events are also deduplicated by `event_id` in the database
  (handlers/slack/app.py), which survives a restart; this in-memory guard covers slash commands and clicks.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.request import SocketModeRequest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from handlers.slack.app import LISTENER_THREADS

logger = logging.getLogger(__name__)

# Slack redelivers within minutes; ten thousand ids cover far more than that at this bot's traffic.
REMEMBERED_ENVELOPES = 10_000
FIRST_RETRY_SECONDS = 0.5
LONGEST_RETRY_SECONDS = 30.0
# Slack pings every few seconds; our own pings find a connection that died without a close frame.
PING_SECONDS = 10.0


@dataclass(eq=False)
class _Link:
    number: int
    socket: ClientConnection
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    reader: threading.Thread = field(init=False)

    def send(self, text: str) -> None:
        with self.send_lock:
            self.socket.send(text)


class SocketMode:
    """Runs a Bolt `App` over Socket Mode: `start()` connects (and raises if Slack refuses the app
    token), `stop()` closes every connection and waits for the requests in hand to be acked."""

    def __init__(
        self, app: App, app_token: str, *, web_client: WebClient | None = None, threads: int = LISTENER_THREADS
    ) -> None:
        self._app = app
        self._token = app_token
        self._web = web_client or app.client
        # Each thread waits in Bolt's dispatch until the listener acks; listeners run on Bolt's own pool.
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="socket-mode")
        self._lock = threading.Lock()
        self._links: list[_Link] = []
        self._opened = 0
        self._opening = False
        self._stopping = threading.Event()
        # envelope_id -> the ack we sent (None while its request is being handled)
        self._seen: OrderedDict[str, str | None] = OrderedDict()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._open_link()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()  # from now on envelopes are left unacked: Slack delivers them again elsewhere
        self._pool.shutdown(wait=True)  # the requests in hand are acked while their connections are open
        with self._lock:
            links = list(self._links)
        for link in links:
            link.socket.close()
        for link in links:
            if link.reader.ident is not None:
                link.reader.join(timeout)

    def connections(self) -> int:
        with self._lock:
            return len(self._links)

    # -- connections -------------------------------------------------------------------------

    def _open_link(self) -> None:
        url = self._web.apps_connections_open(app_token=self._token)["url"]
        opened = connect(
            url,
            open_timeout=5,
            close_timeout=2,
            ping_interval=PING_SECONDS,
            ping_timeout=PING_SECONDS,
            compression=None,
        )
        # `with connect(...) as socket` is the form every websockets version takes (17.1 deprecates the
        # bare call); this connection outlives the call, so it is entered by hand and closed by its reader.
        socket: ClientConnection = opened.__enter__()
        with self._lock:
            stopped = self._stopping.is_set()  # stop() ran while this connection was opening
            if not stopped:
                self._opened += 1
                link = _Link(self._opened, socket)
                link.reader = threading.Thread(
                    target=self._read, args=(link,), name=f"socket-mode-{link.number}", daemon=True
                )
                self._links.append(link)
        if stopped:
            socket.close()
            return
        link.reader.start()
        logger.info("Socket Mode connection %d open", link.number)

    def _open_next(self, why: str, replacing: _Link | None = None) -> None:
        """Open another connection in the background, unless one is being opened already (or one newer
        than `replacing` is open: Slack said `disconnect` again on a connection already replaced)."""
        with self._lock:
            newer = replacing is not None and any(link.number > replacing.number for link in self._links)
            if self._opening or newer or self._stopping.is_set():
                return
            self._opening = True
        logger.info("opening a new Socket Mode connection (%s)", why)
        threading.Thread(target=self._keep_opening, name="socket-mode-open", daemon=True).start()

    def _keep_opening(self) -> None:
        wait = FIRST_RETRY_SECONDS
        try:
            while not self._stopping.is_set():
                try:
                    self._open_link()
                    return
                except Exception as error:  # Slack refusing, the network, a bad handshake: all retried
                    # Never the error's text: Slack's answers can quote the request, which held the token.
                    pause = max(wait, _retry_after(error))
                    logger.warning(
                        "could not open a Socket Mode connection (%s); retrying in %.1f s", type(error).__name__, pause
                    )
                    self._stopping.wait(pause)
                    wait = min(wait * 2, LONGEST_RETRY_SECONDS)
        finally:
            with self._lock:
                self._opening = False

    def _read(self, link: _Link) -> None:
        try:
            for raw in link.socket:
                self._on_message(link, raw)
        except ConnectionClosed:
            pass
        except Exception as error:  # a reader that dies must still hand over to a new connection
            logger.error("Socket Mode connection %d failed: %s", link.number, type(error).__name__)
        finally:
            link.socket.close()
            with self._lock:
                self._links.remove(link)
                last = not self._links
            logger.info("Socket Mode connection %d closed", link.number)
            if last:
                self._open_next("the last connection closed")

    def _on_message(self, link: _Link, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            logger.warning("Socket Mode connection %d sent something that is not JSON; ignored", link.number)
            return
        if not isinstance(message, dict):
            return
        kind = message.get("type")
        if kind == "hello":
            logger.info("Socket Mode connection %d ready", link.number)
        elif kind == "disconnect":
            # The old connection stays open and read until Slack closes it.
            self._open_next(f"Slack asked, reason {str(message.get('reason'))[:40]}", replacing=link)
        elif isinstance(message.get("envelope_id"), str):
            self._receive(link, message)

    # -- envelopes ---------------------------------------------------------------------------

    def _receive(self, link: _Link, message: dict[str, Any]) -> None:
        envelope_id: str = message["envelope_id"]
        if self._stopping.is_set():
            return  # unacked: Slack delivers it again to the next connection
        with self._lock:
            first = envelope_id not in self._seen
            if first:
                self._seen[envelope_id] = None
                while len(self._seen) > REMEMBERED_ENVELOPES:
                    self._seen.popitem(last=False)
            ack = self._seen.get(envelope_id)
        if not first:
            logger.info("envelope %s delivered again; not handled twice", envelope_id)
            if ack is not None:
                self._send(link, ack)  # Slack did not get our ack: give it again
            return
        try:
            self._pool.submit(self._handle, link, message)
        except RuntimeError:  # stop() shut the pool meanwhile: left unacked, so Slack delivers it again
            with self._lock:
                self._seen.pop(envelope_id, None)

    def _handle(self, link: _Link, message: dict[str, Any]) -> None:
        envelope_id: str = message["envelope_id"]
        ack: str | None = None
        try:
            request = SocketModeRequest.from_dict(message)
            if request is not None:
                ack = _ack_for(envelope_id, self._app.dispatch(_bolt_request(request)))
        except Exception as error:
            logger.error("could not handle envelope %s: %s", envelope_id, type(error).__name__)
        with self._lock:
            if ack is None:
                # No answer for Slack (Bolt had no listener, or it failed before acking): a redelivery
                # is handled afresh.
                self._seen.pop(envelope_id, None)
                return
            self._seen[envelope_id] = ack
        self._send(link, ack)

    def _send(self, link: _Link, text: str) -> None:
        with self._lock:
            others = [other for other in reversed(self._links) if other is not link]
        for target in (link, *others):
            try:
                target.send(text)
                return
            except ConnectionClosed:
                continue
        logger.warning("no open Socket Mode connection to ack on; Slack will deliver the request again")


def _bolt_request(request: SocketModeRequest) -> BoltRequest:
    """What slack_bolt's own Socket Mode adapters build: Slack's retry count goes where HTTP puts it."""
    headers: dict[str, str | Sequence[str]] = {}
    if request.retry_attempt is not None:
        headers["x-slack-retry-num"] = str(request.retry_attempt)
    if request.retry_reason is not None:
        headers["x-slack-retry-reason"] = request.retry_reason
    return BoltRequest(mode="socket_mode", body=request.payload, headers=headers or None)


def _retry_after(error: Exception) -> float:
    """Seconds Slack asked us to wait (apps.connections.open is rate-limited per minute), else 0."""
    if not isinstance(error, SlackApiError) or error.response.status_code != 429:
        return 0.0
    headers = {str(name).lower(): value for name, value in (error.response.headers or {}).items()}
    value = headers.get("retry-after", "60")
    try:
        return float(value[0] if isinstance(value, list) else value)
    except (TypeError, ValueError, IndexError):
        return 60.0


def _ack_for(envelope_id: str, response: BoltResponse) -> str | None:
    """The ack message for Bolt's response, as slack_bolt's own Socket Mode adapters build it."""
    if response.status != 200:
        logger.info("Bolt answered %d; envelope %s left unacked", response.status, envelope_id)
        return None
    ack: dict[str, Any] = {"envelope_id": envelope_id}
    if response.body:
        content_type = (response.headers.get("content-type") or [""])[0]
        ack["payload"] = (
            json.loads(response.body) if content_type.startswith("application/json") else {"text": response.body}
        )
    return json.dumps(ack)
