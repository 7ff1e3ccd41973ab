"""How fast one worker process drains a backlog of pulse answer clicks (issue #18, part 2).

What it does, for each run:

1. A fresh database: `--people` people in one workspace (benchmarks/_support.seed_people), one open
   round for all of them (`surveys.rounds.open_round`), each clicking person's DM channel stored on
   their account (as the outbox stores it) and a pending reminder queued for them (as the reminder
   job queues it), so that each click has a reminder to call off.
2. The fake Slack API in its own process, speaking HTTP/1.1 as Slack does (so a client may keep its
   connection), with one pulse DM per clicking person, whose `ts` the clicks carry.
3. `--clicks` signed-shape `block_actions` answer clicks, stored in the inbox as the web process
   stores them (`Inbox.accept`, kind and sender from `early_ack_of`). Each clicking person answers
   every question of their round, people interleaved: the backlog a busy pulse leaves.
4. ONE worker process, started as `empathy-bot worker` starts its inbox (`inbox_for(...,
   works=True)`, `EMPATHY_WORK_THREADS` threads), from the checkout given (`--trees`), so that the
   same script times an older commit beside this one. The clock runs from its start until the inbox
   table is empty.

Figures per run: clicks/s; SQL statements per click, counted in the worker with SQLAlchemy's
`before_cursor_execute` and split into the inbox's own (claiming and deleting rows, on its own
engine) and the click's work; transactions (each a BEGIN and a COMMIT round trip on PostgreSQL) per
click; the worker's CPU ms per click; TCP connections the worker opened to the fake Slack.

The floor (`--floor`, on by default) is a worker from this checkout whose handler does only the
minimal click: find the participant (one query), upsert a sealed answer row, update the message
with `chat.update`; same inbox, same fake, same client.

Correctness (RESULT: FAILED and exit 1 if any fails): the inbox drained; exactly one sealed answer
row per (person, question) clicked; one accepted `chat.update` per click; every clicking person's
reminder cancelled (none still pending). Runs of the checkouts alternate:

    .venv/bin/python -m benchmarks.click_drain --people 1000 --clicks 1000             # quick
    .venv/bin/python -m benchmarks.click_drain --trees /work/wt-clicks-old,. --repeat 2  # before and after
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from benchmarks._support import (
    TEAM_ID,
    FakeSlackProcess,
    dm_channel,
    new_secret_key,
    print_table,
    seed_people,
    settings_env,
    temporary_database,
)

DRAIN_TIMEOUT = 1800.0

# -- a wire counter between the worker and PostgreSQL ----------------------------------------------


class WireCounter:
    """A TCP relay in front of PostgreSQL that counts round trips as the network sees them: each time a
    connection's client speaks after the server has (or first), one trip. BEGIN sent on its own is a
    trip, a statement that psycopg sends with its BEGIN in one write would not be. It adds latency, so
    runs through it (`--wire`) are for counting, not timing."""

    def __init__(self, target_host: str, target_port: int) -> None:
        import socket
        import threading

        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.trips = 0
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._target)
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            last = ["server"]  # who spoke last on this connection
            threading.Thread(target=self._pump, args=(client, server, "client", last), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, "server", last), daemon=True).start()

    def _pump(self, source: Any, sink: Any, side: str, last: list[str]) -> None:
        try:
            while data := source.recv(65536):
                if side == "client" and last[0] == "server":
                    with self._lock:
                        self.trips += 1
                last[0] = side
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()


# -- the worker process -----------------------------------------------------------------------------

# Run with `python -c` in the checkout being measured, so its own `bot`, `handlers` and `surveys` load.
WORKER = r"""
import json, os, resource, sys, threading
from sqlalchemy import Engine, event

config = json.loads(os.environ["CLICK_DRAIN"])
from bot.core.settings import load_settings
from bot.core.database import make_engine
from bot.core.clock import SystemClock

settings = load_settings()
engine = make_engine(settings.database_url)
counts = {"inbox": 0, "work": 0, "inbox_tx": 0, "work_tx": 0}
inbox_engines = []

def _which(conn):
    return "inbox" if any(conn.engine is e for e in inbox_engines) else "work"

@event.listens_for(Engine, "before_cursor_execute")
def _count(conn, cursor, statement, parameters, context, executemany):
    counts[_which(conn)] += 1

@event.listens_for(Engine, "commit")
def _commit(conn):
    counts[_which(conn) + "_tx"] += 1

if config["mode"] == "floor":
    from benchmarks.click_drain import floor_handler
    from bot.core.crypto import SecretBox
    from bot.delivery.inbox import WORKER_POLL_SECONDS, Inbox, inbox_engine
    # At the worker's niceness, as `inbox_for` runs the app's: on a shared machine a floor at nice 0
    # beside an app at nice 10 measured the scheduler, not the click.
    inbox = Inbox(inbox_engine(settings.database_url), SecretBox(settings.secret_key),
                  floor_handler(settings, engine), threads=settings.work_threads, poll_seconds=WORKER_POLL_SECONDS,
                  work_nice=settings.worker_nice)
else:
    from handlers.slack.inbox_app import inbox_for
    inbox = inbox_for(settings, engine=engine, clock=SystemClock(), accepts=False, works=True)
inbox_engines.append(inbox.engine)
print("ready", flush=True)
sys.stdin.readline()
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu0 = usage.ru_utime + usage.ru_stime
if config.get("profile"):
    # One thread, under cProfile: where a click's CPU goes (`--profile FILE`, then pstats).
    # The thread's CPU time, not the wall clock: on a shared machine waits swamp the wall clock.
    import cProfile, time
    inbox._thread_count = 1
    profiler = cProfile.Profile(time.thread_time)
    profiler.runcall(inbox.drain)
    profiler.dump_stats(config["profile"])
else:
    inbox.start()
sys.stdin.readline()
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime - cpu0
snapshot = dict(counts)
inbox.stop()
print(json.dumps({"cpu": cpu, **snapshot}), flush=True)
"""


def floor_handler(settings: Any, engine: Any) -> Any:
    """The minimal click: find the participant, upsert an answer row, update the message."""
    import hashlib
    from urllib.parse import parse_qsl

    from sqlalchemy import select

    from bot.core.database import make_session_factory, upsert_insert
    from bot.core.models import PersonAccount
    from handlers.slack.client import build_web_client
    from surveys.models import PulseParticipant, PulseSealedAnswer, random_id
    from surveys.pulse_messages import parse_action_value

    factory = make_session_factory(engine)
    client = build_web_client(settings)
    sealed = os.urandom(3840 + 40)  # about the size of a sealed answer (surveys/rounds.py SEALED_SIZE)

    def handle(raw: str) -> None:
        payload = json.loads(dict(parse_qsl(raw))["payload"])
        parsed = parse_action_value(payload["actions"][0]["value"])
        assert parsed is not None
        round_id, question_id, _value = parsed
        with factory.begin() as session:
            participant = session.scalar(
                select(PulseParticipant.id)
                .join(PersonAccount, PersonAccount.person_id == PulseParticipant.person_id)
                .where(PulseParticipant.round_id == round_id, PersonAccount.external_user_id == payload["user"]["id"])
            )
            slot = hashlib.sha256(f"{participant}:{question_id}".encode()).hexdigest()
            session.execute(
                upsert_insert(session, PulseSealedAnswer)
                .values(id=random_id(), round_id=round_id, slot=slot, sealed=sealed)
                .on_conflict_do_update(index_elements=["round_id", "slot"], set_={"sealed": sealed})
            )
        container = payload["container"]
        client.chat_update(channel=container["channel_id"], ts=container["message_ts"], text="Thanks", blocks=[])

    return handle


class Worker:
    def __init__(self, tree: str, env: dict[str, str], mode: str, profile: str | None = None) -> None:
        config = {"mode": mode, "profile": profile}
        full_env = {**os.environ, **env, "CLICK_DRAIN": json.dumps(config), "PYTHONPATH": ""}
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER],
            cwd=tree,
            env=full_env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None and self.process.stdin is not None
        line = self.process.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"the worker did not start (said {line!r}, exit {self.process.poll()})")

    def say(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def finish(self) -> dict[str, Any]:
        self.say()
        assert self.process.stdout is not None
        result: dict[str, Any] = json.loads(self.process.stdout.readline())
        self.process.wait(60)
        return result


# -- one run ---------------------------------------------------------------------------------------


def _clicks(round_id: int, asked: dict[str, tuple[str, ...]], ts: dict[str, str], total: int) -> Iterator[str]:
    """Every clicking person answers each of their questions, people interleaved (question 1 of
    everyone, then question 2, …), until `total` clicks."""
    made = 0
    depth = max(len(q) for q in asked.values())
    for position in range(depth):
        for uid, questions in asked.items():
            if position >= len(questions):
                continue
            if made >= total:
                return
            value = 1 + (made % 5)
            channel = dm_channel(uid)
            payload = {
                "type": "block_actions",
                "team": {"id": TEAM_ID, "domain": "benchmark"},
                "api_app_id": "A0EMPATHY",
                "user": {"id": uid, "team_id": TEAM_ID},
                "trigger_id": f"{made}.trigger",
                "container": {"type": "message", "channel_id": channel, "message_ts": ts[uid]},
                "channel": {"id": channel},
                "response_url": "http://127.0.0.1:9/response",
                "actions": [
                    {
                        "type": "button",
                        "action_id": f"pulse.answer.{value}",
                        "block_id": f"q.{questions[position]}",
                        "value": f"{round_id}|{questions[position]}|{value}",
                        "action_ts": f"{time.time():.6f}",
                    }
                ],
            }
            made += 1
            yield urlencode({"payload": json.dumps(payload)})


def run(
    kind: str,
    tree: str,
    mode: str,
    people: int,
    clicks: int,
    threads: int,
    profile: str | None = None,
    nice: int | None = None,
    count_wire: bool = False,
) -> dict[str, Any]:
    from sqlalchemy import func, select

    from bot.core.crypto import SecretBox
    from bot.core.database import make_engine, make_session_factory
    from bot.core.models import InboxRequest, OutboxMessage, PersonAccount, Workspace
    from bot.delivery.inbox import Inbox, inbox_engine
    from bot.delivery.outbox import OutboxRow, enqueue_many
    from handlers.slack.early_ack import early_ack_of
    from surveys.bank import QuestionBank
    from surveys.jobs import reminder_key
    from surveys.models import PulseSealedAnswer
    from surveys.rounds import open_round

    secret = new_secret_key()
    box, bank = SecretBox(secret), QuestionBank.builtin()
    now = datetime.now(UTC)
    with temporary_database(kind) as url:
        engine = make_engine(url)
        factory = make_session_factory(engine)
        ids = seed_people(factory, people)
        with factory.begin() as session:
            workspace = session.scalar(select(Workspace))
            assert workspace is not None
            opened = open_round(
                session, workspace, bank, box, now=now, round_key="bench", round_date=now.date(), packs=["engagement"]
            )
            round_id = opened.round.id
            by_person = {i.person_id: i.question_ids for i in opened.invitations}
            accounts = {a.external_user_id: a for a in session.scalars(select(PersonAccount))}
            per_person = max(len(q) for q in by_person.values())
            clickers = ids[: min(people, -(-clicks // per_person))]
            asked = {uid: by_person[accounts[uid].person_id] for uid in clickers}
            for uid in clickers:
                accounts[uid].conversation_ref = dm_channel(uid)
            enqueue_many(
                session,
                workspace.id,
                [
                    OutboxRow(
                        reminder_key(round_id, accounts[uid].person_id),
                        {"text": "A reminder"},
                        now + timedelta(days=1),
                        person_id=accounts[uid].person_id,
                    )
                    for uid in clickers
                ],
            )
            reminder_keys = [reminder_key(round_id, accounts[uid].person_id) for uid in clickers]
        fake = FakeSlackProcess(http11=True)
        try:
            ts = fake.post_dms(clickers)
            bodies = list(_clicks(round_id, asked, ts, clicks))
            distinct = len(bodies)
            front = Inbox(inbox_engine(url), box)  # as a web process: accept only
            for body in bodies:
                early = early_ack_of(body)
                assert early is not None and early.kind == "click"
                front.accept(early.kind, body, who=early.who)
            front.engine.dispose()
            wire = None
            worker_url = url
            if count_wire:
                from sqlalchemy.engine import make_url

                parsed = make_url(url)
                wire = WireCounter(parsed.host or "127.0.0.1", parsed.port or 5432)
                worker_url = parsed.set(host="127.0.0.1", port=wire.port).render_as_string(hide_password=False)
            env = settings_env(fake.url, worker_url, secret, EMPATHY_WORK_THREADS=str(threads))
            if nice is not None:
                env["EMPATHY_WORKER_NICE"] = str(nice)
            worker = Worker(tree, env, mode, profile)
            watcher = make_engine(url)
            connections_before = fake.connections()
            started = time.perf_counter()
            worker.say()
            left = len(bodies)
            while left and time.perf_counter() - started < DRAIN_TIMEOUT:
                time.sleep(0.02)
                with watcher.connect() as connection:
                    left = int(connection.scalar(select(func.count(InboxRequest.id))) or 0)
            seconds = time.perf_counter() - started
            stats = worker.finish()
            trips_at_end = wire.trips if wire else 0
            if wire:
                wire.close()
            watcher.dispose()
            connections = fake.connections() - connections_before
            updates = fake.chat_updates()
            with factory() as session:
                answers = int(session.scalar(select(func.count(PulseSealedAnswer.id))) or 0)
                pending = int(
                    session.scalar(
                        select(func.count(OutboxMessage.id)).where(
                            OutboxMessage.idempotency_key.in_(reminder_keys), OutboxMessage.state == "pending"
                        )
                    )
                    or 0
                )
        finally:
            fake.stop()
        engine.dispose()
    problems = []
    if left:
        problems.append(f"{left} clicks left in the inbox")
    if answers != distinct and mode != "floor":
        problems.append(f"{answers} answer rows for {distinct} distinct clicks")
    if updates["ok"] != len(bodies) or updates["all"] != len(bodies):
        problems.append(f"{updates['ok']} chat.update accepted ({updates['all']} made) for {len(bodies)} clicks")
    if pending and mode != "floor":
        problems.append(f"{pending} reminders still pending")
    n = len(bodies)
    return {
        "tree": tree,
        "mode": mode,
        "clicks": n,
        "seconds": seconds,
        "rate": n / seconds,
        "work_statements": stats["work"] / n,
        "inbox_statements": stats["inbox"] / n,
        "work_tx": stats["work_tx"] / n,
        "inbox_tx": stats["inbox_tx"] / n,
        "cpu_ms": stats["cpu"] * 1000 / n,
        "connections": connections,
        "wire_trips": trips_at_end / n if count_wire else None,
        "problems": problems,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--clicks", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=4, help="EMPATHY_WORK_THREADS (default: its default, 4)")
    parser.add_argument("--trees", default=".", help="checkouts to time, comma-separated, alternated")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-floor", action="store_true")
    parser.add_argument("--profile", metavar="FILE", help="one thread under cProfile, stats to FILE (not timed)")
    parser.add_argument(
        "--wire",
        action="store_true",
        help="count the worker's PostgreSQL round trips on the wire, through a relay (adds latency: not for timing)",
    )
    parser.add_argument(
        "--worker-nice", type=int, help="EMPATHY_WORKER_NICE for the workers, floor included (default: its default)"
    )
    args = parser.parse_args()
    threads = args.threads
    plan: list[tuple[str, str]] = []
    for _ in range(args.repeat):
        plan += [(os.path.abspath(tree), "app") for tree in args.trees.split(",")]
        if not args.no_floor:
            plan.append((os.path.abspath("."), "floor"))
    print(
        f"{args.database}: {args.people} people, {args.clicks} clicks, {threads} work threads; load {os.getloadavg()}"
    )
    results = []
    for tree, mode in plan:
        result = run(
            args.database, tree, mode, args.people, args.clicks, threads, args.profile, args.worker_nice, args.wire
        )
        results.append(result)
        label = "floor" if mode == "floor" else tree
        print_table(
            f"{label} ({args.database})",
            [
                ("drain", f"{result['seconds']:.1f} s, {result['rate']:.0f} clicks/s"),
                (
                    "SQL statements / click",
                    f"{result['work_statements'] + result['inbox_statements']:.2f} "
                    f"(click work {result['work_statements']:.2f}, inbox {result['inbox_statements']:.2f})",
                ),
                ("transactions / click", f"click work {result['work_tx']:.2f}, inbox {result['inbox_tx']:.2f}"),
                ("worker CPU / click", f"{result['cpu_ms']:.2f} ms"),
                *(
                    [("round trips on the wire / click", f"{result['wire_trips']:.2f} (click work and inbox)")]
                    if result["wire_trips"] is not None
                    else []
                ),
                ("connections to Slack", str(result["connections"])),
                ("load average", " ".join(f"{x:.2f}" for x in os.getloadavg())),
                ("correctness", "; ".join(result["problems"]) or "ok"),
            ],
        )
    failed = any(r["problems"] for r in results)
    print("\nRESULT: FAILED" if failed else "\nRESULT: ok")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
