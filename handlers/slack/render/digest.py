"""A manager's weekly digest as Block Kit (for the Home tab), and as plain text for the terminal.

The digest's wording lives in `surveys.digest_messages` (neutral); this module renders it for Slack.
"""

from __future__ import annotations

from typing import Any

from handlers.slack.render.message import render
from surveys import digest_messages
from surveys.digest import Digest, Overview
from surveys.digest_messages import heatmap_lines, participation_in_words

__all__ = [
    "digest_message",
    "digest_text",
    "heatmap_lines",
    "message_text",
    "overview_message",
    "participation_in_words",
]


def digest_message(digest: Digest, first_name: str) -> dict[str, Any]:
    return render(digest_messages.digest_message(digest, first_name))


def overview_message(overview: Overview, first_name: str) -> dict[str, Any]:
    return render(digest_messages.overview_message(overview, first_name))


def digest_text(digest: Digest, first_name: str) -> str:
    return message_text(digest_message(digest, first_name))


def message_text(message: dict[str, Any]) -> str:
    """A message's blocks as plain text, for the terminal and the demo's Markdown files."""
    parts = []
    for block in message["blocks"]:
        if block["type"] == "divider":
            parts.append("---")
        elif block["type"] in ("header", "section"):
            parts.append(block["text"]["text"].replace("*", ""))
        elif block["type"] == "context":
            parts.append("  " + " ".join(e["text"] for e in block["elements"]))
    return "\n\n".join(parts)
