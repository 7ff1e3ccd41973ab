"""Per-workspace settings HR changes from chat (`/empathy config <key> <value>`).

Environment variables give the defaults; a value set here wins for that workspace. Each feature
declares its keys (`Feature.config_keys`, collected by `bot/registry.py`); a key's parser turns what a
person typed into the stored value or raises a `UserFacingError` saying what to type instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.errors import UserFacingError
from bot.core.message import Command, Text, text
from bot.core.models import Workspace, WorkspaceSetting
from bot.core.settings import Settings

CHANNEL_REFERENCE = re.compile(r"^<#([CG][A-Z0-9]{2,20})(?:\|[^>]*)?>$|^([CG][A-Z0-9]{2,20})$")
# A Microsoft Teams channel's conversation id (`19:…@thread.tacv2`, older teams `…@thread.skype`), which
# Teams' listeners record when HR types `kudos channel` in the channel. At most 200 characters: the
# outbox row that posts there keeps it in full.
TEAMS_CHANNEL = re.compile(r"^19:[A-Za-z0-9_\-]{1,160}@thread\.(?:tacv2|skype|v2)$")


def parse_channel(raw: str) -> str:
    """`<#C123|general>` (what Slack sends for `#general` when commands escape channels), a bare Slack
    id, or a Teams channel's conversation id."""
    if TEAMS_CHANNEL.match(raw.strip()):
        return raw.strip()
    match = CHANNEL_REFERENCE.match(raw.strip())
    if match is None:
        raise UserFacingError(
            text(
                "Please pick the channel with `#`, for example `#people-team`, so Slack fills in the link. "
                "For a private channel, invite me to it first (",
                Command("invite @Empathy Bot"),
                ").",
            )
        )
    return match.group(1) or match.group(2)


def show_channel(value: str) -> str:
    # A Teams channel has no link syntax a message can carry; its id, quoted, says which one it is.
    return f"`{value}`" if TEAMS_CHANNEL.match(value) else f"<#{value}>"


def parse_on_off(raw: str) -> str:
    word = raw.strip().lower()
    if word in {"on", "yes", "true", "1"}:
        return "on"
    if word in {"off", "no", "false", "0"}:
        return "off"
    raise UserFacingError("Please say `on` or `off`.")


def parse_count(low: int, high: int) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        word = raw.strip()
        if not word.isdigit() or not low <= int(word) <= high:
            raise UserFacingError(f"Please give a whole number from {low} to {high}, for example `{max(low, 5)}`.")
        return str(int(word))

    return parse


EMOJI_NAME = re.compile(r"^:?([a-z0-9_+'-]{1,60}):?$")


def parse_emoji(raw: str) -> str:
    match = EMOJI_NAME.match(raw.strip().lower())
    if match is None:
        raise UserFacingError("Please give one emoji, for example `:raised_hands:`.")
    return match.group(1)


@dataclass(frozen=True)
class ConfigKey:
    name: str
    # Our wording; a hint at a command is a `Command` part, which the platform phrases.
    description: str | Text
    parse: Callable[[str], str]
    default: Callable[[Settings], str | None]
    show: Callable[[str], str] = str
    # Where `/empathy config` lists it, among every feature's keys.
    position: int = 0


def get_setting(session: Session, workspace: Workspace, key: ConfigKey, settings: Settings) -> str | None:
    """The workspace's value for `key`, else the environment default, else None."""
    stored = session.scalar(
        select(WorkspaceSetting.value).where(
            WorkspaceSetting.workspace_id == workspace.id, WorkspaceSetting.key == key.name
        )
    )
    return stored if stored is not None else key.default(settings)


def store_setting(session: Session, workspace: Workspace, key: ConfigKey, raw: str) -> str:
    """Parse and store `raw` for `key`; returns the stored value. Raises `UserFacingError` on bad input."""
    value = key.parse(raw)
    row = session.scalar(
        select(WorkspaceSetting).where(WorkspaceSetting.workspace_id == workspace.id, WorkspaceSetting.key == key.name)
    )
    if row is None:
        session.add(WorkspaceSetting(workspace_id=workspace.id, key=key.name, value=value))
    else:
        row.value = value
    session.flush()
    return value
