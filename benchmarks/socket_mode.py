"""Socket Mode while Slack refreshes the connection: ack latency and time to reconnect, per client.

The real Bolt app (`create_app`) behind each Socket Mode client, against the fake Socket Mode server
(tests/fakes/slack/socket_mode.py) and the fake Slack API, all in this process, on 127.0.0.1. Each request is
`/kudos help`, which Bolt acks with the help text before touching the database, so the figures are the
client's own. Three measurements per client:

- steady: requests every 20 ms on one connection, nothing happening (the baseline);
- refresh: Slack sends `disconnect`, then one request on the old connection at once and one every
  100 ms for 1.5 s on the newest connection (the new one as soon as the client has opened it), then
  closes the old connection `--close-after` seconds after the `disconnect`;
- hang-up: Slack closes the connection with no `disconnect` first, and a request arrives at once: the
  time until a new connection is open, and until that request is acked.

Every request must be acked exactly once (an envelope acked twice was handled twice; one not acked
within 10 s is lost). For handlers/slack/socket_mode.py a failure of that check prints `RESULT: FAILED`.

    .venv/bin/python -m benchmarks.socket_mode                 # all clients, ~2 min
    .venv/bin/python -m benchmarks.socket_mode --clients ours --rounds 20
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from benchmarks._support import new_secret_key, percentile, settings_env, temporary_database

APP_TOKEN = "xapp-1-A0BENCH-1-benchmark"
LOST_AFTER = 10.0


class Client(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


class _SdkClient:
    """One of slack_bolt's Socket Mode handlers (each wraps the slack_sdk client of the same name)."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler

    def start(self) -> None:
        self.handler.connect()

    def stop(self) -> None:
        self.handler.close()


def _builtin(**options: Any) -> Callable[[Any], Client]:
    def make(app: Any) -> Client:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        return _SdkClient(SocketModeHandler(app, APP_TOKEN, **options))

    return make


def _websocket_client(app: Any) -> Client:
    from slack_bolt.adapter.socket_mode.websocket_client import SocketModeHandler

    return _SdkClient(SocketModeHandler(app, APP_TOKEN))


def _ours(app: Any) -> Client:
    from handlers.slack.socket_mode import SocketMode

    return SocketMode(app, APP_TOKEN)


CLIENTS: dict[str, tuple[str, Callable[[Any], Client]]] = {
    "builtin": ("slack_sdk built-in, defaults (before)", _builtin()),
    "builtin-ping1": ("slack_sdk built-in, ping_interval=1", _builtin(ping_interval=1)),
    "websocket-client": ("slack_sdk websocket_client, defaults", _websocket_client),
    "ours": ("handlers/slack/socket_mode.py (websockets)", _ours),
}


@dataclass
class Figures:
    steady: list[float] = field(default_factory=list)
    refresh: list[float] = field(default_factory=list)
    reconnect: list[float] = field(default_factory=list)
    after_hang_up: list[float] = field(default_factory=list)
    requests: int = 0
    lost: int = 0
    twice: int = 0


def measure(make: Callable[[Any], Client], rounds: int, close_after: float) -> Figures:
    from bot.core.settings import load_settings
    from handlers.slack.app import create_app
    from tests.fakes.slack.api import FakeSlack
    from tests.fakes.slack.socket_mode import FakeSocketMode, slash_command

    figures = Figures()
    slack = FakeSlack(team_id="T0BENCH").start()
    server = FakeSocketMode(slack).start()
    with temporary_database("sqlite") as url:
        settings = load_settings(settings_env(slack.url, url, new_secret_key(), SLACK_APP_TOKEN=APP_TOKEN))
        client = make(create_app(settings))
        client.start()
        server.wait_connections(1)
        pushed: list[str] = []

        def request(**where: Any) -> str:
            envelope = slash_command(
                "/kudos", "help", user_id="U0BENCH", team_id="T0BENCH", response_url=f"{slack.url}response_url.1"
            )
            pushed.append(server.push(envelope, timeout=30, **where))
            return pushed[-1]

        def latency(envelope_id: str) -> float | None:
            try:
                return server.ack_latency(envelope_id, timeout=LOST_AFTER)
            except AssertionError:
                return None

        try:
            for _ in range(50):
                figures.steady.append(latency(request()) or LOST_AFTER)
                time.sleep(0.02)

            for _ in range(rounds):
                old = server.refresh(close_after=close_after)
                started = time.monotonic()
                ids = [request(on=old)]
                for step in range(1, 16):
                    time.sleep(max(0.0, started + step * 0.1 - time.monotonic()))
                    ids.append(request())
                figures.refresh += [x for x in map(latency, ids) if x is not None]
                time.sleep(max(0.0, started + close_after + 0.5 - time.monotonic()))

            for _ in range(rounds):
                count = len(server.connections)
                closed = server.hang_up()
                envelope_id = request()
                new = server.wait_connections(count + 1, timeout=30)
                assert closed.closed_at is not None
                figures.reconnect.append(new.opened_at - closed.closed_at)
                waited = latency(envelope_id)
                if waited is not None:
                    figures.after_hang_up.append(waited)
                time.sleep(0.5)
        finally:
            time.sleep(1.0)  # late acks still count, as lost or twice
            figures.requests = len(pushed)
            figures.lost = sum(1 for e in pushed if not server.acks_of(e))
            figures.twice = sum(1 for e in pushed if len(server.acks_of(e)) > 1)
            client.stop()
            server.stop()
            slack.stop()
    return figures


def ms(values: list[float], fraction: float) -> str:
    return f"{percentile(sorted(values), fraction) * 1000:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default=",".join(CLIENTS), help=f"comma-separated, of {', '.join(CLIENTS)}")
    parser.add_argument("--rounds", type=int, default=5, help="refreshes and hang-ups per client")
    parser.add_argument("--close-after", type=float, default=3.0, help="seconds from `disconnect` to the close")
    args = parser.parse_args()
    logging.disable(logging.ERROR)  # the SDK clients log each reconnect at INFO and ERROR

    failed = False
    print(
        "client | steady ack p50 / p99 ms | ack during refresh p50 / p99 / max ms | "
        "reconnect after hang-up median / max ms | first ack after hang-up median / max ms | requests, lost, acked twice"
    )
    for name in args.clients.split(","):
        label, make = CLIENTS[name]
        try:
            figures = measure(make, args.rounds, args.close_after)
        except ImportError as error:
            print(f"{label} | skipped: {error}")
            continue
        print(
            f"{label} | {ms(figures.steady, 0.5)} / {ms(figures.steady, 0.99)} | "
            f"{ms(figures.refresh, 0.5)} / {ms(figures.refresh, 0.99)} / {ms(figures.refresh, 1.0)} | "
            f"{ms(figures.reconnect, 0.5)} / {ms(figures.reconnect, 1.0)} | "
            f"{ms(figures.after_hang_up, 0.5)} / {ms(figures.after_hang_up, 1.0)} | "
            f"{figures.requests}, {figures.lost}, {figures.twice}",
            flush=True,
        )
        if name == "ours" and (figures.lost or figures.twice):
            failed = True
    if failed:
        print("RESULT: FAILED (handlers/slack/socket_mode.py lost a request or handled one twice)")
        sys.exit(1)


if __name__ == "__main__":
    main()
