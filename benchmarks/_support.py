"""Shared pieces of the benchmarks: a throwaway database, the fake Slack API in its own process,
seeding an organisation, settings, and small statistics helpers.

The fake Slack API (tests/fakes/slack/api.py) runs in a child process so that its work (JSON,
deep copies, one thread per connection) neither competes with the bot for the GIL nor shows up
in the bot's memory figures. The parent talks to it over a pipe with a handful of commands.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

TEAM_ID = "T0001"
BOT_TOKEN = "xoxb-benchmark-token"
SIGNING_SECRET = "8f742231b10e8888abcd99aaabbb85a5"
PG_URL_FILE = "/tmp/pgurl"
TIMEZONES = ("Europe/London", "Europe/Berlin", "America/Chicago", "Asia/Singapore", "Australia/Sydney")
# Every wait on the child process is bounded; a command that takes longer than this is a failure.
PIPE_TIMEOUT = 300.0


def slack_id(index: int) -> str:
    return f"U{index:08d}"


def dm_channel(user_id: str) -> str:
    # tests/fakes/slack/api.py names the bot's DM with Uxxx "Dxxx".
    return "D" + user_id.removeprefix("U")


# -- database -------------------------------------------------------------------------------------


def postgres_admin_url() -> str:
    # EMPATHY_BENCH_PG_URL, when set, wins over the file (several engineers' servers on one machine).
    raw = os.environ.get("EMPATHY_BENCH_PG_URL", "").strip()
    if raw:
        return make_url(raw).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    try:
        with open(PG_URL_FILE, encoding="utf-8") as handle:
            raw = handle.read().strip()
    except OSError as error:
        raise SystemExit(f"PostgreSQL benchmarks need a server URL in {PG_URL_FILE} ({error})") from None
    if not raw:
        raise SystemExit(f"{PG_URL_FILE} is empty")
    return make_url(raw).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


@contextlib.contextmanager
def temporary_database(kind: str) -> Iterator[str]:
    """A freshly migrated database (a temp SQLite file, or a PostgreSQL database with a random
    name), removed afterwards whatever happens."""
    from bot.core.database import make_engine, upgrade

    if kind == "sqlite":
        directory = tempfile.mkdtemp(prefix="empathy-bench-")
        url = f"sqlite:///{os.path.join(directory, 'bench.sqlite3')}"
        try:
            upgrade(url)
            yield url
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    if kind != "postgresql":
        raise ValueError(f"unknown database kind {kind!r}")
    admin_url = postgres_admin_url()
    name = f"empathy_bench_{uuid.uuid4().hex[:12]}"
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
            upgrade(url)
            yield url
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def settings_env(api_url: str, db_url: str, secret_key: str, **overrides: str) -> dict[str, str]:
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": api_url,
        "DATABASE_URL": db_url,
        "EMPATHY_SECRET_KEY": secret_key,
        "EMPATHY_ADMINS": "hr.lead@example.com",
        "LOG_LEVEL": "WARNING",
    }
    env.update(overrides)
    return env


def new_secret_key() -> str:
    return Fernet.generate_key().decode()


# -- organisation ---------------------------------------------------------------------------------


def seed_people(session_factory: sessionmaker[Session], count: int, *, team_size: int = 10) -> list[str]:
    """One workspace; `count` people with Slack ids in teams of `team_size`. The first member of
    each team leads it; every lead reports to person 0 (who leads team 0 and has no manager).
    Returns the Slack ids, in order."""
    from bot.core.models import Person, PersonAccount, Team, Workspace

    ids = [slack_id(i) for i in range(count)]
    with session_factory.begin() as session:
        workspace = Workspace(external_id=TEAM_ID, name="Benchmark Co")
        session.add(workspace)
        session.flush()
        teams = [Team(workspace_id=workspace.id, name=f"Team {n}") for n in range(math.ceil(count / team_size))]
        session.add_all(teams)
        session.flush()
        people = [
            Person(
                workspace_id=workspace.id,
                accounts=[PersonAccount(platform="slack", external_user_id=uid)],
                email=f"{uid.lower()}@example.com",
                name=f"Person{i} Bench",
                timezone=TIMEZONES[i % len(TIMEZONES)],
                team_id=teams[i // team_size].id,
            )
            for i, uid in enumerate(ids)
        ]
        session.add_all(people)
        session.flush()
        for i, person in enumerate(people):
            lead = people[(i // team_size) * team_size]
            if person is lead:
                person.manager_id = people[0].id if i else None
            else:
                person.manager_id = lead.id
    return ids


# -- the fake Slack API in a child process ----------------------------------------------------------


def _matches(called: str, method: str) -> bool:
    """`method` names a Web API method, or ends in "." for a family ("response_url." for every reply)."""
    return called.startswith(method) if method.endswith(".") else called == method


# (monotonic time, method, outbox id or "", status) of each call as the fake took it in (with `answer_after`):
# CLOCK_MONOTONIC is one clock for every process, so the parent can set them beside its own times.
ARRIVALS: list[tuple[float, str, str, int]] = []


# (monotonic time, ms) whenever the fake's heartbeat woke more than HEARTBEAT_LATE_MS late: the fake's process
# was not scheduled (a busy machine), and every request that reached it meanwhile is taken in at once.
STALLS: list[tuple[float, float]] = []
HEARTBEAT_MS = 5.0
HEARTBEAT_LATE_MS = 15.0


def _heartbeat(stalls: list[tuple[float, float]]) -> None:
    while True:
        before = time.monotonic()
        time.sleep(HEARTBEAT_MS / 1000)
        late = (time.monotonic() - before) * 1000 - HEARTBEAT_MS
        if late > HEARTBEAT_LATE_MS:
            stalls.append((before, late))


def _outbox_id(params: Any) -> str:
    metadata = params.get("metadata") if isinstance(params, dict) else None
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            return ""
    return str(((metadata or {}).get("event_payload") or {}).get("outbox_id", ""))


def _fake_main(
    conn: Any,
    team_id: str,
    latency: float,
    latency_methods: tuple[str, ...] | None = None,
    answer_after: bool = False,
    http11: bool = False,
) -> None:
    from tests.fakes.slack.api import FakeSlack

    if http11:
        # This child process only: BaseHTTPRequestHandler speaks HTTP/1.0 and
        # closes every connection, so each call opened a new one; Slack keeps them (HTTP/1.1). Nagle would hold
        # a kept connection's body until the client's delayed ACK (40 ms).
        from http.server import ThreadingHTTPServer

        from tests.fakes.slack import api

        api._RequestHandler.protocol_version = "HTTP/1.1"
        api._RequestHandler.disable_nagle_algorithm = True
        # socketserver listens with a backlog of 5: dozens of clients connecting at once overflowed it, and
        # each connection dropped there waited for TCP's 1 s retransmission; Slack's front door accepts them.
        ThreadingHTTPServer.request_queue_size = 256
    fake = FakeSlack(team_id=team_id)
    if answer_after:
        threading.Thread(target=_heartbeat, args=(STALLS,), name="fake-heartbeat", daemon=True).start()
    if latency > 0:
        # Real Slack answers in tens of milliseconds, not the fake's few; the delay is outside the
        # fake's lock, so concurrent requests overlap as they would against Slack.
        handle = fake._handle

        def slow_handle(*args: Any, **kwargs: Any) -> Any:
            slow = latency_methods is None or any(_matches(str(args[0]), method) for method in latency_methods)
            if slow and answer_after:
                # Counted by the rate limit (and stored) when it arrives, as at Slack's front door; answered later.
                arrived = time.monotonic()
                reply = handle(*args, **kwargs)
                ARRIVALS.append((arrived, str(args[0]), _outbox_id(args[1]), reply.status))
                time.sleep(latency)
                return reply
            if slow:
                time.sleep(latency)
            return handle(*args, **kwargs)

        fake._handle = slow_handle  # type: ignore[method-assign]
    fake.start()
    _count_connections(fake)
    conn.send(fake.url)
    try:
        while True:
            try:
                command, args = conn.recv()
            except EOFError:
                break
            if command == "stop":
                conn.send(None)
                break
            try:
                conn.send(("ok", _fake_command(fake, command, args)))
            except Exception as error:  # report to the parent rather than hang it
                conn.send(("error", f"{type(error).__name__}: {error}"))
    finally:
        fake.stop()


CONNECTIONS = [0]


def _count_connections(fake: Any) -> None:
    """Count the connections the fake accepts (a kept-alive client opens few; one closed each call, many)."""
    server = fake._server
    get_request = server.get_request

    def counting_get_request() -> Any:
        CONNECTIONS[0] += 1
        return get_request()

    server.get_request = counting_get_request


def _fake_command(fake: Any, command: str, args: dict[str, Any]) -> Any:
    if command == "post_dms":
        # One posted DM per user, whose `ts` a click on it carries.
        posted = {}
        for uid in args["users"]:
            fake.add_user(uid, email=f"{uid.lower()}@example.com", real_name=f"{uid} Bench")
            posted[uid] = fake._chat_post_message({"channel": uid, "text": "Your pulse"})["ts"]
        return posted
    if command == "connections":
        return CONNECTIONS[0]
    if command == "chat_updates":
        updates = [call for call in fake.calls if call.method == "chat.update"]
        return {"ok": sum(1 for call in updates if call.status == 200), "all": len(updates)}
    if command == "add_users":
        for uid, tz in args["users"]:
            fake.add_user(uid, email=f"{uid.lower()}@example.com", real_name=f"{uid} Bench", tz=tz)
        return len(args["users"])
    if command == "inject_failures":
        fake.inject_failures(
            args["method"],
            rate_429=args["rate_429"],
            rate_500=args["rate_500"],
            rate_500_after=args.get("rate_500_after", 0.0),
            seed=args["seed"],
        )
        return None
    if command == "posts_per_outbox_id":
        # Every accepted chat.postMessage carries its outbox row id in message metadata.
        posts: Counter[str] = Counter()
        for call in fake.calls:
            if call.method == "chat.postMessage" and call.status == 200:
                metadata = call.body.get("metadata") or {}
                posts[str((metadata.get("event_payload") or {}).get("outbox_id"))] += 1
        return dict(posts)
    if command == "injected":
        return {f"{method} {status}": n for (method, status), n in fake.injected().items()}
    if command == "set_rate_limit":
        fake.set_rate_limit(args["method"], args["per_minute"], burst=args["burst"])
        return None
    if command == "dm_counts":
        return {uid: len(fake.messages(uid)) for uid in args["users"]}
    if command == "first_messages":
        result = {}
        for uid in args["users"]:
            messages = fake.messages(uid)
            result[uid] = messages[0] if messages else None
        return result
    if command == "call_stats":
        by_method: dict[str, Counter[int]] = {}
        replies: Counter[str] = Counter()
        for call in fake.calls:
            name = "response_url" if call.method.startswith("response_url.") else call.method
            by_method.setdefault(name, Counter())[call.status] += 1
            if name == "response_url":
                replies[str(call.body.get("text", ""))[:90]] += 1
        return {"by_method": {m: dict(c) for m, c in by_method.items()}, "replies": dict(replies)}
    if command == "arrivals":
        return list(ARRIVALS)
    if command == "stalls":
        return list(STALLS)
    if command == "count":
        prefix = args["prefix"]
        return sum(1 for call in fake.calls if call.method.startswith(prefix))
    raise ValueError(f"unknown command {command!r}")


class FakeSlackProcess:
    """tests.fakes.slack.api.FakeSlack served from a child process."""

    def __init__(
        self,
        team_id: str = TEAM_ID,
        *,
        latency: float = 0.0,
        latency_methods: tuple[str, ...] | None = None,
        answer_after: bool = False,
        http11: bool = False,
    ) -> None:
        """`latency` seconds before each answer; only for `latency_methods` when given. The call is handled
        (rate-limited, stored) after the latency, or with `answer_after` when it arrives. With `http11` the
        fake keeps connections open between calls as Slack does (the stock fake closes each one)."""
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_fake_main,
            args=(child, team_id, latency, latency_methods, answer_after, http11),
            name="fake-slack",
            daemon=True,
        )
        self._process.start()
        child.close()
        self.url: str = self._receive(60.0)
        self.pid: int = self._process.pid or 0

    def _receive(self, timeout: float) -> Any:
        if not self._conn.poll(timeout):
            raise TimeoutError(f"the fake Slack process did not answer within {timeout:.0f}s")
        try:
            return self._conn.recv()
        except EOFError:
            raise RuntimeError(f"the fake Slack process exited (code {self._process.exitcode})") from None

    def _call(self, command: str, timeout: float = PIPE_TIMEOUT, **args: Any) -> Any:
        self._conn.send((command, args))
        status, value = self._receive(timeout)
        if status != "ok":
            raise RuntimeError(f"fake Slack {command}: {value}")
        return value

    def add_users(self, ids: list[str]) -> None:
        for start in range(0, len(ids), 2000):
            chunk = ids[start : start + 2000]
            self._call("add_users", users=[(uid, TIMEZONES[int(uid[1:]) % len(TIMEZONES)]) for uid in chunk])

    def set_rate_limit(self, method: str, per_minute: float | None, *, burst: int) -> None:
        self._call("set_rate_limit", method=method, per_minute=per_minute, burst=burst)

    def inject_failures(
        self, method: str, *, rate_429: float, rate_500: float, seed: int | None, rate_500_after: float = 0.0
    ) -> None:
        self._call(
            "inject_failures",
            method=method,
            rate_429=rate_429,
            rate_500=rate_500,
            rate_500_after=rate_500_after,
            seed=seed,
        )

    def posts_per_outbox_id(self) -> dict[str, int]:
        """Accepted chat.postMessage calls per outbox row id (from the message metadata)."""
        return self._call("posts_per_outbox_id")  # type: ignore[no-any-return]

    def injected(self) -> dict[str, int]:
        """Random failures injected so far, keyed "method status"."""
        return self._call("injected")  # type: ignore[no-any-return]

    def dm_counts(self, ids: list[str]) -> dict[str, int]:
        return self._call("dm_counts", users=ids)  # type: ignore[no-any-return]

    def first_messages(self, ids: list[str]) -> dict[str, dict[str, Any] | None]:
        return self._call("first_messages", users=ids)  # type: ignore[no-any-return]

    def arrivals(self) -> list[tuple[float, str, str, int]]:
        """Every call as the fake took it in: (monotonic time, method, outbox id, status); with `answer_after`."""
        return self._call("arrivals")  # type: ignore[no-any-return]

    def stalls(self) -> list[tuple[float, float]]:
        """When the fake's process was not scheduled for a while (with `answer_after`): (monotonic time, ms late)."""
        return self._call("stalls")  # type: ignore[no-any-return]

    def call_stats(self) -> dict[str, Any]:
        return self._call("call_stats")  # type: ignore[no-any-return]

    def post_dms(self, ids: list[str]) -> dict[str, str]:
        """Each user added and sent one DM; their message `ts` by user id."""
        return self._call("post_dms", timeout=120.0, users=ids)  # type: ignore[no-any-return]

    def connections(self) -> int:
        """Connections the fake has accepted so far."""
        return self._call("connections")  # type: ignore[no-any-return]

    def chat_updates(self) -> dict[str, int]:
        """chat.update calls: accepted ("ok") and all."""
        return self._call("chat_updates")  # type: ignore[no-any-return]

    def count(self, prefix: str) -> int:
        return self._call("count", timeout=60.0, prefix=prefix)  # type: ignore[no-any-return]

    def stop(self) -> None:
        if self._process.is_alive():
            with contextlib.suppress(Exception):
                self._conn.send(("stop", {}))
                self._receive(10.0)
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=5)
        self._conn.close()

    def __enter__(self) -> FakeSlackProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- figures ---------------------------------------------------------------------------------------


def cpu_seconds(root_pid: int) -> float | None:
    """User + system CPU seconds used so far by a process and its live descendants (Linux /proc)."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        stats: dict[int, tuple[int, float]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # After "pid (comm)": state ppid ... utime(12th) stime(13th), counted from state as 1st.
            stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    except (OSError, ValueError, IndexError):
        return None
    if root_pid not in stats:
        return None
    total, frontier = 0.0, [root_pid]
    seen: set[int] = set()
    while frontier:
        pid = frontier.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += stats[pid][1]
        frontier.extend(child for child, (parent, _) in stats.items() if parent == pid)
    return total


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class Stopwatch:
    started: float = 0.0

    def __post_init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


def print_table(title: str, rows: list[tuple[str, str]]) -> None:
    print(f"\n== {title}")
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value}")


def mib(num_bytes: float) -> str:
    return f"{num_bytes / (1024 * 1024):.1f} MiB"
