"""A WebClient that keeps its HTTP connections open between calls.

slack_sdk's WebClient sends every call through `urllib.request.urlopen`, which opens a new TCP (and
TLS) connection per call and closes it after the answer. A worker updating a pulse message per
click paid a connection set-up per click (see benchmarks/click_drain.py). This client sends the
same request over a connection kept per thread (`http.client`, HTTP/1.1 keep-alive) and leaves
everything else to WebClient: the request it builds (headers, token, body), its retry handlers
(429 with Retry-After, 5xx, connection errors), its response parsing and errors.

What stays exactly as urllib does it:
- errors: a failure to connect or send raises `URLError` (wrapping the OSError), a failure while
  reading the answer raises as it comes (`RemoteDisconnected`, `ConnectionResetError`, timeouts), an
  answer outside 2xx raises `HTTPError`, so the retry handlers and the outbox see what they saw;
- a proxy (`proxy=` or the *_PROXY variables WebClient reads) and any scheme but http(s) go through
  WebClient's own urllib path; Slack's API does not redirect, and a 3xx is an `HTTPError` (urllib
  would follow it, turning the POST into a GET without its body);
- TLS with the client's `ssl` context, or the same default context urllib uses; `timeout` for the
  connect and for each read.

A kept connection the server has closed (idle timeout, restart) is noticed before it is used (it
reads as ready, at end of file) and replaced. If the close comes just as a request is written, and
writing it fails, the server cannot have read it: it is written once more on a new connection (as
Go's HTTP client does; nothing was sent). A call that fails after its request was written fails as
it would have with urllib, and whoever handles that (the retry handlers for listeners, the
outbox's history check) decides.

Connections are kept per thread and per server, shared by every KeepAliveWebClient of the
process: Bolt builds a new client for each request, and a pool per client would never be reused.
"""

from __future__ import annotations

import http.client
import io
import select
import ssl
import threading
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request

from slack_sdk import WebClient

_kept = threading.local()
_default_tls: ssl.SSLContext | None = None
_default_tls_lock = threading.Lock()


def _tls_default() -> ssl.SSLContext:
    global _default_tls
    with _default_tls_lock:
        if _default_tls is None:
            _default_tls = ssl.create_default_context()  # what urlopen uses when given no context
        return _default_tls


def _connections() -> dict[tuple[str, str, int, int], http.client.HTTPConnection]:
    found: dict[tuple[str, str, int, int], http.client.HTTPConnection] | None = getattr(_kept, "connections", None)
    if found is None:
        found = _kept.connections = {}
    return found


def _closed_by_server(connection: http.client.HTTPConnection) -> bool:
    """An idle kept connection has nothing to read; if it reads as ready, the server closed it (or sent
    something unasked for): either way it cannot carry the next request."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


class KeepAliveWebClient(WebClient):
    """WebClient whose calls reuse one HTTP/1.1 connection per thread and server."""

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        parts = urlsplit(url)
        if self.proxy or parts.scheme not in ("http", "https") or not parts.hostname:
            return super()._perform_urllib_http_request_internal(url, req)  # type: ignore[no-any-return]
        tls = (self.ssl or _tls_default()) if parts.scheme == "https" else None
        port = parts.port or (443 if tls else 80)
        key = (parts.scheme, parts.hostname, port, id(tls))
        connection, reused = self._connection(key, parts.hostname, port, tls)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = dict(req.header_items())
        try:
            connection.request("POST", path, body=req.data, headers=headers)  # type: ignore[arg-type]
        except OSError as error:
            self._forget(key, connection)
            if not reused:
                raise URLError(error) from None
            # The server closed the kept connection just before this request went out, so it cannot have
            # read it: sent again once on a new connection. (A failure after the request was written is
            # never retried here: the server may have acted on it.)
            connection, _ = self._connection(key, parts.hostname, port, tls)
            try:
                connection.request("POST", path, body=req.data, headers=headers)  # type: ignore[arg-type]
            except OSError as again:
                self._forget(key, connection)
                raise URLError(again) from None
        try:
            response = connection.getresponse()
            body = response.read()
        except BaseException:
            self._forget(key, connection)
            raise
        if response.will_close:
            self._forget(key, connection)
        status = response.status
        if not 200 <= status < 300:
            raise HTTPError(url, status, response.reason, response.headers, io.BytesIO(body))
        if response.headers.get_content_type() == "application/gzip":
            return {"status": status, "headers": response.headers, "body": body}
        charset = response.headers.get_content_charset() or "utf-8"
        return {"status": status, "headers": response.headers, "body": body.decode(charset)}

    def _connection(
        self, key: tuple[str, str, int, int], host: str, port: int, tls: ssl.SSLContext | None
    ) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection to the server (and whether it carried a call before), or a new one."""
        kept = _connections()
        connection = kept.get(key)
        if connection is not None and _closed_by_server(connection):
            connection.close()
            connection = None
        if connection is not None:
            if connection.sock is not None:
                connection.sock.settimeout(self.timeout)
            return connection, True
        connection = (
            http.client.HTTPSConnection(host, port, timeout=self.timeout, context=tls)
            if tls is not None
            else http.client.HTTPConnection(host, port, timeout=self.timeout)
        )
        kept[key] = connection
        return connection, False

    @staticmethod
    def _forget(key: tuple[str, str, int, int], connection: http.client.HTTPConnection) -> None:
        connection.close()
        kept = _connections()
        if kept.get(key) is connection:
            del kept[key]


def keep_alive(client: WebClient) -> KeepAliveWebClient:
    """The same client (token, URL, TLS, proxy, headers, team, logger, retry handlers) over kept connections."""
    if isinstance(client, KeepAliveWebClient):
        return client
    copy = KeepAliveWebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=client.timeout,
        ssl=client.ssl,
        proxy=client.proxy,
        headers=client.headers,
        logger=client.logger,
        retry_handlers=client.retry_handlers,
    )
    copy.default_params = dict(client.default_params)
    return copy
