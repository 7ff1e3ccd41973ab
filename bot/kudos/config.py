"""Kudos' per-workspace settings (`/empathy config kudos-…`)."""

from __future__ import annotations

from bot.core.message import Command, text
from bot.core.workspace_config import ConfigKey, parse_channel, parse_count, parse_emoji, parse_on_off, show_channel

KUDOS_CHANNEL = ConfigKey(
    "kudos-channel",
    "the channel where kudos shout-outs are posted",
    parse_channel,
    lambda settings: settings.kudos_channel,
    show_channel,
    position=20,
)
KUDOS_PER_DAY = ConfigKey(
    "kudos-per-day",
    "how many kudos one person can give in a day (a reaction counts as one)",
    parse_count(1, 100),
    lambda settings: str(settings.kudos_per_day),
    position=30,
)
KUDOS_PAIR_PER_WEEK = ConfigKey(
    "kudos-pair-per-week",
    "how many kudos two people can exchange in 7 days, both ways together",
    parse_count(1, 100),
    lambda settings: str(settings.kudos_pair_per_week),
    position=40,
)
KUDOS_REQUIRE_VALUE = ConfigKey(
    "kudos-require-value",
    "whether every kudos must carry one of the company values (`on`/`off`)",
    parse_on_off,
    lambda settings: "off",
    position=50,
)
KUDOS_LEADERBOARD = ConfigKey(
    "kudos-leaderboard",
    text("whether ", Command("kudos leaderboard"), " shows who received most this month (`on`/`off`)"),
    parse_on_off,
    lambda settings: "off",
    position=60,
)
KUDOS_REACTION = ConfigKey(
    "kudos-reaction",
    "the emoji that counts as light recognition for a message's author",
    parse_emoji,
    lambda settings: settings.kudos_reaction,
    lambda value: f":{value}:",
    position=70,
)
CONFIG_KEYS = (
    KUDOS_CHANNEL,
    KUDOS_PER_DAY,
    KUDOS_PAIR_PER_WEEK,
    KUDOS_REQUIRE_VALUE,
    KUDOS_LEADERBOARD,
    KUDOS_REACTION,
)
