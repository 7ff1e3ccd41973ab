"""The suggestion box's messages as neutral messages: to the owners (the suggestion, the author's
answers, nudges, the thread note), to the author (the receipt, replies, status changes, all sealed in
the outbox), and the "You said, we did" summary.

Dates only, never times. Everything a person wrote (the suggestion, replies, notes, a shared name,
the category, which HR names) is a `Literal`. The action ids are stable: the listeners route on them.
"""

from __future__ import annotations

from datetime import date

from bot.core.message import (
    Actions,
    Block,
    Button,
    Command,
    Heading,
    Literal,
    Message,
    Note,
    Section,
    Text,
    join,
    quoted,
    text,
)

OPEN_ACTION = "suggest_open"
STATUS_ACTION = "suggest_status"
CLOSE_ACTION = "suggest_close_open"
OWNER_REPLY_ACTION = "suggest_owner_reply_open"
AUTHOR_REPLY_ACTION = "suggest_author_reply_open"
DELETE_ACTION = "suggest_delete"

STATUS_LABELS = {
    "new": "new",
    "acknowledged": "acknowledged",
    "in_progress": "in progress",
    "done": "done",
    "wont_do": "won't do",
}
QUOTE_LIMIT = 2900
THREAD_NOTE = (
    "I pass replies on to the author by DM, if they can still be reached; their answers appear in this thread, "
    "anonymously."
)


def day(value: date) -> str:
    return f"{value:%a %d %b %Y}"


def category_label(category: str) -> str:
    return category[:1].upper() + category[1:]


def receipt_text(reference: str, delay_minutes: int) -> Text:
    when = "shortly" if delay_minutes == 0 else f"within about {delay_minutes * 2} minutes"
    return text(
        f"Thank you! Your suggestion is in. Its reference is *{reference}*.\n"
        f"*What happens next*: it reaches the owners {when}, with only the date. When they change its status "
        "or reply, I'll DM you here and you can answer, still anonymously. "
        "To take it back, use the button below or ",
        Command(f"suggest delete {reference}"),
        ".",
    )


def receipt_message(reference: str, delay_minutes: int) -> Message:
    return Message(
        text(f"Your suggestion {reference} is in."),
        (
            Section(receipt_text(reference, delay_minutes)),
            Actions((Button("Delete my suggestion", DELETE_ACTION, reference, "danger"),)),
        ),
    )


def owner_message(
    *,
    reference: str,
    category: str,
    words: str,
    submitted_on: date,
    status: str,
    shared_name: str | None,
    note: str | None = None,
) -> Message:
    """The suggestion as owners see it: no author unless shared, the date only, the status buttons."""
    who = text("from ", Literal(shared_name)) if shared_name else text("Anonymous")
    status_line = text(f"Status: *{STATUS_LABELS[status]}*", *((" — ", Literal(note[:500])) if note else ()))
    blocks: list[Block] = [
        Section(text("*", who, f" {reference}* · ", Literal(category_label(category)), f" · {day(submitted_on)}")),
        Section(quoted(words, QUOTE_LIMIT)),
        Note(status_line),
    ]
    buttons = status_buttons(reference, status)
    if buttons:
        blocks.append(Actions(tuple(buttons), block_id=f"suggest:{reference}"))
    return Message(text(f"Suggestion {reference} ({STATUS_LABELS[status]})"), tuple(blocks))


def status_buttons(reference: str, status: str) -> list[Button]:
    if status in ("done", "wont_do"):
        return []
    buttons = []
    if status == "new":
        buttons.append(Button("Acknowledge", STATUS_ACTION, f"{reference}|acknowledged", "primary"))
    if status in ("new", "acknowledged"):
        buttons.append(Button("In progress", STATUS_ACTION, f"{reference}|in_progress"))
    buttons.append(Button("Done", CLOSE_ACTION, f"{reference}|done"))
    buttons.append(Button("Won't do", CLOSE_ACTION, f"{reference}|wont_do"))
    buttons.append(Button("Reply", OWNER_REPLY_ACTION, reference))
    return buttons


def author_reply_for_owners(reference: str, words: str, sent_on: date, *, open_: bool) -> Message:
    blocks: list[Block] = [
        Section(text(f"*Anonymous {reference} replied* · {day(sent_on)}")),
        Section(quoted(words, QUOTE_LIMIT)),
    ]
    if open_:
        blocks.append(Actions((Button("Reply", OWNER_REPLY_ACTION, reference),)))
    return Message(text(f"Anonymous {reference} replied"), tuple(blocks))


def reply_for_author(reference: str, owner_name: str, words: str, *, open_: bool) -> Message:
    blocks: list[Block] = [
        Section(text("*", Literal(owner_name or "The owners"), f" replied to your suggestion {reference}*")),
        Section(quoted(words, QUOTE_LIMIT)),
    ]
    if open_:
        blocks.append(Note(text("You can answer; they will only see “Anonymous " + reference + "”.")))
        blocks.append(Actions((Button("Answer anonymously", AUTHOR_REPLY_ACTION, reference),)))
    return Message(text(f"A reply to your suggestion {reference}"), tuple(blocks))


def status_for_author(reference: str, status: str, note: str | None) -> Message:
    lines: list[Text] = [text(f"Your suggestion *{reference}* is now *{STATUS_LABELS[status]}*.")]
    if note:
        label = "Why" if status == "wont_do" else "What changed"
        lines.append(text(f"*{label}*: ", Literal(note)))
    if status in ("done", "wont_do"):
        lines.append(
            text(
                "This closes it. Thank you for speaking up; ", Command("suggest"), " is always open for the next idea."
            )
        )
    else:
        lines.append(text("You'll hear from me again when it moves on."))
    return Message(
        text(f"Your suggestion {reference} is now {STATUS_LABELS[status]}"),
        (Section(join(lines, "\n")),),
    )


def owner_reply_in_thread(reference: str, owner_name: str, words: str) -> Message:
    """What the other owners see in the suggestion's thread when one of them replied: the same words
    whether or not the author could still be reached (that would tell who wrote it)."""
    lines = join((text("> ", Literal(line)) for line in words.splitlines()), "\n")
    headline = text(Literal(owner_name), f" replied to Anonymous {reference}")
    return Message(headline, (Section(text("*", headline, "*\n", lines)), Note(text(THREAD_NOTE))))


def nudge_message(reference: str, submitted_on: date, kind: str) -> Message:
    if kind == "acknowledge":
        words = (
            f"A gentle nudge: suggestion *{reference}* (sent {day(submitted_on)}) hasn't been acknowledged for 2 "
            "working days. A quick *Acknowledge* tells its author they were heard."
        )
    else:
        words = (
            f"A gentle nudge: suggestion *{reference}* (sent {day(submitted_on)}) has waited 7 working days for "
            "a decision. Mark it *In progress*, *Done* or *Won't do* (with a reason), or reply to its author."
        )
    return Message(text(f"Suggestion {reference} is waiting"), (Section(text(words)),))


def summary_message(items: list[tuple[str, str, str | None]], since: date | None, today: date) -> Message:
    """ "You said, we did": (category, suggestion text, what was done) for each resolved suggestion."""
    period = f"since {day(since)}" if since else f"up to {day(today)}"
    blocks: list[Block] = [
        Heading("You said, we did"),
        Section(text(f"Suggestions from the anonymous suggestion box that we acted on {period}. Thank you!")),
    ]
    for category, said, note in items[:45]:
        shown = said if len(said) <= 600 else said[:599] + "…"
        did = Literal(note) if note else "Done."
        blocks.append(
            Section(
                text("*", Literal(category_label(category)), "* — *You said:* ", Literal(shown), "\n*We did:* ", did)
            )
        )
    if len(items) > 45:
        blocks.append(Note(text(f"…and {len(items) - 45} more.")))
    return Message(text(f"You said, we did: {len(items)} suggestions acted on"), tuple(blocks))
