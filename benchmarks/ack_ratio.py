"""Ack ratio: the project's acks against an empty WSGI app on the same gunicorn settings, in one run.

    .venv/bin/python -m benchmarks.ack_ratio                                  # SQLite, then PostgreSQL
    .venv/bin/python -m benchmarks.ack_ratio --seconds 5 --closed-seconds 5 --repeats 1 --database sqlite
    .venv/bin/python -m benchmarks.ack_ratio --trees before=../older-checkout,after=.   # two versions, one floor

Issue #18 §3. On a 2-core machine shared with 64 client threads even an empty app has a p99 of about
100 ms, so the figure that means something is the ratio to that floor measured side by side. The
servers run at once, each a child process with `bot.cli.server.gunicorn_options` (gthread,
WEB_CONCURRENCY × WEB_THREADS, the access log on; what the Procfile's `empathy-bot serve` gets):

- the floor: a bare WSGI callable that reads the body and answers what an early ack answers (an empty 200);
- the project: `python -m bot.cli serve --no-scheduler` (web processes that only ack) and
  `python -m bot.cli worker` beside it (EMPATHY_WORKER_NICE, EMPATHY_WORK_THREADS), as the Procfile
  runs them; with `--trees`, one such pair per code tree, all on one database.

The same clients drive each in turn: requests signed as Slack signs them
(tests/support/slack_requests.py), mixed `--mix` answer clicks : `/kudos` commands : App Home opens,
a new connection per request. While the floor is measured no worker runs, so the floor is the empty
app alone on the machine; while a project is measured its worker runs (started a few seconds before).

1. Open loop, `--repeats` times floor then each project: `--rate` requests a second in all at random
   (Poisson) times, for `--seconds`. The worker must keep up: the figures are the backlog in the inbox
   at the end of the phase and the work applied a second (chat.update calls, i.e. clicks, and all
   work). After each project phase the benchmark waits for the inbox to empty.
2. Closed loop, `--repeats` times floor then each project: `--clients` threads back to back, for
   `--closed-seconds`. The work falls behind here by design (acks first); it is drained at the end.

`--loops` runs one loop only; `--no-worker-too` runs each project phase a second time with its worker
stopped (each after its own floor), so one run shows how much of the ratio is the worker's. Each phase
also reports the CPU of the web processes, the worker, the fake Slack, the PostgreSQL backends serving
the database and the client threads, and the worker's CPU per applied work item.

Each project phase's ratio is to the floor phase just before it. Then every worker drains what is left
and the run checks the database as benchmarks/answer_latency does (`RESULT: FAILED` on any error
status, a lost or doubled answer or kudos, or rows left in the inbox).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text

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
from benchmarks.teams_ack import Front, _free_port, _healthy

DRAIN_TIMEOUT = 1800.0
# Appended to a tree's label for its phases with its worker stopped (`--no-worker-too`).
NO_WORKER = ", no worker"


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


class _Child:
    """A child process running one tree's code (`PYTHONPATH`), its output in a log file."""

    def __init__(self, command: list[str], env: dict[str, str], tree: str) -> None:
        log_fd, self._log_path = tempfile.mkstemp(prefix="empathy-bench-acks-", suffix=".log")
        self._cwd = tempfile.mkdtemp(prefix="empathy-bench-acks-")  # no stray .env is read
        full_env = {**os.environ, **env, "PYTHONPATH": os.path.abspath(tree)}
        try:
            self._process = subprocess.Popen(
                command, env=full_env, stdout=log_fd, stderr=subprocess.STDOUT, cwd=self._cwd
            )
        finally:
            os.close(log_fd)
        self.pid = self._process.pid

    def stop(self) -> dict[str, int]:
        """Stop it; its log's warnings and errors, counted (not the access log's lines)."""
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
                if '"POST /slack/events"' in line or '"GET /healthz"' in line:
                    continue
                if any(word in line for word in ("WARNING", "ERROR", "CRITICAL", "Traceback")):
                    counts[line.split(" ", 2)[-1].strip()[:120]] += 1
        os.unlink(self._log_path)
        with contextlib.suppress(OSError):
            os.rmdir(self._cwd)
        return dict(counts)


class Worker:
    """`python -m bot.cli worker`, as the Procfile's worker: started before its tree's phases, stopped
    (cleanly, so it hands its claims back) before anyone else's. Not paused with SIGSTOP: a worker stopped
    inside a transaction would hold the database's locks."""

    def __init__(self, env: dict[str, str], tree: str, start_seconds: float) -> None:
        self._env, self._tree, self._start_seconds = env, tree, start_seconds
        self._child: _Child | None = None
        self.logs: Counter[str] = Counter()

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child else None

    def start(self) -> None:
        if self._child is None:
            self._child = _Child([sys.executable, "-m", "bot.cli", "worker"], self._env, self._tree)
            self._wait_ready(self._child.pid)

    def _wait_ready(self, pid: int) -> None:
        """Its imports are not the acks' business: wait until its inbox's threads run (Linux: the
        process has the main thread, the work threads and the keeper), at least `start_seconds` and at
        most 120 s. (Waiting for its CPU time to settle failed on a loaded machine: a starved process idles.)"""
        from bot.core.settings import load_settings

        threads = load_settings(self._env).work_threads + 2
        time.sleep(self._start_seconds)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if len(os.listdir(f"/proc/{pid}/task")) >= threads:
                    return
            time.sleep(0.2)

    def stop(self) -> None:
        if self._child is not None:
            self.logs.update(self._child.stop())
            self._child = None


class Web(_Child):
    """`python -m bot.cli serve --no-scheduler`, as the Procfile's web process: gunicorn, acks only."""

    def __init__(self, env: dict[str, str], tree: str) -> None:
        self.port = _free_port()
        super().__init__(
            [sys.executable, "-m", "bot.cli", "serve", "--no-scheduler"], {**env, "PORT": str(self.port)}, tree
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"serve in {tree} exited with {self._process.returncode}")
            if _healthy(self.port):
                return
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"serve in {tree} did not answer /healthz within 90 s")


@dataclass
class Phase:
    label: str
    server: str  # "floor", or the label of the tree whose code ran (+ NO_WORKER when its worker was stopped)
    loop: str  # "open" or "closed"
    seconds: float
    results: list[ClientResults]
    backlog_before: int = 0
    backlog_after: int = 0
    clicks_applied: int = 0  # chat.update calls during the phase
    work_applied: int = 0  # chat.update + response_url + views.publish during the phase
    cpu: tuple[float, float, float] = (0.0, 0.0, 0.0)  # web, worker, fake during the phase
    db_cpu: float = 0.0  # PostgreSQL's backends serving the benchmark's database (0 on SQLite)
    client_cpu: float = 0.0  # this process: the client threads signing and sending the requests

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


def _db_cpu(engine: Any) -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend connected to the benchmark's database (the
    web processes' and the worker's pooled connections); empty on SQLite, whose work is in the
    processes that use it."""
    if engine.dialect.name != "postgresql":
        return {}
    with engine.connect() as connection:
        pids = connection.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        ).scalars()
        ticks = os.sysconf("SC_CLK_TCK")
        used: dict[int, float] = {}
        for pid in pids:
            with contextlib.suppress(OSError, ValueError, IndexError):
                with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                used[pid] = (int(fields[11]) + int(fields[12])) / ticks
        return used


def _db_cpu_since(engine: Any, before: dict[int, float]) -> float:
    """The backends' CPU since `before`: a backend that started meanwhile counts whole; one that exited
    meanwhile (a worker stopped) is missed, so the figure is a lower bound."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in _db_cpu(engine).items())


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
            projects: dict[str, tuple[Web, Worker]] = {}
            logs: dict[str, int] = {}
            try:
                for label, tree in args.trees:
                    projects[label] = (Web(env, tree), Worker(env, tree, args.worker_start_seconds))

                def only(running: str | None, *, with_worker: bool = True) -> None:
                    """Stop every worker but `running`'s, so what is measured has the machine to itself."""
                    for label, (_web, worker) in projects.items():
                        if label != running or args.pause_worker or not with_worker:
                            worker.stop()
                    if running is not None and with_worker and not args.pause_worker:
                        projects[running][1].start()

                def drain_with(label: str) -> None:
                    projects[label][1].start()
                    _wait_empty(fake, db_url, DRAIN_TIMEOUT)

                # Warm-up, untimed: imports, connection pools, the worker's first claims.
                only(None)
                _load(floor.port, fake.url, targets, args, clients=8, rate=0, seconds=2)
                for label, (web, _worker) in projects.items():
                    only(label)
                    _load(web.port, fake.url, targets, args, clients=8, rate=0, seconds=2)
                    drain_with(label)

                def phase(server: str, loop: str, n: int, *, with_worker: bool = True) -> Phase:
                    only(None if server == "floor" else server, with_worker=with_worker)
                    front_port, front_pid = (
                        (floor.port, floor.pid)
                        if server == "floor"
                        else (projects[server][0].port, projects[server][0].pid)
                    )
                    worker_pid = projects[server][1].pid if server != "floor" else None
                    before = _inbox_depth(db_url)
                    clicks, work = fake.count("chat.update"), _work_done(fake)
                    cpu = (_cpu(front_pid), _cpu(worker_pid), _cpu(fake.pid))
                    db_cpu, client_cpu = _db_cpu(engine), time.process_time()
                    results, seconds = _load(
                        front_port,
                        fake.url,
                        targets,
                        args,
                        clients=args.clients if loop == "closed" else args.open_clients,
                        rate=0 if loop == "closed" else args.rate,
                        seconds=args.closed_seconds if loop == "closed" else args.seconds,
                    )
                    cpu_after = (_cpu(front_pid), _cpu(worker_pid), _cpu(fake.pid))
                    db_seconds, client_cpu = _db_cpu_since(engine, db_cpu), time.process_time() - client_cpu
                    if not with_worker:
                        server += NO_WORKER
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
                        db_cpu=db_seconds,
                        client_cpu=client_cpu,
                    )
                    lat = done.latencies
                    print(
                        f"   {done.label:<18} {len(lat):>7,} req ({len(lat) / seconds:7.1f}/s)  p50 "
                        f"{percentile(lat, 0.5) * 1000:6.1f}  p99 {percentile(lat, 0.99) * 1000:6.1f} ms"
                        + (
                            f"  applied {done.clicks_applied / seconds:.0f} clicks/s, {done.work_applied / seconds:.0f} "
                            f"work/s; backlog {done.backlog_before:,} -> {done.backlog_after:,}"
                            if server != "floor"
                            else ""
                        ),
                        flush=True,
                    )
                    phases.append(done)
                    return done

                modes = (True, False) if args.no_worker_too else (True,)
                for n in range(args.repeats if "open" in args.loops else 0):
                    for label in projects:
                        for with_worker in modes:
                            phase("floor", "open", n)
                            phase(label, "open", n, with_worker=with_worker)
                            drain_with(label)
                for n in range(args.repeats if "closed" in args.loops else 0):
                    for label in projects:
                        for with_worker in modes:
                            phase("floor", "closed", n)
                            phase(label, "closed", n, with_worker=with_worker)
                for _web, worker in projects.values():  # every tree's worker: the drain is not measured
                    worker.start()
                drain_watch = Stopwatch()
                left_before_drain = _inbox_depth(db_url)
                drain_work = _work_done(fake)
                drain_cpu = sum(_cpu(worker.pid) for _web, worker in projects.values())
                drain_seconds = _wait_empty(fake, db_url, DRAIN_TIMEOUT)
                drain_seconds = min(drain_seconds, drain_watch.seconds)
                drain_cpu = sum(_cpu(worker.pid) for _web, worker in projects.values()) - drain_cpu
                drain_work = _work_done(fake) - drain_work
                left = _inbox_depth(db_url)
            finally:
                for web, worker in projects.values():
                    worker.stop()
                    logs.update(worker.logs)
                    logs.update(web.stop())
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

    project_phases = [p for p in phases if p.server != "floor"]
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
    # Each project phase ran right after a floor phase: that one is its floor.
    pairs = [(phases[i - 1], p) for i, p in enumerate(phases) if p.server != "floor"]

    def joined(chosen: list[Phase]) -> tuple[list[float], float]:
        return sorted(x for p in chosen for x in p.latencies), sum(p.seconds for p in chosen)

    rows: list[tuple[str, str]] = [
        ("database", kind),
        (
            "gunicorn",
            f"gthread, WEB_CONCURRENCY={os.environ.get('WEB_CONCURRENCY', '2')} x "
            f"WEB_THREADS={os.environ.get('WEB_THREADS', '8')}",
        ),
        ("worker", f"EMPATHY_WORK_THREADS={settings.work_threads}, EMPATHY_WORKER_NICE={settings.worker_nice}"),
    ]
    verdicts: list[str] = []
    servers = [label for label, _tree in args.trees]
    if args.no_worker_too:
        servers += [label + NO_WORKER for label in servers]
    for loop, target in (("closed", 1.3), ("open", 2.0)):
        for label in servers:
            mine = [(a, b) for a, b in pairs if b.loop == loop and b.server == label]
            if not mine:
                continue
            (f, secs_f), (p, secs_p) = joined([a for a, _ in mine]), joined([b for _, b in mine])
            f99, p99 = percentile(f, 0.99), percentile(p, 0.99)
            rows += [
                (
                    f"{loop}: floor before {label}: req/s, p50 / p99",
                    f"{len(f) / secs_f:,.1f}/s, {percentile(f, 0.5) * 1000:.1f} / {f99 * 1000:.1f} ms",
                ),
                (
                    f"{loop}: {label}: req/s, p50 / p99",
                    f"{len(p) / secs_p:,.1f}/s, {percentile(p, 0.5) * 1000:.1f} / {p99 * 1000:.1f} ms",
                ),
            ]
            for kind_name in KINDS:
                found = sorted(x for _, b in mine for r in b.results for x in r.by_kind.get(kind_name, []))
                if found:
                    rows.append(
                        (f"  {label}: {kind_name} p99", f"{percentile(found, 0.99) * 1000:.1f} ms ({len(found):,})")
                    )
            per_pair = ", ".join(
                f"{percentile(b.latencies, 0.99) / percentile(a.latencies, 0.99):.2f}" for a, b in mine
            )
            ratio = p99 / f99
            rows.append(
                (
                    f"{loop}: {label}: p99 ratio to the floor",
                    f"{ratio:.2f} (each pair: {per_pair}); target <= {target:g}",
                )
            )
            verdict = f"{label} {loop} p99 {ratio:.2f}x the floor (target {target:g}x)"
            if loop == "open" and not label.endswith(NO_WORKER):
                rows.append(
                    (
                        f"open: {label}: worker applied (per phase)",
                        "; ".join(
                            f"{b.clicks_applied / b.seconds:.0f} clicks/s, {b.work_applied / b.seconds:.0f} work/s "
                            f"of {len(b.latencies) / b.seconds:.0f} req/s, backlog {b.backlog_before:,} -> "
                            f"{b.backlog_after:,}"
                            for _, b in mine
                        ),
                    )
                )
                kept_up = all(b.backlog_after <= max(50, 0.05 * len(b.latencies)) for _, b in mine)
                rows.append(
                    (
                        f"open: {label}: worker kept up (backlog at the end <= 5% of the phase, or 50)",
                        "yes" if kept_up else "NO",
                    )
                )
                verdict += f", worker kept up: {'yes' if kept_up else 'NO'}"
            rows.append(
                (
                    f"{loop}: {label}: CPU s/phase web / worker / fake",
                    "; ".join(f"{b.cpu[0]:.1f} / {b.cpu[1]:.1f} / {b.cpu[2]:.1f}" for _, b in mine)
                    + f" (floor's web: {', '.join(f'{a.cpu[0]:.1f}' for a, _ in mine)})",
                )
            )
            rows.append(
                (
                    f"{loop}: {label}: CPU s/phase database / clients (floor's)",
                    "; ".join(
                        f"{b.db_cpu:.1f} / {b.client_cpu:.1f} ({a.db_cpu:.1f} / {a.client_cpu:.1f})" for a, b in mine
                    )
                    + f"; {os.cpu_count()} cores x {mine[0][1].seconds:.0f} s = {(os.cpu_count() or 1) * mine[0][1].seconds:.0f} s",
                )
            )
            if not label.endswith(NO_WORKER) and any(b.work_applied for _, b in mine):
                rows.append(
                    (
                        f"{loop}: {label}: worker CPU ms per work applied",
                        "; ".join(
                            f"{b.cpu[1] / b.work_applied * 1000:.1f}" if b.work_applied else "-" for _, b in mine
                        ),
                    )
                )
            verdicts.append(verdict)
    rows += [
        (
            "final drain",
            f"{left_before_drain:,} rows in {drain_seconds:.1f} s; left {left} (must be 0)"
            + (
                f"; {drain_work / max(drain_seconds, 1e-9):.0f} work/s, worker CPU {drain_cpu / drain_work * 1000:.1f} ms"
                " per work (every worker's, while all drain)"
                if drain_work
                else ""
            ),
        ),
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
    for verdict in verdicts:
        print(f"  {kind}: {verdict}", flush=True)
    print(f"  RESULT: {'OK' if ok else 'FAILED'}", flush=True)
    return ok


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ack_ratio", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each open-loop phase (default 15)")
    parser.add_argument(
        "--closed-seconds", type=float, default=10.0, help="length of each closed-loop phase (default 10)"
    )
    parser.add_argument(
        "--worker-start-seconds", type=float, default=2.0, help="wait at least this for a worker to start (default 2)"
    )
    parser.add_argument("--repeats", type=int, default=2, help="floor/project pairs per loop (default 2)")
    parser.add_argument("--clients", type=int, default=64, help="closed loop: clients back to back (default 64)")
    parser.add_argument("--rate", type=float, default=300.0, help="open loop: requests/s at random times (default 300)")
    parser.add_argument("--open-clients", type=int, default=64, help="open loop: client threads sharing the rate (64)")
    parser.add_argument("--people", type=int, default=200, help="people in the round (default 200)")
    parser.add_argument("--mix", default="70:15:15", help="answer clicks : /kudos : Home opens (default 70:15:15)")
    parser.add_argument(
        "--loops", default="open,closed", help="which loops to run: open,closed (default), open or closed"
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--trees",
        default="project=.",
        help="LABEL=PATH,...: the code trees to measure, each against the same floor, alternately "
        "(e.g. before=/path/to/an/older/checkout,after=.); default project=.",
    )
    parser.add_argument(
        "--pause-worker",
        action="store_true",
        help="diagnosis: no worker during the project's phases either (acks alone; it drains in between)",
    )
    parser.add_argument(
        "--no-worker-too",
        action="store_true",
        help="after each project phase, the same project again with its worker stopped (each after its own "
        "floor): how much of the ratio is the worker's",
    )
    parser.add_argument("--empty", action="store_true", help=argparse.SUPPRESS)  # the floor's child process
    args = parser.parse_args(argv)
    try:
        weights = tuple(int(part) for part in args.mix.split(":"))
    except ValueError:
        weights = ()
    if len(weights) != 3 or min(weights) < 0 or sum(weights) == 0:
        parser.error("--mix must be three non-negative whole numbers like 70:15:15")
    args.mix = weights
    args.loops = {part.strip() for part in args.loops.split(",") if part.strip()}
    if not args.loops or not args.loops <= {"open", "closed"}:
        parser.error("--loops must be open, closed or open,closed")
    try:
        args.trees = [
            (label, os.path.abspath(path)) for label, path in (part.split("=", 1) for part in args.trees.split(","))
        ]
    except ValueError:
        parser.error("--trees must be LABEL=PATH,...")
    for _label, path in args.trees:
        if not args.empty and not os.path.isdir(os.path.join(path, "bot")):
            parser.error(f"--trees: {path} is not a checkout of the bot")
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
