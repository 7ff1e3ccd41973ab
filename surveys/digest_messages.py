"""A manager's weekly digest and HR's organisation-wide overview as neutral messages.

`surveys.digest` works out what may be shown ("only what may be shown ever gets here"); this module
only words it. Group titles, flags, ideas, comments and themes come from people or files, so they are
`Literal`s. A message holds at most 50 blocks: when groups don't fit, the digest says where the rest
is rather than cutting a group in half.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.core.message import Block, Divider, Heading, Literal, Message, Note, Section, Text, join, text
from surveys.digest import Digest, DigestSection, Overview
from surveys.playbook import driver_name
from surveys.scoring import Estimate, cbi_band

MAX_BLOCKS = 50
MAX_COMMENTS = 8  # 8 × ~330 characters stays inside a section's 3,000
LABELS = {
    "engagement": "Engagement",
    "burnout": "Burnout (CBI, 0–100, lower is better)",
    "burnout_single": "Self-rated burnout: share at 3 or above",
    "recommend": "Recommend score (−100 to 100)",
    "wellbeing": "Wellbeing (WHO-5)",
}
LEGEND = (
    "· marks a group or cell hidden because fewer than 5 people answered, or because showing it would "
    "let a smaller group be worked out. Scores are 0–100, higher is better."
)
SHORT_DRIVERS = {"meaningful_work": "Meaning", "manager_support": "Manager", "recognition": "Recognit."}


def participation_in_words(respondents: int, invited: int) -> str | None:
    """ "60% (6 of 10)"; but never "everyone": when all or all but one took part, "at least 90% (9 or
    more of 10)", so a manager who knows the names cannot tell that any one person answered."""
    if invited < 5:
        return None
    if invited - respondents <= 1:
        floor = invited - 1
        return f"at least {100 * floor / invited:.0f}% ({floor} or more of {invited})"
    return f"{100 * respondents / invited:.0f}% ({respondents} of {invited})"


def _driver(name: str, estimate: Estimate) -> str:
    if estimate.unanimous:
        return f"{driver_name(name).lower()} {estimate.value:.0f} (every answer the same)"
    return f"{driver_name(name).lower()} {estimate.value:.0f} (likely {estimate.low:.0f}–{estimate.high:.0f})"


def _figure_lines(section: DigestSection) -> list[str]:
    lines = []
    figures = section.result.figures
    for key in ("engagement", "burnout", "burnout_single", "recommend", "wellbeing"):
        estimate = figures.get(key)
        if estimate is None:
            continue
        line = f"*{LABELS[key]}*: {estimate.in_words()} ({estimate.n} answers)"
        if key == "burnout":
            line += f" · {cbi_band(estimate.value)} band (a convention, not a diagnosis)"
        trend = section.trends.get(key)
        line += f" · trend: {trend.in_words() if trend else 'not enough weeks yet'}"
        lines.append(line)
    if section.weakest:
        lines.append("*Lowest drivers*: " + ", ".join(_driver(name, e) for name, e in section.weakest))
    if section.strongest:
        lines.append("*Strongest drivers*: " + ", ".join(_driver(name, e) for name, e in section.strongest))
    took_part = participation_in_words(section.result.respondents, section.result.invited)
    if took_part:
        lines.append(f"*Took part*: {took_part}")
    return lines


def _bullets(items: list[str]) -> Text:
    return join((text("• ", Literal(item)) for item in items), "\n")


def section_blocks(section: DigestSection) -> list[Block]:
    """One group: its figures, flags, ideas, comments and themes."""
    blocks: list[Block] = [Section(text("*", Literal(section.title), "*\n", "\n".join(_figure_lines(section))))]
    for flag in section.flags:
        blocks.append(Note(text("⚠️ ", Literal(flag), ". A good moment for a conversation with the team.")))
    if section.actions:
        blocks.append(Section(text("*Ideas for this week*\n", _bullets(section.actions))))
    if section.comments:
        lines = (
            text(
                "• “",
                Literal(c.text[:300]),
                f"{'…' if len(c.text) > 300 else ''}” _({c.dated:%d %b}, reads {c.sentiment})_",
            )
            for c in section.comments[:MAX_COMMENTS]
        )
        blocks.append(
            Section(
                text(
                    "*What people said* (shuffled, dated to the pulse's close; the tone is a hint, not a verdict)\n",
                    join(lines, "\n"),
                )
            )
        )
    if section.themes:
        themes = join((text("“", Literal(theme), f"” ({count} comments)") for theme, count in section.themes), ", ")
        blocks.append(Note(text("Themes that came up more than once: ", themes)))
    return blocks


def digest_message(digest: Digest, first_name: str) -> Message:
    week = f"{digest.week_end:%d %b %Y}"
    blocks: list[Block] = [Heading(f"How your team is doing · {week}")]
    if digest.empty:
        blocks.append(
            Section(
                text(
                    "Hi ",
                    Literal(first_name),
                    ", there's nothing to show this week: no pulse closed, or no group had "
                    "enough answers to share without risking someone's anonymity.",
                )
            )
        )
    for section in digest.sections:
        blocks_of_section = section_blocks(section)
        if len(blocks) + len(blocks_of_section) > MAX_BLOCKS - 3 - 2 * len(digest.extras):
            blocks.append(Note(text("More groups are in your Home tab (click my name, then Home).")))
            break
        blocks += [Divider(), *blocks_of_section]
    if digest.hidden:
        more = f"\n…and {len(digest.hidden) - 20} more" if len(digest.hidden) > 20 else ""
        blocks.append(
            Section(
                text(
                    "*Not enough responses to keep answers anonymous this week*\n",
                    _bullets(digest.hidden[:20]),
                    more,
                )
            )
        )
    for extra in digest.extras:
        if len(blocks) >= MAX_BLOCKS - 2:
            break
        blocks.append(Section(text("*", Literal(extra.title), "*\n", _bullets(extra.lines))))
    note = "Groups with fewer than 5 people answering are never shown, nor anything that would let them be worked out."
    blocks.append(Note(text(note + " Ranges say how sure each number is; trends appear only for real change.")))
    return Message(text(f"Your weekly team digest, up to {week}"), tuple(blocks[:MAX_BLOCKS]))


def overview_message(overview: Overview, first_name: str) -> Message:
    """HR's organisation-wide view: the top-level organisations in full, then a groups × drivers table."""
    return _overview_message(overview, first_name, _heatmap_blocks(overview))


def _overview_message(overview: Overview, first_name: str, table_blocks: list[Block]) -> Message:
    week = f"{overview.week_end:%d %b %Y}"
    blocks: list[Block] = [
        Heading(f"How the organisation is doing · {week}"),
        Section(
            text(
                "Hi ",
                Literal(first_name),
                f", here is the organisation-wide view for the pulses that closed in the week up to {week}.",
            )
        ),
    ]
    for section in overview.sections:
        blocks_of_section = section_blocks(section)
        if len(blocks) + len(blocks_of_section) + len(table_blocks) > MAX_BLOCKS - 2:
            break
        blocks += [Divider(), *blocks_of_section]
    blocks += [Divider(), *table_blocks]
    blocks.append(Note(text(LEGEND)))
    return Message(text(f"The organisation-wide digest, up to {week}"), tuple(blocks[:MAX_BLOCKS]))


def heatmap_lines(overview: Overview) -> list[str]:
    """A fixed-width table: one row per group, one column per driver."""
    columns = [SHORT_DRIVERS.get(d, driver_name(d))[:9] for d in overview.drivers]
    lines = ["Group".ljust(40) + "   n " + " ".join(c.rjust(9) for c in columns)]
    for row in overview.rows:
        title = ("  " * min(row.depth, 4) + row.title)[:39].ljust(40)
        n = f"{row.respondents:>4}" if row.respondents is not None else "   ·"
        cells = " ".join((f"{v:.0f}" if v is not None else "·").rjust(9) for v in row.cells.values())
        lines.append(f"{title} {n} {cells}")
    return lines


def _table(lines: list[str]) -> Section:
    # The table holds group titles: a literal inside our code fence.
    return Section(text("```", Literal("\n".join(lines)), "```"))


def _heatmap_blocks(overview: Overview) -> list[Block]:
    lines = heatmap_lines(overview)
    blocks: list[Block] = [Section(text("*Every group × driver*"))]
    chunk: list[str] = []
    for line in lines:
        if sum(len(x) + 1 for x in chunk) + len(line) > 2900:
            blocks.append(_table(chunk))
            chunk = [lines[0]]
            if len(blocks) >= 20:
                blocks.append(Note(text("The table goes on; `empathy-bot digest overview` prints all of it.")))
                return blocks
        chunk.append(line)
    blocks.append(_table(chunk))
    return blocks


# -- the overview for a platform that counts bytes ---------------------------------------------------

MAX_TABLE_PAGES = 10


def overview_messages(
    overview: Overview, first_name: str, fits: Callable[[Message], bool] | None = None
) -> list[Message]:
    """The overview as messages that each pass `fits` (a platform's size check, e.g. Teams' 100 KB).

    When `overview_message` fits (or there is no check), it is the only message, exactly as without a
    check. Otherwise the first message is the overview with its table left out, and the table follows
    in pages, each as many rows as fit, up to `MAX_TABLE_PAGES` (then a note says where the rest is).
    """
    whole = overview_message(overview, first_name)
    if fits is None or fits(whole):
        return [whole]
    lines = heatmap_lines(overview)
    header, rows = lines[0], lines[1:]
    pages: list[list[str]] = []
    start = 0
    while start < len(rows) and len(pages) < MAX_TABLE_PAGES:
        # The largest page that fits, by bisection: a page's size only grows with its rows.
        low, high = 1, len(rows) - start
        while low < high:
            middle = (low + high + 1) // 2
            if fits(_table_page(header, rows[start : start + middle], 99, 99, more=True)):
                low = middle
            else:
                high = middle - 1
        pages.append(rows[start : start + low])
        start += low
    more = start < len(rows)
    total = len(pages)
    follows = "follows in the next message" if total == 1 else f"follows in the next {total} messages"
    note = Note(text(f"The table of every group × driver {follows}."))
    head = _overview_message(overview, first_name, [note])
    while not fits(head):
        # Fewer organisations in full: drop the last one shown (the table still has every group).
        shorter = Message(head.summary, (*head.blocks[:2], *_without_last_section(head.blocks[2:])))
        if shorter == head:
            break  # nothing left to drop; the platform's renderer refuses it, as it would have anyway
        head = shorter
    return [head] + [
        _table_page(header, page, number, total, more=more and number == total) for number, page in enumerate(pages, 1)
    ]


def _without_last_section(blocks: tuple[Block, ...]) -> tuple[Block, ...]:
    """`blocks` less the last organisation shown (from its divider on), keeping the table's note and legend."""
    dividers = [i for i, block in enumerate(blocks) if isinstance(block, Divider)]
    if len(dividers) < 2:
        return blocks
    last, table = dividers[-2], dividers[-1]
    return blocks[:last] + blocks[table:]


def _table_page(header: str, rows: list[str], number: int, total: int, *, more: bool) -> Message:
    part = f" (part {number} of {total})" if total > 1 else ""
    blocks: list[Block] = [Section(text(f"*Every group × driver*{part}"))]
    chunk: list[str] = [header]
    for row in rows:
        if sum(len(x) + 1 for x in chunk) + len(row) > 2900:
            blocks.append(_table(chunk))
            chunk = [header]
        chunk.append(row)
    blocks.append(_table(chunk))
    if more:
        blocks.append(Note(text("The table goes on; `empathy-bot digest overview` prints all of it.")))
    blocks.append(Note(text(LEGEND)))
    return Message(text(f"The organisation-wide table{part}"), tuple(blocks))
