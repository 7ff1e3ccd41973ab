"""Errors written for the person who caused them. Free of Slack types, so domain services can raise them."""

from __future__ import annotations

from bot.core.message import Text, neutral, text


class UserFacingError(Exception):
    """An error whose message is kind, specific and says what to do next.

    Raise it from a listener or a service; the global error handler shows it as an ephemeral reply.
    `text` is the message as a neutral `bot.core.message.Text`: a hint at a command is a `Command` part,
    which each platform phrases as its people type it (Slack: `handlers/slack/render/message.py`'s
    `error_text`). `str()` is the neutral reading (a command as its words), so an error shown without
    its platform's phrasing still reads as words, never as a placeholder or a part's fields.
    """

    def __init__(self, message: str | Text = "") -> None:
        self.text = message if isinstance(message, Text) else text(message)
        super().__init__(neutral(self.text))
