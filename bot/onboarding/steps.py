"""A new hire (or HR) acting on onboarding from chat, on any platform: ticking a task, opening and
answering a check-in.

The adapter hands over the neutral `Click` of the task's Done button (its value is the step id) and
who clicked; `tick` marks the step done (only the new hire, their manager or buddy, or HR may), calls off
its reminder, and returns the task as its line should now read, for the adapter to redraw.

`enrol_by_hand` is HR's or a manager's "onboard @person [template] [start date]", and `checklist` what
"onboard" alone shows. A check-in's score button opens a form (Slack's modal, Teams' dialog) that `open_checkin` fills in;
`answer_checkin` records what the form sends and says what the check-in message should now read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from bot.core.audit import record
from bot.core.crypto import SecretBox
from bot.core.errors import UserFacingError
from bot.core.message import Block, Command, Literal, Message, Note, Section, Text, text
from bot.core.models import Person, Workspace
from bot.delivery.inbound import Click
from bot.onboarding import service
from bot.onboarding.jobs import ProcessReport, advance, cancel_reminder, queue_checkin_alert
from bot.onboarding.messages import TaskLine, buddy_prompt_message, checkin_answered_message, task_section
from bot.onboarding.models import JourneyState, OnboardingJourney, OnboardingStep, OnboardingTemplate, StepKind
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


# -- by hand, and the checklist ----------------------------------------------------------------


def enrol_by_hand(
    session: Session,
    workspace: Workspace,
    actor: Person | None,
    target: Person | None,
    words: list[str],
    *,
    is_hr: bool,
    now: datetime,
) -> Text:
    """Start `target`'s journey for HR or their manager; `words` are what followed the person
    (`[template] [start YYYY-MM-DD]`). Says what happened, or why nothing did. Raises `UserFacingError`
    for a date it cannot read."""
    if actor is None or not actor.active:
        return text("I don't have you in the company directory, so I can't start anyone's onboarding. Ask HR.")
    if target is None:
        return text("I don't have that person in the company directory yet. HR can add them with the org file.")
    if not is_hr and target.manager_id != actor.id:
        return text("Only HR and ", Literal(target.name), "'s manager can start their onboarding.")
    template_name, start = template_and_start(words)
    existing = service.journey_of(session, target)
    if existing is not None:
        template = session.get(OnboardingTemplate, existing.template_id)
        return text(
            Literal(target.name),
            " already has an onboarding journey (`",
            Literal(template.name if template else "?"),
            f"`, started {existing.start_date:%a %d %b %Y}, {existing.state}). Nothing was changed.",
        )
    enrolment = service.enrol(
        session, target, now=now, template_name=template_name, start=start, enrolled_by=actor, enrolled_by_hr=is_hr
    )
    journey = enrolment.journey
    advance(session, journey, now, ProcessReport())
    template = session.get(OnboardingTemplate, journey.template_id)
    assert template is not None
    record(
        session, workspace.id, actor.id, "onboarding.enrol", f"person {target.id}: {template.name} v{template.version}"
    )
    buddy = session.get(Person, journey.buddy_id) if journey.buddy_id else None
    buddy_words = (
        text("Their buddy is ", Literal(buddy.name), ".")
        if buddy
        else text("Their manager will get a DM to pick a buddy.")
        if journey.buddy_pending
        else text("They have no buddy.")
    )
    return text(
        "Done: ",
        Literal(target.name),
        "'s onboarding (`",
        Literal(template.name),
        f"`) starts on {journey.start_date:%a %d %b %Y}; messages go out at {template.send_time} in their timezone. ",
        buddy_words,
        " If the start date has passed, they get one catch-up message instead of everything at once.",
    )


def template_and_start(words: list[str]) -> tuple[str | None, date | None]:
    template: list[str] = []
    start: date | None = None
    rest = iter(words)
    for word in rest:
        if word.lower() == "start":
            start = _date(next(rest, ""))
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", word):
            start = _date(word)
        else:
            template.append(word)
    return (" ".join(template) or None), start


def _date(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise UserFacingError(
            f"`{raw[:20] or '(nothing)'}` isn't a date I can read; write it as YYYY-MM-DD, e.g. `start 2026-12-01`."
        ) from None


def progress_words(state: service.Progress) -> str:
    words = f"day {max(state.day, 0)}: {state.tasks_done} of {state.tasks_total} tasks done"
    if state.overdue:
        words += f", {state.overdue} overdue"
    if state.next_step is not None:
        what = "a check-in" if state.next_step.kind == StepKind.CHECKIN else "new tasks"
        words += f"; next: {what} on {state.next_step.due_date:%a %d %b}"
    return words


def checklist(session: Session, person: Person | None, now: datetime, *, limit: int = 20) -> Message:
    """The person's own journey's progress and every open onboarding task of theirs (for others too)."""
    if person is None:
        return _note_only("I don't have you in the company directory yet, so there's no onboarding for you. Ask HR.")
    blocks: list[Block] = []
    journey = service.journey_of(session, person)
    if journey is not None and journey.state != JourneyState.STOPPED:
        state = service.progress(session, journey, now)
        blocks.append(Section(text(f"*Your onboarding* — {progress_words(state)}")))
    tasks = service.open_tasks_for(session, person, now, limit=limit)
    blocks += [task_section(task_line(session, step)) for step in tasks]
    if not blocks:
        return _note_only(
            "You have no onboarding journey or onboarding tasks right now. "
            "When you're someone's manager or buddy, their tasks for you show up here."
        )
    if not tasks:
        blocks.append(Note(text("Nothing on your list right now. Your next steps arrive in our chat on their day.")))
    else:
        blocks.append(Note(text(Command("onboard"), " shows this list again any time.")))
    return Message(text("Your onboarding checklist"), tuple(blocks))


def _note_only(words: str) -> Message:
    return Message(text(words), (Section(text(words)),))


def pick_buddy(
    session: Session, workspace: Workspace, picker: Person | None, journey_id: int | None, buddy: Person | None
) -> Message:
    """The manager's pick from the buddy prompt; returns the prompt as it should now read. Raises
    `OnboardingError` when the journey is gone, or the pick is not theirs to make or not allowed."""
    journey = session.get(OnboardingJourney, journey_id) if journey_id is not None else None
    if picker is None or journey is None or journey.workspace_id != workspace.id:
        raise service.OnboardingError("I can't find that onboarding journey any more.")
    chosen = service.pick_buddy(session, journey, picker, buddy)
    new_hire = session.get(Person, journey.person_id)
    assert new_hire is not None
    record(session, workspace.id, picker.id, "onboarding.buddy", f"journey {journey.id}")
    return buddy_prompt_message(
        journey_id=journey.id, new_hire=new_hire.name, started=journey.start_date, picked=chosen.name
    )
