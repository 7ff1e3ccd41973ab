"""Database outage: stop PostgreSQL for 30 s under Slack traffic and watch the real app answer and recover.

    .venv/bin/python -m benchmarks.db_outage                    # 30 s outage
    .venv/bin/python -m benchmarks.db_outage --outage 60 --clients 8

What runs: a throw-away PostgreSQL server of its own (tests/support/fault_postgres.py: initdb into a temporary
directory, so stopping it disturbs nobody), migrated; 20 people with an open pulse whose DMs were
delivered to the fake Slack API (in this process). The real app, `create_web_app(create_app(settings))`,
serves on 127.0.0.1 behind werkzeug's threaded server, with no restart at any point. `--clients` threads
send signed requests as Slack does, each over a new connection with Slack's 3 s timeout: `/pulse`
(reads the database before it acks) and pulse answer clicks (ack first, then write). A poller GETs
/healthz every 0.25 s. After `--before` seconds `pg_ctl stop -m fast` cuts the database off; after
`--outage` seconds `pg_ctl start` brings it back; traffic goes on for `--after` seconds.

A request counts as answered kindly when Slack got HTTP 200 within 3 s and the person was told, in the
ack or through the response_url, `handlers.slack.app.DATABASE_DOWN` ("... Please try again in a minute."). It
counts as succeeded when it got 200 and no error reply at all.

tests/scenarios/slack/test_faults.py runs the same scenario with a 3-second outage in CI.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier
from werkzeug.serving import make_server

from benchmarks._support import SIGNING_SECRET, TEAM_ID, new_secret_key, print_table, seed_people, settings_env
from tests.fakes.slack.api import FakeSlack
from tests.support.fault_postgres import ThrowawayPostgres

SLACK_TIMEOUT = 3.0  # Slack shows the person an error if the app has not answered by then
PEOPLE = 20


@dataclass
class Sent:
    """One request as Slack would see it."""

    kind: str
    at: float  # seconds since the run started
    status: int | str  # HTTP status, or the exception name when no answer came within SLACK_TIMEOUT
    ms: float
    ack_text: str
    reply_id: str


@dataclass
class Figures:
    requests: list[Sent]
    replies: dict[str, list[str]]  # reply id -> texts posted to that response_url
    healthz: list[tuple[float, int | str]]
    stopped_at: float  # when `pg_ctl stop` began
    down_at: float  # when it returned: the database is gone
    restart_began: float  # when `pg_ctl start` was called
    restarted_at: float  # when `pg_ctl start` returned: the database is back
    ended_at: float
    errors_logged: Counter[str] = field(default_factory=Counter)

    def texts(self, sent: Sent) -> list[str]:
        return [t for t in [sent.ack_text, *self.replies.get(sent.reply_id, [])] if t]

    def outcome(self, sent: Sent) -> str:
        from handlers.slack.app import APOLOGY, DATABASE_DOWN

        if sent.status != 200:
            return f"HTTP {sent.status}"
        texts = self.texts(sent)
        if DATABASE_DOWN in texts:
            return "told: try again in a minute"
        if APOLOGY in texts:
            return "told: something went wrong (generic apology)"
        return "succeeded"

    def during(self) -> list[Sent]:
        """Requests sent while the database was down (from the end of `pg_ctl stop` to the call of `start`)."""
        return [s for s in self.requests if self.down_at <= s.at < self.restart_began]

    def after(self) -> list[Sent]:
        return [s for s in self.requests if s.at >= self.restarted_at]

    def first_success_after_restart(self) -> float | None:
        times = [s.at for s in self.after() if self.outcome(s) == "succeeded"]
        return min(times) - self.restarted_at if times else None

    def healthz_during(self) -> Counter[int | str]:
        return Counter(code for at, code in self.healthz if self.down_at <= at < self.restart_began)

    def healthz_after(self) -> Counter[int | str]:
        return Counter(code for at, code in self.healthz if at >= self.restarted_at)

    def first_healthy_after_restart(self) -> float | None:
        times = [at for at, code in self.healthz if at >= self.restarted_at and code == 200]
        return min(times) - self.restarted_at if times else None

    def last_failure_after_restart(self) -> float | None:
        times = [s.at for s in self.after() if self.outcome(s) != "succeeded"]
        return max(times) - self.restarted_at if times else None


class _Client:
    """Signed requests over real HTTP, a new connection each, as Slack delivers them."""

    def __init__(self, port: int, api_url: str) -> None:
        self.port = port
        self.api_url = api_url
        self.verifier = SignatureVerifier(SIGNING_SECRET)

    def post(self, form: dict[str, str]) -> tuple[int | str, float, str]:
        body = urlencode(form)
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": self.verifier.generate_signature(timestamp=ts, body=body),
        }
        return self._request("POST", "/slack/events", body.encode(), headers)

    def get(self, path: str) -> int | str:
        return self._request("GET", path, None, {})[0]

    def _request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int | str, float, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=SLACK_TIMEOUT)
        started = time.perf_counter()
        text = ""
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            raw = response.read()
            status: int | str = response.status
            if raw.startswith(b"{"):
                text = str(json.loads(raw).get("text") or "")
        except OSError as error:  # no answer within Slack's timeout, or refused
            status = type(error).__name__
        finally:
            connection.close()
        return status, (time.perf_counter() - started) * 1000, text

    def pulse_command(self, user_id: str, reply_id: str) -> dict[str, str]:
        return {
            "token": "legacy",
            "team_id": TEAM_ID,
            "team_domain": "bench",
            "channel_id": "C0GENERAL",
            "channel_name": "general",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": "/pulse",
            "text": "",
            "api_app_id": "A0EMPATHY",
            "response_url": f"{self.api_url}response_url.{reply_id}",
            "trigger_id": f"{uuid.uuid4().int % 10**12}.trigger",
        }

    def click(self, target: Any, rng: random.Random, reply_id: str) -> dict[str, str]:
        question_id = rng.choice(list(target.questions))
        action = dict(rng.choice(target.questions[question_id]))
        action["action_ts"] = f"{time.time():.6f}"
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM_ID, "domain": "bench"},
            "api_app_id": "A0EMPATHY",
            "user": {"id": target.user_id, "team_id": TEAM_ID},
            "trigger_id": f"{uuid.uuid4().int % 10**12}.trigger",
            "container": {"type": "message", "channel_id": target.channel, "message_ts": target.ts},
            "channel": {"id": target.channel},
            "response_url": f"{self.api_url}response_url.{reply_id}",
            "actions": [action],
        }
        return {"payload": json.dumps(payload)}


def _prepare(db_url: str, fake: FakeSlack, secret_key: str) -> list[Any]:
    """Seed people, open a pulse for them and deliver its DMs; return their answer buttons."""
    from sqlalchemy import select

    from benchmarks.answer_latency import click_targets
    from bot.core.clock import SystemClock
    from bot.core.crypto import SecretBox
    from bot.core.database import make_engine, make_session_factory, upgrade
    from bot.core.models import Workspace
    from bot.core.settings import load_settings
    from bot.delivery.outbox import OutboxDispatcher
    from handlers.slack.client import build_web_client
    from handlers.slack.sender import SlackSender
    from surveys.bank import QuestionBank
    from surveys.jobs import open_pulse_now

    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        session_factory = make_session_factory(engine)
        ids = seed_people(session_factory, PEOPLE)
        for uid in ids:
            fake.add_user(uid, email=f"{uid.lower()}@example.com", real_name=f"{uid} Bench")
        with session_factory.begin() as session:
            workspace = session.scalar(select(Workspace))
            assert workspace is not None
            open_pulse_now(
                session, workspace, QuestionBank.builtin(), SecretBox(secret_key), now=datetime.now(UTC), team_id=None
            )
        settings = load_settings(settings_env(fake.url, db_url, secret_key))
        sender = SlackSender(build_web_client(settings, for_outbox=True), rate_per_minute=100_000)
        dispatcher = OutboxDispatcher(session_factory, sender, SystemClock())
        dispatcher.run_once(time_budget=60)
    finally:
        engine.dispose()
    targets = click_targets({uid: (fake.messages(uid) or [None])[0] for uid in ids})
    if len(targets) != PEOPLE:
        raise RuntimeError(f"only {len(targets)} of {PEOPLE} pulse DMs were delivered")
    return targets


def run_outage(*, outage: float, before: float = 5.0, after: float = 10.0, clients: int = 4) -> Figures:
    """The whole scenario; returns what every request and health check saw."""
    import logging

    from bot.core.settings import load_settings
    from handlers.slack.app import create_app
    from handlers.slack.web import create_web_app

    errors_logged: Counter[str] = Counter()

    class _Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            errors_logged[f"{record.levelname} {record.name}: {record.getMessage().splitlines()[0][:100]}"] += 1

    counting = _Count(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    logging.getLogger().addHandler(counting)
    secret_key = new_secret_key()
    with ThrowawayPostgres() as pg, FakeSlack(team_id=TEAM_ID) as fake:
        targets = _prepare(pg.url, fake, secret_key)
        settings = load_settings(settings_env(fake.url, pg.url, secret_key))
        web = create_web_app(create_app(settings))
        server = make_server("127.0.0.1", 0, web, threaded=True)
        server_thread = threading.Thread(target=server.serve_forever, name="outage-app", daemon=True)
        server_thread.start()
        client = _Client(server.server_port, fake.url)
        requests: list[Sent] = []
        healthz: list[tuple[float, int | str]] = []
        lock = threading.Lock()
        stop = threading.Event()
        started = time.monotonic()

        def traffic(index: int) -> None:
            rng = random.Random(index)
            n = 0
            while not stop.is_set():
                n += 1
                reply_id = f"{index}-{n}"
                target = rng.choice(targets)
                if n % 2:
                    kind, form = "/pulse", client.pulse_command(target.user_id, reply_id)
                else:
                    kind, form = "answer click", client.click(target, rng, reply_id)
                at = time.monotonic() - started
                status, ms, text = client.post(form)
                with lock:
                    requests.append(Sent(kind, at, status, ms, text, reply_id))
                stop.wait(rng.uniform(0.05, 0.25))

        def poll_health() -> None:
            while not stop.is_set():
                at = time.monotonic() - started
                code = client.get("/healthz")
                with lock:
                    healthz.append((at, code))
                stop.wait(0.25)

        threads = [threading.Thread(target=traffic, args=(i,), name=f"slack-{i}") for i in range(clients)]
        threads.append(threading.Thread(target=poll_health, name="healthz"))
        try:
            for thread in threads:
                thread.start()
            time.sleep(before)
            stopped_at = time.monotonic() - started
            pg.stop()
            down_at = time.monotonic() - started
            time.sleep(outage)
            restart_began = time.monotonic() - started
            pg.start()
            restarted_at = time.monotonic() - started
            time.sleep(after)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=10)
            ended_at = time.monotonic() - started
            # Listeners that acked first answer through response_url a little later.
            time.sleep(2.0)
            server.shutdown()
            server_thread.join(timeout=10)
            logging.getLogger().removeHandler(counting)
        replies: dict[str, list[str]] = {}
        for call in fake.calls:
            if call.method.startswith("response_url."):
                replies.setdefault(call.method.removeprefix("response_url."), []).append(str(call.body.get("text")))
    return Figures(
        requests, replies, healthz, stopped_at, down_at, restart_began, restarted_at, ended_at, errors_logged
    )


def report(figures: Figures, outage: float) -> bool:
    during, after = figures.during(), figures.after()
    answered = [s for s in during if isinstance(s.status, int)]
    kind_outcomes = Counter(f"{s.kind}: {figures.outcome(s)}" for s in during)
    after_outcomes = Counter(figures.outcome(s) for s in after)
    max_ms = max((s.ms for s in during), default=float("nan"))
    max_ms_all = max((s.ms for s in figures.requests), default=float("nan"))
    healthy_in = figures.first_healthy_after_restart()
    first_ok = figures.first_success_after_restart()
    last_bad = figures.last_failure_after_restart()
    told = sum(1 for s in during if figures.outcome(s) == "told: try again in a minute")

    def fmt(counter: Counter[Any]) -> str:
        return ", ".join(f"{key} {n}" for key, n in sorted(counter.items(), key=str)) or "none"

    rows = [
        (
            "outage",
            f"{figures.restart_began - figures.down_at:.1f} s database down (asked for {outage:g} s); "
            f"pg_ctl stop took {figures.down_at - figures.stopped_at:.2f} s, start "
            f"{figures.restarted_at - figures.restart_began:.2f} s",
        ),
        ("requests", f"{len(figures.requests)} in {figures.ended_at:.0f} s; {len(during)} while the database was down"),
        (
            "acks during outage",
            f"{len(answered)} of {len(during)} answered (HTTP {fmt(Counter(s.status for s in during))})",
        ),
        ("  outcomes", fmt(kind_outcomes)),
        ("  told 'try again in a minute'", f"{told} of {len(during)}"),
        ("max ack during outage", f"{max_ms:.0f} ms (whole run {max_ms_all:.0f} ms; Slack waits 3,000)"),
        ("/healthz during outage", fmt(figures.healthz_during())),
        ("/healthz after restart", fmt(figures.healthz_after())),
        ("healthy again", f"{healthy_in:.2f} s after pg_ctl start returned" if healthy_in is not None else "NEVER"),
        (
            "first request to succeed",
            f"{first_ok:.2f} s after pg_ctl start returned" if first_ok is not None else "NONE",
        ),
        ("requests after restart", fmt(after_outcomes)),
        ("last failure after restart", "none" if last_bad is None else f"{last_bad:.2f} s after restart"),
        ("warnings/errors logged", fmt(figures.errors_logged) if figures.errors_logged else "none"),
    ]
    print_table("database outage (PostgreSQL, real app over HTTP, no restart)", rows)
    ok = (
        bool(during)
        and told == len(during)
        and max_ms < SLACK_TIMEOUT * 1000
        and set(figures.healthz_during()) == {503}
        and healthy_in is not None
        and figures.healthz_after().get(200, 0) > 0
        and first_ok is not None
        and sum(1 for s in after if s.at - figures.restarted_at > 5 and figures.outcome(s) != "succeeded") == 0
    )
    print(f"  RESULT: {'OK' if ok else 'FAILED'}", flush=True)
    return ok


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.db_outage", description=__doc__.split("\n")[0])
    parser.add_argument("--outage", type=float, default=30.0, help="seconds the database stays down (default 30)")
    parser.add_argument("--before", type=float, default=5.0, help="seconds of traffic before the outage")
    parser.add_argument("--after", type=float, default=15.0, help="seconds of traffic after the restart")
    parser.add_argument("--clients", type=int, default=4, help="concurrent Slack request threads (default 4)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"\n-- database outage: {args.outage:g} s, {args.clients} clients", flush=True)
    figures = run_outage(outage=args.outage, before=args.before, after=args.after, clients=args.clients)
    return 0 if report(figures, args.outage) else 1


if __name__ == "__main__":
    sys.exit(main())
