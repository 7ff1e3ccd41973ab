"""A fake Slack Web API on an ephemeral port, for the real `slack_sdk.WebClient` to talk to.

Why a server rather than mocks: the bot's behaviour under Slack's failure modes (429 with
Retry-After, 5xx, `ok: false`) depends on slack_sdk's own request encoding, retry handlers and
`SlackApiError` raising. Only real HTTP exercises all of that, so the tests point
`WebClient(base_url=fake.url)` here. Unlike the mock servers slack_sdk and bolt test themselves
with, this one records every call's method *and* parsed body, and keeps just enough state
(users, DMs, messages) for the bot's flows to read back what they wrote.

Standard library only; every request is served while holding one lock, so state seen by a test
after `wait_for` is exactly the state the bot's calls produced.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import itertools
import json
import math
import random
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import yaml

from tests.support.paths import ROOT

JSON = dict[str, Any]
# The bot never pings a whole channel or group on purpose: one of these in what it posts came from a
# name or a text someone typed that was not escaped (Slack's escaping: & < >).
BROADCAST = re.compile(r"<!(?:channel|here|everyone|subteam\^)")
# What the bot writes that Slack parses as mrkdwn: messages, ephemeral replies, views and replies.
_WRITES = ("chat.postMessage", "chat.update", "chat.postEphemeral", "views.publish", "views.open", "views.update")


def mrkdwn_texts(value: Any, *, top: bool = True) -> list[str]:
    """Every string Slack would parse as mrkdwn in a message or view body: the top-level `text`
    fallback (notifications use it) and the text of every mrkdwn element, however deeply nested."""
    found: list[str] = []
    if isinstance(value, dict):
        text = value.get("text")
        if isinstance(text, str) and (top or value.get("type") == "mrkdwn"):
            found.append(text)
        for key, inner in value.items():
            if key != "text" or not isinstance(inner, str):
                found += mrkdwn_texts(inner, top=False)
    elif isinstance(value, list):
        for inner in value:
            found += mrkdwn_texts(inner, top=False)
    return found


# The bot-token scopes each Web API method needs, written here from Slack's method reference
# (docs.slack.dev/reference/methods/<method>, "Scopes: Bot token") and deliberately NOT imported from the
# bot: a wrong table in the bot's code must show up as a `missing_scope` here, not be copied into the fake.
# A string is the one scope the method needs; a dict gives it by the kind of conversation (channel id
# prefix: C public channel, G private channel, D direct message), since Slack checks the scope for the
# kind of conversation the call touches. () means no scope: any valid token may call it.
_METHOD_SCOPES: dict[str, str | dict[str, str] | tuple[()]] = {
    "auth.test": (),
    "apps.connections.open": (),  # takes the app-level token (connections:write), checked on its own
    "oauth.v2.access": (),  # authenticated by the app's client id and secret
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.getPermalink": (),
    "conversations.open": {"C": "channels:manage", "G": "groups:write", "D": "im:write", "mpim": "mpim:write"},
    "conversations.info": {"C": "channels:read", "G": "groups:read", "D": "im:read", "mpim": "mpim:read"},
    "conversations.history": {
        "C": "channels:history",
        "G": "groups:history",
        "D": "im:history",
        "mpim": "mpim:history",
    },
    "users.list": "users:read",
    "users.info": "users:read",
    "users.lookupByEmail": "users:read.email",
    "views.publish": (),
    "views.open": (),
    "views.update": (),
    "views.push": (),
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "reactions.get": "reactions:read",
    "team.info": "team:read",
}
_MANIFEST = ROOT / "manifest.yml"


def manifest_scopes() -> list[str]:
    """The bot scopes manifest.yml asks for: what a workspace that installed the app from it grants."""
    return list(yaml.safe_load(_MANIFEST.read_text())["oauth_config"]["scopes"]["bot"])


# Free-text values must stay text even when a person types something that parses as JSON.
_NEVER_DECODE = frozenset({"text", "markdown_text"})
_TRUE_VALUES = (True, 1, "1", "true", "True", "TRUE")
_DEFAULT_PAGE_SIZE = 100
# Slack message timestamps are "seconds.micro" strings; a fixed epoch keeps them reproducible.
_DEFAULT_TS_EPOCH = 1_700_000_000


@dataclass
class Call:
    """One request the fake received, including ones it answered with a failure."""

    method: str
    body: dict[str, Any]
    token: str | None
    # HTTP status the fake answered with, so retry tests can count failed attempts.
    status: int = 200


@dataclass
class _Failure:
    status: int  # 200 means "HTTP 200 with ok: false"
    error: str
    retry_after: int = 1
    text_body: str | None = None


@dataclass
class _RandomFailures:
    rate_429: float
    rate_500: float
    rate_500_after: float
    rng: random.Random
    retry_after: int


@dataclass
class _Bucket:
    per_minute: float
    burst: int
    tokens: float
    updated: float


DROPPED = 0  # a _Reply status: hang up instead of answering


@dataclass
class _Reply:
    status: int
    payload: JSON | str
    headers: dict[str, str]


class _ApiError(Exception):
    """Raised by a method handler to answer HTTP 200 `{"ok": false, "error": ...}`."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _truthy(value: Any) -> bool:
    return value in _TRUE_VALUES


def _decode_json_strings(params: dict[str, Any]) -> dict[str, Any]:
    # Form-encoded requests carry blocks/attachments/metadata/view as JSON strings; tests want
    # to assert on the structure, not on one particular serialisation of it.
    decoded: dict[str, Any] = {}
    for key, value in params.items():
        if key not in _NEVER_DECODE and isinstance(value, str) and value[:1] in ("[", "{"):
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = value
            decoded[key] = parsed if isinstance(parsed, list | dict) else value
        else:
            decoded[key] = value
    return decoded


def _encode_cursor(offset: int) -> str:
    # Opaque like Slack's, so nothing can depend on cursors being plain offsets.
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    try:
        kind, _, number = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        offset = int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise _ApiError("invalid_cursor") from exc
    if kind != "offset" or offset < 0:
        raise _ApiError("invalid_cursor")
    return offset


def _int_param(value: Any, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise _ApiError("invalid_arguments") from exc


def _float_param(value: Any) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise _ApiError("invalid_arguments") from exc


class FakeSlack:
    """A thread-safe fake of the Slack Web API methods the bot uses.

    Start it (or use it as a context manager), point `WebClient(base_url=fake.url)` at it, then
    assert on `calls_to(...)`, `messages(...)`, or block on `wait_for(...)` when the call
    happens on another thread.
    """

    team_id: str = "T0001"
    bot_user_id: str = "UBOT"
    bot_id: str = "B0001"
    team_name: str = "Test Workspace"
    # Page size for users.list requests without `limit`; tests shrink it to force pagination.
    users_page_size: int = _DEFAULT_PAGE_SIZE
    # Seconds part of the first message ts; tests whose code filters history by real time set it.
    ts_epoch: int = _DEFAULT_TS_EPOCH

    def __init__(self, team_id: str = "T0001", bot_user_id: str = "UBOT") -> None:
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self._lock = threading.Lock()
        # Shares the lock so a request's effects and its recording become visible together.
        self._changed = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._handlers: dict[str, Callable[[JSON], JSON]] = {
            "auth.test": self._auth_test,
            "users.list": self._users_list,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "views.publish": self._views_publish,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.push": self._views_open,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
            "oauth.v2.access": self._oauth_v2_access,
            "apps.connections.open": self._apps_connections_open,
        }
        self._clear()

    def _clear(self) -> None:
        # Test-tunable knobs are reset too: the server is shared across a whole test session,
        # and one test's page size or rate limit must not leak into the next.
        self.users_page_size = _DEFAULT_PAGE_SIZE
        self.ts_epoch = _DEFAULT_TS_EPOCH
        self._calls: list[Call] = []
        self._broadcasts: list[str] = []  # see `broadcasts`
        self._failures: dict[str, deque[_Failure]] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._random_failures: dict[str, _RandomFailures] = {}
        self._injected: Counter[tuple[str, str]] = Counter()
        self._fail_after = False  # set by _reply for a "500 after doing the work" injection
        self._drop_after: dict[str, int] = {}  # method -> calls to carry out, then hang up without answering
        self._stubs: dict[str, JSON] = {}
        self._users: dict[str, JSON] = {}
        self._dms: dict[str, str] = {}  # user id -> DM channel id
        self._messages: dict[str, list[JSON]] = {}
        self._ts_counter = 0
        self._view_counter = 0
        self._external_views: dict[str, str] = {}
        self._files: dict[str, JSON] = {}  # file id -> {"name", "alt_txt", "length", "content", "channel", ...}
        # The scopes the bot token was granted, comma-separated as Slack's X-OAuth-Scopes header lists them
        # (on every answer). Calls needing a scope not in it answer `missing_scope`, as Slack's do. It starts
        # as manifest.yml's list: a workspace that installed the app from the manifest; tests narrow it.
        self.scopes: str = ",".join(manifest_scopes())
        self._scope_refusals: list[str] = []  # see `scope_refusals`
        self._oauth_codes: dict[str, JSON] = {}  # code -> what oauth.v2.access grants
        self._refresh_grants: dict[str, JSON] = {}  # refresh token -> what its refresh grant answers
        self._token_teams: dict[str, tuple[str, str]] = {}  # bot token -> (team id, name), once installed
        # Where apps.connections.open sends Socket Mode clients (tests/fakes/slack/socket_mode.py sets it).
        self.socket_mode_url: str | None = None
        self._tickets = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        if self._server is not None:
            return self

        class Handler(_RequestHandler):
            pass

        # A subclass per server, so two fakes in one process never share a handler's target.
        Handler.fake = self
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A hung client connection must never keep pytest from exiting.
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="fake-slack", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        port = self._server.server_address[1]
        # WebClient urljoin()s base_url and the method: without the slash, /api/ would be dropped.
        return f"http://127.0.0.1:{port}/api/"

    def reset(self) -> None:
        """Forget calls, queued failures, rate limits, stubs, users, DMs, messages and views, and
        put `users_page_size` and `ts_epoch` back to their defaults."""
        with self._lock:
            self._clear()

    # -- inspection --------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def broadcasts(self) -> list[str]:
        """Every text the bot wrote that would ping @channel, @here, @everyone or a user group (the
        `slack` fixture fails the test on any: the bot never does that on purpose)."""
        with self._lock:
            return list(self._broadcasts)

    def scope_refusals(self) -> list[str]:
        """Every call answered `missing_scope`, as "method: needed scope" (the `slack` fixture fails a test
        that got one while the token had manifest.yml's scopes: the manifest lacks what the code calls)."""
        with self._lock:
            return list(self._scope_refusals)

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        """Bodies of every call to `method` in arrival order, failed attempts included."""
        with self._lock:
            return [call.body for call in self._calls if call.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Block until at least `count` calls to `method` were recorded; return all their bodies.

        The default is long because it only bounds a hang: it returns at the call. Work done after an
        ack (the inbox's threads) took more than 5 s beside a second xdist worker on a loaded machine."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                bodies = [call.body for call in self._calls if call.method == method]
                remaining = deadline - time.monotonic()
                if len(bodies) >= count or remaining <= 0:
                    break
                self._changed.wait(remaining)
        if len(bodies) < count:
            raise AssertionError(f"expected at least {count} call(s) to {method} within {timeout}s, got {len(bodies)}")
        return bodies

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Messages in `channel`, oldest first, with edits applied and deletions removed.

        A user id is accepted too and means the bot's DM with that user, as in chat.postMessage.
        """
        with self._lock:
            channel_id = self._dms.get(channel, channel)
            return copy.deepcopy(self._messages.get(channel_id, []))

    # -- arranging ---------------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        *,
        email: str | None = None,
        name: str = "",
        real_name: str = "",
        display_name: str = "",
        tz: str = "Europe/London",
        is_bot: bool = False,
        deleted: bool = False,
        is_restricted: bool = False,
    ) -> dict[str, Any]:
        """Store a Slack-shaped user (re-adding an id replaces it in place) and return a copy."""
        zone = ZoneInfo(tz)
        now = datetime.now(UTC).astimezone(zone)
        offset = now.utcoffset()
        profile: JSON = {
            "real_name": real_name,
            "real_name_normalized": real_name,
            "display_name": display_name,
            "display_name_normalized": display_name,
            "team": self.team_id,
        }
        # Slack leaves `email` out entirely when there is none (bots, missing scope).
        if email is not None:
            profile["email"] = email
        user: JSON = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "real_name": real_name,
            "deleted": deleted,
            "is_bot": is_bot,
            "is_app_user": False,
            "is_restricted": is_restricted,
            "is_ultra_restricted": False,
            "tz": tz,
            "tz_label": now.tzname() or tz,
            "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
            "profile": profile,
        }
        with self._lock:
            self._users[user_id] = user
            return copy.deepcopy(user)

    def fail_next(
        self,
        method: str,
        *,
        status: int,
        times: int = 1,
        retry_after: int = 1,
        text_body: str | None = None,
    ) -> None:
        """Answer the next `times` calls to `method` with HTTP `status`.

        429 carries `Retry-After: retry_after` and `{"ok": false, "error": "ratelimited"}`;
        5xx carries `{"ok": false, "error": "internal_error"}`, or `text_body` as text/plain
        when given (Slack's edge sometimes answers with a non-JSON page).
        """
        if status < 400:
            raise ValueError("fail_next needs an HTTP error status; use error_next for ok: false")
        error = "ratelimited" if status == 429 else "internal_error" if status >= 500 else f"http_{status}"
        failure = _Failure(status=status, error=error, retry_after=retry_after, text_body=text_body)
        with self._lock:
            self._failures.setdefault(method, deque()).extend(copy.copy(failure) for _ in range(times))

    def inject_failures(
        self,
        method: str,
        *,
        rate_429: float = 0.0,
        rate_500: float = 0.0,
        rate_500_after: float = 0.0,
        seed: int | None = None,
        retry_after: int = 1,
    ) -> None:
        """Answer a random share of calls to `method` with 429 (`rate_429`) or 500 (`rate_500`), until reset.

        Drawn from a `random.Random(seed)` per method, so a run can be repeated. These failures come
        before the method does anything (nothing is posted), like trouble in front of the API.
        `rate_500_after` answers 500 *after* carrying the call out (the message is posted): Slack failing
        on the way back, or a response lost, so the caller cannot tell. All rates 0 removes the
        injection. `injected()` counts what was injected.
        """
        rates = (rate_429, rate_500, rate_500_after)
        if not (all(0 <= rate <= 1 for rate in rates) and sum(rates) <= 1):
            raise ValueError("rates are fractions of calls, together at most 1")
        with self._lock:
            if not any(rates):
                self._random_failures.pop(method, None)
                return
            self._random_failures[method] = _RandomFailures(
                rate_429, rate_500, rate_500_after, random.Random(seed), retry_after
            )

    def drop_after(self, method: str, *, times: int = 1) -> None:
        """Carry out the next `times` calls to `method` (a post is stored), then hang up without answering:
        a connection lost on the way back, so the caller cannot tell whether the call happened."""
        with self._lock:
            self._drop_after[method] = times

    def injected(self) -> dict[tuple[str, str], int]:
        """How many random failures `inject_failures` caused, by (method, "429" | "500" | "500 after")."""
        with self._lock:
            return dict(self._injected)

    def error_next(self, method: str, error: str, *, times: int = 1) -> None:
        """Answer the next `times` calls to `method` with HTTP 200 `{"ok": false, "error": error}`."""
        with self._lock:
            queue = self._failures.setdefault(method, deque())
            queue.extend(_Failure(status=200, error=error) for _ in range(times))

    def set_rate_limit(self, method: str, per_minute: float | None, *, burst: int = 1) -> None:
        """Throttle `method` with a token bucket: `per_minute` refill, `burst` capacity.

        Calls finding the bucket empty answer 429 with Retry-After (whole seconds, at least 1,
        as Slack sends). `None` removes the limit.
        """
        with self._lock:
            if per_minute is None:
                self._buckets.pop(method, None)
                return
            if per_minute <= 0:
                raise ValueError("per_minute must be positive")
            capacity = max(1, burst)
            self._buckets[method] = _Bucket(per_minute, capacity, float(capacity), time.monotonic())

    def revoke(self, *scopes: str) -> None:
        """Take `scopes` out of what the token was granted: a workspace whose install lacks them."""
        with self._lock:
            self.scopes = ",".join(s for s in self._granted() if s not in scopes)

    def stub(self, method: str, response: dict[str, Any]) -> None:
        """Answer `method` with `response` (plus `"ok": true` unless given) until reset.

        For methods this fake does not model; also overrides modelled ones.
        """
        with self._lock:
            self._stubs[method] = copy.deepcopy(response)

    # -- request handling --------------------------------------------------------------------

    def _handle(self, method: str, params: JSON, token: str | None, *, malformed: str | None = None) -> _Reply:
        with self._changed:
            reply = self._reply(method, params, token, malformed)
            if self._fail_after:
                self._fail_after = False
                if reply.status == 200 and isinstance(reply.payload, dict) and reply.payload.get("ok"):
                    self._injected[(method, "500 after")] += 1
                    reply = self._http_failure(_Failure(500, "internal_error"))
            if self._drop_after.get(method) and reply.status == 200:
                self._drop_after[method] -= 1
                reply = _Reply(DROPPED, "", {})
            self._calls.append(Call(method=method, body=params, token=token, status=reply.status))
            if method in _WRITES or method.startswith("response_url."):
                self._broadcasts += [f"{method}: {t[:200]}" for t in mrkdwn_texts(params) if BROADCAST.search(t)]
            self._changed.notify_all()
            return reply

    def _reply(self, method: str, params: JSON, token: str | None, malformed: str | None) -> _Reply:
        # Injected HTTP failures come first: they model trouble in front of the API itself.
        queue = self._failures.get(method)
        if queue:
            failure = queue.popleft()
            if failure.status != 200:
                return self._http_failure(failure)
            queued_error: str | None = failure.error
        else:
            queued_error = None

        random_failures = self._random_failures.get(method)
        if random_failures is not None:
            draw = random_failures.rng.random()
            status = 0
            if draw < random_failures.rate_429:
                status = 429
            elif draw < random_failures.rate_429 + random_failures.rate_500:
                status = 500
            elif draw < random_failures.rate_429 + random_failures.rate_500 + random_failures.rate_500_after:
                self._fail_after = True  # _handle turns the successful reply into a 500
            if status:
                self._injected[(method, str(status))] += 1
                error = "ratelimited" if status == 429 else "internal_error"
                return self._http_failure(_Failure(status, error, retry_after=random_failures.retry_after))

        bucket = self._buckets.get(method)
        if bucket is not None:
            wait = self._take_token(bucket)
            if wait > 0:
                return self._http_failure(_Failure(429, "ratelimited", retry_after=max(1, math.ceil(wait))))

        # The OAuth exchange authenticates with the app's client id and secret, not a token.
        if not token and method != "oauth.v2.access":
            return _Reply(200, {"ok": False, "error": "not_authed"}, {})
        if method == "apps.connections.open":  # takes the app-level token, and only that one
            if token and not token.startswith("xapp-"):
                return _Reply(200, {"ok": False, "error": "not_allowed_token_type"}, {})
        elif token and not token.startswith(("xoxb-", "xoxp-")):
            return _Reply(200, {"ok": False, "error": "invalid_auth"}, {})
        if queued_error is not None:
            return _Reply(200, {"ok": False, "error": queued_error}, {})
        if malformed is not None:
            return _Reply(200, {"ok": False, "error": malformed}, {})

        if method not in self._stubs and method not in self._handlers:
            return _Reply(200, {"ok": False, "error": "unknown_method"}, {})
        # Slack lists the token's scopes on every answer, and what the method accepts.
        needed = self._needed_scope(method, params)
        if needed is None:
            # Every method the fake answers must say what it needs, or its scopes would go unchecked.
            return _Reply(200, {"ok": False, "error": f"fake_slack_add_{method}_to_METHOD_SCOPES"}, {})
        headers = {"X-OAuth-Scopes": ",".join(self._granted()), "X-Accepted-OAuth-Scopes": needed}
        # A comma-separated `needed` is "any one of these", as Slack lists it when the call does not say which.
        if needed and not set(needed.split(",")) & set(self._granted()):
            refusal = {"ok": False, "error": "missing_scope", "needed": needed, "provided": ",".join(self._granted())}
            self._scope_refusals.append(f"{method}: {needed}")
            return _Reply(200, refusal, headers)
        if method in self._stubs:
            return _Reply(200, {"ok": True, **copy.deepcopy(self._stubs[method])}, headers)
        try:
            handler = self._handlers[method]
            payload = self._auth_test(params, token) if method == "auth.test" else handler(params)
        except _ApiError as exc:
            return _Reply(200, {"ok": False, "error": exc.error}, headers)
        return _Reply(200, {"ok": True, **payload}, headers)

    def _granted(self) -> list[str]:
        return [s.strip() for s in self.scopes.split(",") if s.strip()]

    def _needed_scope(self, method: str, params: JSON) -> str | None:
        """The scope this call needs by `_METHOD_SCOPES` ("" for none), or None for a method missing there."""
        rule = _METHOD_SCOPES.get(method)
        if rule is None:
            return None
        if isinstance(rule, str):
            return rule
        if not rule:
            return ""
        users = [u for u in str(params.get("users") or "").split(",") if u.strip()]
        if len(users) > 1:
            return rule["mpim"]
        if users:
            return rule["D"]  # one person: the app's DM with them
        channel = str(params.get("channel") or "")
        if channel[:1] in ("U", "W"):
            return rule["D"]
        # An unknown or missing id: Slack cannot tell the kind, and names them all.
        return rule.get(channel[:1]) or ",".join(rule.values())

    @staticmethod
    def _http_failure(failure: _Failure) -> _Reply:
        headers: dict[str, str] = {}
        if failure.status == 429:
            headers["Retry-After"] = str(failure.retry_after)
        if failure.text_body is not None:
            return _Reply(failure.status, failure.text_body, headers)
        return _Reply(failure.status, {"ok": False, "error": failure.error}, headers)

    @staticmethod
    def _take_token(bucket: _Bucket) -> float:
        """Take a token; return 0, or the seconds until one will be there."""
        now = time.monotonic()
        rate = bucket.per_minute / 60.0
        bucket.tokens = min(bucket.burst, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / rate

    # -- state helpers (called with the lock held) -------------------------------------------

    def _next_ts(self) -> str:
        # Step by 100µs so ts values look like Slack's and string order matches numeric order.
        self._ts_counter += 100
        seconds, micros = divmod(self._ts_counter, 1_000_000)
        return f"{self.ts_epoch + seconds}.{micros:06d}"

    def _next_view_id(self) -> str:
        self._view_counter += 1
        return f"V{self._view_counter:010d}"

    def _user(self, user_id: Any) -> JSON:
        user = self._users.get(str(user_id or ""))
        if user is None:
            raise _ApiError("user_not_found")
        return user

    def _dm_for(self, user_id: str) -> str:
        return self._dms.setdefault(user_id, "D" + user_id.removeprefix("U"))

    def _resolve_channel(self, params: JSON) -> str:
        channel = str(params.get("channel") or "")
        if not channel:
            raise _ApiError("channel_not_found")
        # Posting to a user id lands in the app's DM with them, and Slack answers with the D id.
        if channel[0] in "UW":
            if channel not in self._users:
                raise _ApiError("channel_not_found")
            return self._dm_for(channel)
        return channel

    def _find_message(self, channel: str, ts: Any) -> JSON:
        for message in self._messages.get(channel, []):
            if message["ts"] == str(ts or ""):
                return message
        raise _ApiError("message_not_found")

    def _view(self, params: JSON, view_id: str) -> JSON:
        view = params.get("view")
        if not isinstance(view, dict):
            raise _ApiError("invalid_arguments")
        if view.get("external_id"):
            self._external_views[str(view["external_id"])] = view_id
        return {**copy.deepcopy(view), "id": view_id, "team_id": self.team_id, "app_id": "A0001"}

    # -- methods -----------------------------------------------------------------------------

    def _auth_test(self, params: JSON, token: str | None = None) -> JSON:
        team_id, team_name = self._token_teams.get(token or "", (self.team_id, self.team_name))
        return {
            "url": "https://test-workspace.slack.com/",
            "team": team_name,
            "user": "empathybot",
            "team_id": team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _users_list(self, params: JSON) -> JSON:
        limit = _int_param(params.get("limit"), 0)
        if limit <= 0:
            limit = self.users_page_size
        cursor = str(params.get("cursor") or "")
        offset = _decode_cursor(cursor) if cursor else 0
        members = list(self._users.values())
        page = members[offset : offset + limit]
        end = offset + len(page)
        return {
            "members": copy.deepcopy(page),
            "cache_ts": int(time.time()),
            "response_metadata": {"next_cursor": _encode_cursor(end) if end < len(members) else ""},
        }

    def _users_info(self, params: JSON) -> JSON:
        return {"user": copy.deepcopy(self._user(params.get("user")))}

    def _users_lookup_by_email(self, params: JSON) -> JSON:
        email = str(params.get("email") or "").casefold()
        for user in self._users.values():
            stored = user["profile"].get("email")
            if email and stored is not None and stored.casefold() == email:
                return {"user": copy.deepcopy(user)}
        raise _ApiError("users_not_found")

    # -- OAuth ----------------------------------------------------------------------------------

    def add_installation(
        self,
        code: str,
        team_id: str,
        team_name: str,
        bot_token: str,
        *,
        refresh_token: str | None = None,
        expires_in: int = 43200,
        rotated: list[tuple[str, str]] | None = None,
    ) -> None:
        """Make `oauth.v2.access` with this `code` install the app into `team_id` with `bot_token`.

        With `refresh_token`, the token rotates as Slack's do: it expires after `expires_in` seconds,
        and each refresh grant with the current refresh token answers the next (token, refresh token)
        of `rotated`, good for 12 hours; a refresh token works once.
        """
        with self._lock:
            grant: JSON = {"team": {"id": team_id, "name": team_name}, "access_token": bot_token}
            if refresh_token:
                grant |= {"refresh_token": refresh_token, "expires_in": expires_in}
                chain = [(bot_token, refresh_token), *(rotated or [])]
                for (_, old_refresh), (new_token, new_refresh) in itertools.pairwise(chain):
                    self._refresh_grants[old_refresh] = {
                        **grant,
                        "access_token": new_token,
                        "refresh_token": new_refresh,
                        "expires_in": 43200,  # a refreshed token lives Slack's 12 hours
                    }
                    self._token_teams[new_token] = (team_id, team_name)
            self._oauth_codes[code] = grant
            self._token_teams[bot_token] = (team_id, team_name)

    def _oauth_v2_access(self, params: JSON) -> JSON:
        if params.get("grant_type") == "refresh_token":
            grant = self._refresh_grants.pop(str(params.get("refresh_token") or ""), None)
            if grant is None:
                raise _ApiError("invalid_refresh_token")
        else:
            grant = self._oauth_codes.pop(str(params.get("code") or ""), None)
        if grant is None:
            raise _ApiError("invalid_code")
        return {
            "app_id": "A0EMPATHY",
            "authed_user": {"id": "U0INSTALLER"},
            "scope": self.scopes,  # what the install granted
            "token_type": "bot",
            "bot_user_id": self.bot_user_id,
            "enterprise": None,
            "is_enterprise_install": False,
            **grant,
        }

    # -- files (the files_upload_v2 flow: get an upload URL, POST the bytes there, complete) -----

    def files(self) -> list[JSON]:
        """Every file uploaded, with its bytes under "content" and where it was shared."""
        with self._lock:
            return [copy.deepcopy(f) for f in self._files.values()]

    def _files_get_upload_url_external(self, params: JSON) -> JSON:
        if not params.get("filename") or not params.get("length"):
            raise _ApiError("invalid_arguments")
        file_id = f"F{len(self._files) + 1:08d}"
        self._files[file_id] = {
            "id": file_id,
            "name": str(params["filename"]),
            "alt_txt": params.get("alt_txt"),
            "length": int(params["length"]),
            "content": None,
            "channel": None,
        }
        return {"upload_url": self.url.replace("/api/", f"/upload/{file_id}"), "file_id": file_id}

    def _store_upload(self, file_id: str, content: bytes) -> bool:
        with self._changed:
            upload = self._files.get(file_id)
            if upload is None:
                return False
            upload["content"] = content
            self._changed.notify_all()
            return True

    def _files_complete_upload_external(self, params: JSON) -> JSON:
        files = params.get("files")
        if isinstance(files, str):
            files = json.loads(files)
        if not isinstance(files, list) or not files:
            raise _ApiError("invalid_arguments")
        done = []
        for entry in files:
            upload = self._files.get(str(entry.get("id")))
            if upload is None or upload["content"] is None:
                raise _ApiError("file_not_found")
            upload["title"] = entry.get("title")
            upload["channel"] = params.get("channel_id")
            upload["initial_comment"] = params.get("initial_comment")
            done.append({"id": upload["id"], "name": upload["name"], "title": upload["title"]})
        return {"files": done}

    def _apps_connections_open(self, params: JSON) -> JSON:
        if self.socket_mode_url is None:
            raise _ApiError("internal_error")
        self._tickets += 1  # a fresh ticket per call, as Slack's URLs carry
        return {"url": f"{self.socket_mode_url}?ticket={self._tickets}"}

    def _conversations_open(self, params: JSON) -> JSON:
        users = [u.strip() for u in str(params.get("users") or "").split(",") if u.strip()]
        if not users:
            # Resuming a DM by its channel id only works for one opened before.
            resumed = str(params.get("channel") or "")
            owner = next((u for u, c in self._dms.items() if c == resumed), None)
            if owner is None:
                raise _ApiError("channel_not_found")
            return {"channel": {"id": resumed, "is_im": True, "user": owner}, "already_open": True}
        for user_id in users:
            if self._user(user_id)["deleted"]:
                raise _ApiError("user_disabled")
        if len(users) > 1:
            # A group DM; an id derived from the members keeps it stable across calls.
            channel_id = "G" + "".join(sorted(u.removeprefix("U") for u in users))
            return {"channel": {"id": channel_id, "is_im": False, "is_mpim": True}}
        already_open = users[0] in self._dms
        channel_id = self._dm_for(users[0])
        channel: JSON = {"id": channel_id, "is_im": True, "user": users[0], "created": self.ts_epoch}
        return {"channel": channel, "no_op": already_open, "already_open": already_open}

    def _conversations_info(self, params: JSON) -> JSON:
        channel = str(params.get("channel") or "")
        if not channel:
            raise _ApiError("channel_not_found")
        info: JSON = {
            "id": channel,
            "is_member": True,
            "is_im": channel.startswith("D"),
            "is_channel": channel.startswith("C"),
            "is_private": not channel.startswith("C"),
            "is_archived": False,
        }
        dm_user = next((u for u, c in self._dms.items() if c == channel), None)
        if dm_user is not None:
            info["user"] = dm_user
        return {"channel": info}

    def _conversations_history(self, params: JSON) -> JSON:
        channel = self._resolve_channel(params)
        oldest = _float_param(params.get("oldest"))
        latest = _float_param(params.get("latest"))
        inclusive = _truthy(params.get("inclusive"))
        limit = _int_param(params.get("limit"), 100)
        with_metadata = _truthy(params.get("include_all_metadata"))

        def in_range(ts: float) -> bool:
            if oldest is not None and (ts < oldest or (ts == oldest and not inclusive)):
                return False
            return latest is None or ts < latest or (ts == latest and inclusive)

        matching = [m for m in reversed(self._messages.get(channel, [])) if in_range(float(m["ts"]))]
        page = copy.deepcopy(matching[: limit if limit > 0 else 100])
        if not with_metadata:
            for message in page:
                message.pop("metadata", None)
        return {
            "messages": page,
            "has_more": len(page) < len(matching),
            "pin_count": 0,
            "response_metadata": {"next_cursor": ""},
        }

    def _require_content(self, params: JSON) -> None:
        if not (params.get("text") or params.get("blocks") or params.get("attachments")):
            raise _ApiError("no_text")

    def _chat_post_message(self, params: JSON) -> JSON:
        channel = self._resolve_channel(params)
        self._require_content(params)
        message: JSON = {
            "type": "message",
            "ts": self._next_ts(),
            "text": params.get("text") or "",
            "blocks": params.get("blocks") or [],
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "team": self.team_id,
        }
        for optional in ("attachments", "thread_ts", "metadata"):
            if params.get(optional):
                message[optional] = params[optional]
        self._messages.setdefault(channel, []).append(message)
        return {"channel": channel, "ts": message["ts"], "message": copy.deepcopy(message)}

    def _chat_update(self, params: JSON) -> JSON:
        channel = self._resolve_channel(params)
        message = self._find_message(channel, params.get("ts"))
        for field in ("text", "blocks", "attachments", "metadata"):
            if field in params:
                message[field] = params[field]
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "channel": channel,
            "ts": message["ts"],
            "text": message.get("text", ""),
            "message": copy.deepcopy(message),
        }

    def _chat_delete(self, params: JSON) -> JSON:
        channel = self._resolve_channel(params)
        message = self._find_message(channel, params.get("ts"))
        self._messages[channel].remove(message)
        return {"channel": channel, "ts": message["ts"]}

    def _chat_post_ephemeral(self, params: JSON) -> JSON:
        self._resolve_channel(params)
        if not params.get("user"):
            raise _ApiError("user_not_in_channel")
        self._require_content(params)
        return {"message_ts": self._next_ts()}

    def _chat_get_permalink(self, params: JSON) -> JSON:
        channel = self._resolve_channel(params)
        ts = str(params.get("message_ts") or "")
        self._find_message(channel, ts)
        return {
            "channel": channel,
            "permalink": f"https://test-workspace.slack.com/archives/{channel}/p{ts.replace('.', '')}",
        }

    def _views_publish(self, params: JSON) -> JSON:
        if not params.get("user_id"):
            raise _ApiError("invalid_arguments")
        return {"view": self._view(params, self._next_view_id())}

    def _views_open(self, params: JSON) -> JSON:
        if not params.get("trigger_id"):
            raise _ApiError("invalid_arguments")
        return {"view": self._view(params, self._next_view_id())}

    def _views_update(self, params: JSON) -> JSON:
        view_id = str(params.get("view_id") or "")
        external_id = str(params.get("external_id") or "")
        if not view_id and not external_id:
            raise _ApiError("invalid_arguments")
        # Lenient on ids: interaction payloads in tests carry view ids this fake never issued.
        if not view_id:
            view_id = self._external_views.get(external_id) or self._next_view_id()
        return {"view": self._view(params, view_id)}


class _RequestHandler(BaseHTTPRequestHandler):
    fake: FakeSlack  # set on a per-server subclass in FakeSlack.start

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        # Request lines on stderr would bury pytest's own output.
        pass

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        if parts.path.startswith("/upload/"):
            length = int(self.headers.get("Content-Length") or 0)
            stored = self.fake._store_upload(parts.path[len("/upload/") :], self.rfile.read(length))
            self._send(_Reply(200 if stored else 404, "OK" if stored else "not_found", {}))
            return
        if not parts.path.startswith("/api/") or len(parts.path) <= len("/api/"):
            self._send(_Reply(404, {"ok": False, "error": "not_found"}, {}))
            return
        method = parts.path[len("/api/") :]
        try:
            params = self._params(parts.query)
            malformed = None
        except ValueError:
            params, malformed = {}, "invalid_json"
        token = self._token(params)
        self._send(self.fake._handle(method, params, token, malformed=malformed))

    def _params(self, query: str) -> JSON:
        # slack_sdk puts GET-style params in the query string and the rest in a JSON or form
        # body, sometimes both at once; Slack reads them all, so merge them.
        params: JSON = dict(parse_qsl(query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if raw:
            content_type = (self.headers.get("Content-Type") or "").lower()
            text = raw.decode("utf-8")
            if "json" in content_type or (not content_type and text.lstrip().startswith("{")):
                body = json.loads(text)
                if not isinstance(body, dict):
                    raise ValueError("JSON body must be an object")
                params.update(body)
            else:
                params.update(parse_qsl(text, keep_blank_values=True))
        return _decode_json_strings(params)

    def _token(self, params: JSON) -> str | None:
        # The token is recorded on the Call, not left in the body tests compare against.
        form_token = params.pop("token", None)
        authorization = self.headers.get("Authorization") or ""
        if authorization.lower().startswith("bearer "):
            return authorization[len("bearer ") :].strip() or None
        return str(form_token) if form_token else None

    def _send(self, reply: _Reply) -> None:
        if reply.status == DROPPED:
            self.close_connection = True  # no status line, no body: the client sees the connection drop
            return
        if isinstance(reply.payload, str):
            data = reply.payload.encode("utf-8")
            content_type = "text/plain; charset=utf-8"
        else:
            data = json.dumps(reply.payload).encode("utf-8")
            content_type = "application/json; charset=utf-8"
        self.send_response(reply.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        # The client may have gone away (a benchmark SIGKILLs workers mid-call); Slack would not care either.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)
