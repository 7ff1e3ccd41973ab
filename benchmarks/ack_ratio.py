"""Ack ratio: the project's acks against an empty WSGI app on the same gunicorn settings, in one run.

    .venv/bin/python -m benchmarks.ack_ratio                                  # SQLite, then PostgreSQL
    .venv/bin/python -m benchmarks.ack_ratio --seconds 5 --repeats 1 --database sqlite   # quick

Issue #18 §3. On a 2-core machine shared with 64 client threads even an empty app has a p99 of about
100 ms, so the figure that means something is the ratio to that floor measured side by side. Two
servers run at once, each a child process of `bot.cli.server.gunicorn_options` (gthread,
WEB_CONCURRENCY × WEB_THREADS, the access log on; what the Procfile's `empathy-bot serve` gets):

- the floor: a bare WSGI callable that reads the body and answers what an early ack answers (an empty 200);
- the project: `python -m bot.cli serve --no-scheduler` (web processes that only ack) and
  `python -m bot.cli worker` beside it (EMPATHY_WORKER_NICE, EMPATHY_WORK_THREADS), as the Procfile runs them.

The same clients drive both, alternately: requests signed as Slack signs them
(tests/support/slack_requests.py), mixed `--mix` answer clicks : `/kudos` commands : App Home opens,
a new connection per request. While the floor is measured the worker is stopped (SIGSTOP), so the
floor is the empty app alone on the machine; while the project is measured the worker runs.

1. Open loop, `--repeats` times floor then project: `--rate` requests a second in all at random
   (Poisson) times. The worker must keep up: the figures are the backlog in the inbox at the end of
   the phase and the work it applied a second (chat.update calls, i.e. clicks, and all work). Between
   project phases the benchmark waits for the inbox to empty, so each starts without a backlog.
2. Closed loop, `--repeats` times floor then project: `--clients` threads back to back.

Then the worker drains what is left and the run checks the database as benchmarks/answer_latency does
(`RESULT: FAILED` on any error status, a lost or doubled answer or kudos, or rows left in the inbox).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from benchmarks._support import (
    FakeSlackProcess,
    Stopwatch,
    cpu_seconds,
    new_secret_key,
    percentile,
    print_table,
    seed_people,
    settings_env,
    temporary_database,
)
from benchmarks.answer_latency import (
    KINDS,
    ClientResults,
    Target,
    _client,
    _deliver_dms,
    _inbox_depth,
    _work_done,
    click_targets,
)
from benchmarks.teams_ack import ROOT, Front

DRAIN_TIMEOUT = 1800.0


def _serve_empty() -> int:
    """The floor's child process: gunicorn with `gunicorn_options` around a WSGI callable that reads the
    body and answers an empty 200, as an early ack does."""
    from gunicorn.app.base import BaseApplication

    from bot.cli.server import gunicorn_options
    from bot.core.settings import load_settings

    def empty(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length:
            environ["wsgi.input"].read(length)
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]

    class EmptyFront(BaseApplication):  # type: ignore[misc]
        def __init__(self, options: dict[str, Any]) -> None:
            self.options = options
            super().__init__()

        def load_config(self) -> None:
            for key, value in self.options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return empty

    EmptyFront(gunicorn_options(load_settings(), None)).run()
    return 0


class Worker:
    """`python -m bot.cli worker` in a child process, which the benchmark can pause and resume."""

    def __init__(self, env: dict[str, str]) -> None:
        log_fd, self._log_path = tempfile.mkstemp(prefix="empathy-bench-worker-", suffix=".log")
        self._cwd = tempfile.mkdtemp(prefix="empathy-bench-worker-")  # no stray .env is read
        full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "worker"],
                env=full_env,
                stdout=log_fd,
                stderr=subprocess.STDOUT,
                cwd=self._cwd,
            )
        finally:
            os.close(log_fd)
        self.pid = self._process.pid
        self.paused = False

    def pause(self) -> None:
        if not self.paused:
            os.kill(self.pid, signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self.paused:
            os.kill(self.pid, signal.SIGCONT)
            self.paused = False

    def stop(self) -> dict[str, int]:
        self.resume()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        counts: Counter[str] = Counter()
        with open(self._log_path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if any(word in line for word in ("WARNING", "ERROR", "CRITICAL", "Traceback")):
                    counts[line.split(" ", 2)[-1].strip()[:120]] += 1
        os.unlink(self._log_path)
        with contextlib.suppress(OSError):
            os.rmdir(self._cwd)
        return dict(counts)


@dataclass
class Phase:
    label: str
    server: str  # "floor" or "project"
    loop: str  # "open" or "closed"
    seconds: float
    results: list[ClientResults]
    backlog_before: int = 0
    backlog_after: int = 0
    clicks_applied: int = 0  # chat.update calls during the phase
    work_applied: int = 0  # chat.update + response_url + views.publish during the phase
    cpu: tuple[float, float, float] = (0.0, 0.0, 0.0)  # web, worker, fake during the phase

    @property
    def latencies(self) -> list[float]:
        return sorted(x for r in self.results for x in r.latencies)

    @property
    def errors(self) -> int:
        return sum(sum(n for status, n in r.statuses.items() if status != 200) for r in self.results)


def _load(
    port: int,
    fake_url: str,
    targets: list[Target],
    args: argparse.Namespace,
    *,
    clients: int,
    rate: float,
    seconds: float,
) -> tuple[list[ClientResults], float]:
    results = [ClientResults() for _ in range(clients)]
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=_client,
            args=(n + int(time.monotonic() * 1000) % 100_000, port, fake_url, targets, deadline, results[n]),
            kwargs={"weights": args.mix, "rate": rate / clients if rate else 0.0},
            name=f"client-{n}",
        )
        for n in range(clients)
    ]
    watch = Stopwatch()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    return results, watch.seconds


def _wait_empty(fake: FakeSlackProcess, db_url: str, timeout: float) -> float:
    """Wait until the inbox is empty and the worker's calls to Slack have stopped for a moment."""
    watch = Stopwatch()
    last, stable_since = -1, time.monotonic()
    while watch.seconds < timeout:
        seen = _work_done(fake)
        if seen != last or _inbox_depth(db_url):
            last, stable_since = seen, time.monotonic()
        elif time.monotonic() - stable_since >= 1.0:
            return max(0.0, watch.seconds - 1.0)
        time.sleep(0.2)
    return watch.seconds


def _cpu(pid: int | None) -> float:
    value = cpu_seconds(pid) if pid else None
    return value or 0.0


def run_one(kind: str, args: argparse.Namespace) -> bool:
    from bot.core.crypto import SecretBox
    from bot.core.database import make_engine, make_session_factory
    from bot.core.models import Workspace
    from bot.core.settings import load_settings
    from bot.kudos.models import Kudos
    from surveys.bank import QuestionBank
    from surveys.jobs import open_pulse_now
    from surveys.models import PulseSealedAnswer

    print(
        f"\n-- ack ratio: {kind}, {args.people} people, closed {args.clients} clients, open {args.rate:g}/s, "
        f"{args.seconds:g} s a phase, {args.repeats} repeats, mix {':'.join(map(str, args.mix))}",
        flush=True,
    )
    secret_key = new_secret_key()
    phases: list[Phase] = []
    with temporary_database(kind) as db_url, FakeSlackProcess() as fake:
        engine = make_engine(db_url)
        try:
            session_factory = make_session_factory(engine)
            env = settings_env(
                fake.url, db_url, secret_key, EMPATHY_KUDOS_PER_DAY="100", EMPATHY_KUDOS_PAIR_PER_WEEK="100"
            )
            settings = load_settings(env)
            ids = seed_people(session_factory, args.people)
            fake.add_users(ids)
            with session_factory.begin() as session:
                workspace = session.scalar(select(Workspace))
                assert workspace is not None
                open_pulse_now(
                    session,
                    workspace,
                    QuestionBank.builtin(),
                    SecretBox(secret_key),
                    now=datetime.now(UTC),
                    team_id=None,
                )
            _deliver_dms(session_factory, settings, args.people)
            targets = click_targets(fake.first_messages(ids))

            floor = Front(
                "empty WSGI app (gunicorn, same options)",
                [sys.executable, "-m", "benchmarks.ack_ratio", "--empty"],
                env,
            )
            project = Front(
                "`python -m bot.cli serve --no-scheduler`",
                [sys.executable, "-m", "bot.cli", "serve", "--no-scheduler"],
                env,
            )
            worker = Worker(env)
            logs: dict[str, int] = {}
            try:
                # Warm-up, untimed: imports, connection pools, the worker's first claims.
                worker.pause()
                _load(floor.port, fake.url, targets, args, clients=8, rate=0, seconds=2)
                worker.resume()
                _load(project.port, fake.url, targets, args, clients=8, rate=0, seconds=2)
                _wait_empty(fake, db_url, DRAIN_TIMEOUT)

                def phase(server: str, loop: str, n: int) -> Phase:
                    front = floor if server == "floor" else project
                    if server == "floor":
                        worker.pause()
                    else:
                        worker.resume()
                    before = _inbox_depth(db_url)
                    clicks, work = fake.count("chat.update"), _work_done(fake)
                    cpu = (_cpu(front.pid), _cpu(worker.pid), _cpu(fake.pid))
                    results, seconds = _load(
                        front.port,
                        fake.url,
                        targets,
                        args,
                        clients=args.clients if loop == "closed" else args.open_clients,
                        rate=0 if loop == "closed" else args.rate,
                        seconds=args.seconds,
                    )
                    cpu_after = (_cpu(front.pid), _cpu(worker.pid), _cpu(fake.pid))
                    done = Phase(
                        f"{loop} {n + 1}: {server}",
                        server,
                        loop,
                        seconds,
                        results,
                        backlog_before=before,
                        backlog_after=_inbox_depth(db_url),
                        clicks_applied=fake.count("chat.update") - clicks,
                        work_applied=_work_done(fake) - work,
                        cpu=tuple(b - a for a, b in zip(cpu, cpu_after, strict=True)),  # type: ignore[arg-type]
                    )
                    lat = done.latencies
                    print(
                        f"   {done.label:<18} {len(lat):>7,} req ({len(lat) / seconds:7.1f}/s)  p50 "
                        f"{percentile(lat, 0.5) * 1000:6.1f}  p99 {percentile(lat, 0.99) * 1000:6.1f} ms"
                        + (
                            f"  applied {done.clicks_applied / seconds:.0f} clicks/s, {done.work_applied / seconds:.0f} "
                            f"work/s; backlog {done.backlog_before:,} -> {done.backlog_after:,}"
                            if server == "project"
                            else ""
                        ),
                        flush=True,
                    )
                    phases.append(done)
                    return done

                for n in range(args.repeats):
                    phase("floor", "open", n)
                    phase("project", "open", n)
                    worker.resume()
                    _wait_empty(fake, db_url, DRAIN_TIMEOUT)
                for n in range(args.repeats):
                    phase("floor", "closed", n)
                    phase("project", "closed", n)
                worker.resume()
                drain_watch = Stopwatch()
                left_before_drain = _inbox_depth(db_url)
                drain_seconds = _wait_empty(fake, db_url, DRAIN_TIMEOUT)
                drain_seconds = min(drain_seconds, drain_watch.seconds)
                left = _inbox_depth(db_url)
            finally:
                logs.update(worker.stop())
                logs.update(project.stop())
                floor.stop()

            with session_factory() as session:
                duplicate_slots = (
                    session.scalar(
                        select(func.count()).select_from(
                            select(PulseSealedAnswer.round_id, PulseSealedAnswer.slot)
                            .group_by(PulseSealedAnswer.round_id, PulseSealedAnswer.slot)
                            .having(func.count() > 1)
                            .subquery()
                        )
                    )
                    or 0
                )
                answer_slots = session.scalar(select(func.count(func.distinct(PulseSealedAnswer.slot)))) or 0
                kudos_rows = session.scalar(select(func.count()).select_from(Kudos)) or 0
            stats = fake.call_stats()
        finally:
            engine.dispose()

    project_phases = [p for p in phases if p.server == "project"]
    clicked: set[tuple[str, str]] = set()
    kudos_acked = homes = 0
    for p in project_phases:
        for r in p.results:
            clicked |= r.clicked
            kudos_acked += r.kudos_acked
            homes += r.homes
    replies: dict[str, int] = stats["replies"]
    accepted = sum(n for text, n in replies.items() if "Thank you for noticing" in text)
    limited = sum(n for text, n in replies.items() if "the daily limit" in text or "have exchanged" in text)
    errors = sum(p.errors for p in phases)
    publishes = sum(stats["by_method"].get("views.publish", {}).values())

    def joined(loop: str, server: str) -> list[float]:
        return sorted(x for p in phases if p.loop == loop and p.server == server for x in p.latencies)

    rows: list[tuple[str, str]] = [
        ("database", kind),
        (
            "gunicorn",
            f"gthread, WEB_CONCURRENCY={os.environ.get('WEB_CONCURRENCY', '2')} x WEB_THREADS={os.environ.get('WEB_THREADS', '8')}",
        ),
        ("worker", f"EMPATHY_WORK_THREADS={settings.work_threads}, EMPATHY_WORKER_NICE={settings.worker_nice}"),
    ]
    verdicts: list[tuple[str, str]] = []
    for loop, target in (("closed", 1.3), ("open", 2.0)):
        f, p = joined(loop, "floor"), joined(loop, "project")
        if not f or not p:
            continue
        f50, f99, p50, p99 = (percentile(f, 0.5), percentile(f, 0.99), percentile(p, 0.5), percentile(p, 0.99))
        secs_f = sum(x.seconds for x in phases if x.loop == loop and x.server == "floor")
        secs_p = sum(x.seconds for x in phases if x.loop == loop and x.server == "project")
        rows += [
            (f"{loop}: floor req/s, p50 / p99", f"{len(f) / secs_f:,.1f}/s, {f50 * 1000:.1f} / {f99 * 1000:.1f} ms"),
            (f"{loop}: project req/s, p50 / p99", f"{len(p) / secs_p:,.1f}/s, {p50 * 1000:.1f} / {p99 * 1000:.1f} ms"),
        ]
        for kind_name in KINDS:
            found = sorted(
                x
                for q in phases
                if q.loop == loop and q.server == "project"
                for r in q.results
                for x in r.by_kind.get(kind_name, [])
            )
            if found:
                rows.append(
                    (f"  {loop}: project {kind_name}s p99", f"{percentile(found, 0.99) * 1000:.1f} ms ({len(found):,})")
                )
        per_phase = ", ".join(
            f"{percentile(b.latencies, 0.99) / percentile(a.latencies, 0.99):.2f}"
            for a, b in zip(
                [x for x in phases if x.loop == loop and x.server == "floor"],
                [x for x in phases if x.loop == loop and x.server == "project"],
                strict=True,
            )
        )
        ratio = p99 / f99
        rows.append(
            (f"{loop}: p99 ratio project / floor", f"{ratio:.2f} (each pair: {per_phase}); target <= {target:g}")
        )
        verdicts.append((loop, f"{ratio:.2f}x (target {target:g}x)"))
        if loop == "open":
            opens = [x for x in phases if x.loop == "open" and x.server == "project"]
            rows.append(
                (
                    "open: worker applied (per phase)",
                    "; ".join(
                        f"{x.clicks_applied / x.seconds:.0f} clicks/s, {x.work_applied / x.seconds:.0f} work/s "
                        f"of {len(x.latencies) / x.seconds:.0f} req/s, backlog {x.backlog_before:,} -> {x.backlog_after:,}"
                        for x in opens
                    ),
                )
            )
            kept_up = all(x.backlog_after <= max(50, 0.05 * len(x.latencies)) for x in opens)
            rows.append(
                ("open: worker kept up (backlog at the end <= 5% of the phase, or 50)", "yes" if kept_up else "NO")
            )
        cpu_rows = [x for x in phases if x.loop == loop]
        rows.append(
            (
                f"{loop}: CPU s/phase web / worker / fake",
                "; ".join(f"{x.server} {x.cpu[0]:.1f} / {x.cpu[1]:.1f} / {x.cpu[2]:.1f}" for x in cpu_rows),
            )
        )
    rows += [
        ("final drain", f"{left_before_drain:,} rows in {drain_seconds:.1f} s; left {left} (must be 0)"),
        ("errors (non-200), floor and project", f"{errors} (must be 0)"),
        ("answer slots vs (person, question) acked", f"{answer_slots:,} vs {len(clicked):,} (must be equal)"),
        ("(round, slot) with > 1 row", f"{duplicate_slots} (must be 0)"),
        (
            "/kudos acked = told accepted + told the limit; accepted = rows",
            f"{kudos_acked:,} = {accepted:,} + {limited:,}; {accepted:,} = {kudos_rows:,}",
        ),
        ("Home opens acked / views.publish", f"{homes:,} / {publishes:,}"),
        (
            "server log warnings/errors",
            f"{sum(logs.values())}" + "".join(f"\n{'':30}{n:>6} x {line}" for line, n in logs.items()),
        ),
        ("load average", " ".join(f"{x:.2f}" for x in os.getloadavg())),
    ]
    print_table(f"ack ratio ({kind})", rows)
    # The warm-up's clicks, kudos and homes were acked too but are not counted above: compare with >=.
    ok = (
        left == 0
        and errors == 0
        and duplicate_slots == 0
        and answer_slots >= len(clicked)
        and accepted == kudos_rows
        and kudos_acked <= accepted + limited
        and publishes >= homes
    )
    print(f"  {kind}: " + ", ".join(f"{loop} p99 {v}" for loop, v in verdicts), flush=True)
    print(f"  RESULT: {'OK' if ok else 'FAILED'}", flush=True)
    return ok


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ack_ratio", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each phase (default 15)")
    parser.add_argument("--repeats", type=int, default=2, help="floor/project pairs per loop (default 2)")
    parser.add_argument("--clients", type=int, default=64, help="closed loop: clients back to back (default 64)")
    parser.add_argument("--rate", type=float, default=300.0, help="open loop: requests/s at random times (default 300)")
    parser.add_argument("--open-clients", type=int, default=64, help="open loop: client threads sharing the rate (64)")
    parser.add_argument("--people", type=int, default=200, help="people in the round (default 200)")
    parser.add_argument("--mix", default="70:15:15", help="answer clicks : /kudos : Home opens (default 70:15:15)")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--empty", action="store_true", help=argparse.SUPPRESS)  # the floor's child process
    args = parser.parse_args(argv)
    try:
        weights = tuple(int(part) for part in args.mix.split(":"))
    except ValueError:
        weights = ()
    if len(weights) != 3 or min(weights) < 0 or sum(weights) == 0:
        parser.error("--mix must be three non-negative whole numbers like 70:15:15")
    args.mix = weights
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.empty:
        return _serve_empty()
    kinds = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    ok = True
    for kind in kinds:
        ok = run_one(kind, args) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
