"""Crash recovery: SIGKILL the outbox worker at random moments during a pulse fan-out, restart it, repeat.

    .venv/bin/python -m benchmarks.crash_recovery                         # 2,000 people, 5 kills, SQLite
    .venv/bin/python -m benchmarks.crash_recovery --database postgresql

The parent seeds N people, opens one round (`open_pulse_now`: one outbox row per person), and starts a
worker: a child process (`--worker`) running the real `bot.delivery.outbox.OutboxDispatcher` in a loop until
no row is pending or sending. After a random delay it SIGKILLs the worker, notes what the kill left
behind (rows in `sending`; whether that person's DM had already reached Slack), and starts a new worker;
`--kills` times, then the last worker runs to the end.

The fake Slack API (own process) waits `--post-latency-ms` before handling each chat.postMessage, so
most kills land while a post is in flight: the fake still carries it out after the worker died, exactly
the case where the bot cannot know whether Slack got the message. A row left `sending` is recovered
after the dispatcher's lease (`--lease`, 3 s here instead of the production 2 minutes so the run takes
minutes, not a quarter of an hour): the dispatcher reads the DM's recent history and marks the row sent if
a message carrying its outbox id is there, or sends it again if not.

Figures printed: see benchmarks/README.md, section `crash_recovery`.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from benchmarks._support import (
    FakeSlackProcess,
    Stopwatch,
    new_secret_key,
    print_table,
    settings_env,
    slack_id,
    temporary_database,
)
from benchmarks.pulse_fanout import _seed_and_open


def worker_main(args: argparse.Namespace) -> int:
    """The child: dispatch until nothing is left to send (SIGKILL may end it sooner)."""
    from bot.core.clock import SystemClock
    from bot.core.database import make_engine, make_session_factory
    from bot.core.models import OutboxMessage, OutboxState
    from bot.core.settings import load_settings
    from bot.delivery.outbox import OutboxDispatcher
    from handlers.slack.client import build_web_client
    from handlers.slack.sender import SlackSender

    settings = load_settings(settings_env(args.api_url, args.db_url, args.secret_key))
    engine = make_engine(args.db_url)
    session_factory = make_session_factory(engine)
    dispatcher = OutboxDispatcher(
        session_factory,
        SlackSender(build_web_client(settings, for_outbox=True), rate_per_minute=args.rate, burst=5, headroom=True),
        SystemClock(),
        lease=timedelta(seconds=args.lease),
        worker_id=f"crash-bench-{os.getpid()}",
        concurrency=args.concurrency,
    )
    print("ready", flush=True)
    while True:
        # A short budget so stale rows are looked at (recover_stale) every second.
        report = dispatcher.run_once(time_budget=1.0)
        if report.attempted or report.recovered:
            continue
        with session_factory() as session:
            left = session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.state.in_([OutboxState.PENDING.value, OutboxState.SENDING.value]))
            )
        if not left:
            return 0
        time.sleep(0.2)


def _start_worker(args: argparse.Namespace, db_url: str, api_url: str, secret_key: str) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.crash_recovery",
        "--worker",
        *("--db-url", db_url, "--api-url", api_url, "--secret-key", secret_key),
        *("--rate", str(args.rate), "--lease", str(args.lease), "--concurrency", str(args.concurrency)),
    ]
    worker = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert worker.stdout is not None
    line = worker.stdout.readline()  # imports take a second or two; time the kill from "ready"
    if line.strip() != "ready":
        worker.kill()
        raise RuntimeError(f"worker did not start (said {line!r}, exit {worker.poll()})")
    return worker


def run(args: argparse.Namespace) -> int:
    from bot.core.database import make_engine, make_session_factory
    from bot.core.models import OutboxMessage, OutboxState, PersonAccount

    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    rng = random.Random(seed)
    people = args.people
    print(
        f"\n-- crash recovery: {people:,} people, {args.kills} SIGKILLs (seed {seed}), lease {args.lease:g} s, "
        f"chat.postMessage answered after {args.post_latency_ms:g} ms, {args.database}",
        flush=True,
    )
    secret_key = new_secret_key()
    kills: list[dict[str, object]] = []
    stranded: set[int] = set()
    with (
        temporary_database(args.database) as db_url,
        FakeSlackProcess(latency=args.post_latency_ms / 1000, latency_methods=("chat.postMessage",)) as fake,
    ):
        engine = make_engine(db_url)
        try:
            session_factory = make_session_factory(engine)
            _seed_and_open(session_factory, fake, secret_key, people)
            watch = Stopwatch()
            for _ in range(args.kills):
                worker = _start_worker(args, db_url, fake.url, secret_key)
                delay = rng.uniform(args.min_delay, args.max_delay)
                time.sleep(delay)
                if worker.poll() is not None:
                    kills.append({"after": delay, "note": "worker had already finished"})
                    continue
                worker.send_signal(signal.SIGKILL)
                worker.wait(timeout=30)
                # Let a call the worker had in flight land in the fake (its latency) before looking.
                time.sleep(args.post_latency_ms / 1000 + 0.3)
                with session_factory() as session:
                    sent = session.scalar(
                        select(func.count())
                        .select_from(OutboxMessage)
                        .where(OutboxMessage.state == OutboxState.SENT.value)
                    )
                    sending = session.execute(
                        select(OutboxMessage.id, PersonAccount.external_user_id)
                        .join(PersonAccount, PersonAccount.person_id == OutboxMessage.person_id)
                        .where(OutboxMessage.state == OutboxState.SENDING.value)
                    ).all()
                # Only rows this kill left: one from an earlier kill may still wait for its lease.
                new = [(row_id, uid) for row_id, uid in sending if row_id not in stranded]
                stranded.update(row_id for row_id, _ in new)
                in_slack = fake.dm_counts([uid for _, uid in new])
                kills.append(
                    {
                        "after": delay,
                        "sent": sent,
                        "sending": len(new),
                        "already_in_slack": sum(1 for n in in_slack.values() if n),
                    }
                )
            worker = _start_worker(args, db_url, fake.url, secret_key)
            code = worker.wait(timeout=args.timeout)
            seconds = watch.seconds
            with session_factory() as session:
                states = dict(
                    session.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all()
                )
            counts = fake.dm_counts([slack_id(i) for i in range(people)])
            posts = fake.count("chat.postMessage")
            history_reads = fake.count("conversations.history")
        finally:
            engine.dispose()

    duplicates = sum(max(0, n - 1) for n in counts.values())
    lost = sum(1 for n in counts.values() if n == 0)
    rows = [
        ("database", args.database),
        ("people", f"{people:,}"),
        ("total time", f"{seconds:.1f} s (last worker exit code {code}) at {datetime.now(UTC):%H:%M} UTC"),
    ]
    for n, kill in enumerate(kills, 1):
        if "note" in kill:
            rows.append((f"kill {n}", f"after {kill['after']:.1f} s: {kill['note']}"))
            continue
        rows.append(
            (
                f"kill {n}",
                f"after {kill['after']:.1f} s: {kill['sent']:,} rows sent so far, {kill['sending']} left 'sending' "
                f"({kill['already_in_slack']} of them already posted in Slack)",
            )
        )
    left_sending = sum(int(k.get("sending", 0)) for k in kills)  # type: ignore[call-overload]
    posted_before_kill = sum(int(k.get("already_in_slack", 0)) for k in kills)  # type: ignore[call-overload]
    rows += [
        (
            "rows left 'sending' by kills",
            f"{left_sending} ({posted_before_kill} already in Slack: must be recovered from history, not re-sent)",
        ),
        ("conversations.history reads", f"{history_reads} (one per recovered row whose DM channel was stored)"),
        ("chat.postMessage calls", f"{posts:,}"),
        ("outbox rows", ", ".join(f"{state} {n:,}" for state, n in sorted(states.items()))),
        ("duplicates", f"{duplicates} (DM posts beyond one per person; must be 0)"),
        ("lost", f"{lost} (people without a DM; must be 0)"),
    ]
    print_table(f"crash recovery: {people:,} people, {args.kills} kills ({args.database})", rows)
    ok = duplicates == 0 and lost == 0 and code == 0
    print(f"  RESULT: {'OK' if ok else 'FAILED'}", flush=True)
    return 0 if ok else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.crash_recovery", description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=2_000, help="people to invite (default 2,000)")
    parser.add_argument("--kills", type=int, default=5, help="SIGKILLs before the last worker runs to the end")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rate", type=int, default=60_000, help="dispatcher rate_per_minute (default 60,000)")
    parser.add_argument("--lease", type=float, default=3.0, help="seconds before a 'sending' row is recovered")
    parser.add_argument("--concurrency", type=int, default=16, help="messages in flight per worker (16)")
    parser.add_argument(
        "--post-latency-ms",
        type=float,
        default=100.0,
        help="delay before the fake handles each chat.postMessage (default 100)",
    )
    parser.add_argument("--min-delay", type=float, default=1.0, help="shortest run before a kill, seconds")
    parser.add_argument("--max-delay", type=float, default=8.0, help="longest run before a kill, seconds")
    parser.add_argument("--seed", type=int, default=None, help="seed for the kill moments (default: random)")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up on the last worker after this")
    # The child process's own arguments.
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db-url", help=argparse.SUPPRESS)
    parser.add_argument("--api-url", help=argparse.SUPPRESS)
    parser.add_argument("--secret-key", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker_main(args)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
