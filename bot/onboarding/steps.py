"""A new hire (or HR) acting on onboarding from chat, on any platform: ticking a task, opening and
answering a check-in.

The adapter hands over the neutral `Click` of the task's Done button (its value is the step id) and
who clicked; `tick` marks the step done (only the new hire, their manager or buddy, or HR may), calls off
its reminder, and returns the task as its line should now read, for the adapter to redraw.

A check-in's score button opens a form (Slack's modal, Teams' dialog) that `open_checkin` fills in;
`answer_checkin` records what the form sends and says what the check-in message should now read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bot.core.crypto import SecretBox
from bot.core.message import Message
from bot.core.models import Person
from bot.delivery.inbound import Click
from bot.onboarding import service
from bot.onboarding.jobs import cancel_reminder, queue_checkin_alert
from bot.onboarding.messages import TaskLine, checkin_answered_message
from bot.onboarding.models import OnboardingJourney, OnboardingStep
from bot.onboarding.templates import render


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


@dataclass(frozen=True)
class CheckinForm:
    """What the check-in form shows: the question (placeholders filled) and who a shared answer goes to."""

    step_id: int
    question: str
    manager: str | None


def open_checkin(session: Session, person: Person | None, step_id: int) -> CheckinForm:
    """The form for the person's own, unanswered check-in. Raises `OnboardingError` otherwise."""
    if person is None:
        raise service.OnboardingError("I can't find that check-in; it may belong to someone else.")
    step = service.checkin_step(session, step_id, person)
    if step.answered_at is not None:
        raise service.OnboardingError("You've already answered this check-in, thank you!")
    journey = session.get(OnboardingJourney, step.journey_id)
    assert journey is not None
    manager = service.owner_person(session, journey, "manager")
    return CheckinForm(
        step.id, render(step.text, service.placeholders(session, journey)), manager.name if manager else None
    )


def answer_checkin(
    session: Session,
    person: Person | None,
    step_id: int,
    *,
    score: int,
    comment: str | None,
    consent: bool,
    box: SecretBox,
    now: datetime,
) -> Message:
    """Record the answer once (what is kept depends on `consent`: `service.record_checkin`), alert the
    manager and HR for a low score they may see, and return the check-in message as it should now read."""
    if person is None:
        raise service.OnboardingError("I can't find that check-in any more.")
    result = service.record_checkin(
        session, step_id, person, score=score, comment=comment, consent=consent, box=box, now=now
    )
    queue_checkin_alert(session, result, now)
    journey = result.journey
    manager = service.owner_person(session, journey, "manager")
    return checkin_answered_message(
        question=render(result.step.text, service.placeholders(session, journey)),
        score=score,
        shared=consent,
        manager=manager.name if manager else None,
    )
