"""The suggestion box's per-workspace settings (`/empathy config suggestion-…`): keys and parsers."""

from __future__ import annotations

import re

from bot.core.errors import UserFacingError
from bot.core.message import Command, text
from bot.core.workspace_config import ConfigKey, parse_channel, show_channel

DEFAULT_CATEGORIES = ("workplace", "process", "tools", "culture", "wellbeing", "other")
MAX_CATEGORIES = 20  # a static_select allows 100 options; a longer list is no longer a choice
CATEGORY_LENGTH = 30
_CATEGORY = re.compile(r"^[a-z0-9][a-z0-9 &/-]*$")
# What Slack sends for `@someone` in a slash command: <@U123|name>; a bare id also works.
_USER = re.compile(r"^<@([UW][A-Z0-9]{2,20})(?:\|[^>]*)?>$|^([UW][A-Z0-9]{2,20})$")


def parse_categories(raw: str) -> str:
    """`workplace, process, tools` → stored as `workplace,process,tools` (lower case, in order)."""
    names = [part.strip().lower() for part in raw.split(",") if part.strip()]
    if not names:
        raise UserFacingError(
            "Please list the categories separated by commas, for example `workplace, process, tools, other`."
        )
    for name in names:
        if len(name) > CATEGORY_LENGTH or not _CATEGORY.match(name):
            raise UserFacingError(
                f"`{name[:40]}` can't be a category: use letters, digits, spaces or dashes, "
                f"up to {CATEGORY_LENGTH} characters."
            )
    if len(set(names)) != len(names):
        raise UserFacingError("Each category should appear only once in the list.")
    if len(names) > MAX_CATEGORIES:
        raise UserFacingError(f"Please keep it to {MAX_CATEGORIES} categories or fewer, so the choice stays easy.")
    return ",".join(names)


def categories_of(stored: str | None) -> list[str]:
    return [name for name in (stored or "").split(",") if name] or list(DEFAULT_CATEGORIES)


def parse_owners(raw: str) -> str:
    """`@ana, process:@chen` → `U0ANA,process:U0CHEN`. HR are always owners; these are extra owners,
    optionally only for one category. `none` clears the list."""
    if raw.strip().lower() in {"none", "-"}:
        return ""
    entries: list[str] = []
    for part in (p.strip() for p in re.split(r"[,\s]+(?![^<]*>)", raw) if p.strip()):
        category, colon, who = (
            part.rpartition(":") if part.count(":") == 1 and not part.startswith("<") else ("", "", part)
        )
        match = _USER.match(who.strip())
        if match is None or (colon and not category.strip()):
            raise UserFacingError(
                "Please name owners with `@`, separated by commas, optionally for one category: "
                "for example `@ana, process:@chen`. `none` clears the list (HR are always owners)."
            )
        user = match.group(1) or match.group(2)
        entries.append(f"{category.strip().lower()}:{user}" if category.strip() else user)
    return ",".join(dict.fromkeys(entries))


def owners_of(stored: str | None) -> list[tuple[str | None, str]]:
    """(category or None for all categories, Slack user id) pairs."""
    found: list[tuple[str | None, str]] = []
    for entry in (e for e in (stored or "").split(",") if e):
        category, _, user = entry.rpartition(":")
        found.append((category or None, user))
    return found


def show_owners(stored: str) -> str:
    if not stored:
        return "HR only"
    return ", ".join(f"{c}: <@{u}>" if c else f"<@{u}>" for c, u in owners_of(stored))


def show_categories(stored: str) -> str:
    return ", ".join(categories_of(stored))


SUGGESTIONS_CHANNEL = ConfigKey(
    "suggestions-channel",
    "the private channel where new anonymous suggestions arrive for HR",
    parse_channel,
    lambda settings: settings.suggestions_channel,
    show_channel,
    position=10,
)
SUGGESTION_OWNERS = ConfigKey(
    "suggestion-owners",
    "people besides HR who handle suggestions, optionally per category (`@ana, process:@chen`)",
    parse_owners,
    lambda settings: None,
    show_owners,
    position=80,
)
SUGGESTION_CATEGORIES = ConfigKey(
    "suggestion-categories",
    text("the categories people pick from in ", Command("suggest"), " (comma list)"),
    parse_categories,
    lambda settings: ",".join(DEFAULT_CATEGORIES),
    show_categories,
    position=90,
)
CONFIG_KEYS = (SUGGESTIONS_CHANNEL, SUGGESTION_OWNERS, SUGGESTION_CATEGORIES)
