"""HR's pulse settings modal, from App Home or `/pulse settings [team]`."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.audit import record
from bot.core.models import Team, Workspace
from bot.core.people import is_hr
from handlers.slack.context import AppContext, empathy_context
from handlers.slack.listeners.common import context_block, escape, mrkdwn_section, request_identity
from surveys.bank import QuestionBank
from surveys.cadence import CADENCES, WEEKDAYS
from surveys.models import PulseSchedule
from surveys.pack_store import workspace_bank
from surveys.schedules import MAX_OPEN_DAYS, MAX_QUESTIONS, ScheduleSettings, save_schedule, validate

logger = logging.getLogger(__name__)

OPEN_ACTION = "pulse.settings_open"
VIEW = "pulse.settings"
EVERYONE = "everyone"
REMINDER_CHOICES = {"none": "No reminder", "4": "After 4 hours", "24": "After 1 day", "48": "After 2 days"}
NOT_HR = "Only HR admins can change pulse settings. `/pulse` shows your own open pulse."


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text[:75]}, "value": value[:150]}


def _select(block_id: str, label: str, options: list[dict[str, Any]], initial: str) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "static_select", "action_id": "value", "options": options[:100]}
    chosen = [o for o in options if o["value"] == initial]
    if chosen:
        element["initial_option"] = chosen[0]
    return {"type": "input", "block_id": block_id, "label": {"type": "plain_text", "text": label}, "element": element}


def settings_modal(
    session: Session, workspace: Workspace, bank: QuestionBank, schedule: PulseSchedule | None, team_value: str
) -> dict[str, Any]:
    teams = session.scalars(select(Team).where(Team.workspace_id == workspace.id).order_by(Team.name)).all()
    current = schedule or PulseSchedule(
        cadence="weekly",
        weekday=0,
        send_time="10:00",
        questions_per_round=5,
        open_days=3,
        reminder_after_hours=24,
        packs=[],
    )
    packs = current.packs or bank.default_pack_ids()
    pack_options = [_option(p.name, p.id) for p in bank.packs.values()][:10]
    reminder = str(current.reminder_after_hours) if current.reminder_after_hours else "none"
    reminder_options = [_option(text, value) for value, text in REMINDER_CHOICES.items()]
    if reminder not in REMINDER_CHOICES:
        reminder_options.append(_option(f"After {reminder} hours", reminder))
    return {
        "type": "modal",
        "callback_id": VIEW,
        "title": {"type": "plain_text", "text": "Pulse settings"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            mrkdwn_section("Pulses go to each person at the chosen time *in their own time zone*."),
            _select(
                "team",
                "Who gets this pulse",
                [_option("Everyone", EVERYONE), *(_option(t.name, str(t.id)) for t in teams[:99])],
                team_value,
            ),
            _select("cadence", "How often", [_option(c.title(), c) for c in CADENCES], current.cadence),
            _select("weekday", "Day", [_option(d.title(), d) for d in WEEKDAYS], WEEKDAYS[current.weekday]),
            {
                "type": "input",
                "block_id": "time",
                "label": {"type": "plain_text", "text": "Local send time"},
                "element": {"type": "timepicker", "action_id": "value", "initial_time": current.send_time},
            },
            _select(
                "questions",
                "Questions per pulse",
                [_option(str(n), str(n)) for n in range(1, MAX_QUESTIONS + 1)],
                str(current.questions_per_round),
            ),
            _select(
                "open_days",
                "Stays open for",
                [_option(f"{n} day{'s' if n > 1 else ''}", str(n)) for n in range(1, MAX_OPEN_DAYS + 1)],
                str(current.open_days),
            ),
            _select("reminder", "One gentle reminder", reminder_options, reminder),
            {
                "type": "input",
                "block_id": "packs",
                "label": {"type": "plain_text", "text": "Question packs"},
                "element": {
                    "type": "checkboxes",
                    "action_id": "value",
                    "options": pack_options,
                    "initial_options": [o for o in pack_options if o["value"] in packs] or pack_options[:1],
                },
            },
            context_block(
                "Results are only shown for groups of 5 or more. Burnout questions come up in every pulse so "
                "each team gets a monthly burnout score."
            ),
        ],
    }


def _schedule_for(session: Session, workspace: Workspace, team_id: int | None) -> PulseSchedule | None:
    query = select(PulseSchedule).where(PulseSchedule.workspace_id == workspace.id)
    query = query.where(PulseSchedule.team_id == team_id) if team_id else query.where(PulseSchedule.team_id.is_(None))
    return session.scalar(query)


def open_settings(
    client: WebClient, trigger_id: str, empathy: AppContext, context: dict[str, Any], team_name: str = ""
) -> str | None:
    """Open the modal; returns a reason instead when the person may not."""
    with empathy.session_factory() as session:
        workspace, person = request_identity(session, context)
        if person is None or not is_hr(session, person, empathy.settings):
            return NOT_HR
        team = None
        if team_name:
            team = session.scalar(select(Team).where(Team.workspace_id == workspace.id, Team.name.ilike(team_name)))
            if team is None:
                return f"There's no team called '{escape(team_name[:80])}'. `/pulse schedule` lists the teams."
        view = settings_modal(
            session,
            workspace,
            workspace_bank(session, workspace.id),
            _schedule_for(session, workspace, team.id if team else None),
            str(team.id) if team else EVERYONE,
        )
    client.views_open(trigger_id=trigger_id, view=view)
    return None


def handle_open_button(ack: Ack, body: dict[str, Any], client: WebClient, context: dict[str, Any]) -> None:
    ack()
    refusal = open_settings(client, body["trigger_id"], empathy_context(context), context)
    if refusal:
        try:
            client.chat_postMessage(channel=body["user"]["id"], text=refusal)
        except SlackApiError as error:  # nowhere to tell them (no DM with us): the refusal stands regardless
            logger.warning(
                "could not tell a non-HR person why pulse settings did not open: %s", error.response.get("error")
            )


def _value(values: dict[str, Any], block: str) -> Any:
    element = values.get(block, {}).get("value", {})
    if element.get("type") == "timepicker":
        return element.get("selected_time")
    if element.get("type") == "checkboxes":
        return [o["value"] for o in element.get("selected_options") or []]
    return (element.get("selected_option") or {}).get("value")


def handle_submission(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: dict[str, Any]
) -> None:
    empathy = empathy_context(context)
    values = view.get("state", {}).get("values", {})
    reminder = _value(values, "reminder")
    try:
        choice = ScheduleSettings(
            cadence=_value(values, "cadence") or "",
            weekday=_value(values, "weekday") or "",
            send_time=_value(values, "time") or "",
            questions_per_round=int(_value(values, "questions") or 0),
            open_days=int(_value(values, "open_days") or 0),
            reminder_after_hours=None if reminder in (None, "none") else int(reminder),
            packs=tuple(_value(values, "packs") or ()),
        )
    except ValueError:
        ack(response_action="errors", errors={"questions": "Please pick from the lists."})
        return
    with empathy.session_factory.begin() as session:
        workspace, person = request_identity(session, context)
        bank = workspace_bank(session, workspace.id)
        errors = _field_errors(choice, bank)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        if person is None or not is_hr(session, person, empathy.settings):
            ack(response_action="errors", errors={"team": NOT_HR})
            return
        team_value = _value(values, "team") or EVERYONE
        team = None if team_value == EVERYONE else session.get(Team, int(team_value))
        if team_value != EVERYONE and (team is None or team.workspace_id != workspace.id):
            ack(response_action="errors", errors={"team": "That team no longer exists; please choose again."})
            return
        ack()
        save_schedule(session, workspace, bank, choice, team=team, today=empathy.clock.now().date())
        record(session, workspace.id, person.id, "pulse.schedule", team.name if team else "everyone")
    if empathy.home.refresh is not None:
        empathy.home.refresh(client, body["user"]["id"], context)


def _field_errors(choice: ScheduleSettings, bank: QuestionBank) -> dict[str, str]:
    # Checked in this order: "stays open … days" must not be taken for the day of the week.
    blocks = {
        "cadence": "cadence",
        "stays open": "open_days",
        "reminder": "reminder",
        "pack": "packs",
        "questions": "questions",
        "time": "time",
        "day": "weekday",
    }
    errors: dict[str, str] = {}
    for problem in validate(choice, bank):
        block = next((b for word, b in blocks.items() if word in problem), "cadence")
        errors[block] = problem[:1].upper() + problem[1:] + "."
    if not choice.packs:
        errors["packs"] = "Choose at least one question pack."
    return errors


def register(app: App) -> None:
    app.action(OPEN_ACTION)(handle_open_button)
    app.view(VIEW)(handle_submission)
