"""A kudos typed as a command, on any platform: `kudos @ana for untangling the release #care`.

The platform's adapter finds the mentions (Slack's `<@U…>` links, Teams' `<at>` entities), refuses
what its platform can mention but kudos cannot go to (channels, groups), and resolves the people. What
is left, the words, is the same everywhere: an optional leading `private`, the message, and `#value`
tags. `give_typed` then does what a typed kudos does: the fair-play rules, storing it once even when
sent twice, the shout-out and the recipients' DMs through the outbox, and a note on tags that are not
company values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from bot.core.models import Person, Workspace
from bot.core.settings import Settings
from bot.kudos import service

TAG = re.compile(r"(?<![\w&#/<|])#([A-Za-z0-9][\w-]{0,39})")
LEADING = re.compile(r"^[\s,:;\-–—]+")


@dataclass
class Words:
    """The words of a typed kudos, its mentions taken out by the adapter."""

    message: str = ""
    tags: list[str] = field(default_factory=list)
    private: bool = False
    # The message with its hashtags still in it: tags that turn out to be no value stay as typed.
    with_tags: str = ""

    def message_keeping(self, unknown: list[str]) -> str:
        """The message, without the tags that are values, with the others kept as plain text."""
        if not unknown:
            return self.message
        kept = {raw.lower() for raw in unknown}
        text = TAG.sub(lambda m: m.group(0) if m.group(1).lower() in kept else " ", self.with_tags)
        return _tidy(text)


def leading_private(text: str) -> tuple[bool, str]:
    """(`private` was the first word, the rest): `kudos private @ana …` sends by DM only."""
    first, _, after = text.strip().partition(" ")
    return (True, after) if first.lower() == "private" else (False, text.strip())


def words_of(rest: str, *, private: bool) -> Words:
    """The message and tags of what is left once the adapter took the mentions out of `rest`."""
    return Words(message=_tidy(TAG.sub(" ", rest)), tags=TAG.findall(rest), private=private, with_tags=rest)


def _tidy(text: str) -> str:
    return LEADING.sub("", re.sub(r"[ \t]+", " ", text)).strip()


@dataclass(frozen=True)
class Sent:
    """The kudos went out: to whom, the channel it was posted in (None: by DM only), how many more the
    giver may give today, and a note on tags that are no company value ("" when there is none)."""

    recipients: list[Person]
    posted_in: str | None
    left_today: int
    note: str


@dataclass(frozen=True)
class AlreadySent:
    """The same words to the same people a moment ago (a double Enter, a retried request): sent once."""


def give_typed(
    session: Session,
    workspace: Workspace,
    giver: Person,
    recipients: list[Person],
    words: Words,
    settings: Settings,
    now: datetime,
) -> Sent | AlreadySent:
    """Give and announce a typed kudos. Raises `service.KudosRefused` (fair-play limits, no message,
    a required value missing) with text that says what to do instead."""
    current_key, *earlier_keys = service.typed_keys(giver, recipients, words.message, words.tags, now)
    values = service.values_of(session, workspace.id)
    _known, unknown = service.check_tags(words.tags, values, required=False)
    given = service.give(
        session,
        workspace,
        giver,
        recipients,
        words.message_keeping(unknown),
        words.tags,
        private=words.private,
        submit_key=current_key,
        same_as=earlier_keys,
        settings=settings,
        now=now,
    )
    if not given.created:
        return AlreadySent()
    channel = service.announce(session, workspace, given.kudos, giver, given.recipients, settings, now)
    return Sent(given.recipients, channel, given.left_today, service.tag_note(unknown, values))
