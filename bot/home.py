"""A person's home message: what is going on for them, as a neutral message that fits who is looking.

Everyone sees each feature's part (`Feature.home`: their open pulse, kudos numbers, own suggestions,
onboarding checklist); a manager also sees their latest digest in short, and HR the organisation-wide
overview in short and the directory's counts. Teams shows it as the home card in the personal chat
(`handlers/teams/listeners/home.py`). Slack's App Home draws its own Block Kit view
(`handlers/slack/listeners/home.py`) with Slack-only menus and modals, and is not built from this.

Only what the digests may show ever gets here: the manager's and HR's parts come from `build_digest` and
`hr_overview`, which leave out every group below the anonymity threshold (`surveys/anonymity.py`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot import registry
from bot.core.message import Block, Command, Divider, Heading, Message, Note, Section, text
from bot.core.models import Person, Workspace
from bot.core.people import HomeRole, home_role, org_summary
from bot.core.settings import Settings
from bot.digest_jobs import latest_slot, zone
from bot.digest_sections import build_digest, trend_settings
from surveys.digest import WeekData, hr_overview
from surveys.digest_messages import section_blocks
from surveys.pack_store import workspace_bank

NOT_KNOWN = (
    "I don't have you in the company directory yet, so there is nothing here for you just now. HR adds "
    "people from the org file or from the directory; if you think you should be here, drop them a note."
)
ROLE_LINES = {
    HomeRole.EMPLOYEE: "Here is what's going on for you.",
    HomeRole.MANAGER: "Here is what's going on for you and your team.",
    HomeRole.HR: "Here is what's going on for you, and for the whole organisation.",
}
WHAT_I_KEEP = (
    "I keep your name, work email, team, manager, start date and time zone, and where to write to you. "
    "Pulse answers, anonymous suggestions and unshared check-ins are never stored with your name. "
)


def home_message(
    session: Session, workspace: Workspace | None, person: Person | None, settings: Settings, now: datetime
) -> Message:
    """`person`'s home message as of `now` (None: someone the directory does not know yet)."""
    if workspace is None or person is None or not person.active:
        return Message(
            text("Welcome to Empathy Bot"),
            (Heading("Welcome to Empathy Bot 👋"), Section(text(NOT_KNOWN)), _footer(known=False)),
        )
    role = home_role(session, person, settings)
    blocks: list[Block] = [Heading(f"Hi {person.first_name or 'there'} 👋"), Section(text(ROLE_LINES[role]))]
    for feature in registry.FEATURES:
        if feature.home is not None:
            blocks += feature.home(session, workspace, person, settings, now)
    week_end = latest_slot(now, zone(person), settings.digest_day, settings.digest_time)
    if role is not HomeRole.EMPLOYEE:
        blocks += manager_parts(session, person, settings, week_end)
    if role is HomeRole.HR:
        blocks += hr_parts(session, workspace, settings, week_end)
    blocks += [Divider(), _footer(known=True)]
    return Message(text(f"Your Empathy Bot home · {ROLE_LINES[role]}"), tuple(blocks))


def _footer(*, known: bool) -> Note:
    return Note(
        text(
            WHAT_I_KEEP if known else "",
            Command("empathy privacy"),
            " shows everything I keep about you; ",
            Command("empathy help"),
            " explains what I do.",
        )
    )


def manager_parts(session: Session, person: Person, settings: Settings, week_end: datetime) -> list[Block]:
    """The latest digest in short: the manager's whole organisation, when it may be shown."""
    bank = workspace_bank(session, person.workspace_id)
    digest = build_digest(session, bank, person, week_end, settings=settings)
    if digest.empty:
        return []  # not a manager of anyone, or no pulse closed: the employee's parts say enough
    blocks: list[Block] = [Divider(), Heading(f"Your weekly digest · {week_end:%d %b %Y}")]
    if not digest.sections:
        blocks.append(
            Note(
                text(
                    "Your digest shows results here once enough people in a group have answered: it shows how the "
                    "team is doing, never who said what."
                )
            )
        )
        return blocks
    blocks += section_blocks(digest.sections[0])
    more = len(digest.sections) - 1
    if more:
        groups = "1 more group is" if more == 1 else f"{more} more groups are"
        blocks.append(Note(text(f"{groups} in your weekly digest in our chat.")))
    return blocks


def hr_parts(session: Session, workspace: Workspace, settings: Settings, week_end: datetime) -> list[Block]:
    """The organisation-wide overview in short (its first top-level organisation) and the directory's counts."""
    data = WeekData(
        session, workspace_bank(session, workspace.id), workspace.id, week_end, trend=trend_settings(settings)
    )
    overview = hr_overview(session, data)
    blocks: list[Block] = [Divider(), Heading("The whole organisation · HR")]
    if overview.empty or not overview.sections:
        blocks.append(Note(text("The organisation-wide digest appears here once a pulse has closed that week.")))
    else:
        blocks += section_blocks(overview.sections[0])
        shown = sum(row.respondents is not None for row in overview.rows)
        blocks.append(
            Note(
                text(
                    f"{shown} of {len(overview.rows)} groups have enough answers to show this week; the table of every "
                    "group came with the weekly overview in our chat, and `empathy-bot digest overview` prints it.",
                )
            )
        )
    summary = org_summary(session, workspace)
    lines = [
        f"*{summary.active_people}* active people in *{summary.teams}* teams, *{summary.managers}* managers",
        f"*{summary.inactive_people}* deactivated (kept, never surveyed)",
    ]
    if summary.without_slack:
        lines.append(f"⚠️ *{summary.without_slack}* people have no chat account linked, so I can't reach them yet")
    blocks += [
        Section(text("*People*\n" + "\n".join(lines))),
        Note(text("`empathy-bot org import org.csv` loads the org chart; `empathy-bot org sync` pulls the directory.")),
    ]
    return blocks
