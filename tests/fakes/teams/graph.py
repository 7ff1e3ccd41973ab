"""A fake Microsoft Graph on an ephemeral port, for the real `handlers.teams.graph.GraphClient` to talk to.

It serves what the bot reads and writes (`/v1.0/users` paged with `@odata.nextLink` and honouring
`$select`, `$expand=manager`, `$filter` on mail/userPrincipalName and `$top`; a user's manager and
mailbox time zone; installing the app for a user; the org app catalog), records every request, and
checks the bearer token on each one as Graph does (401 without it).

Permissions are the fake's own table, written from Graph's reference pages rather than imported
from the bot: every application permission is granted until a test calls `deny(...)`, after which
the calls that need it answer 403 Authorization_RequestDenied. Faults: `fail(...)` answers the next
matching requests with a status (429 or 503 with Retry-After, anything else), and `refuse_expand`
makes `$expand=manager` a 400, as some tenants answer.

Standard library only; every request is served while holding one lock.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

JSON = dict[str, Any]
TOKEN = "graph-test-token"  # what the tests' token provider hands the client
MAX_PAGE = 999  # Graph's largest /users page

# Which application permission each route needs (learn.microsoft.com/graph/api/...: user-list,
# user-list-manager, user-get-mailboxsettings, userteamwork-post-installedapps, appcatalogs-list-teamsapps).
ROUTE_PERMISSIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^/users/[^/]+/mailboxSettings"), "MailboxSettings.Read"),
    (re.compile(r"^/users/[^/]+/teamwork/installedApps"), "TeamsAppInstallation.ReadWriteSelfForUser.All"),
    (re.compile(r"^/appCatalogs/teamsApps"), "AppCatalog.Read.All"),
    (re.compile(r"^/users"), "User.Read.All"),
)


@dataclass
class Request:
    method: str
    path: str  # without /v1.0 and without the query
    query: dict[str, str]
    authorized: bool
    body: JSON | None
    status: int = 0


@dataclass
class _Fault:
    pattern: re.Pattern[str]
    status: int
    times: int
    retry_after: str | None
    method: str | None
    after: int  # matching requests to let through first


@dataclass
class FakeGraph:
    token: str = TOKEN
    users: dict[str, JSON] = field(default_factory=dict)
    managers: dict[str, str] = field(default_factory=dict)
    timezones: dict[str, str] = field(default_factory=dict)  # no entry: the user has no mailbox (404)
    catalog: list[JSON] = field(default_factory=list)
    installed: dict[str, dict[str, str]] = field(default_factory=dict)  # user id -> catalog app id -> installation id
    page_size: int = MAX_PAGE  # the most one page holds, whatever $top asks
    refuse_expand: bool = False
    denied: set[str] = field(default_factory=set)
    requests: list[Request] = field(default_factory=list)
    _faults: list[_Fault] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    # -- set-up -------------------------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        mail: str | None = None,
        upn: str | None = None,
        enabled: bool = True,
        user_type: str = "Member",
        manager: str | None = None,
        timezone: str | None = None,
    ) -> None:
        self.users[user_id] = {
            "id": user_id,
            "displayName": name,
            "mail": mail,
            "userPrincipalName": upn or mail or f"{user_id}@contoso.onmicrosoft.com",
            "accountEnabled": enabled,
            "userType": user_type,
            "jobTitle": "Engineer",  # a field the bot does not $select: it must not come back
        }
        if manager:
            self.managers[user_id] = manager
        if timezone:
            self.timezones[user_id] = timezone

    def add_catalog_app(self, app_id: str, external_id: str, name: str = "Empathy Bot") -> None:
        self.catalog.append(
            {"id": app_id, "externalId": external_id, "displayName": name, "distributionMethod": "organization"}
        )

    def deny(self, permission: str) -> None:
        self.denied.add(permission)

    def fail(
        self,
        path_pattern: str,
        status: int,
        *,
        times: int = 1,
        retry_after: str | None = None,
        method: str | None = None,
        after: int = 0,
    ) -> None:
        """Answer `times` requests whose path matches with `status` (and Retry-After), once `after`
        matching requests have been answered as usual."""
        self._faults.append(_Fault(re.compile(path_pattern), status, times, retry_after, method, after))

    def calls(self, path_pattern: str = ".*", method: str | None = None) -> list[Request]:
        pattern = re.compile(path_pattern)
        with self._lock:
            return [r for r in self.requests if pattern.search(r.path) and (method is None or r.method == method)]

    # -- server -------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/v1.0"

    def start(self) -> FakeGraph:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._serve(self, "GET")

            def do_POST(self) -> None:
                fake._serve(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGraph:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- serving ------------------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        path = parts.path.removeprefix("/v1.0")
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length)) if length else None
        authorized = handler.headers.get("Authorization") == f"Bearer {self.token}"
        with self._lock:
            record = Request(method, path, query, authorized, body)
            self.requests.append(record)
            status, payload, headers = self._answer(method, path, query, body, authorized)
            record.status = status
        data = json.dumps(payload).encode() if payload is not None else b""
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _answer(
        self, method: str, path: str, query: dict[str, str], body: JSON | None, authorized: bool
    ) -> tuple[int, JSON | None, dict[str, str]]:
        if not authorized:
            return _error(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
        for fault in self._faults:
            if fault.times > 0 and fault.pattern.search(path) and fault.method in (None, method):
                if fault.after > 0:
                    fault.after -= 1
                    continue
                fault.times -= 1
                headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                code = {429: "TooManyRequests", 503: "serviceNotAvailable"}.get(fault.status, "generalException")
                status, payload, _ = _error(fault.status, code, "Injected by the test.")
                return status, payload, headers
        needed = next((perm for pattern, perm in ROUTE_PERMISSIONS if pattern.search(path)), None)
        if needed in self.denied:
            return _error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        return self._route(method, path, query, body)

    def _route(
        self, method: str, path: str, query: dict[str, str], body: JSON | None
    ) -> tuple[int, JSON | None, dict[str, str]]:
        if path == "/users" and method == "GET":
            return self._list_users(query)
        if match := re.fullmatch(r"/users/([^/]+)/manager", path):
            manager = self.managers.get(match[1])
            if match[1] not in self.users or manager is None or manager not in self.users:
                return _error(404, "Request_ResourceNotFound", "Resource 'manager' does not exist.")
            return 200, self._select(self.users[manager], query), {}
        if match := re.fullmatch(r"/users/([^/]+)/mailboxSettings/timeZone", path):
            if match[1] not in self.timezones:
                return _error(404, "ErrorMailboxNotFound", "The mailbox could not be found.")
            return (
                200,
                {"@odata.context": "$metadata#users('x')/mailboxSettings/timeZone", "value": self.timezones[match[1]]},
                {},
            )
        if match := re.fullmatch(r"/users/([^/]+)/teamwork/installedApps", path):
            return self._installed_apps(method, match[1], body)
        if path == "/appCatalogs/teamsApps" and method == "GET":
            wanted = re.fullmatch(r"externalId eq '(.*)'", query.get("$filter", ""))
            apps = [a for a in self.catalog if wanted is None or a["externalId"] == wanted[1].replace("''", "'")]
            return 200, {"value": apps}, {}
        return _error(400, "BadRequest", f"Resource not found for the segment '{path}'.")

    def _list_users(self, query: dict[str, str]) -> tuple[int, JSON | None, dict[str, str]]:
        expand = query.get("$expand", "")
        if expand and self.refuse_expand:
            return _error(400, "Request_UnsupportedQuery", "Unsupported query.")
        users = list(self.users.values())
        if flt := query.get("$filter"):
            match = re.fullmatch(r"mail eq '(.*)' or userPrincipalName eq '(.*)'", flt)
            if match is None:
                return _error(400, "Request_UnsupportedQuery", "Unsupported filter.")
            wanted = match[1].replace("''", "'").lower()
            users = [u for u in users if wanted in ((u["mail"] or "").lower(), u["userPrincipalName"].lower())]
        top = min(int(query.get("$top") or 100), self.page_size)
        start = int(query.get("$skiptoken") or 0)
        page = users[start : start + top]
        value = []
        for user in page:
            shown = self._select(user, query)
            if expand.startswith("manager") and (manager := self.managers.get(user["id"])) in self.users:
                shown["manager"] = {"@odata.type": "#microsoft.graph.user", "id": manager}
            value.append(shown)
        answer: JSON = {"@odata.context": "$metadata#users", "value": value}
        if start + top < len(users):
            rest = {k: v for k, v in query.items() if k != "$skiptoken"}
            answer["@odata.nextLink"] = f"{self.api_url}/users?{urlencode({**rest, '$skiptoken': start + top})}"
        return 200, answer, {}

    def _installed_apps(self, method: str, user_id: str, body: JSON | None) -> tuple[int, JSON | None, dict[str, str]]:
        if user_id not in self.users:
            return _error(404, "NotFound", "User not found.")
        mine = self.installed.setdefault(user_id, {})
        if method == "GET":
            return 200, {"value": [{"id": iid, "teamsApp": {"id": app}} for app, iid in mine.items()]}, {}
        bind = str((body or {}).get("teamsApp@odata.bind") or "")
        match = re.fullmatch(re.escape(self.api_url) + r"/appCatalogs/teamsApps/([^/]+)", bind)
        if match is None or not any(a["id"] == match[1] for a in self.catalog):
            return _error(404, "NotFound", "The app is not in the catalog.")
        if match[1] in mine:
            return _error(409, "Conflict", "App is already installed.")
        mine[match[1]] = f"installation-{next(self._ids)}"
        return 201, None, {}

    @staticmethod
    def _select(user: JSON, query: dict[str, str]) -> JSON:
        fields = [f.strip() for f in query.get("$select", "").split(",") if f.strip()]
        return {k: v for k, v in user.items() if not fields or k in fields}


def _error(status: int, code: str, message: str) -> tuple[int, JSON, dict[str, str]]:
    return status, {"error": {"code": code, "message": message}}, {}
