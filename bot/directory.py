"""The organisation directory as the domain sees it: plain data, no Slack types.

`Directory` is the port through which services learn about people from the chat platform; the
Slack implementation lives in `bot.slack_directory`, a Teams one can follow.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class DirectoryUser:
    user_id: str
    email: str | None
    name: str
    timezone: str | None
    is_bot: bool = False
    deleted: bool = False


class DirectoryError(Exception):
    """The directory could not be read (network, permissions). `str()` says what to do."""


class Directory(Protocol):
    def lookup_by_email(self, email: str) -> DirectoryUser | None:
        """The user with this email, or None when there is none."""
        ...

    def list_users(self) -> Iterator[DirectoryUser]:
        """Every user, including bots and deactivated ones, page by page."""
        ...
