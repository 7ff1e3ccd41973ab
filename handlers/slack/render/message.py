"""A neutral `bot.core.message.Message` as Slack Block Kit: exactly the blocks the bot sent before messages
became neutral (tests/unit/handlers/slack/render/test_golden.py compares them byte for byte).

Slack's limits are applied here, where they belong: section and context text is cut at 3,000
characters, headings at 150, button labels at 75 and values at 2,000, a drop-down at 100 options.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.core.errors import UserFacingError
from bot.core.message import (
    Actions,
    Block,
    Button,
    ChannelLink,
    Chart,
    Choice,
    Command,
    Divider,
    Element,
    Heading,
    Literal,
    Mention,
    Message,
    Note,
    PersonPicker,
    Section,
    Text,
    UnreadableMessage,
    is_neutral,
)


def escape(value: str) -> str:
    """What Slack reads as markup in text from people or files: `&`, `<` and `>` (links, @channel)."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def command(words: str) -> str:
    """A hint at a command as Slack people type it: a slash command, in code markup (`/suggest mine`)."""
    return f"`/{words}`"


def mrkdwn(value: Text) -> str:
    out = []
    for part in value.parts:
        if isinstance(part, str):
            out.append(part)  # our markup is Slack's mrkdwn
        elif isinstance(part, Literal):
            out.append(escape(part.text))
        elif isinstance(part, Mention):
            out.append(f"<@{part.user_id}>")
        elif isinstance(part, ChannelLink):
            out.append(f"<#{part.channel_id}>")
        elif isinstance(part, Command):
            out.append(command(part.words))
        else:
            raise TypeError(f"no Slack text for {type(part).__name__}")  # never drop words silently
    rendered = "".join(out)
    return rendered if value.limit is None else rendered[: value.limit]


def hint_text(value: Text | str) -> str:
    """Our own wording with its commands phrased for Slack, unescaped: for the listeners' replies that
    escape the whole text themselves (an error may quote what someone typed) or hold no one's words."""
    if isinstance(value, str):
        return value
    out = []
    for part in value.parts:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, Literal):
            out.append(part.text)  # escaped with the rest by the caller
        elif isinstance(part, Command):
            out.append(command(part.words))
        else:
            raise TypeError(f"no Slack hint text for {type(part).__name__}")
    rendered = "".join(out)
    return rendered if value.limit is None else rendered[: value.limit]


def json_text(value: Any) -> str:
    """`json.dumps`' `default` for data that holds our wording as Text (a privacy export's notes): the
    text as Slack people read it. Anything else still fails, as json.dumps would."""
    if isinstance(value, Text):
        return hint_text(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def error_text(error: UserFacingError) -> str:
    """A user-facing error as Slack shows it, its commands phrased as slash commands; unescaped, like
    `str(error)` was: each listener escapes it as it did before."""
    return hint_text(error.text)


def _plain(value: str, *, emoji: bool = True) -> dict[str, Any]:
    return {"type": "plain_text", "text": value, "emoji": True} if emoji else {"type": "plain_text", "text": value}


def button(element: Button) -> dict[str, Any]:
    rendered = {
        "type": "button",
        "text": _plain(element.label[:75], emoji=element.shortcodes),
        "action_id": element.action_id,
        "value": element.value[:2000],
    }
    if element.style:
        rendered["style"] = element.style
    return rendered


def _choice(element: Choice) -> dict[str, Any]:
    options = [{"text": _plain(o.label[:75], emoji=False), "value": o.value} for o in element.options][:100]
    rendered: dict[str, Any] = {
        "type": "static_select",
        "action_id": element.action_id,
        "placeholder": _plain(element.placeholder, emoji=False),
        "options": options,
    }
    chosen = [o for o in options if o["value"] == element.selected]
    if element.selected is not None and chosen:
        rendered["initial_option"] = chosen[0]
    return rendered


def element(item: Element) -> dict[str, Any]:
    if isinstance(item, Button):
        return button(item)
    if isinstance(item, Choice):
        return _choice(item)
    if isinstance(item, PersonPicker):
        return {
            "type": "users_select",
            "action_id": item.action_id,
            "placeholder": _plain(item.placeholder, emoji=False),
        }
    raise TypeError(f"no Slack element for {type(item).__name__}")


def block(item: Block) -> dict[str, Any]:
    if isinstance(item, Section):
        rendered: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn(item.text)[:3000]}}
        if item.block_id is not None:
            rendered["block_id"] = item.block_id[:255]
        if item.button is not None:
            rendered["accessory"] = button(item.button)
        return rendered
    if isinstance(item, Note):
        return {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn(item.text)[:3000]}]}
    if isinstance(item, Heading):
        return {"type": "header", "text": _plain(item.text[:150])}
    if isinstance(item, Divider):
        return {"type": "divider"}
    if isinstance(item, Actions):
        rendered = {"type": "actions", "elements": [element(e) for e in item.elements]}
        if item.block_id is not None:
            rendered["block_id"] = item.block_id[:255]
        return rendered
    raise TypeError(f"no Slack block for {type(item).__name__}")


def render(message: Message) -> dict[str, Any]:
    """chat.postMessage's `text` and `blocks` for `message` (without `blocks` when it has none).

    A message that is a chart becomes the outbox's upload instruction instead: the dispatcher draws
    the chart and shares it with files_upload_v2.
    """
    summary = mrkdwn(message.summary)
    charts = [b for b in message.blocks if isinstance(b, Chart)]
    if charts:
        if len(message.blocks) != 1:
            raise ValueError("a chart is sent on its own (Slack shares it as a file, not as a block)")
        chart = charts[0]
        upload = {
            "chart": dict(chart.spec),
            "filename": chart.filename,
            "title": chart.title,
            "alt_text": chart.alt_text,
        }
        return {"text": summary, "upload": upload}
    rendered: dict[str, Any] = {"text": summary}
    if message.blocks:
        rendered["blocks"] = [block(b) for b in message.blocks]
    return rendered


def render_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """An outbox payload as the dispatcher's Slack arguments.

    Version 1 (`bot.core.message.outbox_payload`) holds a neutral message and is rendered now, at send
    time; a row queued by an earlier version holds chat.postMessage's arguments already and is
    returned as it is, so it still sends. A payload this version cannot read raises UnreadableMessage.
    """
    if "v" in payload and not is_neutral(payload):
        raise UnreadableMessage(f"payload v{payload['v']} is newer than this version understands")
    if not is_neutral(payload):
        return dict(payload)
    rendered = render(Message.from_json(payload["message"]))
    for reference in ("update_ts", "thread_ts"):
        if reference in payload:
            rendered[reference] = payload[reference]
    return rendered
