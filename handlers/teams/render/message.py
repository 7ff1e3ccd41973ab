"""A neutral `bot.core.message.Message` as a Teams message activity: one Adaptive Card 1.5 attachment.

- Text becomes TextBlocks in Teams' markdown (`markdown.py`): our wording translated, what people
  typed escaped so it shows as typed. Each line is its own TextBlock (no spacing between a section's
  lines): whether a single newline inside a TextBlock breaks the line differs between Teams clients
  and markdown engines, separate blocks break everywhere. Quoted lines sit in an emphasis container,
  a code fence becomes monospace lines.
- A `Mention` becomes `<at>Name</at>` in the text and a `mention` entity in the card's
  `msteams.entities`, one entity per tag, in order. The message holds only the person's account id, so
  the caller passes `Names`: for each mentioned id, the Teams id and display name (`mentioned_ids`
  lists the ids a message needs). A mention nobody resolved raises `UnresolvedMention` rather than
  render a tag Teams would show as a bare name that pings nobody.
- A button that opens a form (`Button.dialog`) becomes an `Action.Submit` that asks Teams for a dialog
  (`msteams: {type: task/fetch}`, with the action id as the SDK's `dialog_id`): an `Action.Execute`
  invoke can only answer with a card or a message, never a dialog.
- Any other button becomes `Action.Execute` (verb = the stable action id; data = the action id under
  `action`, which is what the Teams SDK routes on, its value, and the block id when there is one), with
  an `Action.Submit` of the same data as its `fallback` for clients without Universal Actions. A
  choice becomes an `Input.ChoiceSet` and a "Send" action whose data names the input (`input`); a
  person picker, Teams' people picker (a ChoiceSet searching the directory).
- At most `MAX_ACTIONS` actions per ActionSet: a longer row is split into several.
- A chart is drawn now (`bot.delivery.charts`) and shown inline as an Image with a base64 PNG data URI and its
  alt text; Teams does not count base64 images in a message's size.
- The summary is the activity's `summary` and the card's `fallbackText` (plain text): what a
  notification or a client that cannot show the card uses. It is not the activity's `text`, which
  Teams would show above the card as a second copy.
- `check` raises `MessageTooLarge` when the activity, without its base64 images, is over Teams'
  100 KB limit for a bot message.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
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
from handlers.teams.render.markdown import emoji, escape, plain, translate

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
# Universal Actions (Action.Execute) need 1.4; Teams documents 1.5 for them, and below that "your card
# stops working" on some clients.
CARD_VERSION = "1.5"
# Teams' host config is not published. Teams' docs say "An Adaptive Card supports up to six primary
# actions to be viewed on the card. Any additional primary action is viewed in the overflow menu" (Format
# cards in Teams, overflow menu), and the Teams host configs in Microsoft's Adaptive Cards repo
# (samples/HostConfig/microsoft-teams-*.json) set `actions.maxActions` to 6; renderers older than the
# overflow menu drop the extra actions. A 7th answer button would be hidden or lost, so a longer row is
# split into several rows of at most 6.
MAX_ACTIONS = 6
# "The message size limit is 100 KB … doesn't include Base64 encoded images" (Teams: format your bot
# messages). 100,000 bytes of UTF-8, the smaller reading of "KB", measured as the SDK sends it (httpx:
# compact JSON, UTF-8), less room for what the sender adds around our activity (conversation, from,
# recipient, reply-to ids: a few hundred bytes).
MAX_BYTES = 100_000
ENVELOPE = 1_000
CHOICE_LABEL = "Send"
PEOPLE_DATASET = "graph.microsoft.com/users"
# The buttons that open a dialog (their listener answers `task/fetch` on the action id): a pulse's comment.


class UnresolvedMention(LookupError):
    """A message mentions someone the caller gave no Teams id and name for."""


class MessageTooLarge(ValueError):
    """The activity is over Teams' size limit for a bot message; Teams would refuse it (413)."""


@dataclass(frozen=True)
class TeamsUser:
    """Who a mention points at: the id Teams mentions them by (their Teams user id, `29:…`, or their
    Entra object id) and the display name shown in the `<at>` tag."""

    id: str
    name: str


@dataclass(frozen=True)
class Names:
    """What the renderer cannot know from a message: for each `Mention.user_id` the person on Teams, and
    for each `ChannelLink.channel_id` the channel's display name, shown in bold ("Channel and team
    mentions aren't supported in bot messages", Format cards in Teams; an unknown one reads "the
    channel")."""

    people: Mapping[str, TeamsUser] = field(default_factory=dict)
    channels: Mapping[str, str] = field(default_factory=dict)


def mentioned_ids(message: Message) -> set[str]:
    """The `Mention.user_id`s in `message`: what `Names.people` must hold to render it."""
    found: set[str] = set()
    for value in _texts(message):
        found.update(p.user_id for p in value.parts if isinstance(p, Mention))
    return found


def _texts(message: Message) -> Iterator[Text]:
    yield message.summary
    for item in message.blocks:
        if isinstance(item, Section | Note):
            yield item.text


# -- text ------------------------------------------------------------------------------------------


class _Card:
    """What rendering one card collects on the way: its mention entities and the ids its inputs use."""

    def __init__(self, names: Names) -> None:
        self.names = names
        self.entities: list[dict[str, Any]] = []
        self.inputs = 0

    def markdown(self, value: Text) -> str:
        out: list[str] = []
        mentions: list[dict[str, Any]] = []
        for part in value.parts:
            if isinstance(part, str):
                out.append(translate(part))
            elif isinstance(part, Literal):
                out.append(escape(part.text))
            elif isinstance(part, Mention):
                user = self.names.people.get(part.user_id)
                if user is None:
                    raise UnresolvedMention(f"no Teams id and name given for mentioned account {part.user_id}")
                tag = f"<at>{escape(user.name)}</at>"
                out.append(tag)
                mentions.append({"type": "mention", "text": tag, "mentioned": {"id": user.id, "name": user.name}})
            elif isinstance(part, ChannelLink):
                name = self.names.channels.get(part.channel_id)
                out.append(f"**{escape(name)}**" if name else "the channel")
            elif isinstance(part, Command):
                out.append(command(part))
            else:
                raise TypeError(f"the Teams renderer does not know {type(part).__name__}")
        rendered = "".join(out)
        if value.limit is not None:
            rendered = _cut(rendered, value.limit)
        # A mention cut off with the text loses its entity too: entities and tags stay one for one.
        self.entities += mentions[: rendered.count("<at>")]
        return rendered

    def input_id(self, action_id: str, block_id: str | None) -> str:
        self.inputs += 1
        return f"{action_id}|{block_id}" if block_id else f"{action_id}|{self.inputs}"


_PARTIAL_REFERENCE = re.compile(r"&#?\w*$")


def _cut(rendered: str, limit: int) -> str:
    """The first `limit` characters, without half a character reference, half an `<at>` tag or an
    unclosed bold run (which would turn the rest of the card bold)."""
    if len(rendered) <= limit:
        return rendered
    cut = _PARTIAL_REFERENCE.sub("", rendered[:limit])
    if cut.count("<at>") > cut.count("</at>"):
        cut = cut[: cut.rindex("<at>")]
    elif (tail := cut.rfind("<")) > cut.rfind(">") and "<at>".startswith(cut[tail:]):
        cut = cut[:tail]  # the first characters of the next mention's tag
    if cut.endswith("*") and cut.count("*") % 2:
        cut = cut[:-1]  # half of a "**"
    if cut.count("**") % 2:
        cut = cut[: cut.rindex("**")] + cut[cut.rindex("**") + 2 :]
    return cut


def error_text(error: UserFacingError) -> str:
    """A user-facing error as Teams shows it in the chat: Teams markdown, its command hints phrased as
    the words typed to the bot (`command`)."""
    return _Card(Names()).markdown(error.text)


def command(part: Command) -> str:
    """A command as people use it on Teams: its words typed to the bot in our chat (they are also in the
    bot's command menu), in bold. Slack's slash (`/suggest mine`) means nothing there, and Slack's
    umbrella command `/empathy` is no word on Teams: its sub-commands (help, privacy) are the bot's own."""
    return f"**{escape(teams_words(part))}**"


def teams_words(part: Command) -> str:
    umbrella, _, rest = part.words.partition(" ")
    return rest if umbrella == "empathy" and rest else part.words


def plain_text(value: Text, names: Names) -> str:
    """`value` as plain text (notifications, fallback text): markup dropped, people by name."""
    out: list[str] = []
    for part in value.parts:
        if isinstance(part, str):
            out.append(plain(part))
        elif isinstance(part, Literal):
            out.append(part.text)
        elif isinstance(part, Mention):
            user = names.people.get(part.user_id)
            out.append(user.name if user else "someone")
        elif isinstance(part, ChannelLink):
            out.append(names.channels.get(part.channel_id) or "the channel")
        elif isinstance(part, Command):
            out.append(teams_words(part))
        else:
            raise TypeError(f"the Teams renderer does not know {type(part).__name__}")
    rendered = "".join(out)
    return rendered if value.limit is None else rendered[: value.limit]


def _text_block(text: str, **options: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **options}


def _lines(markdown: str, **options: Any) -> list[dict[str, Any]]:
    """Rendered markdown as elements, a line each: quoted lines grouped in an emphasis container, lines
    inside a code fence in monospace with their spaces kept (a table's columns)."""
    elements: list[dict[str, Any]] = []
    quote: list[dict[str, Any]] = []
    code = False

    def line(text: str, **extra: Any) -> dict[str, Any]:
        first = not elements and not quote
        return _text_block(text, **options, **extra, **({} if first else {"spacing": "None"}))

    def flush_quote() -> None:
        if quote:
            elements.append({"type": "Container", "style": "emphasis", "items": quote[:]})
            quote.clear()

    for raw in markdown.split("\n"):
        if code or raw.startswith("```"):
            flush_quote()
            opens = not code
            body = raw[3:] if opens else raw
            code = not body.endswith("```") if opens else "```" not in body
            body = body.replace("```", "")
            if body:
                # Spaces as no-break spaces: markdown and HTML would collapse the columns' padding.
                # Unwrapped: a wrapped row would break the table's columns.
                row = line(body.replace(" ", "\u00a0"), fontType="Monospace")
                del row["wrap"]
                elements.append(row)
            continue
        if raw.startswith("> "):
            quote.append(_text_block(raw[2:] or "\u00a0", **options, **({"spacing": "None"} if quote else {})))
            continue
        flush_quote()
        if raw.strip():
            elements.append(line(raw))
    flush_quote()
    return elements


# -- actions ---------------------------------------------------------------------------------------

_STYLES = {"primary": "positive", "danger": "destructive"}


def _execute(title: str, verb: str, data: dict[str, Any], style: str | None, *, inputs: bool) -> dict[str, Any]:
    fallback: dict[str, Any] = {"type": "Action.Submit", "title": title, "data": data}
    action: dict[str, Any] = {"type": "Action.Execute", "title": title, "verb": verb, "data": data}
    if not inputs:
        # A button's click carries its own value only, not whatever a drop-down beside it holds.
        action["associatedInputs"] = fallback["associatedInputs"] = "none"
    if style:
        action["style"] = fallback["style"] = _STYLES[style]
    action["fallback"] = fallback
    return action


def _data(action_id: str, block_id: str | None, **values: str) -> dict[str, Any]:
    data: dict[str, Any] = {"action": action_id, **values}
    if block_id is not None:
        data["block"] = block_id
    return data


def _button(element: Button, block_id: str | None) -> dict[str, Any]:
    title = emoji(element.label) if element.shortcodes else element.label
    data = _data(element.action_id, block_id, value=element.value)
    if element.dialog:
        return _dialog_button(title, data, element.style)
    return _execute(title, element.action_id, data, element.style, inputs=False)


def _dialog_button(title: str, data: dict[str, Any], style: str | None) -> dict[str, Any]:
    """A button that opens a dialog: Teams opens one only from an `Action.Submit` whose data asks for
    `task/fetch` (an `Action.Execute` can only update the card). The invoke carries this data back;
    `dialog_id` is what the SDK's `on_dialog_open(...)` routes on."""
    action: dict[str, Any] = {
        "type": "Action.Submit",
        "title": title,
        "data": {"msteams": {"type": "task/fetch"}, "dialog_id": data["action"], **data},
        "associatedInputs": "none",
    }
    if style:
        action["style"] = _STYLES[style]
    return action


def _input(card: _Card, element: Choice | PersonPicker, block_id: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The input element and the action that sends its value (under the key named by `input`)."""
    input_id = card.input_id(element.action_id, block_id)
    rendered: dict[str, Any] = {
        "type": "Input.ChoiceSet",
        "id": input_id,
        "style": "compact",
        "placeholder": element.placeholder,
    }
    if isinstance(element, Choice):
        rendered["choices"] = [{"title": o.label, "value": o.value} for o in element.options]
        if element.selected is not None and any(o.value == element.selected for o in element.options):
            rendered["value"] = element.selected
    else:
        # Teams' people picker: a ChoiceSet that searches the organisation's directory as one types and
        # sends the chosen person's Entra object id.
        rendered["choices"] = []
        rendered["choices.data"] = {"type": "Data.Query", "dataset": PEOPLE_DATASET}
    data = _data(element.action_id, block_id, input=input_id)
    return rendered, _execute(CHOICE_LABEL, element.action_id, data, None, inputs=True)


def _action_sets(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "ActionSet", "actions": actions[i : i + MAX_ACTIONS]} for i in range(0, len(actions), MAX_ACTIONS)]


def _actions(card: _Card, item: Actions) -> list[dict[str, Any]]:
    inputs: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    for element in item.elements:
        if isinstance(element, Button):
            actions.append(_button(element, item.block_id))
        elif isinstance(element, Choice | PersonPicker):
            rendered, action = _input(card, element, item.block_id)
            inputs.append(rendered)
            actions.append(action)
        else:
            raise TypeError(f"no Teams element for {type(element).__name__}")
    return inputs + _action_sets(actions)


# -- blocks ----------------------------------------------------------------------------------------


def _section(card: _Card, item: Section) -> list[dict[str, Any]]:
    lines = _lines(card.markdown(item.text))
    if item.button is None:
        return lines
    # The button beside the text, as Slack's accessory sits: a narrow column to its right.
    button = {"type": "ActionSet", "actions": [_button(item.button, item.block_id)]}
    return [
        {
            "type": "ColumnSet",
            "columns": [
                {"type": "Column", "width": "stretch", "items": lines or [_text_block("\u00a0")]},
                {"type": "Column", "width": "auto", "verticalContentAlignment": "Center", "items": [button]},
            ],
        }
    ]


def _chart(item: Chart, draw: Callable[[dict[str, Any]], bytes]) -> list[dict[str, Any]]:
    picture = base64.b64encode(draw(dict(item.spec))).decode("ascii")
    return [
        _text_block(escape(item.title), weight="Bolder"),
        {"type": "Image", "url": f"data:image/png;base64,{picture}", "altText": item.alt_text, "size": "Stretch"},
    ]


def _block(card: _Card, item: Block, draw: Callable[[dict[str, Any]], bytes]) -> list[dict[str, Any]]:
    if isinstance(item, Section):
        return _section(card, item)
    if isinstance(item, Note):
        return _lines(card.markdown(item.text), size="Small", isSubtle=True)
    if isinstance(item, Heading):
        return [_text_block(escape(item.text), style="heading", size="Large", weight="Bolder")]
    if isinstance(item, Actions):
        return _actions(card, item)
    if isinstance(item, Chart):
        return _chart(item, draw)
    raise TypeError(f"no Teams block for {type(item).__name__}")


def _body(card: _Card, blocks: Iterable[Block], draw: Callable[[dict[str, Any]], bytes]) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = []
    separate = False
    for item in blocks:
        if isinstance(item, Divider):
            separate = bool(body)
            continue
        rendered = _block(card, item, draw)
        if rendered and separate:
            rendered[0] = {**rendered[0], "separator": True, "spacing": "Medium"}
        separate = False
        body += rendered
    return body


def _draw(spec: dict[str, Any]) -> bytes:
    from bot.delivery import charts  # matplotlib loads only for a message with a chart

    return charts.render(spec)


def render(
    message: Message, names: Names | None = None, *, draw: Callable[[dict[str, Any]], bytes] = _draw
) -> dict[str, Any]:
    """The message activity Teams receives for `message` (`draw` turns a chart's spec into PNG bytes).

    Raises UnresolvedMention for a mention `names` does not resolve, MessageTooLarge past Teams' limit.
    """
    names = names or Names()
    card = _Card(names)
    body = _body(card, message.blocks, draw)
    summary = plain_text(message.summary, names)
    content: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": CARD_SCHEMA,
        "version": CARD_VERSION,
        "fallbackText": summary,
        "body": body,
        # Full width: a digest's table and a pulse's row of answers need the room. Teams' docs spell it
        # "Full"; the Teams SDK's card model accepts only "full" (`TeamsCardWidth`), and an invoke's card
        # update goes through that model, so the SDK's spelling it is.
        "msteams": {"width": "full"},
    }
    if card.entities:
        content["msteams"]["entities"] = card.entities
    activity = {
        "type": "message",
        "summary": summary,
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": content}],
    }
    check(activity)
    return activity


def fits(message: Message) -> bool:
    """Whether `message` fits in one Teams message (for senders that page what does not: the HR
    overview). Mentions count with a stand-in name; charts are not drawn, since base64 images do not count."""
    stand_ins = Names(people={user_id: TeamsUser(user_id, "someone") for user_id in mentioned_ids(message)})
    try:
        render(message, stand_ins, draw=lambda _spec: b"")
    except MessageTooLarge:
        return False
    return True


def render_payload(payload: Mapping[str, Any], names: Names | None = None) -> dict[str, Any]:
    """An outbox payload as the activity to send. Only neutral payloads can go to Teams: a row queued
    before messages were neutral holds Slack's arguments, and one from a newer version is unreadable."""
    if not is_neutral(payload):
        raise UnreadableMessage(f"payload v{payload.get('v', 0)} is not a neutral message this version can render")
    return render(Message.from_json(payload["message"]), names)


# -- size ------------------------------------------------------------------------------------------

_DATA_URI = re.compile(r"^data:[^,]*;base64,")


def _without_images(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_images(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_images(v) for v in value]
    if isinstance(value, str) and _DATA_URI.match(value):
        return value[: value.index(",") + 1]
    return value


def size(activity: Mapping[str, Any]) -> int:
    """The activity's size as Teams counts it: UTF-8 JSON bytes, base64 images left out."""
    return len(json.dumps(_without_images(activity), ensure_ascii=False, separators=(",", ":")).encode())


def check(activity: Mapping[str, Any]) -> None:
    """Raise MessageTooLarge when Teams would refuse `activity` for its size."""
    measured = size(activity)
    if measured > MAX_BYTES - ENVELOPE:
        raise MessageTooLarge(
            f"the Teams message is {measured:,} bytes without its images; Teams takes at most {MAX_BYTES:,} "
            f"with the {ENVELOPE:,} the sender adds. "
            "Split the message or shorten its longest section."
        )
