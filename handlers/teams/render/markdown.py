"""Text for Adaptive Card TextBlocks in Teams: our small markup translated, people's words made inert.

Teams reads a subset of CommonMark in a TextBlock (`**bold**`, `_italic_`, `- ` and `1. ` lists,
`[links](url)`; Adaptive Cards "Text features") and, in bot messages, `<at>Name</at>` for a mention. It
also expands `{{DATE(...)}}` and `{{TIME(...)}}`. Words from people or files (`Literal`) must reach none
of these, so `escape` writes every character that could start one as an HTML character reference
(`*` becomes `&#42;`). References, unlike backslash escapes, are inert on both of Teams' markdown
paths: CommonMark (desktop and web) decodes them to plain text after parsing and never reads them as
structure, and the shared C++ parser the mobile clients use passes them through to the HTML it
generates, where they show as the character; it leaves a backslash on the screen.
"""

from __future__ import annotations

import re

from bot.core import text as kernel_text

# Characters that open markup anywhere in a line: emphasis, links, code, strike-through, backslash
# escapes, headings and the card templating braces.
_INLINE = {ord(c): f"&#{ord(c)};" for c in "*_[]()`~\\{}#"}
# At the start of a line: list markers ("- ", "+ ", "1. ", "1) ").
_LINE_START = re.compile(r"^(\s*)([-+]|\d+[.)])", re.MULTILINE)

# Slack short codes our wording and people's value labels use, as the emoji Teams shows. A code not
# listed stays as it was typed (`:party_parrot:` reads as words, not as broken markup).
EMOJI = {
    "+1": "👍",
    "100": "💯",
    "bar_chart": "📊",
    "books": "📚",
    "bulb": "💡",
    "calendar": "📅",
    "chart_with_downwards_trend": "📉",
    "chart_with_upwards_trend": "📈",
    "clap": "👏",
    "coffee": "☕",
    "dart": "🎯",
    "eyes": "👀",
    "fire": "🔥",
    "gift": "🎁",
    "handshake": "🤝",
    "heart": "❤️",
    "heavy_check_mark": "✔️",
    "hourglass": "⌛",
    "lock": "🔒",
    "mailbox": "📫",
    "memo": "📝",
    "muscle": "💪",
    "partying_face": "🥳",
    "point_right": "👉",
    "pray": "🙏",
    "raised_hands": "🙌",
    "rocket": "🚀",
    "seedling": "🌱",
    "slightly_smiling_face": "🙂",
    "smile": "😄",
    "sparkles": "✨",
    "speech_balloon": "💬",
    "star": "⭐",
    "star2": "🌟",
    "sunny": "☀️",
    "tada": "🎉",
    "thumbsup": "👍",
    "trophy": "🏆",
    "warning": "⚠️",
    "wave": "👋",
    "white_check_mark": "✅",
    "x": "❌",
}
_SHORTCODE = re.compile(r":([a-z0-9_+-]+):")


def emoji(value: str) -> str:
    """`value` with the short codes we know as emoji."""
    return _SHORTCODE.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), value)


def escape(value: str) -> str:
    """Words someone typed, as TextBlock text that shows exactly those words: no emphasis, link, list,
    template or `<at>` tag can come out of it. Short codes still become emoji (a value's label is
    `:handshake: Teamwork`)."""
    # A lone carriage return is a line break to Teams' list parser: make every break one it can see.
    lines = value.replace("\r\n", "\n").replace("\r", "\n")
    escaped = kernel_text.escape(emoji(lines)).translate(_INLINE)
    return _LINE_START.sub(lambda m: m.group(1) + "".join(f"&#{ord(c)};" for c in m.group(2)), escaped)


def translate(ours: str) -> str:
    """Our own wording's markup (Slack's mrkdwn: `*bold*`, `_italic_`, `~struck~`, `` `code` ``) in
    Teams' terms. Every `*` in our wording delimits bold (we never write a literal one), so each becomes
    `**` without pairing them up: a bold run may open in one part and close after a mention. Teams has
    no strike-through or inline code in cards: those marks are dropped and the words stay. A code fence
    (```) is kept: the renderer sets what it encloses in a monospace block."""
    pieces = emoji(ours).split("```")
    return "```".join(p.replace("*", "**").replace("~", "").replace("`", "") for p in pieces)


_ITALIC = re.compile(r"(?<!\w)_(.+?)_(?!\w)")
_QUOTE = re.compile(r"^> ", re.MULTILINE)


def plain(ours: str) -> str:
    """Our wording with its markup removed, for notifications and fallback text."""
    stripped = emoji(ours).replace("*", "").replace("~", "").replace("`", "")
    return _QUOTE.sub("", _ITALIC.sub(r"\1", stripped))
