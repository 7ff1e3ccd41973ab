"""Weekly digests at scale: every manager's digest (and HR's overview) for one week, over a year of history.

    .venv/bin/python -m benchmarks.digest_scale                          # 1,000 then 10,000 people, SQLite
    .venv/bin/python -m benchmarks.digest_scale --database postgresql    # the same on PostgreSQL (/tmp/pgurl)
    .venv/bin/python -m benchmarks.digest_scale --people 1000 --weeks 13 --before none   # quick, no "before"

What runs: an organisation of N people (teams of 8, a manager per team, managers of managers 8 to
one, so 4–5 levels at 10,000) and `--weeks` closed weekly rounds in which everybody answers 5
questions (N × weeks × 5 answer rows, written in bulk, as they look after close: no slots, no
participants, and each round's `pulse_value_count` rows, as `close_round` writes them). Then, each in
its own process and alternated `--repeats` times (`benchmarks/_digest_child.py`):

- floor: the one query a week's digests need at the least (per round, unit and question, the count
  of each answer value over the 12 weeks of history, every row fetched into Python);
- before: `bot.digest_jobs.queue_digests` as the `--before` commit has it (its `bot/` and `surveys/`,
  extracted with `git archive`), for the last week, exactly as the `digest.weekly` job runs it;
- after: the same with this checkout's code.

Each digest pass is rolled back after its queued rows are read, so all passes see the same database;
"before" and "after" must queue the same rows byte for byte (keys, recipients, states, due times,
payloads), or the run ends with `RESULT: FAILED`. Only the last 12 weeks are read, so the figures
should not depend on how many older weeks there are (compare --weeks 13 with --weeks 52).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text

from benchmarks._support import print_table, temporary_database
from bot.core.database import make_engine, make_session_factory
from bot.core.models import Person, Role, RoleGrant, RoleSource, Team, Workspace
from surveys.bank import QuestionBank
from surveys.models import PulseAnswer, PulseRound, PulseUnit

ROOT = Path(__file__).resolve().parent.parent
CHILD = ROOT / "benchmarks" / "_digest_child.py"
# The last commit before per-round value counts (#18): the "before" path.
BEFORE = "9f63d4d"

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
            # What close_round writes with the answers (an older checkout's code simply ignores the table).
            session.execute(
                text(
                    "INSERT INTO pulse_value_count (round_id, unit_id, question_id, value, answers) "
                    "SELECT round_id, unit_id, question_id, value, count(*) FROM pulse_answer "
                    "WHERE round_id = :round AND value IS NOT NULL GROUP BY round_id, unit_id, question_id, value"
                ),
                {"round": pulse.id},
            )
    engine.dispose()
    last_close = datetime.combine(FIRST_ROUND + timedelta(weeks=weeks - 1), datetime.min.time(), UTC) + timedelta(
        days=3, hours=10
    )
    week_end = last_close + timedelta(days=3, hours=23)  # the Monday 09:00 after the last round closed
    return answers, week_end


def extract(commit: str, into: str) -> str:
    """The commit's `bot/` and `surveys/` under `into`, for the "before" passes."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "bot", "surveys"], check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", into], input=archive.stdout, check=True)
    return into


def child(code: str, mode: str, url: str, week_end: datetime) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        env = {**os.environ, "PYTHONPATH": code}
        subprocess.run([sys.executable, str(CHILD), mode, url, week_end.isoformat(), out.name], check=True, env=env)
        return json.loads(Path(out.name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def spread(values: list[float], unit: str = "s", digits: int = 2) -> str:
    shown = ", ".join(f"{v:.{digits}f}" for v in values)
    return f"{statistics.median(values):.{digits}f} {unit} (runs: {shown})"


def run(kind: str, people: int, weeks: int, before: str | None, repeats: int) -> tuple[list[tuple[str, str]], bool]:
    load = os.getloadavg()[0]
    with temporary_database(kind) as url, tempfile.TemporaryDirectory(prefix="digest-before-") as old_tree:
        started = time.perf_counter()
        answers, week_end = seed(url, people, weeks)
        seeded = time.perf_counter() - started
        engine = make_engine(url)
        with make_session_factory(engine)() as session:
            managers = session.scalar(select(func.count(func.distinct(Person.manager_id)))) or 0
        engine.dispose()
        old_code = extract(before, old_tree) if before else None
        floor: list[float] = []
        times: dict[str, list[float]] = {"before": [], "after": []}
        cpu: dict[str, list[float]] = {"floor": [], "before": [], "after": []}
        passes: dict[str, dict[str, Any]] = {}
        for _ in range(repeats):
            found = child(str(ROOT), "floor", url, week_end)
            floor.append(found["seconds"])
            cpu["floor"].append(found["cpu"])
            floor_rows = found["rows"]
            for name, code in (("before", old_code), ("after", str(ROOT))):
                if code is None:
                    continue
                found = child(code, "digests", url, week_end)
                times[name].append(found["seconds"])
                cpu[name].append(found["cpu"])
                passes[name] = found
    after = passes["after"]
    rows = [
        ("database / people / weeks", f"{kind} / {people:,} / {weeks}"),
        ("load average at the start / end", f"{load:.1f} / {os.getloadavg()[0]:.1f}"),
        ("answer rows", f"{answers:,}"),
        ("seed time", f"{seeded:.1f} s"),
        ("managers", f"{managers:,}"),
        ("digests + overviews queued (outbox rows incl. charts)", f"{after['queued']:,} ({len(after['rows']):,})"),
        (f"floor: the week's value counts, {floor_rows:,} rows to Python", spread(floor)),
        ("after: compute and queue every digest", spread(times["after"])),
        ("after ÷ floor (medians)", f"{statistics.median(times['after']) / statistics.median(floor):.1f}×"),
        # CPU of the benchmark's process alone: on a machine shared with other work, wall time also
        # counts the wait for a core; the floor's CPU leaves out the server's GROUP BY.
        ("CPU: floor / after (this process only)", f"{spread(cpu['floor'])} / {spread(cpu['after'])}"),
        ("after: SQL statements", f"{after['statements']:,}"),
        ("after: per digest", f"{statistics.median(times['after']) / max(after['queued'], 1) * 1000:.1f} ms"),
    ]
    same = True
    if "before" in passes:
        old = passes["before"]
        same = old["rows"] == after["rows"] and old["queued"] == after["queued"]
        differing = sum(a != b for a, b in zip(old["rows"], after["rows"], strict=False)) + abs(
            len(old["rows"]) - len(after["rows"])
        )
        rows += [
            (f"before ({before}): compute and queue every digest", spread(times["before"])),
            ("before ÷ floor (medians)", f"{statistics.median(times['before']) / statistics.median(floor):.1f}×"),
            (
                "before ÷ after (medians)",
                f"{statistics.median(times['before']) / statistics.median(times['after']):.1f}×",
            ),
            ("before: SQL statements", f"{old['statements']:,}"),
            ("CPU: before (this process only)", spread(cpu["before"])),
            ("queued rows identical to before", "yes" if same else f"NO: {differing} of {len(old['rows'])} differ"),
        ]
    return rows, same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database", choices=("sqlite", "postgresql"), action="append", help="repeatable (default: sqlite)"
    )
    parser.add_argument("--people", type=int, action="append", help="repeatable (default: 1,000 and 10,000)")
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--repeats", type=int, default=2, help="alternated floor / before / after passes (default 2)")
    parser.add_argument("--before", default=BEFORE, help=f"the commit to compare with, or 'none' (default {BEFORE})")
    args = parser.parse_args()
    before = None if args.before == "none" else args.before
    medians: dict[tuple[str, int], float] = {}
    failed = False
    for kind in args.database or ["sqlite"]:
        for people in args.people or [1000, 10_000]:
            rows, same = run(kind, people, args.weeks, before, args.repeats)
            failed |= not same
            medians[kind, people] = float(next(v for k, v in rows if k.startswith("after: compute")).split()[0])
            print_table(f"Digest week at {people:,} people", rows)
    for kind in args.database or ["sqlite"]:
        sizes = sorted(p for k, p in medians if k == kind)
        if len(sizes) >= 2:
            small, large = sizes[0], sizes[-1]
            ratio = medians[kind, large] / medians[kind, small]
            print(f"{kind}: {small:,} → {large:,} people takes {ratio:.1f}× as long ({large / small:.0f}× the people)")
    if failed:
        print("RESULT: FAILED (the digests differ from the --before commit's)")
        sys.exit(1)


if __name__ == "__main__":
    main()
