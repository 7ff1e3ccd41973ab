"""Weekly digests at scale: every manager's digest (and HR's overview) for one week, over a year of history.

    .venv/bin/python -m benchmarks.digest_scale                          # 1,000 then 10,000 people, SQLite
    .venv/bin/python -m benchmarks.digest_scale --database postgresql    # the same on PostgreSQL (/tmp/pgurl)
    .venv/bin/python -m benchmarks.digest_scale --people 10000 --weeks 52

What runs: an organisation of N people (teams of 8, a manager per team, managers of managers 8 to
one, so 4–5 levels at 10,000) and `--weeks` closed weekly rounds in which everybody answers 5
questions (N × weeks × 5 answer rows, written in bulk, as they look after close: no slots, no
participants). Then `bot.digest_jobs.queue_digests` runs for the last week exactly as the
`digest.weekly` job does: results for the week, per-round results for the 12 weeks of trends, every
manager's digest rendered and queued, and HR's overview. Printed: rows, seed time, digest time,
digests queued, and the time per digest. Only the last 12 weeks are read, so the figure should not
depend on how many older weeks there are (compare --weeks 13 with --weeks 52).
"""

from __future__ import annotations

import argparse
import random
import secrets
import time
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, insert, select

from benchmarks._support import print_table, temporary_database
from bot.core.database import make_engine, make_session_factory
from bot.core.models import OutboxMessage, Person, Role, RoleGrant, RoleSource, Team, Workspace
from bot.core.settings import load_settings
from bot.digest_jobs import queue_digests
from surveys.bank import QuestionBank
from surveys.models import PulseAnswer, PulseRound, PulseUnit

TEAM_SIZE = 8
FAN_OUT = 8
FIRST_ROUND = date(2025, 12, 1)  # a Monday


def seed(url: str, people: int, weeks: int) -> tuple[int, datetime]:
    """Returns (answer rows, the week end to digest)."""
    engine = make_engine(url)
    factory = make_session_factory(engine)
    rng = random.Random(7)
    bank = QuestionBank.builtin()
    questions = [q.id for q in bank.questions(["engagement", "cbi_work"])]
    with factory.begin() as session:
        workspace = Workspace(external_id="T0001", name="Bench")
        session.add(workspace)
        session.flush()
        # Managers level by level from the top, then individual contributors in teams of 8.
        managers_needed = max(1, people // (TEAM_SIZE + 1))
        levels: list[list[Person]] = []
        count = 0
        top = Person(workspace_id=workspace.id, name="Top", email="top@example.com", timezone="UTC")
        session.add(top)
        session.flush()
        levels.append([top])
        count = 1
        team = Team(workspace_id=workspace.id, name="Team 0")
        session.add(team)
        session.flush()
        top.team_id = team.id
        all_managers = [top]
        while len(all_managers) < managers_needed:
            level = []
            for parent in levels[-1]:
                for _ in range(FAN_OUT):
                    if len(all_managers) >= managers_needed:
                        break
                    team = Team(workspace_id=workspace.id, name=f"Team {len(all_managers)}")
                    session.add(team)
                    session.flush()
                    manager = Person(
                        workspace_id=workspace.id, name=f"Manager {len(all_managers)}", team_id=team.id,
                        manager_id=parent.id, email=f"m{len(all_managers)}@example.com", timezone="UTC",
                    )  # fmt: skip
                    session.add(manager)
                    level.append(manager)
                    all_managers.append(manager)
            session.flush()
            levels.append(level)
        count = len(all_managers)
        chains: dict[int, list[int]] = {top.id: [top.id]}
        for level in levels[1:]:
            for manager in level:
                chains[manager.id] = [*chains[manager.manager_id], manager.id]  # type: ignore[index]
        rows = []
        index = 0
        while count < people:
            manager = all_managers[index % len(all_managers)]
            rows.append({"workspace_id": workspace.id, "name": f"P{count}", "team_id": manager.team_id,
                         "manager_id": manager.id, "timezone": "UTC", "active": True})  # fmt: skip
            count += 1
            index += 1
        session.execute(insert(Person), rows)
        session.add(RoleGrant(workspace_id=workspace.id, person_id=top.id, role=Role.HR, source=RoleSource.CSV))
        # Units: (team, manager) with the manager's chain; the size is the number of direct reports.
        sizes: dict[int, int] = dict(
            session.execute(
                select(Person.manager_id, func.count())
                .where(Person.manager_id.is_not(None))
                .group_by(Person.manager_id)
            ).all()  # type: ignore[arg-type]
        )
        team_of = {m.id: m.team_id for m in all_managers}
    answers = 0
    for week in range(weeks):
        day = FIRST_ROUND + timedelta(weeks=week)
        opened = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=10)
        with factory.begin() as session:
            pulse = PulseRound(
                workspace_id=1, round_key=f"bench:{day}", round_date=day, status="closed", opens_at=opened,
                closes_at=opened + timedelta(days=3), closed_at=opened + timedelta(days=3),
            )  # fmt: skip
            session.add(pulse)
            session.flush()
            asked = rng.sample(questions, 5)
            unit_rows = [
                {
                    "round_id": pulse.id,
                    "team_id": team_of[m],
                    "manager_id": m,
                    "chain": chains[m],
                    "questions": asked,
                    "invited": n,
                    "responded": n,
                }
                for m, n in sizes.items()
            ]
            units = session.scalars(
                insert(PulseUnit).returning(PulseUnit.id, sort_by_parameter_order=True), unit_rows
            ).all()
            batch = []
            for unit_id, (_m, n) in zip(units, sizes.items(), strict=True):
                for _ in range(n):
                    for question in asked:
                        batch.append({"id": secrets.token_hex(16), "round_id": pulse.id, "unit_id": unit_id,
                                      "question_id": question, "value": rng.randint(1, 5)})  # fmt: skip
                if len(batch) >= 20_000:
                    session.execute(insert(PulseAnswer), batch)
                    answers += len(batch)
                    batch = []
            if batch:
                session.execute(insert(PulseAnswer), batch)
                answers += len(batch)
    engine.dispose()
    last_close = datetime.combine(FIRST_ROUND + timedelta(weeks=weeks - 1), datetime.min.time(), UTC) + timedelta(
        days=3, hours=10
    )
    week_end = last_close + timedelta(days=3, hours=23)  # the Monday 09:00 after the last round closed
    return answers, week_end


def run(kind: str, people: int, weeks: int) -> list[tuple[str, str]]:
    with temporary_database(kind) as url:
        started = time.perf_counter()
        answers, week_end = seed(url, people, weeks)
        seeded = time.perf_counter() - started
        engine = make_engine(url)
        factory = make_session_factory(engine)
        settings = load_settings(
            {"DATABASE_URL": url, "EMPATHY_SECRET_KEY": "x" * 43 + "=", "EMPATHY_ADMINS": "top@example.com"},
            require_slack=False,
        )
        started = time.perf_counter()
        with factory.begin() as session:
            queued = queue_digests(session, week_end, settings, week_end=week_end)
        elapsed = time.perf_counter() - started
        with factory() as session:
            managers = session.scalar(select(func.count(func.distinct(Person.manager_id)))) or 0
            rows = session.scalar(select(func.count()).select_from(OutboxMessage)) or 0
        engine.dispose()
    return [
        ("database / people / weeks", f"{kind} / {people:,} / {weeks}"),
        ("answer rows", f"{answers:,}"),
        ("seed time", f"{seeded:.1f} s"),
        ("managers", f"{managers:,}"),
        ("digests + overviews queued (outbox rows incl. charts)", f"{queued:,} ({rows:,})"),
        ("time to compute and queue every digest", f"{elapsed:.1f} s"),
        ("per digest", f"{elapsed / max(queued, 1) * 1000:.0f} ms"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--people", type=int, action="append", help="repeatable (default: 1,000 and 10,000)")
    parser.add_argument("--weeks", type=int, default=52)
    args = parser.parse_args()
    for people in args.people or [1000, 10_000]:
        print_table(f"Digest week at {people:,} people", run(args.database, people, args.weeks))


if __name__ == "__main__":
    main()
