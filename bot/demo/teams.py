"""The demo's Teams output: each digest, HR overview, trend chart and pulse the simulation sent, as the
Adaptive Card activity Teams would receive (`demo-output/teams/`), and the home cards of an employee, a
manager and HR (`home-*.json`, drawn from the neutral home message, `bot/home.py`).

The simulation runs on Slack's stand-in; the outbox keeps each message in its neutral form, so the
same messages are rendered here by the Teams renderer. Pulse rows are deleted when their round closes,
so they are collected as the weeks go by, not at the end.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.message import Message, is_neutral
from bot.core.models import OutboxMessage, Person
from handlers.teams.listeners.home import home_activity
from handlers.teams.render.message import MessageTooLarge, render

# The viewer's Teams id in a demo home card's `refresh` (a real card carries the viewer's own `29:` id).
DEMO_VIEWER = "29:demo-viewer"

_PULSE = re.compile(r"^pulse:(\d+):\d+:invite$")


class TeamsCards:
    def __init__(self) -> None:
        self.last_id = 0
        # The latest of each kind per person (a digest is weekly: the demo keeps the last week's).
        self.digests: dict[int, dict[str, Any]] = {}
        self.overviews: dict[int, dict[str, Any]] = {}
        self.charts: dict[int, dict[str, Any]] = {}
        # One invitation per round: they differ only in their greeting.
        self.pulses: dict[int, dict[str, Any]] = {}

    def collect(self, factory: sessionmaker[Session]) -> None:
        """Take the neutral messages queued since the last call."""
        with factory() as session:
            rows = session.execute(
                select(OutboxMessage.id, OutboxMessage.idempotency_key, OutboxMessage.person_id, OutboxMessage.payload)
                .where(OutboxMessage.id > self.last_id)
                .order_by(OutboxMessage.id)
            ).all()
        for row_id, key, person_id, payload in rows:
            self.last_id = row_id
            if not is_neutral(payload) or person_id is None:
                continue
            if key.startswith("digest:"):
                self.digests[person_id] = payload
            elif key.startswith("overview:"):
                self.overviews[person_id] = payload
            elif key.startswith("digest-chart:"):
                self.charts[person_id] = payload
            elif (pulse := _PULSE.match(key)) and int(pulse[1]) not in self.pulses:
                self.pulses[int(pulse[1])] = payload

    def write(
        self, factory: sessionmaker[Session], folder: Path, homes: Sequence[tuple[str, Message]] = ()
    ) -> tuple[list[Path], list[str]]:
        """The activities as JSON files, with `homes` (file stem, home message) as home cards; returns the
        files and any message Teams would refuse."""
        folder.mkdir(parents=True, exist_ok=True)
        with factory() as session:
            names = {p.id: p.name for p in session.scalars(select(Person))}
        outputs: list[tuple[str, dict[str, Any]]] = []
        for kind, latest in (("digest", self.digests), ("hr-overview", self.overviews), ("trend", self.charts)):
            for person_id, payload in sorted(latest.items()):
                outputs.append((f"{kind}-{_slug(names.get(person_id, str(person_id)))}", payload))
        for number, (_, payload) in enumerate(sorted(self.pulses.items()), start=1):
            outputs.append((f"pulse-round-{number:02d}", payload))
        files: list[Path] = []
        problems: list[str] = []
        messages = [(stem, Message.from_json(payload["message"])) for stem, payload in outputs]
        for stem, message in [*messages, *homes]:
            try:
                activity = home_activity(message, DEMO_VIEWER) if stem.startswith("home-") else render(message)
            except MessageTooLarge as error:
                problems.append(f"teams/{stem}: {error}")
                continue
            path = folder / f"{stem}.json"
            path.write_text(json.dumps(activity, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            files.append(path)
        return files, problems


def _slug(name: str) -> str:
    return "-".join(name.lower().split())
