"""A fake Bot Connector service on an ephemeral port: where the bot's replies and proactive messages go.

An activity's `serviceUrl` (and TEAMS_SERVICE_URL) point here. Like the real service it refuses a call
without the bot's valid app-only token (401), creates 1:1 conversations (`POST /v3/conversations`),
takes messages (`POST /v3/conversations/{id}/activities`, also as a reply to an activity id), updates
and deletes them (`PUT`/`DELETE /v3/conversations/{id}/activities/{activity id}`), and answers with the
faults Microsoft documents, queued by a test: 429 with Retry-After, 412/502/503/504, 403 with subCode
MessageWritesBlocked (the person blocked or uninstalled the bot), 404 (no such conversation).

Every call is recorded with its method, path and parsed JSON body, refused ones included; each request
is served while holding one lock, so what a test reads is exactly what the bot's calls did.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.fakes.teams.auth import FakeBotFrameworkAuth

JSON = dict[str, Any]

_CONVERSATIONS = re.compile(r"^/v3/conversations/?$")
_ACTIVITIES = re.compile(r"^/v3/conversations/(?P<conversation>[^/]+)/activities/?$")
_ACTIVITY = re.compile(r"^/v3/conversations/(?P<conversation>[^/]+)/activities/(?P<activity>[^/]+)/?$")


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: Any
    status: int


@dataclass
class Fault:
    """A canned failure for the next call that matches `method` (any method when None)."""

    status: int
    method: str | None = None
    retry_after: int | None = None
    sub_code: str | None = None


@dataclass
class Conversation:
    id: str
    members: list[JSON] = field(default_factory=list)
    tenant_id: str | None = None
    activities: dict[str, JSON] = field(default_factory=dict)


def fault_body(fault: Fault) -> JSON:
    """The body the Connector sends with each fault, as Microsoft documents it."""
    if fault.status == 403 and fault.sub_code == "MessageWritesBlocked":
        # send-proactive-messages.md: a JSON string inside `message`, errorCode 209.
        inner = {
            "subCode": "MessageWritesBlocked",
            "details": "Thread is blocked from message writes.",
            "errorCode": None,
            "errorSubCode": None,
        }
        return {"errorCode": 209, "message": json.dumps(inner)}
    codes = {
        403: "Forbidden",
        404: "ConversationNotFound",
        412: "PreconditionFailed",
        429: "Throttled",
        502: "BadGateway",
        503: "ServiceUnavailable",
        504: "GatewayTimeout",
    }
    return {"error": {"code": codes.get(fault.status, "ServiceError"), "message": f"fake fault {fault.status}"}}


class FakeBotConnector:
    def __init__(self, auth: FakeBotFrameworkAuth, client_id: str) -> None:
        self.auth = auth
        self.client_id = client_id
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.calls: list[Call] = []
            self.refusals: list[tuple[Call, str]] = []
            self.conversations: dict[str, Conversation] = {}
            self._faults: deque[Fault] = deque()
            self._ids = itertools.count(1)

    # -- test controls ----------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        *,
        method: str | None = None,
        retry_after: int | None = None,
        sub_code: str | None = None,
        times: int = 1,
    ) -> None:
        with self._lock:
            self._faults.extend(Fault(status, method, retry_after, sub_code) for _ in range(times))

    def sent(self) -> list[Call]:
        """The activities the Connector accepted (POSTed to a conversation), in order."""
        with self._lock:
            return [c for c in self.calls if c.method == "POST" and "/activities" in c.path and c.status < 300]

    def texts(self) -> list[str]:
        return [str(c.body.get("text", "")) for c in self.sent() if isinstance(c.body, dict)]

    def wait_for(self, predicate: Callable[[FakeBotConnector], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; calls so far: {self.calls}")
            time.sleep(0.01)

    # -- the server -------------------------------------------------------------------------

    def start(self) -> FakeBotConnector:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                status, answer, headers = fake._serve(
                    self.command, unquote(urlsplit(self.path).path), body, self.headers.get("Authorization", "")
                )
                data = json.dumps(answer).encode() if answer is not None else b""
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if data:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="fake-bot-connector", daemon=True).start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        """The service URL, with the trailing slash Teams gives it."""
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def _serve(self, method: str, path: str, body: Any, authorization: str) -> tuple[int, JSON | None, dict[str, str]]:
        with self._lock:
            problem = self.auth.app_token_problem(authorization, self.client_id)
            if problem is not None:
                call = Call(method, path, body, 401)
                self.calls.append(call)
                self.refusals.append((call, problem))
                return 401, {"message": "Authorization has been denied for this request."}, {}
            fault = self._next_fault(method)
            if fault is not None:
                self.calls.append(Call(method, path, body, fault.status))
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                return fault.status, fault_body(fault), headers
            status, answer = self._route(method, path, body)
            self.calls.append(Call(method, path, body, status))
            return status, answer, {}

    def _next_fault(self, method: str) -> Fault | None:
        for fault in self._faults:
            if fault.method is None or fault.method == method:
                self._faults.remove(fault)
                return fault
        return None

    def _route(self, method: str, path: str, body: Any) -> tuple[int, JSON | None]:
        if _CONVERSATIONS.match(path) and method == "POST":
            if not isinstance(body, dict) or not body.get("members"):
                return 400, {"error": {"code": "BadArgument", "message": "members are required"}}
            conversation = Conversation(
                id=f"a:{next(self._ids):08d}",
                members=list(body["members"]),
                tenant_id=(body.get("channelData") or {}).get("tenant", {}).get("id") or body.get("tenantId"),
            )
            self.conversations[conversation.id] = conversation
            return 201, {"id": conversation.id}
        match = _ACTIVITIES.match(path) or (_ACTIVITY.match(path) if method == "POST" else None)
        if match and method == "POST":
            if not isinstance(body, dict) or not body.get("type"):
                return 400, {"error": {"code": "BadArgument", "message": "an activity needs a type"}}
            conversation = self._conversation(match["conversation"])
            activity_id = f"1{next(self._ids):012d}"
            conversation.activities[activity_id] = body
            return 201, {"id": activity_id}
        match = _ACTIVITY.match(path)
        if match and method in ("PUT", "DELETE"):
            conversation = self.conversations.get(match["conversation"])
            if conversation is None or match["activity"] not in conversation.activities:
                return 404, {"error": {"code": "ActivityNotFoundInConversation", "message": "Unknown activity"}}
            if method == "DELETE":
                del conversation.activities[match["activity"]]
                return 200, None
            conversation.activities[match["activity"]] = body
            return 200, {"id": match["activity"]}
        return 404, {"error": {"code": "NotFound", "message": f"no route for {method} {path}"}}

    def _conversation(self, conversation_id: str) -> Conversation:
        # Conversations Teams made (a person installing the app) exist without the bot creating them.
        if conversation_id not in self.conversations:
            self.conversations[conversation_id] = Conversation(id=conversation_id)
        return self.conversations[conversation_id]
