"""The suggestion box in the demo: a few suggestions a week, HR acknowledging, replying, closing them,
an anonymous answer now and then, SLA nudges when HR is slow, and a monthly "you said, we did".

Calls the services directly (no Bolt), with its own random generator so the pulse simulation is unchanged.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any

from sqlalchemy import select

from bot.core.accounts import people_by_external_id
from bot.core.models import Person, Workspace
from bot.delivery.scheduler import run_job
from bot.suggestions import service as suggestions
from bot.suggestions.models import Suggestion

SEED = 5005
WINS_CHANNEL = "CDEMOWINS"
IDEAS = [
    ("tools", "Could we get a second monitor for everyone who asks?"),
    ("process", "Release notes are written after the release; could we draft them during planning?"),
    ("workplace", "The quiet room is always booked for calls. Could calls go elsewhere?"),
    ("culture", "A monthly demo afternoon where any team can show what they built."),
    ("wellbeing", "No meetings on Friday afternoons, please."),
    ("process", "On-call handovers happen in chat and get lost; a short template would help."),
    ("tools", "The VPN drops every hour; it eats a lot of time."),
    ("other", "Could the all-hands be recorded for people in other time zones?"),
]
REPLIES = ["Thanks! Which teams feel this most?", "Good point. Can you say a bit more about when it happens?"]
ANSWERS = ["Mostly the platform teams.", "Usually on Mondays, around planning."]
DONE_NOTES = ["Ordered, arriving next week.", "Trialled for a month; it stays.", ""]
WONT_DO = "Not this year: the budget is committed. We'll look again in Q1."

_rngs: dict[int, random.Random] = {}


def simulate(sim: Any) -> bool:
    """One tick (6 hours): maybe a new suggestion, maybe HR moves one along, then the nudge job. True if it
    wrote anything (the database is opened only when a draw says someone acts; the draws come in the same
    order either way)."""
    rng = _rngs.setdefault(id(sim), random.Random(SEED))
    now = sim.clock.now()
    acted = False
    submits = rng.random() < 0.25
    if submits:
        author_slack_id = rng.choice(sim.people[2:]).slack_id
        category, text = rng.choice(IDEAS)
        with sim.factory.begin() as session:
            workspace = session.get(Workspace, sim.workspace_id)
            assert workspace is not None
            author = people_by_external_id(session, workspace).get(author_slack_id)
            if author is not None:
                # Over the daily limit: the demo person tries again another day.
                with contextlib.suppress(suggestions.SuggestionError):
                    suggestions.submit(
                        session,
                        workspace,
                        author,
                        text=text,
                        category=category,
                        share_name=rng.random() < 0.15,
                        form_id=f"demo-{now.isoformat()}",
                        box=sim.box,
                        settings=sim.config,
                        now=now,
                        rng=rng,
                    )
        acted = True
    handles = rng.random() < 0.3
    monthly = now.weekday() == 0 and now.hour == 12 and now.day <= 7
    if handles or monthly:
        with sim.factory.begin() as session:
            workspace = session.get(Workspace, sim.workspace_id)
            assert workspace is not None
            people = people_by_external_id(session, workspace)
            hr = people.get(sim.people[1].slack_id)
            if hr is not None and handles:
                _handle_one(session, workspace, hr, people, sim, rng)
            if hr is not None and monthly:
                suggestions.you_said_we_did(session, workspace, hr, WINS_CHANNEL, settings=sim.config, now=now)
        acted = True
    job = sim.jobs.get("suggestions.tend")
    if job is not None and now.hour == 12:  # nudges count working days: once a simulated day is enough
        run_job(job, sim.factory, sim.clock)
        acted = True
    return acted


def _handle_one(
    session: Any, workspace: Workspace, hr: Person, people: dict[Any, Person], sim: Any, rng: random.Random
) -> None:
    now = sim.clock.now()
    waiting = session.scalars(
        select(Suggestion)
        .where(Suggestion.workspace_id == workspace.id, Suggestion.status.not_in(suggestions.CLOSED))
        .order_by(Suggestion.submitted_on)
    ).all()
    if not waiting:
        return
    suggestion = rng.choice(waiting[:3])
    options = {"box": sim.box, "settings": sim.config, "now": now}
    if suggestion.status == "new":
        suggestions.set_status(session, workspace, hr, suggestion.reference, "acknowledged", **options)
        if rng.random() < 0.5:
            suggestions.owner_reply(session, workspace, hr, suggestion.reference, rng.choice(REPLIES), **options)
            author_id = suggestions.author_person_id(sim.box, suggestion)
            author = session.get(Person, author_id) if author_id else None
            if author is not None and rng.random() < 0.6:
                suggestions.author_reply(
                    session, workspace, author, suggestion.reference, rng.choice(ANSWERS), rng=rng, **options
                )
    elif suggestion.status == "acknowledged":
        suggestions.set_status(session, workspace, hr, suggestion.reference, "in_progress", **options)
    elif rng.random() < 0.8:
        note = rng.choice(DONE_NOTES) or None
        suggestions.set_status(session, workspace, hr, suggestion.reference, "done", note=note, **options)
    else:
        suggestions.set_status(session, workspace, hr, suggestion.reference, "wont_do", note=WONT_DO, **options)
