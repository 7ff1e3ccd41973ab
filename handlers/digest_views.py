"""Block Kit for a manager's weekly digest, and the same digest as plain text for the terminal."""

from __future__ import annotations

from typing import Any

from handlers.common import context_block, escape, header, mrkdwn_section
from surveys.digest import Digest, DigestSection
from surveys.scoring import cbi_band

MAX_BLOCKS = 50
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
    drivers = sorted((k.split(":", 1)[1], v) for k, v in figures.items() if k.startswith("driver:"))
    if drivers:
        lines.append(
            "*Drivers*: " + ", ".join(f"{name.replace('_', ' ')} {estimate.value:.0f}" for name, estimate in drivers)
        )
    participation = section.result.participation
    if participation is not None:
        lines.append(f"*Took part*: {participation:.0f}% ({section.result.respondents} of {section.result.invited})")
    return lines


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
        blocks.append(mrkdwn_section(f"*{escape(section.title)}*\n" + "\n".join(_figure_lines(section))))
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
        for flag in section.flags:
            blocks.append(context_block(f"⚠️ {escape(flag)}. A good moment for a conversation with the team."))
        if len(blocks) >= MAX_BLOCKS - 2:
            break
    for extra in digest.extras:
        if len(blocks) >= MAX_BLOCKS - 2:
            break
        body = "\n".join(f"• {escape(line)}" for line in extra.lines)
        blocks.append(mrkdwn_section(f"*{escape(extra.title)}*\n{body}"))
    note = "Groups with fewer than 5 people answering are never shown, nor anything that would let them be worked out."
    if digest.hidden_groups:
        note = f"{digest.hidden_groups} smaller group(s) are not shown to protect anonymity. " + note
    blocks.append(context_block(note + " Ranges say how sure each number is; trends appear only for real change."))
    return {"text": text, "blocks": blocks[:MAX_BLOCKS]}


def digest_text(digest: Digest, first_name: str) -> str:
    message = digest_message(digest, first_name)
    parts = []
    for block in message["blocks"]:
        if block["type"] in ("header", "section"):
            parts.append(block["text"]["text"].replace("*", ""))
        elif block["type"] == "context":
            parts.append("  " + " ".join(e["text"] for e in block["elements"]))
    return "\n\n".join(parts)
