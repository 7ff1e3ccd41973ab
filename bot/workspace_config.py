"""Per-workspace settings HR changes from Slack (`/empathy config <key> <value>`).

Environment variables give the defaults; a value set here wins for that workspace. Each feature
adds its keys to `KEYS`; the parser turns what a person typed into the stored value or raises a
`UserFacingError` saying what to type instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.errors import UserFacingError
from bot.models import Workspace, WorkspaceSetting
from bot.settings import Settings
from bot.suggestion_config import DEFAULT_CATEGORIES, parse_categories, parse_owners, show_categories, show_owners

CHANNEL_REFERENCE = re.compile(r"^<#([CG][A-Z0-9]{2,20})(?:\|[^>]*)?>$|^([CG][A-Z0-9]{2,20})$")


def parse_channel(raw: str) -> str:
    """`<#C123|general>` (what Slack sends for `#general` when commands escape channels) or a bare id."""
    match = CHANNEL_REFERENCE.match(raw.strip())
    if match is None:
        raise UserFacingError(
            "Please pick the channel with `#`, for example `#people-team`, so Slack fills in the link. "
            "For a private channel, invite me to it first (`/invite @Empathy Bot`)."
        )
    return match.group(1) or match.group(2)


def show_channel(value: str) -> str:
    return f"<#{value}>"


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
    description: str
    parse: Callable[[str], str]
    default: Callable[[Settings], str | None]
    show: Callable[[str], str] = str


KEYS: dict[str, ConfigKey] = {
    key.name: key
    for key in (
        ConfigKey(
            "suggestions-channel",
            "the private channel where new anonymous suggestions arrive for HR",
            parse_channel,
            lambda settings: settings.suggestions_channel,
            show_channel,
        ),
        ConfigKey(
            "kudos-channel",
            "the channel where kudos shout-outs are posted",
            parse_channel,
            lambda settings: settings.kudos_channel,
            show_channel,
        ),
        ConfigKey(
            "kudos-per-day",
            "how many kudos one person can give in a day (a reaction counts as one)",
            parse_count(1, 100),
            lambda settings: str(settings.kudos_per_day),
        ),
        ConfigKey(
            "kudos-pair-per-week",
            "how many kudos two people can exchange in 7 days, both ways together",
            parse_count(1, 100),
            lambda settings: str(settings.kudos_pair_per_week),
        ),
        ConfigKey(
            "kudos-require-value",
            "whether every kudos must carry one of the company values (`on`/`off`)",
            parse_on_off,
            lambda settings: "off",
        ),
        ConfigKey(
            "kudos-leaderboard",
            "whether `/kudos leaderboard` shows who received most this month (`on`/`off`)",
            parse_on_off,
            lambda settings: "off",
        ),
        ConfigKey(
            "kudos-reaction",
            "the emoji that counts as light recognition for a message's author",
            parse_emoji,
            lambda settings: settings.kudos_reaction,
            lambda value: f":{value}:",
        ),
        ConfigKey(
            "suggestion-owners",
            "people besides HR who handle suggestions, optionally per category (`@ana, process:@chen`)",
            parse_owners,
            lambda settings: None,
            show_owners,
        ),
        ConfigKey(
            "suggestion-categories",
            "the categories people pick from in `/suggest` (comma list)",
            parse_categories,
            lambda settings: ",".join(DEFAULT_CATEGORIES),
            show_categories,
        ),
    )
}


def get_setting(session: Session, workspace: Workspace, name: str, settings: Settings) -> str | None:
    """The workspace's value for `name`, else the environment default, else None."""
    key = KEYS[name]
    stored = session.scalar(
        select(WorkspaceSetting.value).where(
            WorkspaceSetting.workspace_id == workspace.id, WorkspaceSetting.key == name
        )
    )
    return stored if stored is not None else key.default(settings)


def set_setting(session: Session, workspace: Workspace, name: str, raw: str) -> str:
    """Parse and store `raw` for `name`; returns the stored value. Raises `UserFacingError` on bad input."""
    key = KEYS.get(name)
    if key is None:
        known = ", ".join(f"`{k}`" for k in sorted(KEYS))
        raise UserFacingError(f"I don't have a setting called `{name[:40]}`. The ones I know are {known}.")
    value = key.parse(raw)
    row = session.scalar(
        select(WorkspaceSetting).where(WorkspaceSetting.workspace_id == workspace.id, WorkspaceSetting.key == name)
    )
    if row is None:
        session.add(WorkspaceSetting(workspace_id=workspace.id, key=name, value=value))
    else:
        row.value = value
    session.flush()
    return value


def describe_settings(session: Session, workspace: Workspace, settings: Settings) -> list[tuple[ConfigKey, str | None]]:
    return [(key, get_setting(session, workspace, key.name, settings)) for key in KEYS.values()]
