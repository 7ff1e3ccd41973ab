"""Block Kit for the suggestion box. Pure functions of data: dates only, never times; every piece of
text a person wrote goes through `escape` before it reaches mrkdwn."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from handlers.common import context_block, escape, mrkdwn_section

SUGGEST_VIEW = "suggest_submit"
CONFIRM_VIEW = "suggest_confirm"
OWNER_REPLY_VIEW = "suggest_owner_reply"
AUTHOR_REPLY_VIEW = "suggest_author_reply"
CLOSE_VIEW = "suggest_close"

OPEN_ACTION = "suggest_open"
STATUS_ACTION = "suggest_status"
CLOSE_ACTION = "suggest_close_open"
OWNER_REPLY_ACTION = "suggest_owner_reply_open"
AUTHOR_REPLY_ACTION = "suggest_author_reply_open"
DELETE_ACTION = "suggest_delete"

TEXT_BLOCK, TEXT_INPUT = "suggestion", "text"
CATEGORY_BLOCK, CATEGORY_INPUT = "category", "category"
SHARE_BLOCK, SHARE_INPUT = "share", "share"
NOTE_BLOCK, NOTE_INPUT = "note", "note"

STATUS_LABELS = {
    "new": "new",
    "acknowledged": "acknowledged",
    "in_progress": "in progress",
    "done": "done",
    "wont_do": "won't do",
}

PRIVATE = (
    "*What stays private*: your name, your Slack id and the time you sent this are not stored with your "
    "suggestion. It reaches the owners a few minutes later with only the date. Replies find you through an "
    "encrypted handle that only the bot can open. Switch on *share my name* only if you want them to know."
)


def unescape(text: str) -> str:
    """The inverse of `escape` (for text we escaped into private metadata)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def day(value: date) -> str:
    return f"{value:%a %d %b %Y}"


def category_label(category: str) -> str:
    return category[:1].upper() + category[1:]


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "text": _plain(text), "action_id": action_id, "value": value}
    if style:
        button["style"] = style
    return button


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
        "blocks": [mrkdwn_section(receipt_text(reference, delay_minutes))],
    }


def receipt_text(reference: str, delay_minutes: int) -> str:
    when = "shortly" if delay_minutes == 0 else f"within about {delay_minutes * 2} minutes"
    return (
        f"Thank you! Your suggestion is in. Its reference is *{reference}*.\n"
        f"*What happens next*: it reaches the owners {when}, with only the date. When they change its status "
        "or reply, I'll DM you here and you can answer, still anonymously. "
        f"To take it back, use the button below or `/suggest delete {reference}`."
    )


def receipt_message(reference: str, delay_minutes: int) -> dict[str, Any]:
    text = receipt_text(reference, delay_minutes)
    return {
        "text": f"Your suggestion {reference} is in.",
        "blocks": [
            mrkdwn_section(text),
            {"type": "actions", "elements": [_button("Delete my suggestion", DELETE_ACTION, reference, "danger")]},
        ],
    }


def owner_message(
    *,
    reference: str,
    category: str,
    text: str,
    submitted_on: date,
    status: str,
    shared_name: str | None,
    note: str | None = None,
) -> dict[str, Any]:
    """The suggestion as owners see it: no author unless shared, the date only, the status buttons."""
    who = f"from {escape(shared_name)}" if shared_name else "Anonymous"
    blocks: list[dict[str, Any]] = [
        mrkdwn_section(f"*{who} {reference}* · {escape(category_label(category))} · {day(submitted_on)}"),
        mrkdwn_section(_quote(text)),
    ]
    status_line = f"Status: *{STATUS_LABELS[status]}*"
    if note:
        status_line += f" — {escape(note[:500])}"
    blocks.append(context_block(status_line))
    actions = status_buttons(reference, status)
    if actions:
        blocks.append({"type": "actions", "block_id": f"suggest:{reference}", "elements": actions})
    return {"text": f"Suggestion {reference} ({STATUS_LABELS[status]})", "blocks": blocks}


def status_buttons(reference: str, status: str) -> list[dict[str, Any]]:
    if status in ("done", "wont_do"):
        return []
    buttons = []
    if status == "new":
        buttons.append(_button("Acknowledge", STATUS_ACTION, f"{reference}|acknowledged", "primary"))
    if status in ("new", "acknowledged"):
        buttons.append(_button("In progress", STATUS_ACTION, f"{reference}|in_progress"))
    buttons.append(_button("Done", CLOSE_ACTION, f"{reference}|done"))
    buttons.append(_button("Won't do", CLOSE_ACTION, f"{reference}|wont_do"))
    buttons.append(_button("Reply", OWNER_REPLY_ACTION, reference))
    return buttons


def author_reply_for_owners(reference: str, text: str, sent_on: date, *, open_: bool) -> dict[str, Any]:
    blocks = [
        mrkdwn_section(f"*Anonymous {reference} replied* · {day(sent_on)}"),
        mrkdwn_section(_quote(text)),
    ]
    if open_:
        blocks.append({"type": "actions", "elements": [_button("Reply", OWNER_REPLY_ACTION, reference)]})
    return {"text": f"Anonymous {reference} replied", "blocks": blocks}


def reply_for_author(reference: str, owner_name: str, text: str, *, open_: bool) -> dict[str, Any]:
    blocks = [
        mrkdwn_section(f"*{escape(owner_name or 'The owners')} replied to your suggestion {reference}*"),
        mrkdwn_section(_quote(text)),
    ]
    if open_:
        blocks.append(context_block("You can answer; they will only see “Anonymous " + reference + "”."))
        blocks.append({"type": "actions", "elements": [_button("Answer anonymously", AUTHOR_REPLY_ACTION, reference)]})
    return {"text": f"A reply to your suggestion {reference}", "blocks": blocks}


def status_for_author(reference: str, status: str, note: str | None) -> dict[str, Any]:
    lines = [f"Your suggestion *{reference}* is now *{STATUS_LABELS[status]}*."]
    if note:
        label = "Why" if status == "wont_do" else "What changed"
        lines.append(f"*{label}*: {escape(note)}")
    if status in ("done", "wont_do"):
        lines.append("This closes it. Thank you for speaking up; `/suggest` is always open for the next idea.")
    else:
        lines.append("You'll hear from me again when it moves on.")
    return {
        "text": f"Your suggestion {reference} is now {STATUS_LABELS[status]}",
        "blocks": [mrkdwn_section("\n".join(lines))],
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


def nudge_message(reference: str, submitted_on: date, kind: str) -> dict[str, Any]:
    if kind == "acknowledge":
        text = (
            f"A gentle nudge: suggestion *{reference}* (sent {day(submitted_on)}) hasn't been acknowledged for 2 "
            "working days. A quick *Acknowledge* tells its author they were heard."
        )
    else:
        text = (
            f"A gentle nudge: suggestion *{reference}* (sent {day(submitted_on)}) has waited 7 working days for "
            "a decision. Mark it *In progress*, *Done* or *Won't do* (with a reason), or reply to its author."
        )
    return {"text": f"Suggestion {reference} is waiting", "blocks": [mrkdwn_section(text)]}


def summary_message(items: list[tuple[str, str, str | None]], since: date | None, today: date) -> dict[str, Any]:
    """ "You said, we did": (category, suggestion text, what was done) for each resolved suggestion."""
    period = f"since {day(since)}" if since else f"up to {day(today)}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain("You said, we did")},
        mrkdwn_section(f"Suggestions from the anonymous suggestion box that we acted on {period}. Thank you!"),
    ]
    for category, text, note in items[:45]:
        said = escape(text if len(text) <= 600 else text[:599] + "…")
        did = escape(note) if note else "Done."
        blocks.append(mrkdwn_section(f"*{escape(category_label(category))}* — *You said:* {said}\n*We did:* {did}"))
    if len(items) > 45:
        blocks.append(context_block(f"…and {len(items) - 45} more."))
    return {"text": f"You said, we did: {len(items)} suggestions acted on", "blocks": blocks}
