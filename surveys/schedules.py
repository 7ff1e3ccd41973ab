"""HR's pulse settings: one schedule per team, or one for everyone. Every bad value gets a kind message."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.models import Team, Workspace
from surveys.bank import QuestionBank
from surveys.cadence import CADENCES, WEEKDAYS, next_weekday_on_or_after
from surveys.models import PulseSchedule

MAX_QUESTIONS = 15  # a monthly pulse of 10–15 items; beyond that the DM outgrows Slack's 50 blocks
MAX_OPEN_DAYS = 14


class ScheduleError(Exception):
    """`str()` says what was wrong and what would be right."""


@dataclass(frozen=True)
class ScheduleSettings:
    cadence: str = "weekly"
    weekday: str = "monday"
    send_time: str = "10:00"
    questions_per_round: int = 5
    open_days: int = 3
    reminder_after_hours: int | None = 24
    packs: tuple[str, ...] = ()


def find_team(session: Session, workspace: Workspace, name: str) -> Team:
    team = session.scalar(select(Team).where(Team.workspace_id == workspace.id, Team.name.ilike(name.strip())))
    if team is None:
        known = ", ".join(
            session.scalars(select(Team.name).where(Team.workspace_id == workspace.id).order_by(Team.name))
        )
        raise ScheduleError(
            f"There's no team called '{name}'. The teams are: {known or 'none yet (import the org first)'}."
        )
    return team


def validate(settings: ScheduleSettings, bank: QuestionBank) -> list[str]:
    problems = []
    if settings.cadence not in CADENCES:
        problems.append(f"cadence '{settings.cadence}' isn't one of {', '.join(CADENCES)}")
    if settings.weekday.lower() not in WEEKDAYS:
        problems.append(f"day '{settings.weekday}' isn't a day of the week (monday … sunday)")
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", settings.send_time)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        problems.append(f"time '{settings.send_time}' isn't a time like 10:00 (24-hour clock)")
    if not 1 <= settings.questions_per_round <= MAX_QUESTIONS:
        problems.append(
            f"questions per pulse must be between 1 and {MAX_QUESTIONS}, not {settings.questions_per_round}"
        )
    if not 1 <= settings.open_days <= MAX_OPEN_DAYS:
        problems.append(f"a pulse stays open between 1 and {MAX_OPEN_DAYS} days, not {settings.open_days}")
    hours = settings.reminder_after_hours
    if hours is not None and not 1 <= hours < settings.open_days * 24:
        problems.append(
            f"the reminder must come between 1 hour and the close ({settings.open_days * 24} hours), not {hours}"
        )
    unknown = [p for p in settings.packs if p not in bank.packs]
    if unknown:
        problems.append(f"unknown question pack {', '.join(unknown)}; the packs are {', '.join(bank.packs)}")
    return problems


def save_schedule(
    session: Session,
    workspace: Workspace,
    bank: QuestionBank,
    settings: ScheduleSettings,
    *,
    team: Team | None,
    today: date,
) -> PulseSchedule:
    problems = validate(settings, bank)
    if problems:
        raise ScheduleError("The pulse settings were not saved: " + "; ".join(problems) + ".")
    query = select(PulseSchedule).where(PulseSchedule.workspace_id == workspace.id)
    query = query.where(PulseSchedule.team_id == team.id) if team else query.where(PulseSchedule.team_id.is_(None))
    schedule = session.scalar(query)
    weekday = WEEKDAYS.index(settings.weekday.lower())
    if schedule is None:
        schedule = PulseSchedule(workspace_id=workspace.id, team_id=team.id if team else None)
        session.add(schedule)
    if schedule.weekday != weekday or schedule.cadence != settings.cadence or schedule.anchor_date is None:
        schedule.anchor_date = next_weekday_on_or_after(today, weekday)
    schedule.cadence = settings.cadence
    schedule.weekday = weekday
    hours, minutes = settings.send_time.split(":")
    schedule.send_time = f"{int(hours):02d}:{minutes}"
    schedule.questions_per_round = settings.questions_per_round
    schedule.open_days = settings.open_days
    schedule.reminder_after_hours = settings.reminder_after_hours
    schedule.packs = list(settings.packs) or bank.default_pack_ids()
    schedule.active = True
    session.flush()
    return schedule


def describe(schedule: PulseSchedule, team_name: str | None) -> str:
    who = team_name or "everyone"
    reminder = (
        f"one reminder after {schedule.reminder_after_hours} h" if schedule.reminder_after_hours else "no reminder"
    )
    return (
        f"{who}: {schedule.cadence} on {WEEKDAYS[schedule.weekday].title()} at {schedule.send_time} local time, "
        f"{schedule.questions_per_round} questions, open {schedule.open_days} days, {reminder}; "
        f"packs {', '.join(schedule.packs)}"
    )
