"""The onboarding jobs: enrol new hires, and queue each journey's messages at the new hire's send time.

Everything goes through the outbox with keys `onboard:<journey id>:<what>`, and a step's state
changes in the same transaction as its enqueue, so running the job twice, or after a restart,
queues nothing twice.

Timing: a step is queued up to LOOKAHEAD before its send time, with `due_at` at that send time (the
template's `send_time` on the step's day, in the new hire's timezone). A step whose send time passed
more than CATCH_UP_AFTER ago (the new hire was enrolled late, or the job was down) is not sent on
its own: each person gets one catch-up message listing such tasks; missed check-ins are skipped.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.core.clock import Clock
from bot.core.message import Block, Divider, Heading, Literal, Section, join, outbox_payload, text
from bot.core.models import OutboxMessage, OutboxState, Person, Workspace
from bot.core.people import sub_organisation
from bot.core.settings import Settings
from bot.delivery.outbox import enqueue
from bot.delivery.scheduler import Job
from bot.features import Feature, JobDeps, Privacy
from bot.onboarding import models as onboarding_models
from bot.onboarding import service as onboarding
from bot.onboarding.checkins import release_and_scrub
from bot.onboarding.messages import (
    TaskLine,
    buddy_prompt_message,
    catch_up_message,
    checkin_alert_message,
    checkin_message,
    overdue_alert_message,
    reminder_message,
    task_section,
    tasks_message,
    welcome_message,
)
from bot.onboarding.models import (
    JourneyState,
    OnboardingJourney,
    OnboardingStep,
    OnboardingTemplate,
    StepKind,
    StepOwner,
    StepState,
)
from bot.onboarding.service import (
    FINISH_GRACE_DAYS,
    OVERDUE_WARNING_DAYS,
    CheckinResult,
    enrol_due,
    local_today,
    owner_person,
    placeholders,
    send_at,
    steps_of,
    stop_journey,
)
from bot.onboarding.templates import render

LOOKAHEAD = timedelta(hours=24)
CATCH_UP_AFTER = timedelta(hours=12)


def key(journey_id: int, what: str) -> str:
    return f"onboard:{journey_id}:{what}"


@dataclass
class ProcessReport:
    enrolled: int = 0
    queued: int = 0
    caught_up: int = 0
    reminders: int = 0
    alerts: int = 0
    stopped: int = 0
    finished: int = 0

    def __str__(self) -> str:
        return ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in vars(self).items())


def run(session: Session, now: datetime) -> ProcessReport:
    """The hourly job: enrol, then advance every active journey."""
    report = ProcessReport(enrolled=enrol_due(session, now))
    journeys = session.scalars(
        select(OnboardingJourney)
        .where(OnboardingJourney.state == JourneyState.ACTIVE.value)
        .order_by(OnboardingJourney.id)
    ).all()
    for journey in journeys:
        advance(session, journey, now, report)
    session.flush()
    return report


def cancel_queued(session: Session, journey: OnboardingJourney, what: str = "%") -> int:
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.workspace_id == journey.workspace_id,
            OutboxMessage.idempotency_key.like(key(journey.id, what)),
            OutboxMessage.state == OutboxState.PENDING.value,
        )
        .values(state=OutboxState.CANCELLED.value)
    )
    return int(result.rowcount or 0)


def _queued(session: Session, journey: OnboardingJourney, what: str) -> bool:
    return (
        session.scalar(
            select(OutboxMessage.id).where(
                OutboxMessage.workspace_id == journey.workspace_id,
                OutboxMessage.idempotency_key == key(journey.id, what),
            )
        )
        is not None
    )


def _line(step: OnboardingStep, values: dict[str, str]) -> TaskLine:
    return TaskLine(step.id, render(step.text, values), step.due_date, step.done_at is not None)


def _messageable(person: Person | None) -> bool:
    return person is not None and person.can_be_messaged


def advance(session: Session, journey: OnboardingJourney, now: datetime, report: ProcessReport) -> None:
    person = session.get(Person, journey.person_id)
    template = session.get(OnboardingTemplate, journey.template_id)
    assert person is not None and template is not None
    if not person.active:
        # A leaver: the journey stops, and nothing already queued for it goes out.
        stop_journey(session, journey, now)
        cancel_queued(session, journey)
        report.stopped += 1
        return
    workspace = session.get(Workspace, journey.workspace_id)
    company = (workspace.name if workspace else "") or "the company"
    values = placeholders(session, journey)
    manager = owner_person(session, journey, StepOwner.MANAGER.value)
    steps = steps_of(session, journey)

    if journey.buddy_pending:
        if not _messageable(manager):
            journey.buddy_pending = False  # nobody to ask: buddy steps are skipped below
        else:
            assert manager is not None
            enqueue(
                session,
                journey.workspace_id,
                key(journey.id, "buddy-prompt"),
                outbox_payload(
                    buddy_prompt_message(journey_id=journey.id, new_hire=person.name, started=journey.start_date)
                ),
                person_id=manager.id,
                now=now,
            )

    missed: dict[str, list[OnboardingStep]] = defaultdict(list)
    due: dict[tuple[str, int], list[OnboardingStep]] = defaultdict(list)
    recipients: dict[str, Person] = {}
    # Each owner looked up once per run, not once per waiting step (the session keeps people only while
    # something holds them, so every lookup was a query).
    owners: dict[str, Person | None] = {}
    for step in steps:
        if step.state != StepState.WAITING:
            continue
        if step.owner not in owners:
            owners[step.owner] = owner_person(session, journey, step.owner)
        recipient = owners[step.owner]
        if step.owner == StepOwner.BUDDY and recipient is None and journey.buddy_pending:
            continue  # wait for the manager's pick
        if not _messageable(recipient):
            step.state = StepState.SKIPPED.value  # no buddy, no manager, or nobody reachable
            continue
        assert recipient is not None
        recipients[step.owner] = recipient
        at = send_at(journey, template, person, step.day)
        if at < now - CATCH_UP_AFTER:
            missed[step.owner].append(step)
        elif at <= now + LOOKAHEAD:
            due[(step.owner, step.day)].append(step)

    day0 = send_at(journey, template, person, 0)
    welcomed = _queued(session, journey, "welcome")
    if not welcomed and _messageable(person) and day0 <= now + LOOKAHEAD:
        buddy = owner_person(session, journey, StepOwner.BUDDY.value)
        if day0 >= now - CATCH_UP_AFTER:
            first_day = due.pop((StepOwner.NEW_HIRE.value, 0), [])
            tasks = [s for s in first_day if s.kind == StepKind.TASK]
            checkins = [s for s in first_day if s.kind == StepKind.CHECKIN]
            if checkins:
                due[(StepOwner.NEW_HIRE.value, 0)] = checkins
            welcome = welcome_message(
                first_name=person.first_name,
                company=company,
                manager=manager.name if manager else None,
                buddy=buddy.name if buddy else None,
                tasks=[_line(s, values) for s in tasks],
            )
            _mark(tasks, StepState.QUEUED, now)
            enqueue(
                session,
                journey.workspace_id,
                key(journey.id, "welcome"),
                outbox_payload(welcome),
                person_id=person.id,
                due_at=day0,
                now=now,
            )
            report.queued += 1
        else:
            # Enrolled after day 0: the catch-up is their welcome (sent now, with anything missed).
            mine = missed.pop(StepOwner.NEW_HIRE.value, [])
            _catch_up(session, journey, person, person, mine, values, company, now, what="welcome", for_new_hire=True)
            report.caught_up += 1

    for owner, missed_steps in missed.items():
        recipient = recipients[owner]
        first = min(s.position for s in missed_steps)
        _catch_up(
            session,
            journey,
            person,
            recipient,
            missed_steps,
            values,
            company,
            now,
            what=f"catchup:{owner}:{first}",
            for_new_hire=owner == StepOwner.NEW_HIRE,
        )
        report.caught_up += 1

    for (owner, day), day_steps in sorted(due.items(), key=lambda item: item[0][1]):
        recipient = recipients[owner]
        at = send_at(journey, template, person, day)
        tasks = [s for s in day_steps if s.kind == StepKind.TASK]
        if tasks:
            day_tasks = tasks_message(
                new_hire=person.name,
                day=day,
                tasks=[_line(s, values) for s in tasks],
                for_new_hire=owner == StepOwner.NEW_HIRE,
            )
            enqueue(
                session,
                journey.workspace_id,
                key(journey.id, f"d{day}:{owner}"),
                outbox_payload(day_tasks),
                person_id=recipient.id,
                due_at=at,
                now=now,
            )
            report.queued += 1
        for step in (s for s in day_steps if s.kind == StepKind.CHECKIN):
            checkin = checkin_message(
                step_id=step.id,
                question=render(step.text, values),
                day=step.day,
                manager=manager.name if manager else None,
            )
            enqueue(
                session,
                journey.workspace_id,
                key(journey.id, f"s{step.position}"),
                outbox_payload(checkin),
                person_id=recipient.id,
                due_at=at,
                now=now,
            )
            report.queued += 1
        _mark(day_steps, StepState.QUEUED, now)

    _reminders_and_warnings(session, journey, person, template, steps, values, now, report)

    last_day = max((s.day for s in steps), default=0)
    if (
        all(s.state != StepState.WAITING for s in steps)
        and (local_today(person, now) - journey.start_date).days > last_day + FINISH_GRACE_DAYS
    ):
        journey.state, journey.ended_at = JourneyState.FINISHED.value, now
        cancel_queued(session, journey, "remind:%")
        report.finished += 1


def _mark(steps: list[OnboardingStep], state: StepState, now: datetime) -> None:
    for step in steps:
        step.state, step.queued_at = state.value, now


def _catch_up(
    session: Session,
    journey: OnboardingJourney,
    person: Person,
    recipient: Person,
    missed: list[OnboardingStep],
    values: dict[str, str],
    company: str,
    now: datetime,
    *,
    what: str,
    for_new_hire: bool,
) -> None:
    tasks = [s for s in missed if s.kind == StepKind.TASK]
    manager = owner_person(session, journey, StepOwner.MANAGER.value)
    buddy = owner_person(session, journey, StepOwner.BUDDY.value)
    catch_up = catch_up_message(
        first_name=person.first_name,
        new_hire=person.name,
        company=company,
        for_new_hire=for_new_hire,
        started=journey.start_date,
        tasks=[_line(s, values) for s in tasks],
        skipped_checkins=sum(1 for s in missed if s.kind == StepKind.CHECKIN),
        manager=manager.name if manager else None,
        buddy=buddy.name if buddy else None,
    )
    _mark(missed, StepState.MISSED, now)
    enqueue(
        session, journey.workspace_id, key(journey.id, what), outbox_payload(catch_up), person_id=recipient.id, now=now
    )


def _reminders_and_warnings(
    session: Session,
    journey: OnboardingJourney,
    person: Person,
    template: OnboardingTemplate,
    steps: list[OnboardingStep],
    values: dict[str, str],
    now: datetime,
    report: ProcessReport,
) -> None:
    today = local_today(person, now)
    overdue_for_warning: list[OnboardingStep] = []
    for step in steps:
        if (
            step.kind != StepKind.TASK
            or step.done_at is not None
            or step.state not in (StepState.QUEUED, StepState.MISSED)
        ):
            continue
        if (
            step.owner != StepOwner.NEW_HIRE
            and step.reminded_at is None
            and send_at(journey, template, person, step.day + 1) <= now
        ):
            # Manager, buddy and HR tasks get one reminder, at the send time the day after they were due.
            recipient = owner_person(session, journey, step.owner)
            if _messageable(recipient):
                assert recipient is not None
                enqueue(
                    session,
                    journey.workspace_id,
                    key(journey.id, f"remind:{step.id}"),
                    outbox_payload(reminder_message(new_hire=person.name, task=_line(step, values))),
                    person_id=recipient.id,
                    now=now,
                )
                report.reminders += 1
            step.reminded_at = now
        if (
            step.owner == StepOwner.NEW_HIRE
            and step.alerted_at is None
            and (today - step.due_date).days > OVERDUE_WARNING_DAYS
        ):
            overdue_for_warning.append(step)
    # The early warning for overdue tasks needs the new hire's consent, given in their latest check-in.
    if overdue_for_warning and journey.share_consent:
        payload = outbox_payload(
            overdue_alert_message(new_hire=person.name, tasks=[_line(s, values) for s in overdue_for_warning])
        )
        first = min(s.id for s in overdue_for_warning)
        for recipient in alert_recipients(session, journey):
            enqueue(
                session,
                journey.workspace_id,
                key(journey.id, f"overdue:{first}:{recipient.id}"),
                payload,
                person_id=recipient.id,
                now=now,
            )
            report.alerts += 1
        for step in overdue_for_warning:
            step.alerted_at = now


def alert_recipients(session: Session, journey: OnboardingJourney) -> list[Person]:
    """The manager and the journey's HR contact (once each; never the new hire)."""
    found: list[Person] = []
    for owner in (StepOwner.MANAGER.value, StepOwner.HR.value):
        person = owner_person(session, journey, owner)
        if _messageable(person) and person is not None and person.id != journey.person_id and person not in found:
            found.append(person)
    return found


def queue_checkin_alert(session: Session, result: CheckinResult, now: datetime) -> int:
    """After a consented low check-in: tell the manager and HR (once per check-in and person)."""
    if not result.alert:
        return 0
    step, journey = result.step, result.journey
    person = session.get(Person, journey.person_id)
    assert person is not None
    values = placeholders(session, journey)
    payload = outbox_payload(
        checkin_alert_message(
            new_hire=person.name,
            day=step.day,
            question=render(step.text, values),
            score=step.score or 0,
            comment=step.comment,
        )
    )
    recipients = alert_recipients(session, journey)
    for recipient in recipients:
        enqueue(
            session,
            journey.workspace_id,
            key(journey.id, f"alert:{step.id}:{recipient.id}"),
            payload,
            person_id=recipient.id,
            now=now,
        )
    step.alerted_at = now
    return len(recipients)


def cancel_reminder(session: Session, step: OnboardingStep) -> None:
    journey = session.get(OnboardingJourney, step.journey_id)
    if journey is not None:
        cancel_queued(session, journey, f"remind:{step.id}")


def _jobs(deps: JobDeps) -> list[Job]:
    def onboarding_run(session: Session, clock: Clock) -> str:
        # First, in its own transaction (this job's session has not touched the database yet): check-in
        # answers move to the cohort figures in batches, then the deleted sealed copies are scrubbed, which
        # must happen after that commit and outside any transaction.
        released = release_and_scrub(deps.session_factory, deps.box, clock.now())
        return f"{run(session, clock.now())}; {released}"

    def onboarding_enrol(session: Session, clock: Clock) -> int:
        return onboarding.enrol_due(session, clock.now())

    return [
        Job(
            name="onboarding",
            func=onboarding_run,
            trigger=CronTrigger(minute=5, timezone="UTC"),
            description="Onboarding journeys: release check-in answers to the cohort figures in batches of 5 "
            "people, enrol new hires, queue the next day's steps for each new hire's local send time, catch-ups, "
            "reminders and (with consent) early warnings; stop leavers' journeys.",
            misfire_grace_time=3600,
        ),
        Job(
            name="onboarding.enrol",
            func=onboarding_enrol,
            trigger=IntervalTrigger(minutes=15, timezone="UTC"),
            description="Start journeys for active people whose start date is from 14 days ago to 60 days ahead.",
            misfire_grace_time=900,
        ),
    ]


HOME_TASKS = 5


def _progress_words(state: onboarding.Progress) -> str:
    words = f"day {max(state.day, 0)}: {state.tasks_done} of {state.tasks_total} tasks done"
    if state.overdue:
        words += f", {state.overdue} overdue"
    if state.next_step is not None:
        what = "a check-in" if state.next_step.kind == StepKind.CHECKIN else "new tasks"
        words += f"; next: {what} on {state.next_step.due_date:%a %d %b}"
    return words


def home_message_parts(
    session: Session, _workspace: Workspace, person: Person, _settings: Settings, now: datetime
) -> list[Block]:
    """The person's onboarding checklist (with its Done buttons) and, for managers, their new hires."""
    blocks: list[Block] = []
    journey = onboarding.journey_of(session, person)
    if journey is not None and journey.state == JourneyState.ACTIVE:
        blocks.append(
            Section(text(f"*Your onboarding*: {_progress_words(onboarding.progress(session, journey, now))}"))
        )
    tasks = onboarding.open_tasks_for(session, person, now, limit=HOME_TASKS)
    if tasks and (journey is None or journey.state != JourneyState.ACTIVE):
        blocks.append(Section(text("*Onboarding tasks for you*")))
    blocks += [
        task_section(TaskLine(step.id, onboarding.step_text(session, step), step.due_date, step.done_at is not None))
        for step in tasks
    ]
    hires = [
        text("• ", Literal(state.person.name or "someone"), f": {_progress_words(state)}")
        for journey in onboarding.journeys_for(session, sub_organisation(session, person))
        if journey.state == JourneyState.ACTIVE and journey.person_id != person.id
        for state in (onboarding.progress(session, journey, now),)
    ]
    if hires:
        blocks.append(Section(text("*New hires in your team*\n", join(hires[:10], "\n"))))
    return [Divider(), Heading("Onboarding"), *blocks] if blocks else []


FEATURE = Feature(
    name="onboarding",
    home=home_message_parts,
    models=(onboarding_models,),
    jobs=_jobs,
    digest_section=onboarding.digest_section,
    privacy=Privacy(
        "onboarding", personal_data=onboarding.personal_data, forget=onboarding.forget, expire=onboarding.expire
    ),
)
