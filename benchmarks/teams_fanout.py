"""Teams fan-out: a message to each of N people on a Teams tenant through the real outbox and `TeamsSender`,
while the fake Bot Connector answers a random share of calls with 429 (Retry-After 1 s), 412/502/503/504
before storing the message, and 502 AFTER storing it (the ambiguous case), and the dispatcher process is
SIGKILLed at random moments and started again.

    .venv/bin/python -m benchmarks.teams_fanout                         # 10,000 people, 40/s, 3 kills, SQLite
    .venv/bin/python -m benchmarks.teams_fanout --database postgresql
    .venv/bin/python -m benchmarks.teams_fanout --people 1000 --kills 0 # a quick look

The fake Bot Connector (`tests/fakes/teams/connector.py`, its app-token check on) runs in its own process and
enforces Microsoft's limit for the tenant (50 requests in any second: a 429 beyond it), so the sender's
pace is checked against the real ceiling, not only against itself. `--without-ref` of the people have no
conversation reference yet: their 1:1 conversation is created first (one more call each).

Teams has no message history the bot can read, so after a kill or an ambiguous failure the row is sent
again: each such event may cost one duplicate, never a loss. The run checks exactly that bound:
duplicates <= (502s after storing) + (kills that landed after a post was stored and before its
commit), and nothing lost. `--latency-ms 100` makes most kills land in a post, as in crash_recovery.

Figures printed: the fan-out time against the ideal (calls / rate, plus the Retry-After seconds the 429s
impose), the 429s the tenant limit itself gave (0 when the pace holds), duplicates and lost people.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import signal
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from benchmarks._support import new_secret_key, print_table, temporary_database

CLIENT_ID = "5f3c2a1b-9d8e-4f70-a6b5-c4d3e2f1a0b9"
TENANT_ID = "0e1d2c3b-4a59-4687-9786-a5b4c3d2e1f0"
TENANT_LIMIT = 50  # Microsoft: requests a second per app per tenant


def aad(index: int) -> str:
    return f"00000000-0000-4000-8000-{index:012d}"


# -- the fake Bot Connector, in its own process -----------------------------------------------------


def connector_main(auth: Any, conn: Any, args: argparse.Namespace) -> None:
    from tests.fakes.teams.connector import FakeBotConnector

    class BenchConnector(FakeBotConnector):
        """Random faults (seeded), the tenant's 50/s limit, and a 502 after storing the message."""

        def __init__(self) -> None:
            super().__init__(auth, CLIENT_ID)
            self.random = random.Random(args.seed)
            self.recent: list[float] = []
            self.counts: Counter[str] = Counter()

        def _serve(self, method: str, path: str, body: Any, authorization: str) -> tuple[int, Any, dict[str, str]]:
            with self._lock:
                now = time.monotonic()
                self.recent = [t for t in self.recent if t > now - 1.0]
                if len(self.recent) >= TENANT_LIMIT:
                    self.counts["429 tenant limit"] += 1
                    return 429, {"error": {"code": "Throttled"}}, {"Retry-After": "1"}
                self.recent.append(now)
                draw = self.random.random()
            if args.latency_ms:
                time.sleep(args.latency_ms / 1000)
            if draw < args.rate_429:
                with self._lock:
                    self.counts["429 injected"] += 1
                return 429, {"error": {"code": "Throttled"}}, {"Retry-After": "1"}
            draw -= args.rate_429
            if draw < args.rate_5xx:
                status = self.random.choice((412, 502, 503, 504))
                with self._lock:
                    self.counts[f"{status} injected"] += 1
                return status, {"error": {"code": "ServiceError"}}, {}
            draw -= args.rate_5xx
            status, answer, headers = super()._serve(method, path, body, authorization)
            if draw < args.rate_after and method == "POST" and "/activities" in path and status < 300:
                with self._lock:
                    self.counts["502 after storing"] += 1
                return 502, {"error": {"code": "BadGateway"}}, {}
            return status, answer, headers

        def stats(self) -> dict[str, Any]:
            with self._lock:
                stored: Counter[str] = Counter()
                for conversation in self.conversations.values():
                    stored[conversation.id] += len(conversation.activities)
                members = {c.id: [m.get("id") for m in c.members] for c in self.conversations.values()}
                return {
                    "stored": dict(stored),
                    "members": members,
                    "counts": dict(self.counts),
                    "refused": len(self.refusals),
                    "calls": len(self.calls),
                }

    fake = BenchConnector().start()
    conn.send(fake.url)
    while True:
        command = conn.recv()
        if command == "stats":
            conn.send(json.dumps(fake.stats()))
        elif command == "stored_at":
            conn.send(json.dumps(fake.stats()["stored"]))
        else:
            fake.stop()
            return


# -- the dispatcher, in a process that gets killed ---------------------------------------------------


def worker_main(auth: Any, db_url: str, env: dict[str, str], args: argparse.Namespace) -> None:
    from bot.core.clock import SystemClock
    from bot.core.database import make_engine, make_session_factory
    from bot.core.models import OutboxMessage, OutboxState
    from bot.core.settings import load_settings
    from bot.delivery.outbox import OutboxDispatcher
    from handlers.teams.sender import TeamsSender

    settings = load_settings(env, require_slack=False)
    session_factory = make_session_factory(make_engine(db_url))
    token = auth.app_token(CLIENT_ID, TENANT_ID, lifetime=7200)
    sender = TeamsSender(settings, session_factory, token=lambda _scope, _tenant: token)
    dispatcher = OutboxDispatcher(
        session_factory,
        sender,
        SystemClock(),
        lease=timedelta(seconds=args.lease),
        worker_id=f"teams-{os.getpid()}",
        concurrency=args.concurrency,
    )
    while True:
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
            return
        time.sleep(0.2)  # only rows due later (backoff) or in another's lease


# -- the run ------------------------------------------------------------------------------------------


def seed(session_factory: Any, people: int, without_ref: float, service_url: str, seed_value: int) -> None:
    from bot.core.message import Message, Section, outbox_payload, text
    from bot.core.models import Person, PersonAccount, Platform
    from bot.delivery.outbox import OutboxRow, enqueue_many
    from handlers.teams.accounts import ConversationRef, teams_workspace

    chooser = random.Random(seed_value)
    now = datetime.now(UTC)
    with session_factory.begin() as session:
        tenant = teams_workspace(session, TENANT_ID)
        persons = []
        for index in range(people):
            ref = None
            if chooser.random() >= without_ref:
                ref = ConversationRef(f"a:installed-{index}", service_url).to_json()
            account = PersonAccount(platform=Platform.TEAMS.value, external_user_id=aad(index), conversation_ref=ref)
            persons.append(Person(workspace_id=tenant.id, name=f"Person {index}", accounts=[account]))
        session.add_all(persons)
        session.flush()
        message = Message(text("This week's pulse"), (Section(text("How was your week? One click answers.")),))
        payload = outbox_payload(message)
        rows = [OutboxRow(f"pulse-{p.id}", payload, now, person_id=p.id) for p in persons]
        enqueue_many(session, tenant.id, rows)


def stranded(db_url: str, fake: Any) -> tuple[set[int], set[int]]:
    """Rows a kill left `sending`, and how many of those the fake had already stored (the post went out,
    the commit did not): each of those is a duplicate to be, as Teams has no history to find it in."""
    from bot.core.database import make_engine, make_session_factory
    from bot.core.models import OutboxMessage, PersonAccount

    engine = make_engine(db_url)
    with make_session_factory(engine)() as session:
        rows = session.execute(
            select(OutboxMessage.id, PersonAccount.conversation_ref)
            .join(OutboxMessage, OutboxMessage.person_id == PersonAccount.person_id)
            .where(OutboxMessage.state == "sending")
        ).all()
    engine.dispose()
    fake.send("stored_at")
    stored = json.loads(fake.recv())
    posted = {row_id for row_id, ref in rows if ref and stored.get(json.loads(ref)["conversation_id"], 0) > 0}
    return {row_id for row_id, _ref in rows}, posted


def run(args: argparse.Namespace) -> int:
    from bot.core.database import make_engine, make_session_factory
    from bot.core.models import OutboxMessage, PersonAccount
    from tests.fakes.teams.auth import FakeBotFrameworkAuth

    ctx = multiprocessing.get_context("fork")
    auth = FakeBotFrameworkAuth().start()
    parent, child = ctx.Pipe()
    fake_process = ctx.Process(target=connector_main, args=(auth, child, args), daemon=True)
    fake_process.start()
    url = parent.recv()
    print(
        f"\n-- Teams fan-out: {args.people:,} people ({args.without_ref:.0%} without a conversation), "
        f"{args.rate}/s, {args.rate_429:.1%} 429 + {args.rate_5xx:.1%} 412/5xx + {args.rate_after:.1%} 502 after "
        f"storing, {args.kills} kill(s), {args.database}",
        flush=True,
    )
    try:
        with temporary_database(args.database) as db_url:
            engine = make_engine(db_url)
            session_factory = make_session_factory(engine)
            seed(session_factory, args.people, args.without_ref, url, args.seed)
            engine.dispose()
            env = {
                "DATABASE_URL": db_url,
                "EMPATHY_SECRET_KEY": new_secret_key(),
                "TEAMS_CLIENT_ID": CLIENT_ID,
                "TEAMS_CLIENT_SECRET": "unused-tokens-are-minted-by-the-fake",
                "TEAMS_TENANT_ID": TENANT_ID,
                "TEAMS_OPENID_URL": auth.openid_url,
                "TEAMS_LOGIN_URL": auth.url,
                "TEAMS_SERVICE_URL": url,
                "TEAMS_RATE_PER_SECOND": str(args.rate),
                "LOG_LEVEL": "WARNING",
            }
            killer = random.Random(args.seed + 1)
            started = time.monotonic()
            kills_landed = 0
            kill_left_sending: set[int] = set()
            kill_posted: set[int] = set()
            for attempt in range(args.kills + 1):
                worker = ctx.Process(target=worker_main, args=(auth, db_url, env, args))
                worker.start()
                if attempt < args.kills:
                    # Spread the kills over the expected run.
                    time.sleep(killer.uniform(2.0, max(3.0, args.people / args.rate / (args.kills + 1) / 2)))
                    if worker.is_alive():
                        os.kill(worker.pid or 0, signal.SIGKILL)
                        worker.join()
                        kills_landed += 1
                        # A post in flight at the kill still reaches the fake (it answers after its
                        # latency): let it land before looking.
                        time.sleep(args.latency_ms / 1000 + 0.5)
                        left, posted = stranded(db_url, parent)
                        # A row an earlier kill left may still wait for its lease: counted once.
                        kill_left_sending |= left
                        kill_posted |= posted
                        continue
                worker.join(args.timeout)
                if worker.is_alive():
                    os.kill(worker.pid or 0, signal.SIGKILL)
                    print("  gave up waiting", flush=True)
                break
            seconds = time.monotonic() - started
            engine = make_engine(db_url)
            with make_session_factory(engine)() as session:
                states = dict(
                    session.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all()
                )
                refs = dict(
                    session.execute(select(PersonAccount.external_user_id, PersonAccount.conversation_ref)).all()
                )
                most_attempts = session.scalar(select(func.max(OutboxMessage.attempts)))
            engine.dispose()
            parent.send("stats")
            stats = json.loads(parent.recv())
    finally:
        parent.send("stop")
        fake_process.join(5)
        auth.stop()

    stored: dict[str, int] = stats["stored"]
    per_person = {}
    for index in range(args.people):
        ref = refs.get(aad(index))
        conversation = json.loads(ref)["conversation_id"] if ref else None
        per_person[index] = stored.get(conversation, 0) if conversation else 0
    duplicates = sum(max(0, n - 1) for n in per_person.values())
    lost = sum(1 for n in per_person.values() if n == 0)
    counts = stats["counts"]
    after = counts.get("502 after storing", 0)
    injected_429 = counts.get("429 injected", 0)
    created = sum(1 for ref in stats["members"].values() if ref)
    calls = args.people + created
    ideal = calls / args.rate
    imposed = ideal + injected_429 * 1.0
    bound = after + len(kill_posted)
    rows = [
        ("database", args.database),
        ("people", f"{args.people:,}; conversations created {created:,}"),
        ("pace", f"{args.rate}/s per tenant (the fake refuses beyond {TENANT_LIMIT}/s)"),
        ("fan-out total", f"{seconds:.1f} s (kills and restarts included)"),
        ("ideal calls/rate", f"{ideal:.1f} s ({calls:,} Bot Connector calls)"),
        (
            "ideal + Retry-After",
            f"{imposed:.1f} s ({injected_429} injected 429s x 1 s); ratio {seconds / imposed:.2f}x",
        ),
        ("injected", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"),
        (
            "429s from the tenant limit",
            f"{counts.get('429 tenant limit', 0)} (0: the pace kept under {TENANT_LIMIT}/s)",
        ),
        (
            "kills",
            f"{kills_landed}, leaving {len(kill_left_sending)} row(s) in sending, {len(kill_posted)} of them already "
            f"stored by Teams; lease {args.lease} s",
        ),
        ("outbox rows", ", ".join(f"{state} {n:,}" for state, n in sorted(states.items()))),
        ("most attempts on one row", f"{most_attempts}"),
        ("token refusals", f"{stats['refused']}"),
        (
            "duplicates",
            f"{duplicates} (bound: {after} 502s after storing + {len(kill_posted)} posts a kill cut off = {bound})",
        ),
        ("lost", f"{lost} (must be 0)"),
    ]
    print_table(f"Teams fan-out: {args.people:,} people @ {args.rate}/s ({args.database})", rows)
    ok = lost == 0 and duplicates <= bound and stats["refused"] == 0
    print(f"  RESULT: {'OK' if ok else 'FAILED'}", flush=True)
    return 0 if ok else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.teams_fanout", description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=40, help="TEAMS_RATE_PER_SECOND (default 40)")
    parser.add_argument("--without-ref", type=float, default=0.1, help="share without a conversation yet (0.1)")
    parser.add_argument("--rate-429", type=float, default=0.005, help="share of calls answered 429 (0.005)")
    parser.add_argument("--rate-5xx", type=float, default=0.01, help="share answered 412/502/503/504 (0.01)")
    parser.add_argument("--rate-after", type=float, default=0.002, help="share of posts stored, then 502 (0.002)")
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs of the dispatcher process (3)")
    parser.add_argument("--lease", type=float, default=3.0, help="the outbox lease in seconds (3; production 120)")
    parser.add_argument(
        "--concurrency", type=int, default=16, help="messages in flight (EMPATHY_OUTBOX_CONCURRENCY, 16)"
    )
    parser.add_argument("--latency-ms", type=float, default=5.0, help="the fake's time per call (5 ms)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--timeout", type=float, default=3600.0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    threading.current_thread().name = "teams-fanout"
    sys.exit(main())
