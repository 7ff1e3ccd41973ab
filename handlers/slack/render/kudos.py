"""Block Kit and text parsing for kudos. Pure functions of data; everything a person wrote goes
through `escape` before it reaches mrkdwn, so a shout-out can mention its recipients but never
`@channel`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from bot.core.models import Person
from bot.kudos.models import CompanyValue
from bot.kudos.service import MAX_RECIPIENTS, MESSAGE_LIMIT, Stats
from bot.kudos.typed import Words, leading_private, words_of
from bot.kudos.values import value_label
from handlers.slack.listeners.common import context_block, escape, mrkdwn_section

KUDOS_VIEW = "kudos_submit"
VALUES_VIEW = "kudos_values_submit"
OPEN_ACTION = "kudos_open"
VALUES_ACTION = "kudos_values_open"
MESSAGE_SHORTCUT = "kudos_for_message"

RECIPIENTS_BLOCK, RECIPIENTS_INPUT = "recipients", "users"
MESSAGE_BLOCK, MESSAGE_INPUT = "message", "text"
VALUES_BLOCK, VALUES_INPUT = "values", "tags"
PRIVATE_BLOCK, PRIVATE_INPUT = "private", "private"
VALUE_LINES_BLOCK, VALUE_LINES_INPUT = "value_lines", "lines"

USER = re.compile(r"<@([UW][A-Z0-9]{2,30})(?:\|[^>]*)?>")
CHANNEL = re.compile(r"<#[CG][A-Z0-9]{2,30}(?:\|[^>]*)?>")
GROUP = re.compile(r"<!(?:subteam\^[A-Z0-9]+|channel|here|everyone)(?:\|[^>]*)?>")
BARE_AT = re.compile(r"(?<![\w<|])@([\w.\-]{1,80})")


@dataclass
class Typed:
    """A `/kudos …` line taken apart: Slack's mentions here, the words as on every platform."""

    words: Words
    user_ids: list[str] = field(default_factory=list)
    channels: bool = False
    groups: bool = False
    unlinked: list[str] = field(default_factory=list)


def parse_typed(text: str) -> Typed:
    private, rest = leading_private(text)
    typed = Typed(words=Words())
    typed.user_ids = list(dict.fromkeys(USER.findall(rest)))
    typed.channels = bool(CHANNEL.search(rest))
    typed.groups = bool(GROUP.search(rest))
    rest = GROUP.sub(" ", CHANNEL.sub(" ", USER.sub(" ", rest)))
    typed.unlinked = BARE_AT.findall(rest)
    typed.words = words_of(rest, private=private)
    return typed


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _value_options(values: list[CompanyValue]) -> list[dict[str, Any]]:
    return [{"text": _plain(value_label(v)[:75]), "value": v.tag} for v in values[:100]]


def kudos_modal(
    values: list[CompanyValue],
    *,
    value_required: bool,
    recipients: list[str] | None = None,
    item: tuple[str, str] | None = None,
    about: str = "",
) -> dict[str, Any]:
    users: dict[str, Any] = {
        "type": "multi_users_select",
        "action_id": RECIPIENTS_INPUT,
        "placeholder": _plain("Who made a difference?"),
        "max_selected_items": MAX_RECIPIENTS,
    }
    if recipients:
        users["initial_users"] = recipients[:MAX_RECIPIENTS]
    blocks: list[dict[str, Any]] = []
    if about:
        blocks.append(context_block("About this message:\n" + _quote(about, 500)))
    blocks += [
        {"type": "input", "block_id": RECIPIENTS_BLOCK, "label": _plain("Who are you thanking?"), "element": users},
        {
            "type": "input",
            "block_id": MESSAGE_BLOCK,
            "label": _plain("What for?"),
            "hint": _plain("What they did and what it meant. Specific thanks land best."),
            "element": {
                "type": "plain_text_input",
                "action_id": MESSAGE_INPUT,
                "multiline": True,
                "max_length": MESSAGE_LIMIT,
                "placeholder": _plain("for untangling the release on Friday"),
            },
        },
    ]
    if values:
        blocks.append(
            {
                "type": "input",
                "block_id": VALUES_BLOCK,
                "optional": not value_required,
                "label": _plain("Which of our values did they show?"),
                "element": {
                    "type": "multi_static_select",
                    "action_id": VALUES_INPUT,
                    "placeholder": _plain("Pick a value"),
                    "options": _value_options(values),
                },
            }
        )
    blocks.append(
        {
            "type": "input",
            "block_id": PRIVATE_BLOCK,
            "optional": True,
            "label": _plain("Who sees it"),
            "element": {
                "type": "checkboxes",
                "action_id": PRIVATE_INPUT,
                "options": [
                    {
                        "text": _plain("Only them: send it by DM, not in the kudos channel"),
                        "value": "private",
                    }
                ],
            },
        }
    )
    return {
        "type": "modal",
        "callback_id": KUDOS_VIEW,
        "title": _plain("Give kudos"),
        "submit": _plain("Send"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps({"item": list(item)} if item else {}),
        "blocks": blocks,
    }


def done_view(text: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": _plain("Kudos sent"),
        "close": _plain("Close"),
        "blocks": [mrkdwn_section(text)],
    }


def values_modal(lines: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": VALUES_VIEW,
        "title": _plain("Company values"),
        "submit": _plain("Save"),
        "close": _plain("Cancel"),
        "blocks": [
            mrkdwn_section(
                "One value per line: `:emoji: Name - what it means`. People tag kudos with `#name` "
                "(lower case, dashes for spaces). Kudos already given keep their tags."
            ),
            {
                "type": "input",
                "block_id": VALUE_LINES_BLOCK,
                "optional": True,
                "label": _plain("Values"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": VALUE_LINES_INPUT,
                    "multiline": True,
                    "max_length": 3000,
                    **({"initial_value": lines} if lines else {}),
                    "placeholder": _plain(":handshake: Teamwork - we win together"),
                },
            },
        ],
    }


def _quote(text: str, limit: int = 2800) -> str:
    body = escape(text if len(text) <= limit else text[: limit - 1] + "…")
    return "\n".join("> " + line for line in body.splitlines() or [""])


def sent_text(recipients: list[Person], *, posted_in: str | None, left: int) -> str:
    names = ", ".join(escape(r.name or "them") for r in recipients)
    where = f"It's in <#{posted_in}>, and {names} will get a DM." if posted_in else f"{names} will get it by DM."
    more = f"You can give {left} more today." if left else "That was your last one for today."
    return f":raised_hands: Thank you for noticing! {where} {more}"


def stats_text(found: Stats, values: list[CompanyValue]) -> str:
    known = {v.tag: v for v in values}
    lines = [
        f"*Your kudos* (only you can see this)\nIn the last 30 days you gave {found.given_recently} and received "
        f"{found.received_recently}. Since the start: {found.given} given, {found.received} received. "
        "These include private kudos, which count nowhere else."
    ]
    if found.values_received:
        shown = ", ".join(
            f"{escape(value_label(known[tag])) if tag in known else '#' + escape(tag)} ×{n}"
            for tag, n in found.values_received[:8]
        )
        lines.append(f"What people see in you: {shown}.")
    elif found.received == 0:
        lines.append("Nobody has tagged you yet; that says nothing about your work. Kudos are still new here.")
    return "\n".join(lines)


def leaderboard_text(rows: list[tuple[Person, int]]) -> str:
    if not rows:
        return (
            "Nobody has been thanked in public in the last 30 days yet. Be the first to thank someone: "
            "`/kudos @someone for …`"
        )
    lines = [f"{i}. {escape(p.name or 'someone')}: {n}" for i, (p, n) in enumerate(rows, start=1)]
    # Private kudos are left out (bot.kudos.service.seen_by_others): the title says so, truthfully.
    return (
        "*Most thanked in public in the last 30 days*\n" + "\n".join(lines) + "\nEvery thank-you counts, ranked or not."
    )


def home_section(found: Stats, values: list[CompanyValue], *, is_hr: bool) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {"type": "divider"},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*Kudos*\nIn the last 30 days you gave {found.given_recently} and received "
                f"{found.received_recently}. Thank a colleague with `/kudos @someone for …`.",
            },
            "accessory": {
                "type": "button",
                "text": _plain("Give kudos"),
                "action_id": OPEN_ACTION,
                "value": "home",
            },
        },
    ]
    if is_hr:
        listed = ", ".join(escape(value_label(v)) for v in values) or "none yet"
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*Company values* (HR): {listed}"[:3000]},
                "accessory": {
                    "type": "button",
                    "text": _plain("Edit values"),
                    "action_id": VALUES_ACTION,
                    "value": "values",
                },
            }
        )
    return blocks
