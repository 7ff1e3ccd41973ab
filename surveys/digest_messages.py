"""A manager's weekly digest and HR's organisation-wide overview as neutral messages.

`surveys.digest` works out what may be shown ("only what may be shown ever gets here"); this module
only words it. Group titles, flags, ideas, comments and themes come from people or files, so they are
`Literal`s. A message holds at most 50 blocks: when groups don't fit, the digest says where the rest
is rather than cutting a group in half.
"""

from __future__ import annotations

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
    table_blocks = _heatmap_blocks(overview)
    for section in overview.sections:
        blocks_of_section = section_blocks(section)
        if len(blocks) + len(blocks_of_section) + len(table_blocks) > MAX_BLOCKS - 2:
            break
        blocks += [Divider(), *blocks_of_section]
    blocks += [Divider(), *table_blocks]
    blocks.append(
        Note(
            text(
                "· marks a group or cell hidden because fewer than 5 people answered, or because showing it would "
                "let a smaller group be worked out. Scores are 0–100, higher is better."
            )
        )
    )
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
