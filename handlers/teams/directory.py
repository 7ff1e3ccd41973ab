"""The Teams implementation of the `Directory` port: people, managers and time zones from Microsoft Graph.

- A person is their Entra user: `DirectoryUser.user_id` is the object id, never the per-bot Teams id
  (a `29:` id differs for every bot, the object id is the person's in the whole tenant).
- `deleted` is `not accountEnabled`: a disabled account is someone who left (also room and shared
  mailboxes, which Entra keeps as disabled users, so they are never created).
- Guests (`userType` "Guest": people of another organisation invited into a team) are not part of the
  organisation and are not listed; the sync neither creates nor deactivates them. `lookup_by_email`
  does find them, so HR can still bring a contractor in through the org file on purpose.
- Entra has no mark for a service account: an enabled member account is listed as a person. HR leaves
  it out of the org file (the import then deactivates it), as on Slack.
- Managers come from `$expand=manager` on the users list; if Graph refuses the expansion, from
  `GET /users/{id}/manager` for each person.
- Time zones come from `GET /users/{id}/mailboxSettings/timeZone` (Windows names, mapped to IANA). That
  needs `MailboxSettings.Read`, which an organisation may well not grant (it covers every mailbox): a
  403 means "time zone unknown" for everyone in the run, logged once, never a failure.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from itertools import chain

from bot.core.settings import Settings
from bot.delivery.ports import DirectoryUser
from handlers.teams.graph import (
    DEFAULT_GRAPH_API_URL,
    DEFAULT_LOGIN_URL,
    JSON,
    GraphClient,
    GraphError,
    GraphNotFound,
    GraphPermissionError,
    msal_token_provider,
)
from handlers.teams.timezones import to_iana

log = logging.getLogger(__name__)

USERS_PERMISSION = "User.Read.All"
MAILBOX_PERMISSION = "MailboxSettings.Read"
USER_FIELDS = "id,displayName,mail,userPrincipalName,accountEnabled,userType"
# Graph serves up to 999 users a page; with $expand it is not documented, so pages stay small.
PAGE_SIZE = 999
EXPANDED_PAGE_SIZE = 100


class TeamsDirectory:
    def __init__(self, graph: GraphClient) -> None:
        self.graph = graph
        self._mailbox_refused = False

    def lookup_by_email(self, email: str) -> DirectoryUser | None:
        quoted = email.strip().lower().replace("'", "''")  # OData doubles a quote inside a string
        page = self.graph.get(
            "users",
            params={
                "$filter": f"mail eq '{quoted}' or userPrincipalName eq '{quoted}'",
                "$select": USER_FIELDS,
            },
            permission=USERS_PERMISSION,
        )
        found = page.get("value") or []
        if not found:
            return None
        user = found[0]
        return self._directory_user(user, self._manager_of(user["id"]))

    def list_users(self) -> Iterator[DirectoryUser]:
        for user, manager_id in self._users_with_managers():
            if user.get("userType") == "Guest":
                continue
            yield self._directory_user(user, manager_id)

    # -- reading ------------------------------------------------------------------------------------------

    def _users_with_managers(self) -> Iterator[tuple[JSON, str | None]]:
        expanded = self.graph.pages(
            "users",
            params={"$select": USER_FIELDS, "$expand": "manager($select=id)", "$top": str(EXPANDED_PAGE_SIZE)},
            permission=USERS_PERMISSION,
        )
        try:
            first = next(expanded)
        except GraphError as error:
            if error.status not in (400, 403):
                raise
            # Some tenants refuse $expand=manager to an app (seen as 403 "Insufficient privileges", and
            # 400 for an unsupported query); the plain list and one call per person still work.
            log.info("Graph refused $expand=manager (%s); reading each person's manager on its own", error.status)
            yield from self._users_then_managers()
            return
        for users in chain([first], expanded):
            for user in users:
                yield user, _id_of(user.get("manager"))

    def _users_then_managers(self) -> Iterator[tuple[JSON, str | None]]:
        for users in self.graph.pages(
            "users", params={"$select": USER_FIELDS, "$top": str(PAGE_SIZE)}, permission=USERS_PERMISSION
        ):
            for user in users:
                wanted = user.get("accountEnabled", True) and user.get("userType") != "Guest"
                yield user, self._manager_of(user["id"]) if wanted else None

    def _manager_of(self, user_id: str) -> str | None:
        try:
            manager = self.graph.get(f"users/{user_id}/manager", params={"$select": "id"}, permission=USERS_PERMISSION)
        except GraphNotFound:  # nobody above them
            return None
        return _id_of(manager)

    def _timezone_of(self, user_id: str) -> str | None:
        if self._mailbox_refused:
            return None
        try:
            answer = self.graph.get(f"users/{user_id}/mailboxSettings/timeZone", permission=MAILBOX_PERMISSION)
        except GraphPermissionError:
            self._mailbox_refused = True
            log.warning(
                "Microsoft Graph refused mailboxSettings (the app lacks %s), so people's time zones stay "
                "unknown until they use the bot; grant it with admin consent to send at local times from the start",
                MAILBOX_PERMISSION,
            )
            return None
        except GraphNotFound:  # no mailbox (no Exchange licence)
            return None
        return to_iana(answer.get("value"))

    def _directory_user(self, user: JSON, manager_id: str | None) -> DirectoryUser:
        deleted = not user.get("accountEnabled", True)
        return DirectoryUser(
            user_id=user["id"],
            email=_email(user),
            name=user.get("displayName") or "",
            # A disabled account is only ever deactivated: its time zone is not worth a call.
            timezone=None if deleted else self._timezone_of(user["id"]),
            deleted=deleted,
            manager_id=manager_id,
        )


def _id_of(value: object) -> str | None:
    return str(value["id"]) if isinstance(value, dict) and value.get("id") else None


def _email(user: JSON) -> str | None:
    """`mail`, else the sign-in name when it is an address of the tenant's own (a guest's is mangled
    with #EXT#)."""
    for value in (user.get("mail"), user.get("userPrincipalName")):
        if value and "@" in value and "#EXT#" not in value.upper():
            return str(value).strip().lower()
    return None


def build_graph_client(settings: Settings) -> GraphClient:
    """The production client: app-only tokens from Entra for the tenant in TEAMS_TENANT_ID."""
    token = msal_token_provider(
        settings.teams_client_id or "",
        settings.teams_client_secret or "",
        settings.teams_tenant_id or "",
        login_url=settings.teams_login_url or DEFAULT_LOGIN_URL,
    )
    return GraphClient(settings.graph_api_url or DEFAULT_GRAPH_API_URL, token)


def build_teams_directory(settings: Settings) -> TeamsDirectory:
    return TeamsDirectory(build_graph_client(settings))
