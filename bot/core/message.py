"""Platform-neutral messages: what services and jobs say, before any chat platform's markup.

A feature builds a `Message` of a few block kinds (a section of text, a note, a heading, a divider,
a row of buttons and choices, a chart); each platform has one renderer that turns it into its own
markup (Slack: `handlers/slack/render/message.py`, Block Kit). The outbox stores the neutral form
(`outbox_payload`, a versioned JSON object) and the renderer runs at send time, so the domain never
speaks Block Kit and a queued message can go out through whichever platform the workspace uses.

Text is a sequence of parts, so that each renderer can treat them as it must:
- `str` is our own wording in a small, common markup: `*bold*`, `_italic_`, `~struck~`, `` `code` ``,
  `> ` at the start of a quoted line, and `:emoji:` short codes. A renderer translates it.
- `Literal` is text from people or files (names, kudos, suggestions, comments): each renderer escapes
  whatever its platform would read as markup, so nobody can ping `@channel` or forge a link.
- `Mention` and `ChannelLink` point at a person's account or a channel by the platform's id.
- `Command` is what a person types to do something (`Command("suggest mine")`): each platform phrases
  its own hint (Slack: `` `/suggest mine` ``), so the domain never writes a platform's syntax.

Everything here is plain frozen data with a JSON round trip (`to_json`/`from_json`), and imports
nothing from any platform.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias
from typing import Literal as Kind


class UnreadableMessage(ValueError):
    """A stored message this version cannot read: an unknown kind or payload version, written by a newer
    version of the bot (during a rolling deploy) or damaged. Never guessed at, never half-sent."""


# -- text ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    """Words someone typed or a file holds: shown exactly, never read as markup."""

    text: str


@dataclass(frozen=True)
class Mention:
    """A person, by their account id on the platform the message goes to."""

    user_id: str


@dataclass(frozen=True)
class ChannelLink:
    """A channel, by the platform's id."""

    channel_id: str


@dataclass(frozen=True)
class Command:
    """The command a person uses to do something, as its words: the command's name, then what follows it
    (`Command("suggest mine")`, `Command("kudos @ana for untangling the release on Friday")`).

    Each platform phrases it as its people type it. Slack: `handlers/slack/render/message.py`'s
    `command()`, a slash command in code markup (`` `/suggest mine` ``). Teams' phrasing goes in its own
    renderer (`handlers/teams/render/`, e.g. "@Empathy Bot suggest mine", or a button) when that exists;
    a renderer that does not know this part must fail, never drop it or show its fields.
    """

    words: str


Part: TypeAlias = str | Literal | Mention | ChannelLink | Command


@dataclass(frozen=True)
class Text:
    """Parts in order. `limit` cuts the rendered text (markup included) at that many characters: a
    notification line is kept short the same way on every platform."""

    parts: tuple[Part, ...] = ()
    limit: int | None = None

    def __str__(self) -> str:
        """A neutral reading, for logs and the CLI, never a dataclass' fields: a Text that reached a person
        without its platform's renderer still reads as words (a command as its words in code markup)."""
        return neutral(self)

    def to_json(self) -> Any:
        parts = [_part_json(p) for p in self.parts]
        return {"parts": parts, "limit": self.limit} if self.limit is not None else parts

    @classmethod
    def from_json(cls, data: Any) -> Text:
        if isinstance(data, dict):
            return cls(tuple(_part_from_json(p) for p in data["parts"]), data.get("limit"))
        return cls(tuple(_part_from_json(p) for p in data))


def text(*pieces: Text | Part | None, limit: int | None = None) -> Text:
    """One Text from strings, literals, mentions and other Texts (None is skipped); neighbouring
    strings are joined, so the JSON stays small and equal texts compare equal."""
    parts: list[Part] = []
    for piece in pieces:
        for part in piece.parts if isinstance(piece, Text) else (() if piece is None else (piece,)):
            if isinstance(part, str) and parts and isinstance(parts[-1], str):
                parts[-1] += part
            elif part != "":
                parts.append(part)
    return Text(tuple(parts), limit)


def join(pieces: Iterable[Text | Part], separator: str) -> Text:
    """The pieces with `separator` (our own markup) between them."""
    out: list[Text | Part] = []
    for i, piece in enumerate(pieces):
        if i:
            out.append(separator)
        out.append(piece)
    return text(*out)


def quoted(words: str, limit: int | None = None) -> Text:
    """Someone's words as a block quote, line by line (an empty text is one empty quoted line); words
    longer than `limit` characters are cut there, with an ellipsis."""
    if limit is not None and len(words) > limit:
        words = words[: limit - 1] + "…"
    lines = words.splitlines() or [""]
    return join((text("> ", Literal(line)) for line in lines), "\n")


def neutral(value: Text) -> str:
    """The text in our own markup with no platform's syntax: what people typed as it is, a person or a
    channel by id, a command as its words in code markup (`` `suggest mine` ``)."""
    out = []
    for part in value.parts:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, Literal):
            out.append(part.text)
        elif isinstance(part, Mention):
            out.append(f"@{part.user_id}")
        elif isinstance(part, ChannelLink):
            out.append(f"#{part.channel_id}")
        else:
            out.append(f"`{part.words}`")
    rendered = "".join(out)
    return rendered if value.limit is None else rendered[: value.limit]


def _part_json(part: Part) -> Any:
    if isinstance(part, str):
        return part
    if isinstance(part, Literal):
        return {"literal": part.text}
    if isinstance(part, Mention):
        return {"mention": part.user_id}
    if isinstance(part, Command):
        return {"command": part.words}
    return {"channel": part.channel_id}


def _part_from_json(data: Any) -> Part:
    if isinstance(data, str):
        return data
    if "literal" in data:
        return Literal(str(data["literal"]))
    if "mention" in data:
        return Mention(str(data["mention"]))
    if "channel" in data:
        return ChannelLink(str(data["channel"]))
    if "command" in data:
        return Command(str(data["command"]))
    raise UnreadableMessage(f"unknown text part: {sorted(data)}")


# -- interactive elements --------------------------------------------------------------------------

Style: TypeAlias = Kind["primary", "danger"]


@dataclass(frozen=True)
class Button:
    """A button. `action_id` is stable (listeners route on it); `value` comes back with the click."""

    label: str
    action_id: str
    value: str
    style: Style | None = None
    # Whether `:emoji:` short codes in the label become emoji (labels that hold none may say no).
    shortcodes: bool = True
    # Whether the click opens a form. Slack opens its modal from the click's trigger; Teams opens a
    # dialog only from the card itself (`task/fetch`), so its renderer has to know beforehand.
    dialog: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": "button", "label": self.label, "action_id": self.action_id, "value": self.value}
        if self.style:
            data["style"] = self.style
        if not self.shortcodes:
            data["shortcodes"] = False
        if self.dialog:
            data["dialog"] = True
        return data


@dataclass(frozen=True)
class Option:
    label: str
    value: str


@dataclass(frozen=True)
class Choice:
    """Pick one of a list (a drop-down). `selected` is the value chosen so far, if any."""

    action_id: str
    options: tuple[Option, ...]
    placeholder: str
    selected: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "choice",
            "action_id": self.action_id,
            "options": [[o.label, o.value] for o in self.options],
            "placeholder": self.placeholder,
            "selected": self.selected,
        }


@dataclass(frozen=True)
class PersonPicker:
    """Pick one person from the workspace."""

    action_id: str
    placeholder: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": "person_picker", "action_id": self.action_id, "placeholder": self.placeholder}


Element: TypeAlias = Button | Choice | PersonPicker


def _element_from_json(data: Mapping[str, Any]) -> Element:
    kind = data["kind"]
    if kind == "button":
        return Button(
            data["label"],
            data["action_id"],
            data["value"],
            data.get("style"),
            data.get("shortcodes", True),
            data.get("dialog", False),
        )
    if kind == "choice":
        options = tuple(Option(label, value) for label, value in data["options"])
        return Choice(data["action_id"], options, data["placeholder"], data.get("selected"))
    if kind == "person_picker":
        return PersonPicker(data["action_id"], data["placeholder"])
    raise UnreadableMessage(f"unknown element kind: {kind}")


# -- blocks ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """A paragraph of text; `block_id` names it for listeners that find it again, `button` sits beside it."""

    text: Text
    block_id: str | None = None
    button: Button | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": "section", "text": self.text.to_json()}
        if self.block_id is not None:
            data["block_id"] = self.block_id
        if self.button is not None:
            data["button"] = self.button.to_json()
        return data


@dataclass(frozen=True)
class Note:
    """Small print under the main text: what is kept, who sees what, what to do next."""

    text: Text

    def to_json(self) -> dict[str, Any]:
        return {"kind": "note", "text": self.text.to_json()}


@dataclass(frozen=True)
class Heading:
    """A title line, plain text (no markup)."""

    text: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": "heading", "text": self.text}


@dataclass(frozen=True)
class Divider:
    def to_json(self) -> dict[str, Any]:
        return {"kind": "divider"}


@dataclass(frozen=True)
class Actions:
    """A row of buttons and choices."""

    elements: tuple[Element, ...]
    block_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": "actions", "elements": [e.to_json() for e in self.elements]}
        if self.block_id is not None:
            data["block_id"] = self.block_id
        return data


@dataclass(frozen=True)
class Chart:
    """A chart to draw and share as an image: `spec` is bot.delivery.charts' description (drawn at send time)."""

    spec: Mapping[str, Any]
    filename: str
    title: str
    alt_text: str

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "chart",
            "spec": dict(self.spec),
            "filename": self.filename,
            "title": self.title,
            "alt_text": self.alt_text,
        }


Block: TypeAlias = Section | Note | Heading | Divider | Actions | Chart


def _block_from_json(data: Mapping[str, Any]) -> Block:
    kind = data["kind"]
    if kind == "section":
        button = data.get("button")
        return Section(
            Text.from_json(data["text"]),
            data.get("block_id"),
            _element_from_json(button) if button else None,  # type: ignore[arg-type]
        )
    if kind == "note":
        return Note(Text.from_json(data["text"]))
    if kind == "heading":
        return Heading(data["text"])
    if kind == "divider":
        return Divider()
    if kind == "actions":
        return Actions(tuple(_element_from_json(e) for e in data["elements"]), data.get("block_id"))
    if kind == "chart":
        return Chart(data["spec"], data["filename"], data["title"], data["alt_text"])
    raise UnreadableMessage(f"unknown block kind: {kind}")


# -- the message -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """What the bot says. `summary` is the one-line text notifications and screen readers show."""

    summary: Text
    blocks: tuple[Block, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {"summary": self.summary.to_json(), "blocks": [b.to_json() for b in self.blocks]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Message:
        return cls(Text.from_json(data["summary"]), tuple(_block_from_json(b) for b in data.get("blocks", [])))

    def with_first(self, block: Block, summary: Text) -> Message:
        """The same message with another first block and summary (the rest is shared, not copied)."""
        return Message(summary, (block, *self.blocks[1:]))


# -- the outbox's payload --------------------------------------------------------------------------

VERSION = 1


def outbox_payload(message: Message, *, replaces: str | None = None, in_thread: str | None = None) -> dict[str, Any]:
    """What the outbox stores for `message`: `{"v": 1, "message": ...}`, rendered by the platform at send time.

    `replaces` is the platform's reference of a message the bot sent earlier that this one replaces
    (Slack: its ts); `in_thread` the reference of the message to answer in its thread. Rows queued
    before version 1 hold Slack's chat.postMessage arguments and still send as they are.
    """
    payload: dict[str, Any] = {"v": VERSION, "message": message.to_json()}
    if replaces is not None:
        payload["update_ts"] = replaces
    if in_thread is not None:
        payload["thread_ts"] = in_thread
    return payload


def payload_with_first(payload: Mapping[str, Any], block: Block, summary: Text) -> dict[str, Any]:
    """`outbox_payload(message.with_first(block, summary))`, from `outbox_payload(message)`: the rest of
    the JSON is shared, not built again (a pulse's thousands of DMs differ only in their greeting)."""
    message = payload["message"]
    blocks = [block.to_json(), *message["blocks"][1:]]
    return {**payload, "message": {**message, "summary": summary.to_json(), "blocks": blocks}}


def is_neutral(payload: Mapping[str, Any]) -> bool:
    return payload.get("v") == VERSION


def payload_has_text(payload: Mapping[str, Any]) -> bool:
    """Whether a payload (either version) carries the notification text every message needs."""
    if is_neutral(payload):
        # Only the summary is read: parsing every block of every row made queueing a 1,000-person pulse
        # 80% slower (benchmarks/pulse_fanout).
        return bool(Text.from_json(payload["message"]["summary"]).parts)
    return bool(payload.get("text"))
