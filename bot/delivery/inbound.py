"""What a platform's listeners hand the domain: neutral commands, clicks and form submissions.

Each platform's inbound adapter (`handlers/<platform>/listeners`) acks the platform, works out who is
asking (a `Person` in a `Workspace`, through `bot.core.accounts`), parses the platform's payload into
one of these, calls the feature's service, and renders what comes back with the platform's renderer.
So a `/kudos @ana …` typed in Slack and a `kudos @Ana …` sent to the bot in Teams reach the same
service call, and a click on a Block Kit button and an Adaptive Card `Action.Execute` carry the same
stable action id and value (the ones the neutral message gave the button, `bot.core.message`).

Nothing here holds a platform id: mentions are resolved to people by the adapter, which alone knows
how its platform writes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Command:
    """Words typed to the bot: `name` is the command ("kudos"), `words` the rest as typed, with the
    platform's mention markup left to the adapter."""

    name: str
    words: str = ""

    @property
    def verb(self) -> str:
        """The first word, lower-cased ("stats" in `/kudos stats`): how sub-commands are told apart."""
        return self.words.split(" ", 1)[0].lower() if self.words else ""

    @property
    def rest(self) -> str:
        """What follows the first word, stripped."""
        return self.words.partition(" ")[2].strip()


@dataclass(frozen=True)
class Click:
    """A button pressed or an option chosen: the action id and value of the neutral element."""

    action: str
    value: str = ""


@dataclass(frozen=True)
class Submission:
    """A form sent back: the form's id, each field's value(s) by field id, and the state the form
    carried when it was opened (Slack's private_metadata, a Teams dialog's data)."""

    form: str
    values: Mapping[str, str | tuple[str, ...] | None] = field(default_factory=dict)
    state: str = ""
