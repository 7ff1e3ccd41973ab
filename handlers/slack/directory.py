"""The Slack implementation of the `Directory` port (users.lookupByEmail, users.list)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import SlackResponse

from bot.delivery.ports import DirectoryError, DirectoryUser
from handlers.slack.scopes import METHOD_SCOPES

PAGE_SIZE = 200  # Slack's recommended maximum for users.list
_TOKEN_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}


class SlackDirectory:
    def __init__(self, client: WebClient) -> None:
        self.client = client

    def lookup_by_email(self, email: str) -> DirectoryUser | None:
        try:
            answer = _call("users.lookupByEmail", partial(self.client.users_lookupByEmail, email=email))
        except _NotFound:
            return None
        return to_directory_user(answer["user"])

    def list_users(self) -> Iterator[DirectoryUser]:
        cursor: str | None = None
        while True:
            page = _call("users.list", partial(self.client.users_list, limit=PAGE_SIZE, cursor=cursor))
            for member in page.get("members") or []:
                yield to_directory_user(member)
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                return


def to_directory_user(user: dict[str, Any]) -> DirectoryUser:
    profile = user.get("profile") or {}
    email = profile.get("email")
    return DirectoryUser(
        user_id=user["id"],
        email=email.lower() if email else None,
        name=profile.get("real_name") or user.get("real_name") or user.get("name") or "",
        timezone=user.get("tz") or None,
        is_bot=bool(user.get("is_bot") or user.get("is_app_user") or user["id"] == "USLACKBOT"),
        deleted=bool(user.get("deleted")),
    )


class _NotFound(Exception):
    """users.lookupByEmail's way of saying "nobody": an answer, not a failure."""


def _call(method: str, request: Callable[[], SlackResponse]) -> SlackResponse:
    try:
        return request()
    except SlackApiError as error:
        code = str(error.response.get("error") or "unknown_error")
        if code == "users_not_found":
            raise _NotFound from None
        raise DirectoryError(_explain(method, code, error.response.get("needed"))) from None
    except (SlackClientError, OSError) as error:
        raise DirectoryError(
            f"Could not reach Slack to read the directory ({method}: {type(error).__name__}); "
            "check the network and try again"
        ) from None


def _explain(method: str, code: str, needed: str | None) -> str:
    if code == "missing_scope":
        scope = needed or " and ".join(METHOD_SCOPES[method])  # for when Slack's answer does not say
        return (
            f"Slack refused {method} (missing_scope): the app needs the {scope} scope. "
            "Add it under OAuth & Permissions (or paste manifest.yml again), then reinstall the app"
        )
    if code in _TOKEN_ERRORS:
        return f"Slack refused {method} ({code}): check SLACK_BOT_TOKEN, or reinstall the app to get a new token"
    if code == "ratelimited":
        return f"Slack asked us to slow down ({method}: ratelimited); try again in a minute"
    return f"Slack could not answer {method} ({code}); try again, and if it keeps happening check status.slack.com"
