"""The keep-alive WebClient: one connection for many calls, a new one when the server closed the old,
and WebClient's behaviour kept (429s retried by Bolt's handlers, errors as urllib raises them)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.client import RemoteDisconnected
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest import mock
from urllib.error import URLError

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.core.settings import load_settings
from handlers.slack.client import build_web_client, interactive_retry_handlers
from handlers.slack.keepalive import KeepAliveWebClient, keep_alive


class _Server:
    """An HTTP/1.1 server answering `{"ok": true}`, counting connections and requests; `close_after`
    makes it hang up after each answer without saying so, `answers` queues statuses to give first."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[str] = []
        self.close_after = False  # hang up after each answer, without a word
        self.say_close = False  # answer with "Connection: close", then hang up
        self.answers: list[int] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append(self.path)
                status = outer.answers.pop(0) if outer.answers else 200
                body = json.dumps({"ok": status == 200, **({} if status == 200 else {"error": "ratelimited"})})
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                if outer.say_close:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
                if outer.close_after or outer.say_close:
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        accept = self.server.get_request

        def counting_accept() -> Any:
            self.connections += 1
            return accept()

        self.server.get_request = counting_accept  # type: ignore[method-assign]
        self.closed = 0  # connections the server has hung up
        hang_up = self.server.shutdown_request

        def counting_hang_up(request: Any) -> None:
            hang_up(request)
            self.closed += 1

        self.server.shutdown_request = counting_hang_up  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    def wait_closed(self, count: int) -> None:
        """Until the server has hung up `count` connections: a fixed sleep was not always long enough
        for its thread to get there on a busy machine, and the test then raced the hang-up it meant to
        follow."""
        deadline = time.monotonic() + 10
        while self.closed < count:
            assert time.monotonic() < deadline, f"the server hung up {self.closed} connections, not {count}"
            time.sleep(0.01)
        time.sleep(0.05)  # and the client's end has seen it (loopback: at once)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server() -> Iterator[_Server]:
    server = _Server()
    yield server
    server.stop()


def test_calls_share_one_connection(server: _Server) -> None:
    client = KeepAliveWebClient(token="xoxb-t", base_url=server.url, retry_handlers=[])
    for n in range(5):
        assert client.chat_update(channel="D1", ts=f"1.{n}", text="hi")["ok"]
    assert len(server.requests) == 5
    assert server.connections == 1


def test_bolts_per_request_copies_share_the_threads_connection(server: _Server) -> None:
    # Bolt builds a client per request; each copy must find the connection the last one left.
    app_client = KeepAliveWebClient(token="xoxb-t", base_url=server.url, retry_handlers=[])
    for _ in range(3):
        per_request = keep_alive(WebClient(token="xoxb-t", base_url=app_client.base_url, retry_handlers=[]))
        assert isinstance(per_request, KeepAliveWebClient)
        per_request.auth_test()
    assert server.connections == 1


def test_a_connection_the_server_closed_while_idle_is_replaced(server: _Server) -> None:
    server.close_after = True  # an idle timeout: the server hangs up without a Connection: close header
    client = KeepAliveWebClient(token="xoxb-t", base_url=server.url, retry_handlers=[])
    for n in range(3):
        assert client.chat_update(channel="D1", ts=f"1.{n}", text="hi")["ok"]
        server.wait_closed(n + 1)  # idle until the server hangs up
    assert len(server.requests) == 3  # each sent once
    assert server.connections == 3


def test_a_connection_the_server_says_it_closes_is_not_kept(server: _Server) -> None:
    server.say_close = True
    client = KeepAliveWebClient(token="xoxb-t", base_url=server.url, retry_handlers=[])
    for n in range(3):
        assert client.chat_update(channel="D1", ts=f"1.{n}", text="hi")["ok"]
    assert len(server.requests) == 3
    assert server.connections == 3


def test_a_close_racing_the_next_request_is_retried_only_by_the_retry_handlers(server: _Server) -> None:
    server.close_after = True
    interactive = KeepAliveWebClient(token="xoxb-t", base_url=server.url, retry_handlers=interactive_retry_handlers())
    outbox = KeepAliveWebClient(token="xoxb-t", base_url=server.url, retry_handlers=[])
    # The server's close arrives just after the check before reuse (skipped here): the request is written
    # into a connection the server no longer reads.
    with mock.patch("handlers.slack.keepalive._closed_by_server", return_value=False):
        interactive.auth_test()
        server.wait_closed(1)
        assert interactive.auth_test()["ok"]  # ConnectionErrorRetryHandler: again, on a new connection
        server.wait_closed(2)
        with pytest.raises(RemoteDisconnected):  # the outbox decides itself (it checks the history first)
            outbox.auth_test()
    # The first call and the retried one; neither lost write reached the server, nothing was handled twice.
    assert len(server.requests) == 2


def test_a_call_to_a_server_that_is_gone_fails_as_urllib_fails() -> None:
    server = _Server()
    server.close_after = True
    client = KeepAliveWebClient(token="xoxb-t", base_url=server.url, retry_handlers=[])
    client.auth_test()
    server.wait_closed(1)
    server.stop()
    with pytest.raises(URLError):  # a connection refused, wrapped as urlopen wraps it
        client.auth_test()
    with pytest.raises(URLError):
        WebClient(token="xoxb-t", base_url=server.url, retry_handlers=[]).auth_test()


def test_a_429_is_retried_as_bolts_client_retries_it(server: _Server) -> None:
    server.answers = [429]
    client = KeepAliveWebClient(
        token="xoxb-t", base_url=server.url, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)]
    )
    assert client.chat_update(channel="D1", ts="1.0", text="hi")["ok"]
    assert len(server.requests) == 2
    assert server.connections == 1  # the 429 did not cost the connection


def test_without_retry_handlers_a_429_reaches_the_caller_with_its_retry_after(server: _Server) -> None:
    server.answers = [429]
    client = KeepAliveWebClient(token="xoxb-t", base_url=server.url, retry_handlers=[])
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="D1", text="hi")
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "0"
    assert len(server.requests) == 1


def test_threads_keep_their_own_connections(server: _Server) -> None:
    client = KeepAliveWebClient(token="xoxb-t", base_url=server.url, retry_handlers=[])

    def calls() -> None:
        for _ in range(3):
            client.auth_test()

    threads = [threading.Thread(target=calls) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(server.requests) == 6
    assert server.connections == 2


def test_build_web_client_keeps_connections_with_the_same_settings(server: _Server) -> None:
    settings = load_settings(
        {
            "SLACK_BOT_TOKEN": "xoxb-t",
            "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99aaabbb85a5",
            "SLACK_API_URL": server.url,
            "DATABASE_URL": "sqlite://",
        }
    )
    interactive, outbox = build_web_client(settings), build_web_client(settings, for_outbox=True)
    assert isinstance(interactive, KeepAliveWebClient) and isinstance(outbox, KeepAliveWebClient)
    assert [type(h) for h in interactive.retry_handlers] == [type(h) for h in interactive_retry_handlers()]
    assert outbox.retry_handlers == []
    interactive.auth_test()
    outbox.auth_test()
    assert server.connections == 1
