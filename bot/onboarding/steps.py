"""A new hire (or HR) ticking an onboarding task from chat, on any platform.

The adapter hands over the neutral `Click` of the task's Done button (its value is the step id) and
who clicked; this marks the step done (only the new hire, their manager or buddy, or HR may), calls off
its reminder, and returns the task as its line should now read, for the adapter to redraw.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.core.models import Person
from bot.delivery.inbound import Click
from bot.onboarding import service
from bot.onboarding.jobs import cancel_reminder
from bot.onboarding.messages import TaskLine
from bot.onboarding.models import OnboardingStep


def tick(session: Session, person: Person | None, click: Click, *, is_hr: bool, now: datetime) -> TaskLine:
    """Mark the task done. Raises `OnboardingError` with a kind, specific text when it cannot be."""
    if person is None:
        raise service.OnboardingError("I don't have you in the company directory, so I can't tick that.")
    try:
        step_id = int(click.value)
    except ValueError:
        step_id = -1
    result = service.mark_done(session, step_id, person, is_hr=is_hr, now=now)
    cancel_reminder(session, result.step)
    return task_line(session, result.step)


def task_line(session: Session, step: OnboardingStep) -> TaskLine:
    return TaskLine(step.id, service.step_text(session, step), step.due_date, step.done_at is not None)
