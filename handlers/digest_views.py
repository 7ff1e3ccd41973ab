"""Block Kit for a manager's weekly digest, and the same digest as plain text for the terminal."""

from __future__ import annotations

from typing import Any

from handlers.common import context_block, escape, header, mrkdwn_section
from surveys.digest import Digest, DigestSection, Overview
from surveys.playbook import driver_name
from surveys.scoring import Estimate, cbi_band

MAX_BLOCKS = 50
DIVIDER = {"type": "divider"}
MAX_COMMENTS = 8  # 8 × ~330 characters stays inside a section's 3,000
LABELS = {
    "engagement": "Engagement",
    "burnout": "Burnout (CBI, 0–100, lower is better)",
    "burnout_single": "Self-rated burnout: share at 3 or above",
    "recommend": "Recommend score (−100 to 100)",
    "wellbeing": "Wellbeing (WHO-5)",
}


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


def _section_blocks(section: DigestSection) -> list[dict[str, Any]]:
    blocks = [mrkdwn_section(f"*{escape(section.title)}*\n" + "\n".join(_figure_lines(section)))]
    for flag in section.flags:
        blocks.append(context_block(f"⚠️ {escape(flag)}. A good moment for a conversation with the team."))
    if section.actions:
        blocks.append(mrkdwn_section("*Ideas for this week*\n" + "\n".join(f"• {escape(a)}" for a in section.actions)))
    if section.comments:
        shown = section.comments[:MAX_COMMENTS]
        lines = [
            f"• “{escape(c.text[:300])}{'…' if len(c.text) > 300 else ''}” _({c.dated:%d %b}, reads {c.sentiment})_"
            for c in shown
        ]
        blocks.append(
            mrkdwn_section(
                "*What people said* (shuffled, dated to the pulse's close; the tone is a hint, not a verdict)\n"
                + "\n".join(lines)
            )
        )
    if section.themes:
        themes = ", ".join(f"“{escape(theme)}” ({count} comments)" for theme, count in section.themes)
        blocks.append(context_block(f"Themes that came up more than once: {themes}"))
    return blocks


def digest_message(digest: Digest, first_name: str) -> dict[str, Any]:
    week = f"{digest.week_end:%d %b %Y}"
    text = f"Your weekly team digest, up to {week}"
    blocks: list[dict[str, Any]] = [header(f"How your team is doing · {week}")]
    if digest.empty:
        blocks.append(
            mrkdwn_section(
                f"Hi {escape(first_name)}, there's nothing to show this week: no pulse closed, or no group had "
                "enough answers to share without risking someone's anonymity."
            )
        )
    for section in digest.sections:
        section_blocks = _section_blocks(section)
        if len(blocks) + len(section_blocks) > MAX_BLOCKS - 3 - 2 * len(digest.extras):
            blocks.append(context_block("More groups are in your Home tab (click my name, then Home)."))
            break
        blocks += [DIVIDER, *section_blocks]
    if digest.hidden:
        names = "\n".join(f"• {escape(title)}" for title in digest.hidden[:20])
        more = f"\n…and {len(digest.hidden) - 20} more" if len(digest.hidden) > 20 else ""
        blocks.append(mrkdwn_section(f"*Not enough responses to keep answers anonymous this week*\n{names}{more}"))
    for extra in digest.extras:
        if len(blocks) >= MAX_BLOCKS - 2:
            break
        body = "\n".join(f"• {escape(line)}" for line in extra.lines)
        blocks.append(mrkdwn_section(f"*{escape(extra.title)}*\n{body}"))
    note = "Groups with fewer than 5 people answering are never shown, nor anything that would let them be worked out."
    blocks.append(context_block(note + " Ranges say how sure each number is; trends appear only for real change."))
    return {"text": text, "blocks": blocks[:MAX_BLOCKS]}


def overview_message(overview: Overview, first_name: str) -> dict[str, Any]:
    """HR's organisation-wide view: the top-level organisations in full, then a groups × drivers table."""
    week = f"{overview.week_end:%d %b %Y}"
    blocks: list[dict[str, Any]] = [
        header(f"How the organisation is doing · {week}"),
        mrkdwn_section(
            f"Hi {escape(first_name)}, here is the organisation-wide view for the pulses that closed in the week "
            f"up to {week}."
        ),
    ]
    table_blocks = _heatmap_blocks(overview)
    for section in overview.sections:
        section_blocks = _section_blocks(section)
        if len(blocks) + len(section_blocks) + len(table_blocks) > MAX_BLOCKS - 2:
            break
        blocks += [DIVIDER, *section_blocks]
    blocks += [DIVIDER, *table_blocks]
    blocks.append(
        context_block(
            "· marks a group or cell hidden because fewer than 5 people answered, or because showing it would let "
            "a smaller group be worked out. Scores are 0–100, higher is better."
        )
    )
    return {"text": f"The organisation-wide digest, up to {week}", "blocks": blocks[:MAX_BLOCKS]}


SHORT_DRIVERS = {"meaningful_work": "Meaning", "manager_support": "Manager", "recognition": "Recognit."}


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


def _heatmap_blocks(overview: Overview) -> list[dict[str, Any]]:
    lines = heatmap_lines(overview)
    blocks: list[dict[str, Any]] = [mrkdwn_section("*Every group × driver*")]
    chunk: list[str] = []
    for line in lines:
        if sum(len(x) + 1 for x in chunk) + len(line) > 2900:
            blocks.append(mrkdwn_section("```" + escape("\n".join(chunk)) + "```"))
            chunk = [lines[0]]
            if len(blocks) >= 20:
                blocks.append(context_block("The table goes on; `empathy-bot digest overview` prints all of it."))
                return blocks
        chunk.append(line)
    blocks.append(mrkdwn_section("```" + escape("\n".join(chunk)) + "```"))
    return blocks


def digest_text(digest: Digest, first_name: str) -> str:
    return message_text(digest_message(digest, first_name))


def message_text(message: dict[str, Any]) -> str:
    """A message's blocks as plain text, for the terminal and the demo's Markdown files."""
    parts = []
    for block in message["blocks"]:
        if block["type"] == "divider":
            parts.append("---")
        elif block["type"] in ("header", "section"):
            parts.append(block["text"]["text"].replace("*", ""))
        elif block["type"] == "context":
            parts.append("  " + " ".join(e["text"] for e in block["elements"]))
    return "\n\n".join(parts)
