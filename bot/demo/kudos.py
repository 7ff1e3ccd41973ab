"""Kudos in the demo: colleagues thanking each other a few times a day, mostly within their team,
tagged with the company values; more often on teams that are doing well, rarely on the team that
slides toward burnout (which then shows in its manager's recognition section). Now and then a
reaction instead of a shout-out.

Calls the services directly (no Bolt), with its own random generator so the pulse simulation is unchanged.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any

from bot.core.accounts import people_by_external_id
from bot.core.models import Workspace
from bot.kudos import service as recognition
from bot.kudos.values import current, parse_lines, replace_values
from bot.registry import set_setting

SEED = 6006
CHANNEL = "CDEMOKUDOS"
VALUES = (
    ":handshake: Teamwork - we win together\n"
    ":rocket: Ownership - we finish what we start\n"
    ":bulb: Curiosity - we ask why\n"
    ":heart: Care - we look after each other"
)
THANKS = [
    ("for untangling the release on Friday", "ownership"),
    ("for pairing with me on the flaky tests", "teamwork"),
    ("for the patient walkthrough of the billing code", "care"),
    ("for asking the question nobody else dared to", "curiosity"),
    ("for covering my on-call while I was away", "care"),
    ("for the crisp incident write-up", "ownership"),
]
# How likely a person is to thank someone in a tick, by the demo's team trajectories.
CHANCE = {"improving": 0.02, "stable": 0.01, "burnout": 0.002}

_rngs: dict[int, random.Random] = {}
_values_set: set[int] = set()


def simulate(sim: Any) -> bool:
    """One tick: set up the values and channel once, then a handful of kudos and reactions. True if it
    wrote anything (the database is opened only once someone's draw says they act: the draws come in the
    same order either way)."""
    rng = _rngs.setdefault(id(sim), random.Random(SEED))
    now = sim.clock.now()
    if now.hour < 9 or now.hour > 18:
        return False
    by_team: dict[str, list[Any]] = {}
    for demo_person in sim.people:
        by_team.setdefault(demo_person.team, []).append(demo_person)
    settings = sim.config
    with contextlib.ExitStack() as stack:
        session = workspace = people = None
        if id(sim) not in _values_set:
            _values_set.add(id(sim))
            session = stack.enter_context(sim.factory.begin())
            workspace = session.get(Workspace, sim.workspace_id)
            assert workspace is not None
            if not current(session, workspace.id):
                replace_values(session, workspace.id, parse_lines(VALUES), actor_id=None, via="cli", now=now)
                set_setting(session, workspace, "kudos-channel", CHANNEL)
        for demo_person in sim.people:
            if rng.random() >= CHANCE.get(demo_person.trajectory, 0.01):
                continue
            if session is None:
                session = stack.enter_context(sim.factory.begin())
                workspace = session.get(Workspace, sim.workspace_id)
                assert workspace is not None
            if people is None:
                people = people_by_external_id(session, workspace)
            assert people is not None and workspace is not None
            giver = people.get(demo_person.slack_id)
            mates = [p for p in by_team[demo_person.team] if p.slack_id != demo_person.slack_id] or sim.people
            recipient = people.get(rng.choice(mates).slack_id)
            if giver is None or recipient is None:
                continue
            # The demo's people keep the rules too: over a limit, they simply don't.
            with contextlib.suppress(recognition.KudosRefused):
                if rng.random() < 0.3:
                    recognition.react(
                        session,
                        workspace,
                        giver,
                        recipient,
                        channel="CDEMOTEAM",
                        ts=f"{now.timestamp():.6f}",
                        settings=settings,
                        now=now,
                    )
                    continue
                message, value = rng.choice(THANKS)
                given = recognition.give(
                    session,
                    workspace,
                    giver,
                    [recipient],
                    message,
                    [value],
                    private=rng.random() < 0.1,
                    submit_key=f"demo:{giver.id}:{now.isoformat()}",
                    settings=settings,
                    now=now,
                )
                recognition.announce(session, workspace, given.kudos, giver, given.recipients, settings, now)
        return session is not None
