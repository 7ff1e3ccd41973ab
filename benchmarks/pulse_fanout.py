"""Pulse fan-out: open one ad-hoc round for N people and deliver every DM through the real outbox.

    .venv/bin/python -m benchmarks.pulse_fanout                       # 1,000 @ 6,000/min, then 10,000 @ 60,000/min
    .venv/bin/python -m benchmarks.pulse_fanout --people 10000 --rate 600   # Slack-like limit: ~17 minutes
    .venv/bin/python -m benchmarks.pulse_fanout --database postgresql

What runs: people are seeded in the database and as users of the fake Slack API (its own process);
`surveys.jobs.open_pulse_now` opens the round and queues one outbox row per person; then the
real `OutboxDispatcher` (rate_per_minute = the limit, small burst) delivers them against the fake,
whose chat.postMessage and conversations.open are each throttled to `--rate` a minute (token
bucket, 429 + Retry-After when empty). Every person's DM is opened once (conversations.open) and
stored, so a fan-out makes `people` calls to each of the two methods.

Figures printed: see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from benchmarks._support import (
    FakeSlackProcess,
    Stopwatch,
    mib,
    new_secret_key,
    print_table,
    seed_people,
    settings_env,
    slack_id,
    temporary_database,
)

DEFAULT_SUITE = ((1_000, 6_000), (10_000, 60_000))
DEFAULT_PEOPLE = 10_000
DEFAULT_RATE = 600
RATE_LIMITED = ("chat.postMessage", "conversations.open")


@dataclass
class Totals:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    recovered: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, report: object) -> None:
        with self.lock:
            self.sent += report.sent  # type: ignore[attr-defined]
            self.retried += report.retried  # type: ignore[attr-defined]
            self.failed += report.failed  # type: ignore[attr-defined]
            self.recovered += report.recovered  # type: ignore[attr-defined]
            self.errors.extend(report.errors[:5])  # type: ignore[attr-defined]


def _outstanding(session_factory: sessionmaker[Session]) -> tuple[int, datetime | None]:
    """Rows not yet settled, and when the earliest pending one is due."""
    from bot.core.models import OutboxMessage, OutboxState

    with session_factory() as session:
        left = session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.state.in_([OutboxState.PENDING.value, OutboxState.SENDING.value]))
        )
        next_due = session.scalar(
            select(func.min(OutboxMessage.due_at)).where(OutboxMessage.state == OutboxState.PENDING.value)
        )
    return int(left or 0), next_due


def _dispatch_loop(dispatcher: object, session_factory: sessionmaker[Session], totals: Totals, deadline: float) -> None:
    # Bounded by the deadline; each run_once is bounded by its time budget.
    while time.monotonic() < deadline:
        budget = max(0.5, min(30.0, deadline - time.monotonic()))
        report = dispatcher.run_once(time_budget=budget)  # type: ignore[attr-defined]
        totals.add(report)
        if report.attempted:
            continue
        left, next_due = _outstanding(session_factory)
        if left == 0:
            return
        # Rows put back after a 429 are due after Retry-After; wait for the earliest (at most 1 s a go).
        wait = (next_due - datetime.now(UTC)).total_seconds() if next_due else 0.05
        time.sleep(min(1.0, max(0.02, wait)))


def _seed_and_open(
    session_factory: sessionmaker[Session],
    fake: FakeSlackProcess,
    secret_key: str,
    people: int,
    before_open: Callable[[], None] | None = None,
) -> tuple[float, float, int]:
    """Seed `people` and open a round for all of them: (seed seconds, open seconds, invited)."""
    from bot.core.crypto import SecretBox
    from bot.core.models import Workspace
    from surveys.bank import QuestionBank
    from surveys.jobs import open_pulse_now

    watch = Stopwatch()
    ids = seed_people(session_factory, people)
    fake.add_users(ids)
    seed_seconds = watch.seconds
    if before_open is not None:
        before_open()
    bank = QuestionBank.builtin()
    box = SecretBox(secret_key)
    watch = Stopwatch()
    with session_factory.begin() as session:
        workspace = session.scalar(select(Workspace))
        assert workspace is not None
        opened = open_pulse_now(session, workspace, bank, box, now=datetime.now(UTC), team_id=None)
        invited = len(opened.invitations)
    return seed_seconds, watch.seconds, invited


def _dispatch(
    session_factory: sessionmaker[Session],
    settings: object,
    *,
    rate: float,
    burst: int,
    workers: int,
    timeout: float,
    concurrency: int = 1,
) -> tuple[float, Totals]:
    """Run `workers` real dispatchers (sharing `rate`) until every row is settled or `timeout`."""
    from bot.core.clock import SystemClock
    from bot.delivery.outbox import OutboxDispatcher
    from handlers.slack.client import build_web_client
    from handlers.slack.sender import SlackSender

    clock = SystemClock()
    totals = Totals()
    dispatchers = [
        OutboxDispatcher(
            session_factory,
            SlackSender(
                build_web_client(settings, for_outbox=True),  # type: ignore[arg-type]
                rate_per_minute=rate / workers,
                burst=max(1, burst // workers),
                headroom=True,  # as handlers.slack.platform builds the outbox's sender
            ),
            clock,
            worker_id=f"bench-{n}",
            concurrency=concurrency,
        )
        for n in range(workers)
    ]
    watch = Stopwatch()
    deadline = time.monotonic() + timeout
    threads = [
        threading.Thread(target=_dispatch_loop, args=(d, session_factory, totals, deadline), name=f"dispatch-{n}")
        for n, d in enumerate(dispatchers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout + 60)
    return watch.seconds, totals


def run_one(args: argparse.Namespace) -> int:
    from bot.core.database import make_engine, make_session_factory
    from bot.core.models import OutboxMessage
    from bot.core.settings import load_settings

    people, rate, burst, workers = args.people, args.rate, args.burst, args.dispatchers
    dispatch_rate = args.dispatcher_rate or rate
    ideal = people / rate * 60.0
    timeout = args.timeout or max(300.0, 20 * ideal)
    print(
        f"\n-- pulse fan-out: {people:,} people, {rate:,}/min, burst {burst}, {workers} dispatcher(s), "
        f"{args.database}; ideal {ideal:.1f} s, gives up after {timeout:.0f} s",
        flush=True,
    )
    secret_key = new_secret_key()
    with (
        temporary_database(args.database) as db_url,
        FakeSlackProcess(latency=args.slack_latency_ms / 1000) as fake,
    ):
        engine = make_engine(db_url)
        try:
            session_factory = make_session_factory(engine)
            settings = load_settings(settings_env(fake.url, db_url, secret_key))
            for method in RATE_LIMITED:
                fake.set_rate_limit(method, rate, burst=burst)
            seed_seconds, open_seconds, invited = _seed_and_open(session_factory, fake, secret_key, people)
            fan_out_seconds, totals = _dispatch(
                session_factory,
                settings,
                rate=dispatch_rate,
                burst=burst,
                workers=workers,
                timeout=timeout,
                concurrency=args.concurrency,
            )
            maxrss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            with session_factory() as session:
                states = dict(
                    session.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all()
                )
            ids = [slack_id(i) for i in range(people)]
            counts = fake.dm_counts(ids)
            duplicates = sum(max(0, n - 1) for n in counts.values())
            lost = sum(1 for n in counts.values() if n == 0)
            delivered = len(counts) - lost
            stats = fake.call_stats()["by_method"]
        finally:
            engine.dispose()

    def calls(method: str, status: int | None = None) -> int:
        by_status = stats.get(method, {})
        return sum(by_status.values()) if status is None else by_status.get(status, 0)

    unsettled = states.get("pending", 0) + states.get("sending", 0)
    rows = [
        ("database", args.database),
        ("people", f"{people:,} (invited {invited:,})"),
        ("rate limit", f"{rate:,}/min on chat.postMessage and on conversations.open (burst {burst})"),
        ("dispatchers", f"{workers}, rate_per_minute {dispatch_rate / workers:,.0f} each"),
        ("fake Slack latency", f"{args.slack_latency_ms:g} ms added per call"),
        ("seed people (DB + fake)", f"{seed_seconds:.2f} s"),
        ("open round (DB work)", f"{open_seconds:.2f} s  (open_pulse_now: round, units, participants, outbox rows)"),
        (
            "fan-out total",
            f"{fan_out_seconds:.2f} s" + (f"  GAVE UP with {unsettled:,} rows unsent" if unsettled else ""),
        ),
        ("ideal people/rate", f"{ideal:.2f} s"),
        ("ratio to ideal", f"{fan_out_seconds / ideal:.2f}x"),
        ("throughput", f"{delivered / fan_out_seconds:,.1f} DMs/s ({delivered / fan_out_seconds * 60:,.0f}/min)"),
        ("outbox rows", ", ".join(f"{state} {n:,}" for state, n in sorted(states.items()))),
        ("duplicates", f"{duplicates} (DM posts beyond one per person; must be 0)"),
        ("lost", f"{lost} (people without a DM; must be 0)"),
        (
            "429s seen",
            f"{sum(calls(m, 429) for m in RATE_LIMITED)} (chat.postMessage {calls('chat.postMessage', 429)}, "
            f"conversations.open {calls('conversations.open', 429)}); dispatcher retries {totals.retried}",
        ),
        (
            "Slack calls",
            f"chat.postMessage {calls('chat.postMessage'):,}, conversations.open {calls('conversations.open'):,}",
        ),
        ("maxrss (this process)", f"{mib(maxrss_kib * 1024)} (whole timed run, untraced)"),
    ]
    if totals.failed:
        rows.append(("failures", f"{totals.failed}: {'; '.join(totals.errors[:3])}"))
    if args.memory_pass:
        rows += _memory_pass(args)
    print_table(f"pulse fan-out: {people:,} people @ {rate:,}/min ({args.database})", rows)
    ok = duplicates == 0 and lost == 0
    print(f"  RESULT: {'OK' if ok else 'FAILED'}", flush=True)
    return 0 if ok else 1


def _memory_pass(args: argparse.Namespace) -> list[tuple[str, str]]:
    """tracemalloc slows allocation-heavy Python 2-5x, so it does not run during the timed pass.

    This pass opens the same size of round on a fresh database under tracemalloc, then traces the
    dispatcher over the first `--memory-sample` DMs (fake unthrottled; the rest are cancelled).
    """
    from bot.core.database import make_engine, make_session_factory
    from bot.core.models import OutboxMessage, OutboxState
    from bot.core.settings import load_settings

    sample = min(args.people, args.memory_sample)
    secret_key = new_secret_key()
    with temporary_database(args.database) as db_url, FakeSlackProcess() as fake:
        engine = make_engine(db_url)
        try:
            session_factory = make_session_factory(engine)
            settings = load_settings(settings_env(fake.url, db_url, secret_key))
            before = 0

            def start_tracing() -> None:
                nonlocal before
                tracemalloc.start()
                before = tracemalloc.get_traced_memory()[0]

            try:
                _, traced_open_seconds, _ = _seed_and_open(
                    session_factory, fake, secret_key, args.people, before_open=start_tracing
                )
                current, open_peak = tracemalloc.get_traced_memory()
                with session_factory.begin() as session:
                    last_kept = session.scalar(
                        select(OutboxMessage.id).order_by(OutboxMessage.id).offset(sample - 1).limit(1)
                    )
                    session.execute(
                        update(OutboxMessage)
                        .where(OutboxMessage.id > last_kept)
                        .values(state=OutboxState.CANCELLED.value)
                    )
                tracemalloc.reset_peak()
                base = tracemalloc.get_traced_memory()[0]
                _, totals = _dispatch(session_factory, settings, rate=1_000_000, burst=1000, workers=1, timeout=600)
                dispatch_peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        finally:
            engine.dispose()
    return [
        (
            "tracemalloc peak, open",
            f"{mib(open_peak - before)} above start, {mib(current - before)} still held after "
            f"(separate traced pass: {args.people:,} people, {traced_open_seconds:.1f} s traced)",
        ),
        (
            "tracemalloc peak, dispatch",
            f"{mib(dispatch_peak - base)} above start (separate traced pass: first {totals.sent:,} DMs, unthrottled)",
        ),
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pulse_fanout", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--people",
        type=int,
        help=f"people to invite (default: the suite {DEFAULT_SUITE}; {DEFAULT_PEOPLE:,} when only --rate is given)",
    )
    parser.add_argument(
        "--rate",
        type=int,
        help=f"Slack limit per minute for each method (default {DEFAULT_RATE} when --people is given)",
    )
    parser.add_argument("--burst", type=int, default=5, help="token-bucket burst, fake and dispatcher (default 5)")
    parser.add_argument(
        "--dispatchers", type=int, default=1, help="concurrent dispatchers sharing the rate (default 1)"
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--concurrency", type=int, default=16, help="messages in flight per dispatcher (EMPATHY_OUTBOX_CONCURRENCY, 16)"
    )
    parser.add_argument(
        "--dispatcher-rate",
        type=int,
        help="the dispatchers' own rate_per_minute in total (default --rate; set it higher to provoke 429s)",
    )
    parser.add_argument(
        "--slack-latency-ms",
        type=float,
        default=0.0,
        help="added to every fake Slack answer, to model Slack's round trip (default 0)",
    )
    parser.add_argument("--timeout", type=float, help="give up after this many seconds (default max(300, 20 x ideal))")
    parser.add_argument(
        "--no-memory-pass",
        dest="memory_pass",
        action="store_false",
        help="skip the separate tracemalloc pass (open + first --memory-sample DMs on a fresh database)",
    )
    parser.add_argument(
        "--memory-sample", type=int, default=2000, help="DMs dispatched under tracemalloc (default 2000)"
    )
    args = parser.parse_args(argv)
    for name in ("people", "rate", "burst", "dispatchers", "dispatcher_rate", "memory_sample"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.dispatcher_rate and args.people is None and args.rate is None:
        parser.error("--dispatcher-rate needs --people or --rate (the suite does not scale it)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.people is None and args.rate is None:
        # Each configuration in its own process, so maxrss is that run's alone.
        passthrough = [
            *("--burst", str(args.burst), "--dispatchers", str(args.dispatchers), "--database", args.database),
            *("--slack-latency-ms", str(args.slack_latency_ms), "--concurrency", str(args.concurrency)),
        ]
        if args.timeout:
            passthrough += ["--timeout", str(args.timeout)]
        passthrough += ["--memory-sample", str(args.memory_sample)]
        if not args.memory_pass:
            passthrough.append("--no-memory-pass")
        status = 0
        for people, rate in DEFAULT_SUITE:
            command = [sys.executable, "-m", "benchmarks.pulse_fanout", "--people", str(people), "--rate", str(rate)]
            ideal = people / rate * 60.0
            limit = (args.timeout or max(300.0, 20 * ideal)) + 600
            result = subprocess.run([*command, *passthrough], timeout=limit, check=False)
            status = status or result.returncode
        return status
    args.people = args.people or DEFAULT_PEOPLE
    args.rate = args.rate or DEFAULT_RATE
    return run_one(args)


if __name__ == "__main__":
    sys.exit(main())
