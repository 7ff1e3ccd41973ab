"""A small synchronous Microsoft Graph client: app-only token, paging, throttling, clear refusals.

Why plain HTTPS (httpx) and not `msgraph-sdk`: the bot makes a handful of calls (list users, a
manager, a time zone, the app catalog, installing the app), all from synchronous code (the CLI and
the scheduler's threads). msgraph-sdk is asyncio-only, pulls in Kiota and its generated models
(tens of megabytes), and would need its base URL redirected to reach the fake Graph in the tests;
this module is a page of code whose every request the tests can see.

Every failure the caller cannot fix by waiting raises `GraphError` (a `DirectoryError`), whose text
says what to do: a 401 or 403 names the Graph application permission the call needs and how an
admin grants consent. 429 and 503 are retried after their `Retry-After`, a bounded number of times.
Tokens are never logged, and go only to the configured Graph host.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from bot.delivery.ports import DirectoryError

log = logging.getLogger(__name__)

DEFAULT_GRAPH_API_URL = "https://graph.microsoft.com/v1.0"
DEFAULT_LOGIN_URL = "https://login.microsoftonline.com"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
RETRY_STATUSES = frozenset({429, 503})
MAX_RETRIES = 5
MAX_WAIT = 120.0  # seconds; a longer Retry-After is cut to this (the job runs again tomorrow anyway)
TIMEOUT = 30.0

JSON = dict[str, Any]
TokenProvider = Callable[[], str]

_CONSENT = (
    "An Entra admin adds it under Entra admin center → App registrations → the bot's app → API permissions "
    "→ Add a permission → Microsoft Graph → Application permissions, then clicks 'Grant admin consent'"
)


class GraphError(DirectoryError):
    """Graph refused or could not answer. `status` is the HTTP status (0: no answer), `code` Graph's
    error code ("Authorization_RequestDenied"), `permission` the permission the call needs."""

    def __init__(self, message: str, *, status: int = 0, code: str = "", permission: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.permission = permission


class GraphPermissionError(GraphError):
    """401 or 403: the app's token lacks the permission (or is not accepted at all)."""


class GraphNotFound(GraphError):
    """404: no such object (a user without a manager, a user without a mailbox)."""


class GraphClient:
    """Calls Graph at `base_url` (no trailing slash) with a bearer token from `token()`.

    `sleep` waits out Retry-After (tests pass one that records instead of waiting).
    """

    def __init__(
        self,
        base_url: str,
        token: TokenProvider,
        *,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_retries: int = MAX_RETRIES,
        max_wait: float = MAX_WAIT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._origin = _origin(self.base_url)
        self._token = token
        self._http = http or httpx.Client(timeout=TIMEOUT)
        self._sleep = sleep
        self._max_retries = max_retries
        self._max_wait = max_wait

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, *, params: Mapping[str, str] | None = None, permission: str) -> JSON:
        return self.request("GET", path, params=params, permission=permission).json()

    def post(self, path: str, body: JSON, *, permission: str) -> httpx.Response:
        return self.request("POST", path, json=body, permission=permission)

    def pages(self, path: str, *, params: Mapping[str, str] | None = None, permission: str) -> Iterator[list[JSON]]:
        """Each page's `value`, following `@odata.nextLink` (which already holds the query) to the end."""
        page = self.get(path, params=params, permission=permission)
        while True:
            yield list(page.get("value") or [])
            next_link = page.get("@odata.nextLink")
            if not next_link:
                return
            if _origin(next_link) != self._origin:
                # The bearer token goes only to the Graph we were configured with.
                raise GraphError(
                    f"Microsoft Graph sent a next-page link to another host ({_origin(next_link)}); "
                    "check GRAPH_API_URL points at Microsoft Graph",
                    permission=permission,
                )
            page = self.get(next_link, permission=permission)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: JSON | None = None,
        permission: str,
    ) -> httpx.Response:
        """One call, retried on 429/503 after Retry-After and on a lost connection; raises `GraphError`
        for any other status of 400 or more."""
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"
        label = f"{method} {_label(path)}"
        for attempt in range(self._max_retries + 1):
            last = attempt == self._max_retries
            try:
                response = self._http.request(
                    method, url, params=params, json=json, headers={"Authorization": f"Bearer {self._token()}"}
                )
            except httpx.TransportError as error:
                if last:
                    raise GraphError(
                        f"Could not reach Microsoft Graph at {self._origin} ({label}: {type(error).__name__}); "
                        "check the network (and GRAPH_API_URL) and try again",
                        permission=permission,
                    ) from None
                self._sleep(min(2.0**attempt, self._max_wait))
                continue
            if response.status_code in RETRY_STATUSES and not last:
                wait = _retry_after(response, default=2.0**attempt)
                log.info("Graph answered %s to %s; retrying in %.1f s", response.status_code, label, wait)
                self._sleep(min(wait, self._max_wait))
                continue
            if response.status_code >= 400:
                raise _error(response, label, permission)
            return response
        raise AssertionError("unreachable")  # the last attempt returns or raises


def _error(response: httpx.Response, label: str, permission: str) -> GraphError:
    status = response.status_code
    code, _message = _graph_error(response)
    shown = f"{status} {code}".strip()
    if status in (401, 403):
        return GraphPermissionError(
            f"Microsoft Graph refused {label} ({shown}): the app needs the {permission} application permission "
            f"with admin consent. {_CONSENT}; if it is granted already, check TEAMS_CLIENT_ID, "
            "TEAMS_CLIENT_SECRET and TEAMS_TENANT_ID",
            status=status,
            code=code,
            permission=permission,
        )
    if status == 404:
        return GraphNotFound(f"Microsoft Graph found nothing at {label} (404 {code})", status=status, code=code)
    if status in RETRY_STATUSES:
        return GraphError(
            f"Microsoft Graph kept asking us to slow down ({label}: {shown}); try again in a few minutes",
            status=status,
            code=code,
            permission=permission,
        )
    return GraphError(
        f"Microsoft Graph could not answer {label} ({shown}); try again, and if it keeps happening check "
        "the Microsoft 365 service health page in the admin center",
        status=status,
        code=code,
        permission=permission,
    )


def _graph_error(response: httpx.Response) -> tuple[str, str]:
    """Graph's error code and message, from {"error": {"code", "message"}}; ("", "") if absent."""
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return "", ""
    if not isinstance(error, dict):
        return "", ""
    return str(error.get("code") or ""), str(error.get("message") or "")


def _retry_after(response: httpx.Response, *, default: float) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return default


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _label(path: str) -> str:
    """The path without host or query, for messages (a query can hold an email address)."""
    return "/" + urlsplit(path).path.lstrip("/") if "://" in path else "/" + path.split("?")[0].lstrip("/")


# -- the production token ---------------------------------------------------------------------------------


def msal_token_provider(
    client_id: str, client_secret: str, tenant_id: str, *, login_url: str = DEFAULT_LOGIN_URL
) -> TokenProvider:
    """An app-only Graph token from Entra (client-credentials flow), cached by MSAL until near expiry."""
    import msal  # only production builds one; tests pass their own provider

    apps: list[msal.ConfidentialClientApplication] = []  # built on first use: building it asks Entra already

    def token() -> str:
        try:
            if not apps:
                apps.append(
                    msal.ConfidentialClientApplication(
                        client_id,
                        client_credential=client_secret,
                        authority=f"{login_url.rstrip('/')}/{tenant_id}",
                        # A login host the operator names (TEAMS_LOGIN_URL) is trusted as it is, rather
                        # than checked with Microsoft's public instance list.
                        instance_discovery=None if login_url.rstrip("/") == DEFAULT_LOGIN_URL else False,
                    )
                )
            result = apps[0].acquire_token_for_client(scopes=[GRAPH_SCOPE])
        except (OSError, ValueError) as error:  # requests' errors are OSErrors; MSAL raises ValueError for a bad tenant
            raise GraphError(
                f"Could not get a Microsoft Graph token from {login_url} ({type(error).__name__}): check the network "
                "and TEAMS_TENANT_ID"
            ) from None
        if "access_token" in result:
            return str(result["access_token"])
        code = result.get("error") or "unknown_error"
        raise GraphError(
            f"Entra would not give the app a Microsoft Graph token ({code}): check TEAMS_CLIENT_ID, "
            "TEAMS_CLIENT_SECRET (it may have expired: make a new one under Certificates & secrets) and TEAMS_TENANT_ID",
            code=str(code),
        )

    return token
