"""What people type, made safe to store: one cleaning rule for every free-text field.

PostgreSQL refuses NUL in text columns (a DataError, so a 500 for the person who typed it), and the
other C0 control characters (bell, escape, backspace…) only ever arrive by accident or by fuzzing and
would be shown back to other people as-is. Newlines and tabs are how people lay text out: they stay.
"""

from __future__ import annotations

import re

# C0 controls (U+0000–U+001F) except tab (U+0009) and newline (U+000A). A carriage return goes too:
# "\r\n" becomes "\n", which is how Slack itself sends line breaks.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f]")


def clean_typed(raw: str | None) -> str:
    """`raw` without control characters (except newline and tab), stripped of surrounding whitespace."""
    return _CONTROL.sub("", raw or "").strip()


def escape(text: str) -> str:
    """Escape text from people or files before it goes into a message's markup (Slack's mrkdwn, Teams'
    markdown and HTML alike), so that it cannot ping @channel or open a tag."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
