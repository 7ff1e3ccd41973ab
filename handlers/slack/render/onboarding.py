"""Onboarding's Slack side: the check-in modal, the template editor, and a task line as a Block Kit
block (the listeners swap one task in a message when its Done button is clicked).

The messages (welcome, task lists, check-ins, catch-ups, reminders, early warnings, the buddy prompt)
are neutral, in `bot.onboarding.messages`: the job queues them and the listeners render them. Every
name and text is escaped: templates and comments come from people.
"""

from __future__ import annotations

from typing import Any

from bot.onboarding.messages import (
    BUDDY_ACTION,
    BUDDY_BLOCK,
    CHECKIN_ACTION,
    CONSENT_QUESTION,
    DONE_ACTION,
    MAX_TASKS_SHOWN,
    SCALE,
    TaskLine,
    task_section,
)
from handlers.slack.listeners.common import context_block, escape, mrkdwn_section
from handlers.slack.render.message import block

__all__ = [
    "BUDDY_ACTION",
    "BUDDY_BLOCK",
    "CHECKIN_ACTION",
    "CHECKIN_VIEW",
    "DONE_ACTION",
    "MAX_TASKS_SHOWN",
    "TEMPLATE_OPEN_ACTION",
    "TEMPLATE_REMOVE_ACTION",
    "TEMPLATE_VIEW",
    "TaskLine",
    "checkin_modal",
    "task_block",
    "template_modal",
]

CHECKIN_VIEW = "onboard.checkin_view"
TEMPLATE_OPEN_ACTION = "onboard.template_open"  # value: template name, or "" for a new one
TEMPLATE_VIEW = "onboard.template_view"
TEMPLATE_REMOVE_ACTION = "onboard.template_remove"


def task_block(task: TaskLine) -> dict[str, Any]:
    return block(task_section(task))


def checkin_modal(*, step_id: int, question: str, score: int, manager: str | None, metadata: str) -> dict[str, Any]:
    who = manager or "your manager"
    option = lambda value: {"text": {"type": "plain_text", "text": SCALE[value]}, "value": str(value)}  # noqa: E731
    return {
        "type": "modal",
        "callback_id": CHECKIN_VIEW,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": "Onboarding check-in"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            mrkdwn_section(escape(question)),
            {
                "type": "input",
                "block_id": "score",
                "label": {"type": "plain_text", "text": "Your answer (1–5)"},
                "element": {
                    "type": "radio_buttons",
                    "action_id": "score",
                    "options": [option(v) for v in SCALE],
                    "initial_option": option(score),
                },
            },
            {
                "type": "input",
                "block_id": "comment",
                "optional": True,
                "label": {"type": "plain_text", "text": "Anything to add? (optional)"},
                "element": {"type": "plain_text_input", "action_id": "comment", "multiline": True, "max_length": 1000},
                "hint": {"type": "plain_text", "text": "Your comment is only kept if you share it below."},
            },
            {
                "type": "input",
                "block_id": "consent",
                "optional": True,
                "label": {"type": "plain_text", "text": CONSENT_QUESTION},
                "element": {
                    "type": "checkboxes",
                    "action_id": "consent",
                    "options": [
                        {
                            "text": {
                                "type": "plain_text",
                                "text": f"Yes, share my answer and comment with {who[:60]} and HR",
                            },
                            "value": "share",
                        }
                    ],
                },
            },
            context_block(
                "If you leave this unticked, nobody sees your answer as yours: it only counts toward anonymous "
                "figures for new hires (groups of 5 or more), and no alert is sent, even for a 1 or 2."
            ),
        ],
    }


def template_modal(
    *, name: str, description: str, buddy_rule: str, steps_text: str, original: str | None, error: str | None = None
) -> dict[str, Any]:
    rules = {"random_from_team": "Random from the team", "manager_picks": "The manager picks", "none": "No buddy"}
    option = lambda value: {"text": {"type": "plain_text", "text": rules[value]}, "value": value}  # noqa: E731
    blocks: list[dict[str, Any]] = []
    if error:
        blocks.append(mrkdwn_section(f"⚠️ {escape(error)}"))
    blocks += [
        {
            "type": "input",
            "block_id": "name",
            "label": {"type": "plain_text", "text": "Name"},
            "element": {"type": "plain_text_input", "action_id": "name", "initial_value": name, "max_length": 40},
        },
        {
            "type": "input",
            "block_id": "description",
            "optional": True,
            "label": {"type": "plain_text", "text": "Description"},
            "element": {
                "type": "plain_text_input",
                "action_id": "description",
                "initial_value": description,
                "max_length": 300,
            },
        },
        {
            "type": "input",
            "block_id": "buddy",
            "label": {"type": "plain_text", "text": "Buddy"},
            "element": {
                "type": "static_select",
                "action_id": "buddy",
                "options": [option(v) for v in rules],
                "initial_option": option(buddy_rule if buddy_rule in rules else "none"),
            },
        },
        {
            "type": "input",
            "block_id": "steps",
            "label": {"type": "plain_text", "text": "Steps, one per line: day | kind | owner | text"},
            "element": {
                "type": "plain_text_input",
                "action_id": "steps",
                "multiline": True,
                "initial_value": steps_text[:3000],
                "max_length": 3000,
            },
            "hint": {
                "type": "plain_text",
                "text": "kind: task or checkin. owner: new_hire, manager, buddy or hr (leave empty for a checkin). "
                "Reorder, add or delete lines to change steps. Placeholders: {new_hire} {manager} {buddy}.",
            },
        },
        context_block("Saving creates a new version: journeys already running keep the version they started with."),
    ]
    return {
        "type": "modal",
        "callback_id": TEMPLATE_VIEW,
        "private_metadata": original or "",
        "title": {"type": "plain_text", "text": "Onboarding template"[:24]},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }
