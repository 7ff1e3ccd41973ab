"""Onboarding in the demo: four new hires (one enrolled after their start date, so they get a catch-up)
go through their journeys: the hourly job queues their steps, they tick tasks and answer check-ins,
sometimes sharing them with their manager; managers and buddies tick theirs, or get reminded.

Calls the services directly (no Bolt), with its own random generator so the pulse simulation is unchanged.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.core.accounts import with_ids
from bot.core.models import Person, Platform
from bot.delivery.scheduler import run_job
from bot.onboarding import service as onboarding
from bot.onboarding.jobs import queue_checkin_alert
from bot.onboarding.models import JourneyState, OnboardingJourney, StepKind, StepOwner, StepState

SEED = 7007
START_OFFSETS = (-5, 0, 9, 23)  # days from the demo's first day; the first one starts before the bot knew
COMMENTS = [
    "Still waiting for my laptop.",
    "Everyone has been really welcoming.",
    "",
    "",
    "A bit lost in the codebase.",
]

_rngs: dict[int, random.Random] = {}


def simulate(sim: Any) -> bool:
    """One tick: on the first, pick the new hires; then run the onboarding job and let people act. True if
    anything was written."""
    first = id(sim) not in _rngs
    rng = _rngs.setdefault(id(sim), random.Random(SEED))
    now = sim.clock.now()
    if first:
        with sim.factory.begin() as session:
            chosen = rng.sample([p for p in sim.people[2:] if p.role == "employee"], len(START_OFFSETS))
            for who, offset in zip(chosen, START_OFFSETS, strict=True):
                person = session.scalar(
                    select(Person).where(
                        Person.workspace_id == sim.workspace_id, with_ids(Platform.SLACK, [who.slack_id])
                    )
                )
                if person is not None:
                    person.start_date = now.date() + timedelta(days=offset)
    wrote = first
    # Hourly in production; every 12 hours is enough here (steps are queued a day ahead) and keeps the demo quick.
    if now.hour % 12 == 0:
        run_job(sim.jobs["onboarding"], sim.factory, sim.clock)
        wrote = True
    with sim.factory.begin() as session:
        journeys = session.scalars(
            select(OnboardingJourney).where(
                OnboardingJourney.workspace_id == sim.workspace_id,
                OnboardingJourney.state == JourneyState.ACTIVE.value,
            )
        ).all()
        for journey in journeys:
            wrote = _act(sim, session, journey, rng, now) or wrote
    return wrote


def _act(sim: Any, session: Any, journey: OnboardingJourney, rng: random.Random, now: Any) -> bool:
    """The new hire and their manager, buddy and HR act on the steps due; True if anyone did."""
    acted = False
    new_hire = session.get(Person, journey.person_id)
    if new_hire is None:
        return acted
    today = onboarding.local_today(new_hire, now)
    for step in onboarding.steps_of(session, journey):
        if step.state not in (StepState.QUEUED, StepState.MISSED) or step.due_date > today:
            continue
        if step.kind == StepKind.CHECKIN and step.answered_at is None and step.state == StepState.QUEUED:
            if rng.random() < 0.5:  # answered today, or (by the next ticks) not at all
                result = onboarding.record_checkin(
                    session,
                    step.id,
                    new_hire,
                    score=rng.choice([1, 2, 3, 4, 4, 5, 5]),
                    comment=rng.choice(COMMENTS),
                    consent=rng.random() < 0.5,
                    box=sim.box,
                    now=now,
                )
                queue_checkin_alert(session, result, now)
                acted = True
        elif step.kind == StepKind.TASK and step.done_at is None and rng.random() < 0.3:
            owner = onboarding.owner_person(session, journey, step.owner)
            if owner is not None:
                onboarding.mark_done(session, step.id, owner, is_hr=step.owner == StepOwner.HR, now=now)
                acted = True
    return acted
