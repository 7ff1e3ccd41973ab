"""Onboarding journeys (issue #7): templates, enrolment, buddies, steps, check-ins and what they feed.

Services only: each function takes a Session and returns data. What is sent, and when, is decided
in `bot.onboarding.jobs`; the Slack side lives in `handlers/slack/listeners/onboarding.py`.

Rules worth knowing:
- A journey copies its template version's steps at enrolment, so editing a template never changes a
  running journey.
- A check-in score always goes to the anonymous side, sealed until its cell is released in a batch
  (`bot.onboarding.checkins`); the step keeps the score and comment only when the new hire ticked
  "share with my manager" (`consent`). Early warnings need that tick.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from bot.core.accounts import has_account
from bot.core.audit import record
from bot.core.crypto import SecretBox
from bot.core.database import upsert_insert
from bot.core.errors import UserFacingError
from bot.core.message import Command, text
from bot.core.models import Person, Role, RoleGrant
from bot.core.people import sub_organisation
from bot.core.text import clean_typed
from bot.features import DigestRun
from bot.onboarding import checkins as onboarding_checkins
from bot.onboarding.models import (
    BuddyRule,
    JourneyState,
    OnboardingCheckinScore,
    OnboardingCohortFigure,
    OnboardingJourney,
    OnboardingStep,
    OnboardingTemplate,
    StepKind,
    StepOwner,
    StepState,
)
from bot.onboarding.templates import (
    DEFAULT_SEND_TIME,
    NAME,
    StepSpec,
    TemplateFile,
    TemplateSpec,
    dump_templates,
    parse_step_lines,
    parse_templates,
    render,
)

DEFAULT_TEMPLATE = "default"
ENROL_PAST_DAYS = 14  # automatic enrolment reaches back this far (older starters are not new hires any more)
ENROL_AHEAD_DAYS = 60
MAX_BUDDYING = 2  # nobody buddies more than two people at once
OVERDUE_WARNING_DAYS = 3  # a new hire's task this many days late is an early warning (with consent)
LOW_SCORE = 2  # a check-in of 1 or 2 is an early warning (with consent)
COMMENT_LIMIT = 1000
FINISH_GRACE_DAYS = 7  # after the last step's day, a week to tick the last tasks before the journey ends

# The built-in templates (the documented example file), used until HR imports or edits their own.
BUILTIN_TEMPLATES = """\
# Onboarding journeys that HR maintains. Days count from the new hire's start date;
# messages go out at the send time in the new hire's own timezone.
send_time: "10:00"
templates:
  - name: default
    description: First 90 days at the company
    buddy: random_from_team        # random_from_team | manager_picks | none
    steps:
      - day: 0
        kind: task
        owner: new_hire            # new_hire | manager | buddy | hr
        text: Set up your laptop, email and Slack profile
      - day: 0
        kind: task
        owner: manager
        text: Introduce {new_hire} to the team in the team channel
      - day: 1
        kind: checkin
        text: How did your first day go?
      - day: 3
        kind: task
        owner: buddy
        text: Take {new_hire} for a coffee or a video chat
      - day: 7
        kind: checkin
        text: One week in. Do you have what you need to do your job?
      - day: 30
        kind: checkin
        text: After a month, how clear is what is expected of you?
      - day: 60
        kind: checkin
        text: How supported do you feel by your team and manager?
      - day: 90
        kind: checkin
        text: Ninety days in, would you recommend joining us to a friend?
  - name: sales
    description: Ramp-up for account executives
    buddy: manager_picks
    steps:
      - day: 0
        kind: task
        owner: new_hire
        text: Get access to the CRM and shadow two discovery calls
      - day: 7
        kind: checkin
        text: How confident do you feel about our product so far?
      - day: 30
        kind: checkin
        text: How is your ramp-up going compared with what you expected?
"""


class OnboardingError(UserFacingError):
    """Bad input or a state that forbids the action; the message says what to do instead."""


# -- templates ---------------------------------------------------------------------------------


def current_templates(session: Session, workspace_id: int) -> list[OnboardingTemplate]:
    return list(
        session.scalars(
            select(OnboardingTemplate)
            .where(OnboardingTemplate.workspace_id == workspace_id, OnboardingTemplate.current.is_(True))
            .order_by(OnboardingTemplate.name)
        )
    )


def ensure_templates(session: Session, workspace_id: int, now: datetime) -> list[OnboardingTemplate]:
    """The current templates; a workspace that never had any gets the built-in ones."""
    templates = current_templates(session, workspace_id)
    if templates:
        return templates
    ever = session.scalar(
        select(func.count()).select_from(OnboardingTemplate).where(OnboardingTemplate.workspace_id == workspace_id)
    )
    if ever:
        return []  # HR removed them all on purpose
    # Two requests may both find none (a job beside `/onboard`): the unique (workspace, name, version)
    # lets the first insert win and the other add nothing, instead of failing on the constraint.
    rows = [
        {
            "workspace_id": workspace_id,
            "name": spec.name,
            "version": 1,
            "current": True,
            "description": spec.description,
            "buddy_rule": spec.buddy_rule,
            "send_time": spec.send_time,
            "teams": list(spec.teams),
            "steps": [s.as_dict() for s in spec.steps],
            "created_by_id": None,
            "created_at": now,
        }
        for spec in parse_templates(BUILTIN_TEMPLATES).templates
    ]
    session.execute(
        upsert_insert(session, OnboardingTemplate).on_conflict_do_nothing(
            index_elements=["workspace_id", "name", "version"]
        ),
        rows,
    )
    return current_templates(session, workspace_id)


def _add_version(
    session: Session, workspace_id: int, spec: TemplateSpec, *, version: int, actor_id: int | None, now: datetime
) -> OnboardingTemplate:
    row = OnboardingTemplate(
        workspace_id=workspace_id,
        name=spec.name,
        version=version,
        current=True,
        description=spec.description,
        buddy_rule=spec.buddy_rule,
        send_time=spec.send_time,
        teams=list(spec.teams),
        steps=[s.as_dict() for s in spec.steps],
        created_by_id=actor_id,
        created_at=now,
    )
    session.add(row)
    return row


def spec_of(template: OnboardingTemplate) -> TemplateSpec:
    return TemplateSpec(
        name=template.name,
        description=template.description,
        buddy_rule=template.buddy_rule,
        steps=tuple(StepSpec(s["day"], s["kind"], s["owner"], s["text"]) for s in template.steps),
        teams=tuple(template.teams or ()),
        send_time=template.send_time,
    )


def _latest_version(session: Session, workspace_id: int, name: str) -> int:
    return (
        session.scalar(
            select(func.max(OnboardingTemplate.version)).where(
                OnboardingTemplate.workspace_id == workspace_id, func.lower(OnboardingTemplate.name) == name.lower()
            )
        )
        or 0
    )


def _find_current(session: Session, workspace_id: int, name: str) -> OnboardingTemplate | None:
    return session.scalar(
        select(OnboardingTemplate).where(
            OnboardingTemplate.workspace_id == workspace_id,
            OnboardingTemplate.current.is_(True),
            func.lower(OnboardingTemplate.name) == name.strip().lower(),
        )
    )


@dataclass
class ImportReport:
    added: list[str]
    changed: list[str]
    unchanged: list[str]
    removed: list[str]

    def __str__(self) -> str:
        parts = [
            f"{label}: {', '.join(names)}"
            for label, names in (
                ("added", self.added),
                ("new version", self.changed),
                ("unchanged", self.unchanged),
                ("removed", self.removed),
            )
            if names
        ]
        return "; ".join(parts) or "nothing to do"


def import_templates(
    session: Session, workspace_id: int, text: str, *, actor_id: int | None, via: str, now: datetime, source: str = ""
) -> ImportReport:
    """Replace the workspace's templates with the file's (all-or-nothing; raises TemplateError).

    A changed template gets a new version; a template missing from the file stops being offered
    to new hires. Running journeys keep the version they started with either way.
    """
    parsed: TemplateFile = parse_templates(text)
    ensure_templates(session, workspace_id, now)  # so the built-ins are versioned like any other
    report = ImportReport([], [], [], [])
    wanted = {spec.name.lower(): spec for spec in parsed.templates}
    for spec in parsed.templates:
        existing = _find_current(session, workspace_id, spec.name)
        if existing is not None and spec_of(existing) == spec:
            report.unchanged.append(spec.name)
            continue
        if existing is not None:
            existing.current = False
            report.changed.append(spec.name)
        else:
            report.added.append(spec.name)
        session.flush()
        _add_version(
            session,
            workspace_id,
            spec,
            version=_latest_version(session, workspace_id, spec.name) + 1,
            actor_id=actor_id,
            now=now,
        )
    for template in current_templates(session, workspace_id):
        if template.name.lower() not in wanted:
            template.current = False
            report.removed.append(template.name)
    session.flush()
    record(session, workspace_id, actor_id, "onboarding.import", f"{source} ({report})"[:200], via=via, at=now)
    return report


def export_templates(session: Session, workspace_id: int, *, actor_id: int | None, via: str, now: datetime) -> str:
    templates = ensure_templates(session, workspace_id, now)
    send_time = templates[0].send_time if templates else DEFAULT_SEND_TIME
    record(session, workspace_id, actor_id, "onboarding.export", f"{len(templates)} templates", via=via, at=now)
    return dump_templates(send_time, [spec_of(t) for t in templates])


def save_template(
    session: Session,
    workspace_id: int,
    *,
    old_name: str | None,
    name: str,
    description: str,
    buddy_rule: str,
    steps_text: str,
    actor_id: int | None,
    now: datetime,
) -> OnboardingTemplate:
    """The App Home editor: add a template (`old_name` None) or save a new version of one (renaming
    it if `name` differs). Raises TemplateError (steps, line-numbered) or OnboardingError."""
    steps = tuple(parse_step_lines(steps_text))
    name = " ".join(name.split())
    if not NAME.match(name):
        raise OnboardingError("A template name uses letters, digits, spaces, - or _ (up to 40 characters).")
    if buddy_rule not in {r.value for r in BuddyRule}:
        raise OnboardingError("Pick a buddy rule: random from the team, the manager picks, or no buddy.")
    templates = ensure_templates(session, workspace_id, now)
    old = _find_current(session, workspace_id, old_name) if old_name else None
    if old_name and old is None:
        raise OnboardingError(f"The template `{old_name[:40]}` was removed meanwhile; nothing was saved.")
    clash = _find_current(session, workspace_id, name)
    if clash is not None and clash is not old:
        raise OnboardingError(f"There is already a template called `{name}`; pick another name.")
    send_time = old.send_time if old else (templates[0].send_time if templates else DEFAULT_SEND_TIME)
    spec = TemplateSpec(
        name, " ".join(description.split())[:300], buddy_rule, steps, tuple(old.teams if old else ()), send_time
    )
    if old is not None and spec_of(old) == spec:
        return old
    if old is not None:
        old.current = False
        session.flush()
    row = _add_version(
        session,
        workspace_id,
        spec,
        version=_latest_version(session, workspace_id, name) + 1,
        actor_id=actor_id,
        now=now,
    )
    session.flush()
    subject = f"{old.name} -> {name} v{row.version}" if old and old.name != name else f"{name} v{row.version}"
    record(session, workspace_id, actor_id, "onboarding.template.edit", subject, via="slack", at=now)
    return row


def remove_template(session: Session, workspace_id: int, name: str, *, actor_id: int | None, now: datetime) -> None:
    template = _find_current(session, workspace_id, name)
    if template is None:
        raise OnboardingError(f"There is no template called `{name[:40]}`.")
    template.current = False
    record(session, workspace_id, actor_id, "onboarding.template.remove", template.name, via="slack", at=now)


def template_for(session: Session, workspace_id: int, person: Person, now: datetime) -> OnboardingTemplate | None:
    """The team's template (listed in `teams:`, or named like the team), else `default`."""
    templates = ensure_templates(session, workspace_id, now)
    team = (person.team.name if person.team else "").strip().lower()
    if team:
        for template in templates:
            if team in {t.lower() for t in template.teams or ()}:
                return template
        for template in templates:
            if template.name.lower() == team:
                return template
    return next((t for t in templates if t.name.lower() == DEFAULT_TEMPLATE), None)


# -- time --------------------------------------------------------------------------------------


def zone_of(person: Person) -> ZoneInfo:
    try:
        return ZoneInfo(person.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_today(person: Person, now: datetime) -> date:
    return now.astimezone(zone_of(person)).date()


def send_at(journey: OnboardingJourney, template: OnboardingTemplate, person: Person, day: int) -> datetime:
    """Day `day` of the journey at the template's send time in the new hire's timezone, in UTC."""
    hour, minute = (int(x) for x in template.send_time.split(":"))
    local = datetime.combine(journey.start_date + timedelta(days=day), time(hour, minute), zone_of(person))
    return local.astimezone(UTC)


# -- enrolment ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Enrolment:
    journey: OnboardingJourney
    created: bool


def journey_of(session: Session, person: Person) -> OnboardingJourney | None:
    return session.scalar(select(OnboardingJourney).where(OnboardingJourney.person_id == person.id))


def hr_people(session: Session, workspace_id: int) -> list[Person]:
    return list(
        session.scalars(
            select(Person)
            .join(RoleGrant, RoleGrant.person_id == Person.id)
            .where(RoleGrant.workspace_id == workspace_id, RoleGrant.role == Role.HR, Person.active.is_(True))
            .distinct()
            .order_by(Person.id)
        )
    )


def enrol(
    session: Session,
    person: Person,
    *,
    now: datetime,
    template_name: str | None = None,
    start: date | None = None,
    enrolled_by: Person | None = None,
    enrolled_by_hr: bool = False,
) -> Enrolment:
    """Start `person`'s journey (once: an existing journey is returned as it is)."""
    existing = journey_of(session, person)
    if existing is not None:
        return Enrolment(existing, False)
    if not person.active or person.is_bot:
        raise OnboardingError("Only active people can be onboarded.")
    if template_name:
        template = _find_current(session, person.workspace_id, template_name)
        if template is None:
            ensure_templates(session, person.workspace_id, now)
            template = _find_current(session, person.workspace_id, template_name)
        if template is None:
            names = ", ".join(f"`{t.name}`" for t in current_templates(session, person.workspace_id)) or "none yet"
            raise OnboardingError(
                f"I don't know an onboarding template called `{template_name[:40]}`. The templates are: {names}."
            )
    else:
        template = template_for(session, person.workspace_id, person, now)
        if template is None:
            raise OnboardingError(
                "There is no `default` onboarding template, so I can't pick one. Name a template, "
                "or ask HR to add a `default` one."
            )
    start = start or person.start_date or local_today(person, now)
    hr = (
        enrolled_by
        if enrolled_by is not None and enrolled_by_hr
        else next(iter(hr_people(session, person.workspace_id)), None)
    )
    journey = OnboardingJourney(
        workspace_id=person.workspace_id,
        person_id=person.id,
        template_id=template.id,
        start_date=start,
        state=JourneyState.ACTIVE.value,
        hr_id=hr.id if hr else None,
        enrolled_by_id=enrolled_by.id if enrolled_by else None,
        enrolled_at=now,
    )
    session.add(journey)
    session.flush()
    for position, step in enumerate(template.steps):
        session.add(
            OnboardingStep(
                journey_id=journey.id,
                position=position,
                day=step["day"],
                kind=step["kind"],
                owner=step["owner"],
                text=step["text"],
                due_date=start + timedelta(days=step["day"]),
                state=StepState.WAITING.value,
            )
        )
    assign_buddy(session, journey, template, person)
    session.flush()
    return Enrolment(journey, True)


def buddy_load(session: Session, buddy_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(OnboardingJourney)
            .where(OnboardingJourney.buddy_id == buddy_id, OnboardingJourney.state == JourneyState.ACTIVE.value)
        )
        or 0
    )


def buddy_candidates(session: Session, person: Person) -> list[Person]:
    """Active teammates who can be messaged, not the new hire, not their manager, not a new hire
    themselves, and not already buddying two people."""
    if person.team_id is None:
        return []
    new_hires = select(OnboardingJourney.person_id).where(OnboardingJourney.state == JourneyState.ACTIVE.value)
    teammates = session.scalars(
        select(Person)
        .where(
            Person.workspace_id == person.workspace_id,
            Person.team_id == person.team_id,
            Person.active.is_(True),
            Person.is_bot.is_(False),
            has_account(),
            Person.id != person.id,
            Person.id.not_in(new_hires),
        )
        .order_by(Person.id)
    ).all()
    return [p for p in teammates if p.id != person.manager_id and buddy_load(session, p.id) < MAX_BUDDYING]


def assign_buddy(session: Session, journey: OnboardingJourney, template: OnboardingTemplate, person: Person) -> None:
    """Apply the template's buddy rule. Random picks are reproducible per journey; when nobody fits
    (or the rule is manager_picks) the manager is asked, and without a manager there is no buddy."""
    if template.buddy_rule == BuddyRule.NONE.value:
        return
    if template.buddy_rule == BuddyRule.RANDOM_FROM_TEAM.value:
        candidates = buddy_candidates(session, person)
        if candidates:
            journey.buddy_id = random.Random(journey.id).choice(candidates).id
            return
    journey.buddy_pending = person.manager_id is not None


def pick_buddy(session: Session, journey: OnboardingJourney, picker: Person, buddy: Person | None) -> Person:
    """The manager's choice from the DM prompt. Raises OnboardingError saying why a choice won't do."""
    person = session.get(Person, journey.person_id)
    assert person is not None
    if journey.state != JourneyState.ACTIVE.value:
        raise OnboardingError(f"{person.name}'s onboarding has ended, so no buddy is needed any more.")
    if picker.id != person.manager_id:
        raise OnboardingError(f"Only {person.name}'s manager can pick their buddy.")
    if journey.buddy_id is not None and not journey.buddy_pending:
        current = session.get(Person, journey.buddy_id)
        raise OnboardingError(f"{person.name} already has a buddy: {current.name if current else 'someone'}.")
    if buddy is None or not buddy.active or buddy.is_bot or buddy.workspace_id != person.workspace_id:
        raise OnboardingError("Please pick an active colleague from this workspace.")
    if buddy.id == person.id:
        raise OnboardingError(f"{person.name} can't be their own buddy; pick a colleague.")
    if buddy.id == person.manager_id:
        raise OnboardingError("A buddy is someone other than the manager; pick a colleague.")
    if buddy_load(session, buddy.id) >= MAX_BUDDYING:
        raise OnboardingError(f"{buddy.name} is already buddying {MAX_BUDDYING} people; pick someone else.")
    journey.buddy_id, journey.buddy_pending = buddy.id, False
    session.flush()
    return buddy


def start_date_candidates(session: Session, now: datetime) -> list[Person]:
    """Active people starting from two weeks ago to two months ahead who have no journey yet."""
    today = now.date()
    return list(
        session.scalars(
            select(Person)
            .outerjoin(OnboardingJourney, OnboardingJourney.person_id == Person.id)
            .where(
                OnboardingJourney.id.is_(None),
                Person.active.is_(True),
                Person.is_bot.is_(False),
                Person.start_date.is_not(None),
                Person.start_date >= today - timedelta(days=ENROL_PAST_DAYS),
                Person.start_date <= today + timedelta(days=ENROL_AHEAD_DAYS),
            )
            .order_by(Person.id)
        )
    )


def enrol_due(session: Session, now: datetime) -> int:
    """Automatic enrolment (org import, org sync, team_join): returns how many journeys started."""
    count = 0
    for person in start_date_candidates(session, now):
        try:
            if enrol(session, person, now=now).created:
                count += 1
        except OnboardingError:
            continue  # no template for them (HR removed `default`); HR can still enrol by hand
    return count


# -- roles in a journey ------------------------------------------------------------------------


def owner_person(session: Session, journey: OnboardingJourney, owner: str) -> Person | None:
    """Who a step's owner is today: the manager is the current one, so a manager change mid-journey
    sends the next manager tasks to the new manager."""
    person = session.get(Person, journey.person_id)
    if person is None:
        return None
    if owner == StepOwner.NEW_HIRE.value:
        return person
    if owner == StepOwner.MANAGER.value:
        return session.get(Person, person.manager_id) if person.manager_id else None
    if owner == StepOwner.BUDDY.value:
        return session.get(Person, journey.buddy_id) if journey.buddy_id else None
    if owner == StepOwner.HR.value:
        hr = session.get(Person, journey.hr_id) if journey.hr_id else None
        if hr is None or not hr.active:
            hr = next(iter(hr_people(session, journey.workspace_id)), None)
        return hr
    return None


def placeholders(session: Session, journey: OnboardingJourney) -> dict[str, str]:
    person = session.get(Person, journey.person_id)
    manager = owner_person(session, journey, StepOwner.MANAGER.value)
    buddy = owner_person(session, journey, StepOwner.BUDDY.value)
    return {
        "new_hire": person.name if person else "the new hire",
        "manager": manager.name if manager else "your manager",
        "buddy": buddy.name if buddy else "your buddy",
    }


def step_text(session: Session, step: OnboardingStep, values: dict[str, str] | None = None) -> str:
    journey = session.get(OnboardingJourney, step.journey_id)
    assert journey is not None
    return render(step.text, values if values is not None else placeholders(session, journey))


# -- done buttons ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DoneResult:
    step: OnboardingStep
    newly_done: bool


def mark_done(session: Session, step_id: int, clicker: Person, *, is_hr: bool, now: datetime) -> DoneResult:
    """Tick a task. Its owner may, and HR may on anyone's behalf; a second click changes nothing."""
    step = session.get(OnboardingStep, step_id, with_for_update=True)
    journey = session.get(OnboardingJourney, step.journey_id) if step else None
    if step is None or journey is None or journey.workspace_id != clicker.workspace_id or step.kind != StepKind.TASK:
        raise OnboardingError(
            text("I can't find that onboarding task any more; ", Command("onboard"), " shows the current list.")
        )
    if step.done_at is not None:
        return DoneResult(step, False)
    owner = owner_person(session, journey, step.owner)
    if not is_hr and (owner is None or owner.id != clicker.id):
        who = owner.name if owner else "its owner"
        raise OnboardingError(f"This task is for {who}, so only they (or HR) can tick it.")
    if journey.state == JourneyState.STOPPED.value:
        raise OnboardingError("This onboarding journey has been stopped, so its tasks can't be ticked any more.")
    step.done_at, step.done_by_id = now, clicker.id
    session.flush()
    return DoneResult(step, True)


# -- check-ins ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckinResult:
    step: OnboardingStep
    journey: OnboardingJourney
    alert: bool  # a low score the new hire agreed to share: tell the manager and HR


def checkin_step(session: Session, step_id: int, person: Person) -> OnboardingStep:
    step = session.get(OnboardingStep, step_id)
    journey = session.get(OnboardingJourney, step.journey_id) if step else None
    if step is None or journey is None or step.kind != StepKind.CHECKIN or journey.person_id != person.id:
        raise OnboardingError("I can't find that check-in; it may belong to someone else or have been removed.")
    if journey.state == JourneyState.STOPPED.value:
        raise OnboardingError("Your onboarding journey has been stopped, so this check-in is closed.")
    return step


def record_checkin(
    session: Session,
    step_id: int,
    person: Person,
    *,
    score: int,
    comment: str | None,
    consent: bool,
    box: SecretBox,
    now: datetime,
) -> CheckinResult:
    """Record a check-in once. The score always counts anonymously; the step keeps it (and the
    comment) only with consent. Without consent a comment is not stored at all.

    The anonymous copy is only sealed here: this transaction also marks the step answered, so
    anything readable it wrote could be paired with the new hire (see `bot.onboarding.checkins`)."""
    if score not in range(1, 6):
        raise OnboardingError("Please pick a number from 1 to 5.")
    comment = clean_typed(comment) or None
    if comment is not None and len(comment) > COMMENT_LIMIT:
        raise OnboardingError(f"Your comment is {len(comment)} characters; please keep it under {COMMENT_LIMIT}.")
    checkin_step(session, step_id, person)
    step = session.get(OnboardingStep, step_id, with_for_update=True)
    assert step is not None
    if step.answered_at is not None:
        raise OnboardingError("You've already answered this check-in, thank you! Nothing was changed.")
    journey = session.get(OnboardingJourney, step.journey_id)
    assert journey is not None
    onboarding_checkins.seal(
        session,
        box,
        workspace_id=journey.workspace_id,
        cohort=journey.start_date.replace(day=1),
        team_id=person.team_id,  # the team they answer from: the cell this answer counts in, for good
        score=score,
        journey_id=journey.id,
        shared=consent,
        now=now,
    )
    step.answered_at, step.consent = now, consent
    if consent:
        step.score, step.comment = score, comment
    journey.share_consent = consent
    session.flush()
    return CheckinResult(step, journey, alert=consent and score <= LOW_SCORE)


# -- leavers and progress ----------------------------------------------------------------------


def stop_journey(session: Session, journey: OnboardingJourney, now: datetime) -> None:
    """Stop for good: nothing more is queued. (Cancelling queued messages is the job's part.)"""
    journey.state, journey.ended_at = JourneyState.STOPPED.value, now
    session.execute(
        update(OnboardingStep)
        .where(OnboardingStep.journey_id == journey.id, OnboardingStep.state == StepState.WAITING.value)
        .values(state=StepState.SKIPPED.value)
    )


@dataclass(frozen=True)
class Progress:
    person: Person
    journey: OnboardingJourney
    template: OnboardingTemplate
    day: int
    tasks_done: int
    tasks_total: int
    overdue: int
    next_step: OnboardingStep | None


def progress(session: Session, journey: OnboardingJourney, now: datetime) -> Progress:
    person = session.get(Person, journey.person_id)
    template = session.get(OnboardingTemplate, journey.template_id)
    assert person is not None and template is not None
    today = local_today(person, now)
    steps = steps_of(session, journey)
    tasks = [s for s in steps if s.kind == StepKind.TASK and s.state != StepState.SKIPPED]
    upcoming = [s for s in steps if s.due_date >= today and s.state == StepState.WAITING]
    return Progress(
        person=person,
        journey=journey,
        template=template,
        day=(today - journey.start_date).days,
        tasks_done=sum(1 for s in tasks if s.done_at is not None),
        tasks_total=len(tasks),
        overdue=sum(1 for s in tasks if s.done_at is None and s.due_date < today),
        next_step=upcoming[0] if upcoming else None,
    )


def steps_of(session: Session, journey: OnboardingJourney) -> list[OnboardingStep]:
    return list(
        session.scalars(
            select(OnboardingStep).where(OnboardingStep.journey_id == journey.id).order_by(OnboardingStep.position)
        )
    )


def open_tasks_for(session: Session, person: Person, now: datetime, *, limit: int = 10) -> list[OnboardingStep]:
    """Tasks `person` owns today (as new hire, manager, buddy or HR contact) that were sent and not ticked."""
    journeys = session.scalars(
        select(OnboardingJourney)
        .join(Person, Person.id == OnboardingJourney.person_id)
        .where(
            OnboardingJourney.workspace_id == person.workspace_id,
            OnboardingJourney.state == JourneyState.ACTIVE.value,
            or_(
                OnboardingJourney.person_id == person.id,
                Person.manager_id == person.id,
                OnboardingJourney.buddy_id == person.id,
                OnboardingJourney.hr_id == person.id,
            ),
        )
    ).all()
    found: list[OnboardingStep] = []
    for journey in journeys:
        for step in steps_of(session, journey):
            if (
                step.kind == StepKind.TASK
                and step.done_at is None
                and step.state in (StepState.QUEUED, StepState.MISSED)
                and (owner := owner_person(session, journey, step.owner)) is not None
                and owner.id == person.id
            ):
                found.append(step)
    found.sort(key=lambda s: (s.due_date, s.id))
    return found[:limit]


def journeys_for(session: Session, people: Iterable[Person]) -> list[OnboardingJourney]:
    ids = [p.id for p in people]
    if not ids:
        return []
    return list(
        session.scalars(
            select(OnboardingJourney).where(OnboardingJourney.person_id.in_(ids)).order_by(OnboardingJourney.start_date)
        )
    )


def everyone_onboarding(session: Session, workspace_id: int) -> list[Person]:
    """New hires with an active journey, for HR's named checklist progress."""
    return list(
        session.scalars(
            select(Person)
            .join(OnboardingJourney, OnboardingJourney.person_id == Person.id)
            .where(OnboardingJourney.workspace_id == workspace_id, OnboardingJourney.state == JourneyState.ACTIVE.value)
            .order_by(OnboardingJourney.start_date, Person.name)
        )
    )


# -- cohort view (HR) --------------------------------------------------------------------------

# Released in batches of at least 5 people per cell (start month, team when answering).
CohortRow = onboarding_checkins.CohortRow
cohort_figures = onboarding_checkins.cohort_figures


# -- digest ------------------------------------------------------------------------------------


def digest_lines(
    session: Session, manager: Person, since: datetime, until: datetime, run: DigestRun | None = None
) -> list[str]:
    """Each new hire's progress in the manager's sub-organisation; check-in answers only if shared."""
    lines: list[str] = []
    if run is None:
        journeys = journeys_for(session, sub_organisation(session, manager))
    else:
        # The workspace's journeys are read once per run, in `journeys_for`'s order, then kept per manager.
        everyone = run.shared("onboarding.journeys", lambda: _workspace_journeys(session, manager.workspace_id))
        below = {person.id for person in run.below(manager)}
        journeys = [journey for journey in everyone if journey.person_id in below] if below else []
    for journey in journeys:
        ended_before = journey.ended_at is not None and journey.ended_at < since
        if ended_before or journey.enrolled_at >= until or journey.state == JourneyState.STOPPED.value:
            continue
        state = progress(session, journey, until - timedelta(seconds=1))
        line = (
            f"{state.person.name} (day {max(state.day, 0)}, {state.template.name}): "
            f"{state.tasks_done} of {state.tasks_total} tasks done"
        )
        if state.overdue:
            line += f", {state.overdue} overdue"
        if state.next_step is not None:
            what = "check-in" if state.next_step.kind == StepKind.CHECKIN else "tasks"
            line += f"; next: {what} on {state.next_step.due_date:%a %d %b}"
        elif journey.state == JourneyState.FINISHED.value:
            line += "; journey finished"
        lines.append(line + ".")
        shared = session.scalars(
            select(OnboardingStep).where(
                OnboardingStep.journey_id == journey.id,
                OnboardingStep.consent.is_(True),
                OnboardingStep.answered_at >= since,
                OnboardingStep.answered_at < until,
            )
        ).all()
        for step in shared:
            text = f"{state.person.first_name} shared their day-{step.day} check-in: {step.score}/5"
            lines.append(text + (f" — “{step.comment}”" if step.comment else "."))
    return lines


def _workspace_journeys(session: Session, workspace_id: int) -> list[OnboardingJourney]:
    return list(
        session.scalars(
            select(OnboardingJourney)
            .join(Person, Person.id == OnboardingJourney.person_id)
            .where(Person.workspace_id == workspace_id)
            .order_by(OnboardingJourney.start_date)
        )
    )


def digest_section(
    session: Session, manager: Person, since: datetime, until: datetime, run: DigestRun | None = None
) -> Any:
    """The manager digest's onboarding section (a `surveys.digest.ExtraSection`), or None without new hires."""
    from surveys.digest import ExtraSection  # the digest imports providers lazily; keep this module light

    lines = digest_lines(session, manager, since, until, run)
    if not lines:
        return None
    lines.append("Check-in answers appear here only when the new hire chose to share them with their manager.")
    return ExtraSection(key="onboarding", title="New hires' onboarding", lines=lines)


# -- privacy hooks -----------------------------------------------------------------------------


def personal_data(session: Session, person: Person) -> dict[str, Any]:
    """Everything of onboarding linked to `person`: their journey and steps, and who they buddy."""
    data: dict[str, Any] = {}
    journey = journey_of(session, person)
    if journey is not None:
        template = session.get(OnboardingTemplate, journey.template_id)
        buddy = session.get(Person, journey.buddy_id) if journey.buddy_id else None
        data["journey"] = {
            "template": f"{template.name} v{template.version}" if template else None,
            "start_date": journey.start_date.isoformat(),
            "state": journey.state,
            "buddy": buddy.name if buddy else None,
            "share_consent": journey.share_consent,
            "steps": [
                {
                    "day": s.day,
                    "kind": s.kind,
                    "owner": s.owner,
                    "text": s.text,
                    "state": s.state,
                    "done_at": s.done_at.isoformat() if s.done_at else None,
                    "answered_at": s.answered_at.isoformat() if s.answered_at else None,
                    "shared_with_manager": s.consent,
                    "score": s.score,
                    "comment": s.comment,
                }
                for s in steps_of(session, journey)
            ],
            "note": "Check-in scores you did not share are kept only as anonymous cohort figures, not linked to you.",
        }
    buddying = session.scalars(select(OnboardingJourney).where(OnboardingJourney.buddy_id == person.id)).all()
    if buddying:
        data["buddy_of"] = [p.name for j in buddying if (p := session.get(Person, j.person_id)) is not None]
    ticked = session.scalar(
        select(func.count()).select_from(OnboardingStep).where(OnboardingStep.done_by_id == person.id)
    )
    if ticked:
        data["tasks_ticked"] = ticked
    return data


def forget(session: Session, person: Person) -> dict[str, int]:
    """Remove the person's journey (steps with it) and unlink them from other journeys. The anonymous
    cohort scores stay: nothing links them to anyone."""
    journeys = session.execute(delete(OnboardingJourney).where(OnboardingJourney.person_id == person.id)).rowcount
    unlinked = 0
    for column in (OnboardingJourney.buddy_id, OnboardingJourney.hr_id, OnboardingJourney.enrolled_by_id):
        unlinked += (
            session.execute(update(OnboardingJourney).where(column == person.id).values({column: None})).rowcount or 0
        )
    unlinked += (
        session.execute(
            update(OnboardingStep).where(OnboardingStep.done_by_id == person.id).values(done_by_id=None)
        ).rowcount
        or 0
    )
    session.execute(
        update(OnboardingTemplate).where(OnboardingTemplate.created_by_id == person.id).values(created_by_id=None)
    )
    return {"onboarding journeys": int(journeys or 0), "onboarding links": unlinked}


def expire(session: Session, now: datetime, *, months: int) -> int:
    """Delete journeys that ended more than `months` ago, and cohort scores and figures older than that."""
    if months <= 0:
        return 0
    cutoff = now - timedelta(days=round(months * 30.44))
    journeys = session.execute(
        delete(OnboardingJourney).where(
            OnboardingJourney.state != JourneyState.ACTIVE.value,
            and_(OnboardingJourney.ended_at.is_not(None), OnboardingJourney.ended_at < cutoff),
        )
    ).rowcount
    first_kept = cutoff.date().replace(day=1)
    scores = session.execute(delete(OnboardingCheckinScore).where(OnboardingCheckinScore.cohort < first_kept)).rowcount
    session.execute(delete(OnboardingCohortFigure).where(OnboardingCohortFigure.cohort < first_kept))
    return int(journeys or 0) + int(scores or 0)
