"""Block Kit for pulses: the DM with its questions, the thank-you, the reminder, the comment modal.

Pure functions of plain data, so jobs (which queue DMs) and listeners (which update them) render the
same thing. A DM only ever shows its reader's own answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from handlers.common import context_block, escape, mrkdwn_section
from surveys.bank import Question
from surveys.rounds import COMMENT_LIMIT, Answer

MAX_MESSAGE_BLOCKS = 50
ANSWER_ACTION = "pulse.answer"  # buttons: pulse.answer.<value>; selects: pulse.select
SELECT_ACTION = "pulse.select"
SKIP_ACTION = "pulse.skip"
COMMENT_ACTION = "pulse.comment"
REVIEW_ACTION = "pulse.review"
COMMENT_VIEW = "pulse.comment_view"


def action_value(round_id: int, question_id: str, value: int | None = None) -> str:
    return f"{round_id}|{question_id}" + ("" if value is None else f"|{value}")


def parse_action_value(raw: str) -> tuple[int, str, int | None] | None:
    parts = raw.split("|")
    try:
        if len(parts) == 2:
            return int(parts[0]), parts[1], None
        if len(parts) == 3:
            return int(parts[0]), parts[1], int(parts[2])
    except ValueError:
        return None
    return None


def _closes(closes_at: datetime) -> str:
    return f"{closes_at:%a %d %b}"


def greeting_text(*, first_name: str, count: int, closes_at: datetime, min_group: int, reminder: bool = False) -> str:
    name = escape(first_name) or "there"
    if reminder:
        return (
            f"Hi {name}, just a gentle nudge: your pulse is still open until {_closes(closes_at)}. "
            "It takes about a minute, and it's fine to skip anything."
        )
    return (
        f"Hi {name} — {count} quick question{'s' if count != 1 else ''}, about a minute, "
        f"and confidential: results are only shown for groups of {min_group} or more."
    )


def pulse_message(
    *,
    first_name: str,
    round_id: int,
    questions: Sequence[Question],
    answers: Mapping[str, Answer],
    closes_at: datetime,
    min_group: int,
    company: str,
    reminder: bool = False,
) -> dict[str, Any]:
    greeting = greeting_text(
        first_name=first_name, count=len(questions), closes_at=closes_at, min_group=min_group, reminder=reminder
    )
    blocks: list[dict[str, Any]] = [mrkdwn_section(greeting)]
    for number, question in enumerate(questions, start=1):
        blocks += question_blocks(number, question, round_id, answers.get(question.id), company)
    blocks.append(
        context_block(
            f"Your answers are stored without your name. Open until {_closes(closes_at)}; you can change an "
            "answer until then. `/empathy help` explains what is kept and who sees what."
        )
    )
    return {"text": greeting, "blocks": blocks[:MAX_MESSAGE_BLOCKS]}


def with_greeting(message: dict[str, Any], greeting: str) -> dict[str, Any]:
    """The same message for another person: only the greeting differs (blocks are shared, not copied)."""
    return {"text": greeting, "blocks": [mrkdwn_section(greeting), *message["blocks"][1:]]}


def question_blocks(
    number: int, question: Question, round_id: int, answer: Answer | None, company: str
) -> list[dict[str, Any]]:
    # Slack's bold does not cross line breaks: bold the first line, leave statements beneath plain.
    first, _, rest = escape(question.render_text(company)).partition("\n")
    lines = [f"*{number}. {first}*" + (f"\n{rest}" if rest else "")]
    if answer is not None:
        if answer.value is None:
            lines.append("⏭️ Skipped")
        else:
            option = question.scale.option(answer.value)
            lines.append(f"✅ Your answer: *{escape(option.label if option else str(answer.value))}*")
        if answer.comment:
            shown = answer.comment if len(answer.comment) <= 200 else answer.comment[:199] + "…"
            lines.append(f"💬 Your comment: “{escape(shown)}”")
    section = mrkdwn_section("\n".join(lines))
    section["block_id"] = f"q.{question.id}"[:255]
    selected = answer.value if answer is not None else None
    elements: list[dict[str, Any]] = (
        [_select(question, round_id, selected)]
        if question.scale.widget == "select"
        else [_button(question, round_id, o.value, o.label, o.value == selected) for o in question.scale.options]
    )
    elements.append(_plain_button("Skip", SKIP_ACTION, action_value(round_id, question.id)))
    elements.append(
        _plain_button(
            "Edit comment" if answer and answer.comment else "Add a comment",
            COMMENT_ACTION,
            action_value(round_id, question.id),
        )
    )
    return [section, {"type": "actions", "block_id": f"a.{question.id}"[:255], "elements": elements}]


def _button(question: Question, round_id: int, value: int, label: str, selected: bool) -> dict[str, Any]:
    button = _plain_button(label, f"{ANSWER_ACTION}.{value}", action_value(round_id, question.id, value))
    if selected:
        button["style"] = "primary"
    return button


def _plain_button(text: str, action_id: str, value: str) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text[:75], "emoji": True},
        "action_id": action_id,
        "value": value[:2000],
    }


def _select(question: Question, round_id: int, selected: int | None) -> dict[str, Any]:
    options = [
        {"text": {"type": "plain_text", "text": o.label[:75]}, "value": action_value(round_id, question.id, o.value)}
        for o in question.scale.options
    ][:100]
    select: dict[str, Any] = {
        "type": "static_select",
        "action_id": SELECT_ACTION,
        "placeholder": {"type": "plain_text", "text": "Choose…"},
        "options": options,
    }
    chosen = [o for o in options if o["value"] == action_value(round_id, question.id, selected)]
    if selected is not None and chosen:
        select["initial_option"] = chosen[0]
    return select


def thank_you_message(
    *, first_name: str, round_id: int, count: int, closes_at: datetime, min_group: int
) -> dict[str, Any]:
    text = f"Thank you, {escape(first_name) or 'friend'} 💙 That's all {count} done."
    return {
        "text": text,
        "blocks": [
            mrkdwn_section(
                f"{text}\n\n*What happens next:* when the pulse closes on {_closes(closes_at)}, results are shared "
                f"with managers and HR, only for groups of {min_group} or more and never who said what. "
                "Your answers are stored without your name."
            ),
            {
                "type": "actions",
                "block_id": "review",
                "elements": [_plain_button("Review or change my answers", REVIEW_ACTION, str(round_id))],
            },
        ],
    }


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


def closed_message(*, closed_on: datetime, min_group: int) -> dict[str, Any]:
    """What every pulse message of a closed round becomes: the same for everyone, answered or not, so
    the conversation no longer shows anyone's answers and says nothing about whether they gave any."""
    text = f"This pulse closed on {closed_on:%a %d %b}. Thank you 💙"
    return {
        "text": text,
        "blocks": [
            mrkdwn_section(
                f"{text}\n\nResults go to managers and HR only for groups of {min_group} or more, never who said "
                "what. The next pulse will come to this conversation."
            )
        ],
    }
