"""Why a Teams message could not be delivered, in words HR reads (an outbox row's `last_error`, doctor,
HR's home card), and what each says of a person's reach. Apart from the sender so that what reads them
needs no part of sending."""

from __future__ import annotations

# The reasons HR reads (row's last_error, `doctor`). Not in the transport vocabulary: they are about
# the person's Teams, so a sealed row withholds them like any recipient reason.
BLOCKED = "teams: blocked: they blocked the bot or removed the app in Teams (MessageWritesBlocked)"
NOT_INSTALLED_PREFIX = "teams: not installed: "
NOT_INSTALLED = (
    f"{NOT_INSTALLED_PREFIX}the app is not installed for them, so Teams will not let it write first; "
    "install it for them (Teams admin setup policy, or `empathy-bot` Graph install)"
)
FORBIDDEN = "teams: forbidden: Teams refused the bot this conversation (403)"
GONE = "teams: conversation not found: the chat or channel is gone, or the app was removed from it"
MESSAGE_GONE = "message_not_found"
TOO_LARGE = "teams: the message is too large for Teams (413)"
# What `doctor` says of the people a reason leaves unreachable (`handlers.teams.reach`).
REACH_LABELS = {
    BLOCKED: "blocked the bot or removed the app",
    NOT_INSTALLED: "do not have the app installed",
    FORBIDDEN: "Teams refuses the bot their chat",
    GONE: "their chat is gone and could not be made again",
}


def reach_label(reason: str) -> str | None:
    """What `doctor` says of a person whose last message failed for `reason` (None: not about reach).
    A failed Graph install says why in its own words after the not-installed prefix."""
    if reason.startswith(NOT_INSTALLED_PREFIX):
        return REACH_LABELS[NOT_INSTALLED]
    return REACH_LABELS.get(reason)
