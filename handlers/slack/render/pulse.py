"""The pulse's comment modal, and the pulse action ids the Slack listeners route on.

The pulse messages themselves (the DM with its questions, the reminder, the thank-you, the "closed"
update) are neutral, in `surveys.pulse_messages`: the jobs queue them and the listeners render them.
"""

from __future__ import annotations

from typing import Any

from handlers.slack.listeners.common import context_block, escape, mrkdwn_section
from surveys.bank import Question
from surveys.pulse_messages import (
    ANSWER_ACTION,
    COMMENT_ACTION,
    REVIEW_ACTION,
    SELECT_ACTION,
    SKIP_ACTION,
    action_value,
    parse_action_value,
)
from surveys.rounds import COMMENT_LIMIT

__all__ = [
    "ANSWER_ACTION",
    "COMMENT_ACTION",
    "COMMENT_VIEW",
    "REVIEW_ACTION",
    "SELECT_ACTION",
    "SKIP_ACTION",
    "action_value",
    "comment_modal",
    "parse_action_value",
]

COMMENT_VIEW = "pulse.comment_view"


def comment_modal(
    *, round_id: int, question: Question, existing: str | None, metadata: str, company: str
) -> dict[str, Any]:
    text_input: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "comment",
        "multiline": True,
        "max_length": COMMENT_LIMIT,
        "placeholder": {"type": "plain_text", "text": "Anything you'd like to add (optional)"},
    }
    if existing:
        text_input["initial_value"] = existing
    return {
        "type": "modal",
        "callback_id": COMMENT_VIEW,
        "private_metadata": metadata[:3000],
        "title": {"type": "plain_text", "text": "Add a comment"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            mrkdwn_section(f"*{escape(question.render_text(company))}*"),
            {
                "type": "input",
                "block_id": "comment",
                "optional": True,
                "label": {"type": "plain_text", "text": f"Your comment (up to {COMMENT_LIMIT} characters)"},
                "element": text_input,
            },
            context_block(
                "Comments are shown only when at least 10 people in a group answered, shuffled and dated to the "
                "round's end, never with your name. Please leave out details that would identify you."
            ),
        ],
    }
