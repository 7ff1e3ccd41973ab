"""The Slack implementation of the `Directory` port (users.lookupByEmail, users.list)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.directory import DirectoryError, DirectoryUser

PAGE_SIZE = 200  # Slack's recommended maximum for users.list


class SlackDirectory:
    def __init__(self, client: WebClient) -> None:
        self.client = client

    def lookup_by_email(self, email: str) -> DirectoryUser | None:
        try:
            answer = self.client.users_lookupByEmail(email=email)
        except SlackApiError as error:
            if error.response.get("error") == "users_not_found":
                return None
            raise _directory_error(error) from None
        except (SlackClientError, OSError) as error:
            raise DirectoryError(
                f"could not reach Slack to look up people ({type(error).__name__}); try again"
            ) from None
        return to_directory_user(answer["user"])

    def list_users(self) -> Iterator[DirectoryUser]:
        cursor = ""
        while True:
            try:
                page = self.client.users_list(limit=PAGE_SIZE, cursor=cursor or None)
            except SlackApiError as error:
                raise _directory_error(error) from None
            except (SlackClientError, OSError) as error:
                raise DirectoryError(
                    f"could not reach Slack to list people ({type(error).__name__}); try again"
                ) from None
            for member in page.get("members", []):
                yield to_directory_user(member)
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or ""
            if not cursor:
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


def _directory_error(error: SlackApiError) -> DirectoryError:
    code = error.response.get("error", "unknown_error")
    if code == "missing_scope":
        needed = error.response.get("needed") or "users:read, users:read.email"
        return DirectoryError(
            f"Slack says the app is missing a permission ({needed}): add it under 'OAuth & Permissions' "
            "(or paste manifest.yml again) and reinstall the app"
        )
    if code == "ratelimited":
        return DirectoryError("Slack asked us to slow down while reading the directory; try again in a minute")
    return DirectoryError(f"Slack could not give us the directory ({code}); check the bot token and try again")
