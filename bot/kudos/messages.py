"""The messages a kudos sends, as neutral messages: the shout-out in the kudos channel and the DM to
each recipient. Everything a person wrote (the kudos, names, tags) is a `Literal`, so no platform can
read it as markup: a shout-out mentions its recipients, but can never ping `@channel`."""

from __future__ import annotations

from bot.core.accounts import chat_id
from bot.core.message import ChannelLink, Literal, Mention, Message, Note, Part, Section, Text, join, quoted, text
from bot.core.models import Person
from bot.kudos.models import CompanyValue, Kudos
from bot.kudos.values import value_label

QUOTE_LIMIT = 2800


def mentions(people: list[Person]) -> Text:
    """ "A", "A and B", "A, B and C": people on the platform by mention, the others by name."""
    names: list[Part] = [Mention(user_id) if (user_id := chat_id(p)) else Literal(p.name) for p in people]
    if len(names) == 1:
        return text(names[0])
    return text(join(names[:-1], ", "), " and ", names[-1])


def values_line(kudos: Kudos, values: list[CompanyValue]) -> Text:
    """The kudos' value tags: a value by its label, a tag no longer a value as `#tag`."""
    known = {v.tag: v for v in values}
    return join(
        (Literal(value_label(known[v.tag])) if v.tag in known else text("#", Literal(v.tag)) for v in kudos.values),
        "  ·  ",
    )


def shout_out(kudos: Kudos, giver: Person, recipients: list[Person], values: list[CompanyValue]) -> Message:
    """The public post in the kudos channel."""
    headline = text(":raised_hands: *Kudos from ", Mention(str(chat_id(giver))), "* to ", mentions(recipients))
    blocks: list[Section | Note] = [Section(headline), Section(quoted(kudos.message, QUOTE_LIMIT))]
    tags = values_line(kudos, values)
    if tags.parts:
        blocks.append(Note(tags))
    names = ", ".join(r.name for r in recipients)
    summary = text("Kudos from ", Literal(giver.name or "a colleague"), " to ", Literal(names), limit=300)
    return Message(summary, tuple(blocks))


def recipient_dm(
    kudos: Kudos, giver: Person, recipients: list[Person], values: list[CompanyValue], channel: str | None
) -> Message:
    """What each recipient gets by DM: who thanked them, the words, and who else can see it."""
    together = text(" (together with ", mentions(recipients), ")") if len(recipients) > 1 else None
    where = (
        text("Just between the two of you: this one wasn't posted anywhere.")
        if kudos.private or not channel
        else text("Everyone can see it in ", ChannelLink(channel), ".")
    )
    tags = values_line(kudos, values)
    blocks = (
        Section(text(":sparkles: ", Mention(str(chat_id(giver))), " thanked you", together, ":")),
        Section(quoted(kudos.message, QUOTE_LIMIT)),
        Note(text(tags, "\n", where) if tags.parts else where),
    )
    return Message(text(Literal(giver.name or "A colleague"), " gave you kudos", limit=300), blocks)
