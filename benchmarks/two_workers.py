"""Two workers on one PostgreSQL database: no job runs twice, no message is sent twice.

    .venv/bin/python -m benchmarks.two_workers                # 1,000 people; both phases
    .venv/bin/python -m benchmarks.two_workers --people 3000 --phase race

Both phases use a fresh PostgreSQL database (the server in EMPATHY_BENCH_PG_URL or /tmp/pgurl), the fake
Slack API in its own process, N seeded people, and a weekly pulse schedule for today whose send time
(00:00 local) has passed everywhere, so `pulse.open` opens it at once and every invitation is due.
Each worker is a child process (`--worker`) with the real jobs from `bot.jobs.build_jobs` (the outbox
dispatcher among them), their triggers shortened to every second (`pulse.open`, `pulse.remind`,
`pulse.close`, `digest.weekly`, `outbox.dispatch`), each run logged (process, job, start, end, outcome).

Phase `scheduler`: two workers each start the real `bot.delivery.scheduler.Scheduler`, as two `empathy-bot worker`s
(or `serve` + `worker`) would. Only the holder of the PostgreSQL advisory lock may run jobs. Once every
invitation is sent, the holder is SIGKILLed: PostgreSQL drops its lock with its session and the standby
(polling every second here, 15 s in production) takes over.

Phase `race`: the two workers run every job in a tight loop *without* the lock, as if it were broken.
Nothing may be opened, queued or sent twice even then: rounds are unique by key, outbox rows by
idempotency key, and dispatchers claim rows with `FOR UPDATE SKIP LOCKED` and a compare-and-set.

Figures printed: see benchmarks/README.md, section `two_workers`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from sqlalchemy import func, select, update

from benchmarks._support import (
    FakeSlackProcess,
    new_secret_key,
    print_table,
    seed_people,
    settings_env,
    slack_id,
    temporary_database,
)

FAST_JOBS = ("outbox.dispatch", "pulse.open", "pulse.remind", "pulse.close", "digest.weekly")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


# -- the worker process ---------------------------------------------------------------------------


def _logged(job: Any, log: Path, lock: threading.Lock) -> Any:
    def run(session: Any, clock: Any) -> Any:
        started = time.time()
        outcome = "ok"
        try:
            return job.func(session, clock)
        except Exception as error:
            outcome = f"{type(error).__name__}: {str(error).splitlines()[0][:120]}"
            raise
        finally:
            line = json.dumps(
                {"pid": os.getpid(), "job": job.name, "start": started, "end": time.time(), "outcome": outcome}
            )
            with lock, open(log, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")

    return run


def worker_main(args: argparse.Namespace) -> int:
    from apscheduler.triggers.interval import IntervalTrigger

    from bot.core.clock import SystemClock
    from bot.core.database import make_engine, make_session_factory
    from bot.core.settings import load_settings
    from bot.delivery.scheduler import Scheduler, run_job
    from bot.jobs import build_jobs
    from handlers.slack.platform import SlackPlatform

    env = settings_env(args.api_url, args.db_url, os.environ["EMPATHY_SECRET_KEY"])
    env["EMPATHY_OUTBOX_RATE_PER_MINUTE"] = str(args.rate)
    # Digests fall due today at 00:00 (everyone is in UTC), so digest.weekly has every manager's to queue.
    env["EMPATHY_DIGEST_DAY"] = WEEKDAYS[datetime.now(UTC).weekday()]
    env["EMPATHY_DIGEST_TIME"] = "00:00"
    settings = load_settings(env)
    engine = make_engine(args.db_url)
    factory = make_session_factory(engine)
    lock = threading.Lock()
    log = Path(args.log)
    jobs = [
        dataclasses.replace(
            job, func=_logged(job, log, lock), trigger=IntervalTrigger(seconds=1, timezone="UTC"), misfire_grace_time=5
        )
        for job in build_jobs(settings, factory, [SlackPlatform(settings, factory)])
        if job.name in FAST_JOBS
    ]
    # APScheduler says so each time a 1-second job is still running when it is due again: expected here.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    clock = SystemClock()
    if args.mode == "scheduler":
        scheduler = Scheduler(jobs, factory, engine, clock, standby_poll_seconds=1.0)
        print("holder" if scheduler.start() else "standby", flush=True)
        stop.wait(args.seconds)
        scheduler.shutdown()
        return 0

    print("racing", flush=True)

    def loop(job: Any) -> None:
        while not stop.is_set():
            # A lost race (IntegrityError) is logged by _logged; the next run finds the winner's work.
            with contextlib.suppress(Exception):
                run_job(job, factory, clock)
            stop.wait(0.05)

    threads = [threading.Thread(target=loop, args=(job,), name=job.name) for job in jobs]
    for thread in threads:
        thread.start()
    stop.wait(args.seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    return 0


# -- the parent -----------------------------------------------------------------------------------


def _seed(session_factory: Any, people: int) -> None:
    """People, and a weekly schedule for today that has begun everywhere (send time 00:00 local)."""
    from bot.core.models import Workspace
    from surveys.models import PulseSchedule

    seed_people(session_factory, people)
    today = datetime.now(UTC).date()
    with session_factory.begin() as session:
        workspace = session.scalar(select(Workspace))
        assert workspace is not None
        session.add(
            PulseSchedule(
                workspace_id=workspace.id,
                team_id=None,
                cadence="weekly",
                weekday=today.weekday(),
                send_time="00:00",
                questions_per_round=5,
                open_days=3,
                reminder_after_hours=24,
                packs=[],
                anchor_date=today,
            )
        )


def _start(mode: str, args: argparse.Namespace, db_url: str, api_url: str, key: str, log: Path) -> Any:
    command = [
        sys.executable,
        "-m",
        "benchmarks.two_workers",
        "--worker",
        *("--mode", mode, "--db-url", db_url, "--api-url", api_url, "--log", str(log)),
        *("--seconds", str(args.seconds), "--rate", str(args.rate)),
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, env={**os.environ, "EMPATHY_SECRET_KEY": key}
    )
    assert process.stdout is not None
    process.role = process.stdout.readline().strip()  # type: ignore[attr-defined]
    return process


def _invites_left(session_factory: Any) -> int:
    from bot.core.models import OutboxMessage, OutboxState
    from surveys.models import PulseRound

    with session_factory() as session:
        if not session.scalar(select(func.count()).select_from(PulseRound)):
            return -1
        return int(
            session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    OutboxMessage.idempotency_key.like("pulse:%"),
                    OutboxMessage.state.in_([OutboxState.PENDING.value, OutboxState.SENDING.value]),
                )
            )
            or 0
        )


def _overlaps(runs: list[dict[str, Any]]) -> int:
    """Runs of one job, by different processes, that were under way at the same time."""
    count = 0
    by_job: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        by_job.setdefault(run["job"], []).append(run)
    for job_runs in by_job.values():
        job_runs.sort(key=lambda r: r["start"])
        for i, run in enumerate(job_runs):
            for later in job_runs[i + 1 :]:
                if later["start"] >= run["end"]:
                    break
                if later["pid"] != run["pid"]:
                    count += 1
    return count


def run_phase(mode: str, args: argparse.Namespace) -> bool:
    from bot.core.database import make_engine, make_session_factory
    from bot.core.models import OutboxMessage, Person
    from surveys.models import PulseRound

    print(f"\n-- two workers, phase {mode}: {args.people:,} people, postgresql", flush=True)
    key = new_secret_key()
    rows: list[tuple[str, str]] = []
    with (
        temporary_database("postgresql") as db_url,
        FakeSlackProcess() as fake,
        TemporaryDirectory(prefix="two-workers-") as tmp,
    ):
        log = Path(tmp) / "runs.jsonl"
        engine = make_engine(db_url)
        workers: list[Any] = []
        try:
            factory = make_session_factory(engine)
            _seed(factory, args.people)
            fake.add_users([slack_id(i) for i in range(args.people)])
            with factory.begin() as session:  # everyone in UTC, so digests fall due at the same moment
                session.execute(update(Person).values(timezone="UTC"))
            started = time.time()
            workers = [_start(mode, args, db_url, fake.url, key, log) for _ in range(2)]
            deadline = time.monotonic() + args.seconds
            while time.monotonic() < deadline and _invites_left(factory) != 0:
                time.sleep(0.5)
            fan_out_seconds = time.time() - started
            killed_at = None
            if mode == "scheduler":
                holder = next((w for w in workers if w.role == "holder"), None)
                if holder is not None:
                    holder.send_signal(signal.SIGKILL)
                    holder.wait(timeout=30)
                    killed_at = time.time()
                    rows.append(("killed", f"the lock holder (pid {holder.pid}) with SIGKILL once all DMs were sent"))
            time.sleep(args.linger)
            for worker in workers:
                if worker.poll() is None:
                    worker.send_signal(signal.SIGTERM)
            for worker in workers:
                worker.wait(timeout=180)
            with factory() as session:
                rounds = session.scalar(select(func.count()).select_from(PulseRound))
                states = dict(
                    session.execute(
                        select(OutboxMessage.state, func.count())
                        .where(OutboxMessage.idempotency_key.like("pulse:%"))
                        .group_by(OutboxMessage.state)
                    ).all()
                )
                digest_rows = dict(
                    session.execute(
                        select(OutboxMessage.state, func.count())
                        .where(OutboxMessage.idempotency_key.like("digest:%"))
                        .group_by(OutboxMessage.state)
                    ).all()
                )
            counts = fake.dm_counts([slack_id(i) for i in range(args.people)])
            posts = fake.posts_per_outbox_id()
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
            engine.dispose()
        runs = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]

    pids = sorted({w.pid for w in workers})
    per_pid = {pid: Counter(r["job"] for r in runs if r["pid"] == pid) for pid in pids}
    outcomes = Counter(r["outcome"] if r["outcome"] == "ok" else f"{r['job']} {r['outcome']}" for r in runs)
    overlaps = _overlaps(runs)
    sent_twice = sum(1 for n in posts.values() if n > 1)
    duplicates = sum(max(0, n - 1) for n in counts.values())
    lost = sum(1 for n in counts.values() if n == 0)
    rows = [
        ("database", "postgresql (one database, two processes)"),
        ("people", f"{args.people:,}"),
        ("workers", ", ".join(f"pid {w.pid}: {w.role}" for w in workers)),
        *rows,
        ("invitations all sent after", f"{fan_out_seconds:.1f} s"),
    ]
    for pid in pids:
        rows.append(
            (f"job runs by pid {pid}", ", ".join(f"{job} {n}" for job, n in sorted(per_pid[pid].items())) or "none")
        )
    if mode == "scheduler" and killed_at is not None:
        standby = [w for w in workers if w.role != "holder"]
        standby_runs = [r for r in runs if standby and r["pid"] == standby[0].pid]
        before_kill = sum(1 for r in standby_runs if r["start"] < killed_at)
        after_kill = [r["start"] for r in standby_runs if r["start"] >= killed_at]
        rows.append(("standby runs before the kill", f"{before_kill} (must be 0: the lock holder alone runs jobs)"))
        rows.append(
            (
                "standby took over",
                f"{min(after_kill) - killed_at:.1f} s after the kill ({len(after_kill)} runs since)"
                if after_kill
                else "NOT within the linger time",
            )
        )
    rows += [
        ("job outcomes", "; ".join(f"{k} x{n}" for k, n in sorted(outcomes.items()))),
        ("same job running in both at once", f"{overlaps}" + (" (must be 0)" if mode == "scheduler" else "")),
        ("pulse rounds opened", f"{rounds} (must be 1)"),
        ("invitation rows", ", ".join(f"{s} {n:,}" for s, n in sorted(states.items()))),
        ("digest rows", ", ".join(f"{s} {n:,}" for s, n in sorted(digest_rows.items())) or "none"),
        ("messages posted", f"{sum(posts.values()):,} for {len(posts):,} outbox rows"),
        ("messages sent twice", f"{sent_twice} (outbox rows posted more than once; must be 0)"),
        ("duplicate invitations", f"{duplicates} (must be 0)"),
        ("lost invitations", f"{lost} (must be 0)"),
    ]
    print_table(f"two workers, phase {mode} ({args.people:,} people)", rows)
    ok = sent_twice == 0 and duplicates == 0 and lost == 0 and rounds == 1
    if mode == "scheduler":
        ok = (
            ok
            and overlaps == 0
            and all(r.startswith("holder") or r.startswith("standby") for r in [w.role for w in workers])
        )
        ok = ok and sum(1 for w in workers if w.role == "holder") == 1
    print(f"  RESULT: {'OK' if ok else 'FAILED'}", flush=True)
    return ok


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.two_workers", description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=1_000, help="people in the scheduled pulse (default 1,000)")
    parser.add_argument("--phase", choices=("scheduler", "race", "both"), default="both")
    parser.add_argument("--rate", type=int, default=60_000, help="EMPATHY_OUTBOX_RATE_PER_MINUTE (default 60,000)")
    parser.add_argument("--seconds", type=float, default=300.0, help="give up on the fan-out after this")
    parser.add_argument("--linger", type=float, default=6.0, help="seconds the workers go on after the fan-out")
    # The child process's own arguments.
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("scheduler", "race"), help=argparse.SUPPRESS)
    parser.add_argument("--db-url", help=argparse.SUPPRESS)
    parser.add_argument("--api-url", help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker_main(args)
    phases = ("scheduler", "race") if args.phase == "both" else (args.phase,)
    results = [run_phase(phase, args) for phase in phases]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
