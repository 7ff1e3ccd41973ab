"""Pulse messages as neutral messages: the DM with its questions, the reminder, the thank-you and the
"closed" message every pulse DM becomes.

Pure functions of plain data, so jobs (which queue DMs) and listeners (which update them after a
click) say the same thing. A DM only ever shows its reader's own answers. Question texts, the
company's name and comments are `Literal`s. The action ids are stable: the listeners route on them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.core.message import (
    Actions,
    Block,
    Button,
    Choice,
    Command,
    Element,
    Literal,
    Message,
    Note,
    Option,
    Section,
    Text,
    join,
    payload_with_first,
    text,
)
from surveys.bank import Question
from surveys.rounds import Answer

MAX_MESSAGE_BLOCKS = 50
ANSWER_ACTION = "pulse.answer"  # buttons: pulse.answer.<value>; selects: pulse.select
SELECT_ACTION = "pulse.select"
SKIP_ACTION = "pulse.skip"
COMMENT_ACTION = "pulse.comment"
REVIEW_ACTION = "pulse.review"


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


def greeting(*, first_name: str, count: int, closes_at: datetime, min_group: int, reminder: bool = False) -> Text:
    name = Literal(first_name) if first_name else "there"
    if reminder:
        return text(
            "Hi ",
            name,
            f", just a gentle nudge: your pulse is still open until {_closes(closes_at)}. "
            "It takes about a minute, and it's fine to skip anything.",
        )
    return text(
        "Hi ",
        name,
        f" — {count} quick question{'s' if count != 1 else ''}, about a minute, "
        f"and confidential: results are only shown for groups of {min_group} or more.",
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
) -> Message:
    hello = greeting(
        first_name=first_name, count=len(questions), closes_at=closes_at, min_group=min_group, reminder=reminder
    )
    blocks: list[Block] = [Section(hello)]
    for number, question in enumerate(questions, start=1):
        blocks += question_blocks(number, question, round_id, answers.get(question.id), company)
    blocks.append(
        Note(
            text(
                f"Your answers are stored without your name. Open until {_closes(closes_at)}; you can change an "
                "answer until then. ",
                Command("empathy help"),
                " explains what is kept and who sees what.",
            )
        )
    )
    return Message(hello, tuple(blocks[:MAX_MESSAGE_BLOCKS]))


def with_greeting(message: Message, hello: Text) -> Message:
    """The same message for another person: only the greeting differs (blocks are shared, not copied)."""
    return message.with_first(Section(hello), hello)


def greeting_payload(payload: dict[str, Any], hello: Text) -> dict[str, Any]:
    """`outbox_payload(with_greeting(message, hello))` from `outbox_payload(message)`, without building
    the shared questions again for each person."""
    return payload_with_first(payload, Section(hello), hello)


def question_blocks(number: int, question: Question, round_id: int, answer: Answer | None, company: str) -> list[Block]:
    # Slack's bold does not cross line breaks (nor do others'): bold the first line, leave statements beneath plain.
    first, _, rest = question.render_text(company).partition("\n")
    lines: list[Text] = [text(f"*{number}. ", Literal(first), "*", *(("\n", Literal(rest)) if rest else ()))]
    if answer is not None:
        if answer.value is None:
            lines.append(text("⏭️ Skipped"))
        else:
            option = question.scale.option(answer.value)
            lines.append(text("✅ Your answer: *", Literal(option.label if option else str(answer.value)), "*"))
        if answer.comment:
            shown = answer.comment if len(answer.comment) <= 200 else answer.comment[:199] + "…"
            lines.append(text("💬 Your comment: “", Literal(shown), "”"))
    selected = answer.value if answer is not None else None
    elements: list[Element] = (
        [_choice(question, round_id, selected)]
        if question.scale.widget == "select"
        else [
            Button(
                o.label,
                f"{ANSWER_ACTION}.{o.value}",
                action_value(round_id, question.id, o.value),
                "primary" if o.value == selected else None,
            )
            for o in question.scale.options
        ]
    )
    elements.append(Button("Skip", SKIP_ACTION, action_value(round_id, question.id)))
    elements.append(
        Button(
            "Edit comment" if answer and answer.comment else "Add a comment",
            COMMENT_ACTION,
            action_value(round_id, question.id),
            dialog=True,  # the comment is written in a form (Slack's modal, Teams' dialog)
        )
    )
    return [
        Section(join(lines, "\n"), block_id=f"q.{question.id}"),
        Actions(tuple(elements), block_id=f"a.{question.id}"),
    ]


def _choice(question: Question, round_id: int, selected: int | None) -> Choice:
    options = tuple(Option(o.label, action_value(round_id, question.id, o.value)) for o in question.scale.options)
    chosen = action_value(round_id, question.id, selected) if selected is not None else None
    return Choice(SELECT_ACTION, options, "Choose…", chosen)


def thank_you_message(*, first_name: str, round_id: int, count: int, closes_at: datetime, min_group: int) -> Message:
    thanks = text("Thank you, ", Literal(first_name) if first_name else "friend", f" 💙 That's all {count} done.")
    return Message(
        thanks,
        (
            Section(
                text(
                    thanks,
                    f"\n\n*What happens next:* when the pulse closes on {_closes(closes_at)}, results are shared "
                    f"with managers and HR, only for groups of {min_group} or more and never who said what. "
                    "Your answers are stored without your name.",
                )
            ),
            Actions((Button("Review or change my answers", REVIEW_ACTION, str(round_id)),), block_id="review"),
        ),
    )


def closed_message(*, closed_on: datetime, min_group: int) -> Message:
    """What every pulse message of a closed round becomes: the same for everyone, answered or not, so
    the conversation no longer shows anyone's answers and says nothing about whether they gave any."""
    closed = text(f"This pulse closed on {closed_on:%a %d %b}. Thank you 💙")
    return Message(
        closed,
        (
            Section(
                text(
                    closed,
                    f"\n\nResults go to managers and HR only for groups of {min_group} or more, never who said "
                    "what. The next pulse will come to this conversation.",
                )
            ),
        ),
    )
