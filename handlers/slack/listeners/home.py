"""App Home: a page that fits who is looking (employee, manager, HR). Later features add sections."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.audit import record
from bot.core.models import Person, Team, Workspace
from bot.core.people import HomeRole, direct_reports, home_role, is_hr, org_summary
from bot.digest_jobs import latest_slot, zone
from bot.digest_sections import build_digest, trend_settings
from handlers.slack.context import AppContext, HomeSection, empathy_context, empathy_context_of, once_per_event
from handlers.slack.listeners.common import context_block, error_text, escape, header, mrkdwn_section, request_identity
from handlers.slack.listeners.help import WHAT_I_STORE
from handlers.slack.listeners.pulse_settings import OPEN_ACTION
from handlers.slack.render.digest import digest_message, overview_message
from surveys.digest import HISTORY_WEEKS, WeekData, hr_overview
from surveys.jobs import EARLY_CLOSE_CONFIRM, close_early, scrub_closed_rounds
from surveys.models import PulseRound, PulseSchedule
from surveys.pack_store import workspace_bank
from surveys.rounds import PulseError, open_progress_for
from surveys.schedules import describe

logger = logging.getLogger(__name__)
CLOSE_EARLY_ACTION = "pulse.close_early"

MAX_BLOCKS = 100  # Slack's limit for a Home view
WEEK_ACTION = "home_digest_week"
DIVIDER = {"type": "divider"}


def build_home_view(
    session: Session,
    workspace: Workspace,
    person: Person | None,
    empathy: AppContext,
    week_end: datetime | None = None,
) -> dict[str, Any]:
    role = home_role(session, person, empathy.settings)
    blocks = _greeting(person, role)
    blocks += _employee_section(session, workspace, person, empathy)
    if person is not None and role in (HomeRole.MANAGER, HomeRole.HR):
        week_end = week_end or latest_slot(
            empathy.clock.now(), zone(person), empathy.settings.digest_day, empathy.settings.digest_time
        )
        blocks += _manager_section(session, person, empathy, week_end)
    for section in empathy.home.sections:
        blocks += section(session, workspace, person, role, empathy)
    if role is HomeRole.HR:
        blocks += _overview_section(session, workspace, person, empathy, week_end)
        blocks += _hr_section(session, workspace)
        blocks += _pulse_admin_section(session, workspace)
    blocks += [DIVIDER, mrkdwn_section(WHAT_I_STORE), context_block("`/empathy help` explains it all again.")]
    return {"type": "home", "callback_id": f"home_{role.value}", "blocks": blocks[:MAX_BLOCKS]}


def _greeting(person: Person | None, role: HomeRole) -> list[dict[str, Any]]:
    if person is None or not person.active:
        return [
            header("Welcome to Empathy Bot 👋"),
            mrkdwn_section(
                "I don't have you in the company directory yet, so there is nothing here for you just now. "
                "HR adds people from the org file or from Slack's directory; if you think you should be "
                "here, drop them a note."
            ),
        ]
    role_line = {
        HomeRole.EMPLOYEE: "Here is what's going on for you.",
        HomeRole.MANAGER: "Here is what's going on for you and your team.",
        HomeRole.HR: "Here is what's going on for you, and the tools for running Empathy Bot.",
    }[role]
    return [header(f"Hi {person.first_name or 'there'} 👋"), mrkdwn_section(role_line)]


def _employee_section(
    session: Session, workspace: Workspace, person: Person | None, empathy: AppContext
) -> list[dict[str, Any]]:
    if person is None or not person.active or not person.accounts:
        return []
    try:
        found = open_progress_for(session, empathy.box, person, empathy.clock.now())
    except PulseError as error:
        return [DIVIDER, mrkdwn_section(f"*Your pulse*\n{error_text(error)}")]
    if found is None:
        pulse = "No pulse is open for you right now; the next one will come to your DMs."
    elif found.done:
        pulse = f"You've answered your pulse, thank you! It closes on {found.round.closes_at:%a %d %b}."
    else:
        pulse = (
            f"Your pulse is open until {found.round.closes_at:%a %d %b}: {found.answered} of "
            f"{len(found.question_ids)} answered. It's in our DMs."
        )
    return [
        DIVIDER,
        mrkdwn_section(
            f"*Your pulse*\n{pulse}\nConfidential: results are only shown for groups of 5 or more, and your "
            "answers are never stored with your name."
        ),
    ]


def _manager_section(session: Session, person: Person, empathy: AppContext, week_end: datetime) -> list[dict[str, Any]]:
    reports = direct_reports(session, person)
    if not reports:
        return []
    names = ", ".join(escape(r.name or r.email or "someone") for r in reports[:30])
    more = f" and {len(reports) - 30} more" if len(reports) > 30 else ""
    blocks = [
        DIVIDER,
        mrkdwn_section(f"*Your team* · {len(reports)} direct report{'s' if len(reports) != 1 else ''}\n{names}{more}"),
        _week_picker(person, empathy, week_end),
    ]
    digest = build_digest(
        session, workspace_bank(session, person.workspace_id), person, week_end, settings=empathy.settings
    )
    if digest.empty:
        blocks.append(
            context_block(
                "Your weekly digest appears here after a pulse closes and enough people have answered. It shows "
                "how the team is doing, never who said what."
            )
        )
    else:
        # The digest's own blocks, less its header: at most 30, so the Home view stays under 100.
        blocks += digest_message(digest, person.first_name)["blocks"][1:31]
    return blocks


def _week_picker(
    person: Person, empathy: AppContext, week_end: datetime, label: str = "*Your weekly digest*"
) -> dict[str, Any]:
    """A menu of the last 12 digest weeks; choosing one redraws the Home tab for that week."""
    latest = latest_slot(empathy.clock.now(), zone(person), empathy.settings.digest_day, empathy.settings.digest_time)
    options = [
        {
            "text": {"type": "plain_text", "text": f"Week up to {end:%a %d %b %Y}"},
            "value": end.isoformat(),
        }
        for end in (latest - timedelta(weeks=i) for i in range(HISTORY_WEEKS))
    ]
    chosen = next((o for o in options if o["value"] == week_end.isoformat()), options[0])
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": label},
        "accessory": {
            "type": "static_select",
            "action_id": WEEK_ACTION,
            "options": options,
            "initial_option": chosen,
        },
    }


def _overview_section(
    session: Session, workspace: Workspace, person: Person | None, empathy: AppContext, week_end: datetime | None
) -> list[dict[str, Any]]:
    if person is None:
        return []
    week_end = week_end or latest_slot(
        empathy.clock.now(), zone(person), empathy.settings.digest_day, empathy.settings.digest_time
    )
    data = WeekData(
        session, workspace_bank(session, workspace.id), workspace.id, week_end, trend=trend_settings(empathy.settings)
    )
    overview = hr_overview(session, data)
    blocks: list[dict[str, Any]] = [DIVIDER, header("The whole organisation (HR)")]
    if not direct_reports(session, person):
        # Managers already have the menu in their own section; one menu changes the week for both.
        blocks.append(_week_picker(person, empathy, week_end, "*Organisation-wide digest*"))
    if overview.empty:
        blocks.append(context_block("The organisation-wide digest appears here once a pulse has closed that week."))
        return blocks
    # Without the header and greeting, and at most 25 blocks: the Home view has room for 100 in all.
    return blocks + overview_message(overview, person.first_name)["blocks"][2:27]


def _hr_section(session: Session, workspace: Workspace) -> list[dict[str, Any]]:
    summary = org_summary(session, workspace)
    lines = [
        f"*{summary.active_people}* active people in *{summary.teams}* teams, *{summary.managers}* managers",
        f"*{summary.inactive_people}* deactivated (kept, never surveyed)",
    ]
    if summary.without_slack:
        lines.append(f"⚠️ *{summary.without_slack}* people have no Slack account linked, so I can't reach them")
    return [
        DIVIDER,
        header("People & settings (HR)"),
        mrkdwn_section("\n".join(lines)),
        context_block(
            "Load the org chart with `empathy-bot org import org.csv`, or pull people from Slack with "
            "`empathy-bot org sync`. `empathy-bot org list` shows who is who."
        ),
    ]


def _pulse_admin_section(session: Session, workspace: Workspace) -> list[dict[str, Any]]:
    schedules = session.scalars(
        select(PulseSchedule).where(PulseSchedule.workspace_id == workspace.id, PulseSchedule.active.is_(True))
    ).all()
    lines = [
        "• " + escape(describe(s, team.name if (team := session.get(Team, s.team_id) if s.team_id else None) else None))
        for s in schedules[:20]
    ]
    text = "*Pulse schedules*\n" + ("\n".join(lines) if lines else "None yet: set one up so people hear from me.")
    return [
        mrkdwn_section(text),
        *_open_round_blocks(session, workspace),
        {
            "type": "actions",
            "block_id": "pulse_admin",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Pulse settings"},
                    "action_id": OPEN_ACTION,
                    "value": "everyone",
                }
            ],
        },
        context_block("`/pulse send` sends a pulse to everyone now; `/pulse send Team name` to one team."),
    ]


def _open_round_blocks(session: Session, workspace: Workspace) -> list[dict[str, Any]]:
    """One line per open round, with HR's way to end it early (Slack asks them to confirm first)."""
    rounds = session.scalars(
        select(PulseRound)
        .where(PulseRound.workspace_id == workspace.id, PulseRound.status == "open")
        .order_by(PulseRound.opens_at)
    ).all()
    blocks = []
    for pulse in rounds[:10]:
        team = session.get(Team, pulse.team_id) if pulse.team_id else None
        who = escape(team.name) if team else "everyone"
        blocks.append(
            {
                "type": "section",
                "block_id": f"open_round_{pulse.id}",
                "text": {"type": "mrkdwn", "text": f"Open now: the pulse for {who}, until {pulse.closes_at:%a %d %b}."},
                "accessory": {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "End it now"},
                    "action_id": CLOSE_EARLY_ACTION,
                    "value": str(pulse.id),
                    "confirm": {
                        "title": {"type": "plain_text", "text": "End this pulse now?"},
                        "text": {"type": "plain_text", "text": EARLY_CLOSE_CONFIRM},
                        "confirm": {"type": "plain_text", "text": "End it now"},
                        "deny": {"type": "plain_text", "text": "Keep it open"},
                        "style": "danger",
                    },
                },
            }
        )
    return blocks


def show_week(ack: Ack, body: dict[str, Any], client: WebClient, context: dict[str, Any]) -> None:
    ack()
    empathy = empathy_context(context)
    try:
        week_end = datetime.fromisoformat(body["actions"][0]["selected_option"]["value"])
    except (KeyError, IndexError, TypeError, ValueError):
        return  # not a menu we drew; nothing to redraw
    with empathy.session_factory.begin() as session:
        workspace, person = request_identity(session, context)
        view = build_home_view(session, workspace, person, empathy, week_end)
    client.views_publish(user_id=context["user_id"], view=view)


def publish_home(client: WebClient, event: dict[str, Any], context: dict[str, Any]) -> None:
    if event.get("tab") not in (None, "home"):
        return
    refresh_home(client, event["user"], context)


def refresh_home(client: WebClient, user_id: str, context: dict[str, Any]) -> None:
    """Draw `user_id`'s Home again (after something on it changed)."""
    empathy = empathy_context(context)
    with empathy.session_factory.begin() as session:
        workspace, person = request_identity(session, context)
        view = build_home_view(session, workspace, person, empathy)
    client.views_publish(user_id=user_id, view=view)


def handle_close_early(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, context: dict[str, Any]
) -> None:
    """HR's "End it now" (after Slack's confirmation): the scheduled close's path, now."""
    ack()
    empathy = empathy_context(context)
    now = empathy.clock.now()
    closed = False
    with empathy.session_factory.begin() as session:
        workspace, person = request_identity(session, context)
        pulse = (
            session.get(PulseRound, int(action.get("value") or 0)) if (action.get("value") or "").isdigit() else None
        )
        if person is None or not is_hr(session, person, empathy.settings):
            said = "Only HR admins can end a pulse early. Your own pulse, if one is open, is in our DMs."
        elif pulse is None or pulse.workspace_id != workspace.id:
            said = "I can't find that pulse any more, so nothing changed. Your Home tab shows the pulses open now."
        elif pulse.status != "open":
            said = f"That pulse had already closed on {pulse.closes_at:%a %d %b}, so nothing changed."
        else:
            team = session.get(Team, pulse.team_id) if pulse.team_id else None
            who = team.name if team else "everyone"
            counted = close_early(session, pulse, now, empathy.box)
            if counted is None:  # its scheduled close, or another admin, got there first
                said = f"That pulse had already closed on {pulse.closes_at:%a %d %b}, so nothing changed."
            else:
                took_part, invited = counted
                record(session, workspace.id, person.id, "pulse.close_early", who)
                closed = True
                said = (
                    f"You ended the pulse for {escape(who)}: {took_part} of {invited} people took part. Everyone's pulse "
                    "message becomes a thank-you in a moment, and the results come with the next digests."
                )
    if closed:
        scrub_closed_rounds(empathy.session_factory, empathy.settings.database_url, now)
    try:
        client.chat_postMessage(channel=body["user"]["id"], text=said)
    except SlackApiError as error:  # nowhere to tell them; what was done stands
        logger.warning("could not confirm an early pulse close: %s", error.response.get("error"))
    refresh_home(client, body["user"]["id"], context)


def register(app: App, sections: Sequence[HomeSection]) -> None:
    """`sections`: each feature's part of the Home, in the order they are shown."""
    hooks = empathy_context_of(app).home
    hooks.sections[:] = sections
    hooks.refresh = refresh_home
    app.event("app_home_opened")(once_per_event(publish_home))
    app.action(WEEK_ACTION)(show_week)
    app.action(CLOSE_EARLY_ACTION)(handle_close_early)
