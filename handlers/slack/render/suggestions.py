"""The suggestion box's Slack modals. Pure functions of data: dates only, never times; every piece of
text a person wrote goes through `escape` before it reaches mrkdwn. The messages themselves are
neutral, in `bot.suggestions.messages` (re-exported here: the listeners' action ids and labels)."""

from __future__ import annotations

import json
from typing import Any

from bot.suggestions.messages import (
    AUTHOR_REPLY_ACTION,
    CLOSE_ACTION,
    DELETE_ACTION,
    OPEN_ACTION,
    OWNER_REPLY_ACTION,
    STATUS_ACTION,
    STATUS_LABELS,
    category_label,
    day,
    receipt_text,
)
from handlers.slack.listeners.common import context_block, escape, mrkdwn_section
from handlers.slack.render.message import mrkdwn

__all__ = [
    "AUTHOR_REPLY_ACTION",
    "CLOSE_ACTION",
    "DELETE_ACTION",
    "OPEN_ACTION",
    "OWNER_REPLY_ACTION",
    "STATUS_ACTION",
    "STATUS_LABELS",
    "category_label",
    "confirm_modal",
    "day",
    "receipt_view",
    "suggest_modal",
    "text_modal",
    "unescape",
]

SUGGEST_VIEW = "suggest_submit"
CONFIRM_VIEW = "suggest_confirm"
OWNER_REPLY_VIEW = "suggest_owner_reply"
AUTHOR_REPLY_VIEW = "suggest_author_reply"
CLOSE_VIEW = "suggest_close"

TEXT_BLOCK, TEXT_INPUT = "suggestion", "text"
CATEGORY_BLOCK, CATEGORY_INPUT = "category", "category"
SHARE_BLOCK, SHARE_INPUT = "share", "share"
NOTE_BLOCK, NOTE_INPUT = "note", "note"

PRIVATE = (
    "*What stays private*: your name, your Slack id and the time you sent this are not stored with your "
    "suggestion. It reaches the owners a few minutes later with only the date. Replies find you through an "
    "encrypted handle that only the bot can open. Switch on *share my name* only if you want them to know."
)


def unescape(text: str) -> str:
    """The inverse of `escape` (for text we escaped into private metadata)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _quote(text: str, limit: int = 2900) -> str:
    body = escape(text if len(text) <= limit else text[: limit - 1] + "…")
    return "\n".join("> " + line for line in body.splitlines() or [""])


def _category_options(categories: list[str]) -> list[dict[str, Any]]:
    return [{"text": _plain(category_label(c)[:75]), "value": c} for c in categories]


def _share_input() -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": SHARE_BLOCK,
        "optional": True,
        "label": _plain("Your name"),
        "element": {
            "type": "checkboxes",
            "action_id": SHARE_INPUT,
            "options": [{"text": _plain("Share my name with the owners (off: anonymous)"), "value": "share"}],
        },
    }


def _category_input(categories: list[str]) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": CATEGORY_BLOCK,
        "label": _plain("Category"),
        "element": {
            "type": "static_select",
            "action_id": CATEGORY_INPUT,
            "options": _category_options(categories),
            "initial_option": _category_options(categories)[-1],
        },
    }


def suggest_modal(categories: list[str], limit: int) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": SUGGEST_VIEW,
        "title": _plain("Suggestion box"),
        "submit": _plain("Send"),
        "close": _plain("Cancel"),
        "blocks": [
            {
                "type": "input",
                "block_id": TEXT_BLOCK,
                "label": _plain("Your suggestion"),
                "hint": _plain(f"Up to {limit} characters."),
                "element": {
                    "type": "plain_text_input",
                    "action_id": TEXT_INPUT,
                    "multiline": True,
                    "max_length": limit,
                    "placeholder": _plain("What would make work better?"),
                },
            },
            _category_input(categories),
            _share_input(),
            context_block(PRIVATE),
        ],
    }


def confirm_modal(text: str, categories: list[str]) -> dict[str, Any]:
    """`/suggest some text`: show exactly what will be sent, and ask only for the category."""
    return {
        "type": "modal",
        "callback_id": CONFIRM_VIEW,
        "title": _plain("Send this suggestion?"),
        "submit": _plain("Send"),
        "close": _plain("Cancel"),
        # Escaped: the metadata is stored by Slack as given, and nothing we send may carry a raw <!channel>.
        "private_metadata": json.dumps({"text": escape(text)}),
        "blocks": [
            mrkdwn_section("*Your suggestion*\n" + _quote(text)),
            _category_input(categories),
            _share_input(),
            context_block(PRIVATE),
        ],
    }


def receipt_view(reference: str, delay_minutes: int) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": _plain("Suggestion sent"),
        "close": _plain("Done"),
        "blocks": [mrkdwn_section(mrkdwn(receipt_text(reference, delay_minutes)))],
    }


def text_modal(
    callback_id: str,
    title: str,
    label: str,
    reference: str,
    limit: int,
    *,
    optional: bool = False,
    intro: str = "",
    status: str = "",
) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = []
    if intro:
        blocks.append(mrkdwn_section(intro))
    blocks.append(
        {
            "type": "input",
            "block_id": NOTE_BLOCK,
            "optional": optional,
            "label": _plain(label),
            "hint": _plain(f"Up to {limit} characters."),
            "element": {"type": "plain_text_input", "action_id": NOTE_INPUT, "multiline": True, "max_length": limit},
        }
    )
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": _plain(title[:24]),
        "submit": _plain("Send"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps({"reference": reference, "status": status}),
        "blocks": blocks,
    }
