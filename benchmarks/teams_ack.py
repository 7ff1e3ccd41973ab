"""Teams invoke-ack latency: how fast the real front answers pulse answer clicks (`adaptiveCard/action`
invokes) under concurrent clients, against an empty Flask app on the same gunicorn configuration.

    .venv/bin/python -m benchmarks.teams_ack                          # 64 clients, 20 s, SQLite then PostgreSQL
    .venv/bin/python -m benchmarks.teams_ack --clients 8 --seconds 10 --database sqlite   # a quick run

What runs: `python -m bot.cli serve --no-scheduler` (the Procfile's web process: gunicorn, gthread, the
options of bot/cli/server.py) in a child process, with Teams configured against the local fakes
(tests/fakes/teams/auth.py serves the OpenID document and key set the SDK validates tokens with;
tests/fakes/teams/connector.py is the Bot Connector named by TEAMS_SERVICE_URL) and Slack against the fake
Slack API (Bolt checks its token at start). No `empathy-bot worker` runs beside it: a Teams click is
answered in the web process (the invoke's answer is the updated card) and leaves no work behind.

A small organisation of Teams people (`--people`, each a PersonAccount on the teams platform keyed by an
Entra object id, with a conversation reference) gets an ad-hoc pulse (`surveys.jobs.open_pulse_now`), and
each person's queued invitation is rendered as the Teams sender renders it
(`handlers.teams.render.message.render_payload`). `--clients` threads then post signed `adaptiveCard/action`
invokes for the answer buttons (and the drop-down's Send) of those cards, back to back, for `--seconds`:
each client owns its share of the people (so one person's clicks are sequential and the last one acked is
what must be stored; `--shared-people` lets every client click for anyone, so one person's clicks race),
picks one of them, a question, an option. Latency is from opening the connection to reading the whole
response, which for a click is the updated card: it includes the work. `--warmup` seconds (3) of the same
load come first, answered and checked but not timed. Each client signs one Bot Framework token (valid for
an hour) and reuses it, so that signing in the clients does not take CPU from the server.

The floor: an empty Flask app (one POST route answering a fixed small JSON) under gunicorn with the
same options (`bot.cli.server.gunicorn_options`), driven by the same clients with the same requests,
before and after the Teams run. The ratio of the two is the number that survives a busy machine.

Checks (RESULT: FAILED and exit 1 otherwise): every click answered HTTP 200 with a card; no 5xx; the
Bot Connector never called; one stored answer per (round, slot); the stored answers are exactly the
(person, question) pairs acked, each holding the value of its last acked click.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from benchmarks._support import (
    FakeSlackProcess,
    Stopwatch,
    cpu_seconds,
    new_secret_key,
    percentile,
    print_table,
    settings_env,
    temporary_database,
)

ROOT = Path(__file__).resolve().parents[1]
CLIENT_ID = "5f3c2a1b-9d8e-4f70-a6b5-c4d3e2f1a0b9"
TENANT_ID = "0e1d2c3b-4a59-4687-9786-a5b4c3d2e1f0"
CARD = "application/vnd.microsoft.card.adaptive"
TEAM_SIZE = 10
MAX_REQUESTS_PER_CLIENT = 1_000_000
EMPTY_ANSWER = b'{"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": "ok"}'


def aad_id(index: int) -> str:
    return f"{index:08x}-0000-4000-8000-{index:012x}"


# -- the servers ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _healthy(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


class Front:
    """A gunicorn front in a child process: the real `serve`, or the empty app (`--empty-front`)."""

    def __init__(self, label: str, command: list[str], env: dict[str, str]) -> None:
        self.label = label
        self.port = _free_port()
        self._cwd = tempfile.mkdtemp(prefix="empathy-bench-teams-")  # no stray .env is read
        log_fd, self._log_path = tempfile.mkstemp(prefix="empathy-bench-teams-", suffix=".log")
        full_env = {
            **os.environ,
            **env,
            "PORT": str(self.port),
            "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
        }
        try:
            self._process = subprocess.Popen(
                command, env=full_env, stdout=log_fd, stderr=subprocess.STDOUT, cwd=self._cwd
            )
        finally:
            os.close(log_fd)
        self.pid = self._process.pid
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{label} exited with {self._process.returncode}:\n{self._read_log()[-3000:]}")
            if _healthy(self.port):
                return
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"{label} did not answer /healthz within 90 s")

    def _read_log(self) -> str:
        with open(self._log_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def stop(self) -> dict[str, int]:
        """Stop it; the log's lines that are not access-log lines, counted."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        counts: Counter[str] = Counter()
        for line in self._read_log().splitlines():
            # The access log (bot/cli/server.py's format): host "METHOD /path" status bytes 12ms
            if '"POST /api/messages"' in line or '"GET /healthz"' in line:
                continue
            if any(word in line for word in ("WARNING", "ERROR", "CRITICAL", "Traceback", "Exception")):
                counts[line.split("] ", 1)[-1].strip()[:120]] += 1
        os.unlink(self._log_path)
        with contextlib.suppress(OSError):
            os.rmdir(self._cwd)
        return dict(counts)


def teams_front(env: dict[str, str]) -> Front:
    return Front(
        "`python -m bot.cli serve --no-scheduler` (gunicorn)",
        [sys.executable, "-m", "bot.cli", "serve", "--no-scheduler"],
        env,
    )


def empty_front(env: dict[str, str]) -> Front:
    return Front(
        "empty Flask app (gunicorn, same options)", [sys.executable, "-m", "benchmarks.teams_ack", "--empty-front"], env
    )


def _serve_empty_front() -> int:
    """The floor: gunicorn with `bot.cli.server.gunicorn_options` (so the same workers, threads, timeout and
    access log as `serve`) around a Flask app that reads the request and answers a fixed small JSON."""
    from flask import Flask, Response, request
    from gunicorn.app.base import BaseApplication

    from bot.cli.server import gunicorn_options
    from bot.core.settings import load_settings

    def create() -> Flask:
        web = Flask("empty")

        @web.get("/healthz")
        def healthz() -> Response:
            return Response("ok", mimetype="text/plain")

        @web.post("/api/messages")
        def messages() -> Response:
            request.get_data()
            return Response(EMPTY_ANSWER, mimetype="application/json")

        return web

    class EmptyFront(BaseApplication):  # type: ignore[misc]
        def __init__(self, options: dict[str, Any]) -> None:
            self.options = options
            super().__init__()

        def load_config(self) -> None:
            for key, value in self.options.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            return create()

    EmptyFront(gunicorn_options(load_settings(), None)).run()
    return 0


# -- the organisation and its cards ---------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One click a card offers: the `Action.Execute` and the inputs Teams merges into its data."""

    action: dict[str, Any]
    inputs: dict[str, Any] | None
    value: int  # the answer it records


@dataclass
class Target:
    index: int
    person_id: int
    questions: dict[str, list[Option]]  # question id -> the options its card offers


def _value_of(data_value: str) -> int:
    return int(data_value.split("|")[2])


def card_options(card: dict[str, Any]) -> dict[str, list[Option]]:
    """Each question's clicks on a pulse card: its answer buttons, or each choice of its drop-down + Send."""
    from tests.fakes.teams.cards import walk

    items = list(walk(card))
    by_id = {item["id"]: item for item in items if "id" in item and item.get("type", "").startswith("Input.")}
    questions: dict[str, list[Option]] = {}
    for item in items:
        if item.get("type") != "Action.Execute":
            continue
        data = item["data"]
        if data["action"].startswith("pulse.answer."):
            question = data["value"].split("|")[1]
            questions.setdefault(question, []).append(Option(item, None, _value_of(data["value"])))
        elif data["action"] == "pulse.select":
            for choice in by_id[data["input"]]["choices"]:
                question = choice["value"].split("|")[1]
                questions.setdefault(question, []).append(
                    Option(item, {data["input"]: choice["value"]}, _value_of(choice["value"]))
                )
    return questions


def seed(session_factory: Any, box: Any, people: int, service_url: str) -> tuple[int, list[Target]]:
    """A Teams workspace of `people` in teams of 10 (the first of each leads it and reports to person 0),
    each with a Teams account and a 1:1 conversation, an open ad-hoc pulse for everyone, and each
    person's card as the Teams sender renders their queued invitation."""
    from bot.core.accounts import link
    from bot.core.models import OutboxMessage, Person, Team
    from handlers.teams.accounts import TEAMS, ConversationRef, teams_workspace
    from handlers.teams.render.message import render_payload
    from surveys.jobs import invite_key, open_pulse_now
    from surveys.pack_store import workspace_bank
    from tests.fakes.teams.requests import TeamsUser

    with session_factory.begin() as session:
        workspace = teams_workspace(session, TENANT_ID)
        workspace.name = "Contoso"
        teams = [Team(workspace_id=workspace.id, name=f"Team {n}") for n in range(-(-people // TEAM_SIZE))]
        session.add_all(teams)
        session.flush()
        persons: list[Person] = []
        for i in range(people):
            user = TeamsUser(aad_id(i), f"Person{i} Bench")
            lead = persons[(i // TEAM_SIZE) * TEAM_SIZE] if i % TEAM_SIZE else None
            person = Person(
                workspace_id=workspace.id,
                name=user.name,
                email=f"person{i}@contoso.example",
                timezone="Europe/Lisbon",
                team_id=teams[i // TEAM_SIZE].id,
                manager_id=lead.id if lead else (persons[0].id if i else None),
                source=TEAMS,
            )
            session.add(person)
            session.flush()
            account = link(session, person, TEAMS, user.aad_object_id)
            account.conversation_ref = ConversationRef(user.personal_conversation_id, service_url).to_json()
            persons.append(person)
        opened = open_pulse_now(
            session,
            workspace,
            workspace_bank(session, workspace.id),
            box,
            now=datetime.now(UTC),
            team_id=None,
        )
        if len(opened.invitations) != people:
            raise RuntimeError(f"the pulse invited {len(opened.invitations)} of {people} people")
        round_id = opened.round.id
        targets = []
        for i, person in enumerate(persons):
            row = session.scalar(
                select(OutboxMessage).where(OutboxMessage.idempotency_key == invite_key(round_id, person.id))
            )
            if row is None:
                raise RuntimeError(f"no invitation queued for person {i}")
            card = render_payload(row.payload)["attachments"][0]["content"]
            targets.append(Target(i, person.id, card_options(card)))
    return round_id, targets


# -- the clients --------------------------------------------------------------------------------------


@dataclass
class ClientResults:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int | str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)  # what each 200 carried: card, message, empty, ...
    last_acked: dict[tuple[int, str], int] = field(default_factory=dict)  # (person index, question) -> value
    acked_values: dict[tuple[int, str], set[int]] = field(default_factory=dict)  # every value acked per pair
    warmup: int = 0  # requests sent before the timed part (answered and checked all the same)


def _post(port: int, body: bytes, token: str) -> tuple[int | str, bytes, float]:
    """One delivery on a new connection, as the Bot Connector makes them; the time includes the answer."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    status: int | str
    answer = b""
    try:
        connection.request("POST", "/api/messages", body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        status = response.status
    except OSError as error:
        status = type(error).__name__
    finally:
        connection.close()
    return status, answer, time.perf_counter() - started


def _kind_of(answer: bytes) -> str:
    if not answer:
        return "empty body"
    try:
        parsed = json.loads(answer)
    except ValueError:
        return "not JSON"
    if parsed.get("statusCode") == 200 and parsed.get("type") == CARD and isinstance(parsed.get("value"), dict):
        return "card"
    return f"{parsed.get('type')}: {str(parsed.get('value'))[:80]}"


def _client(
    index: int,
    port: int,
    auth: Any,
    service_url: str,
    mine: list[Target],
    timed_from: float,
    deadline: float,
    out: ClientResults,
    *,
    floor: bool,
) -> None:
    from tests.fakes.teams.requests import TeamsRequests, TeamsUser

    rng = random.Random(index)
    requests = TeamsRequests(
        auth, client_id=CLIENT_ID, tenant_id=TENANT_ID, service_url=service_url, base_url="http://unused"
    )
    token = auth.activity_token(CLIENT_ID, service_url)
    for _ in range(MAX_REQUESTS_PER_CLIENT):
        now = time.monotonic()
        if now >= deadline:
            break
        counted = now >= timed_from
        target = rng.choice(mine)
        question = rng.choice(list(target.questions))
        option = rng.choice(target.questions[question])
        user = TeamsUser(aad_id(target.index), f"Person{target.index} Bench")
        body = json.dumps(requests.execute(user, option.action, option.inputs)).encode()
        status, answer, seconds = _post(port, body, token)
        if counted:
            out.latencies.append(seconds)
        else:
            out.warmup += 1
        out.statuses[status] += 1
        if status != 200:
            continue
        if floor:
            out.answers["fixed answer" if answer == EMPTY_ANSWER else "unexpected"] += 1
            continue
        kind = _kind_of(answer)
        out.answers[kind] += 1
        if kind == "card":
            out.last_acked[(target.index, question)] = option.value
            out.acked_values.setdefault((target.index, question), set()).add(option.value)


@dataclass
class Load:
    label: str
    seconds: float
    results: list[ClientResults]
    cpu_server: float | None
    cpu_clients: float
    logs: dict[str, int]

    @property
    def latencies(self) -> list[float]:
        return sorted(x for r in self.results for x in r.latencies)

    def statuses(self) -> Counter[int | str]:
        total: Counter[int | str] = Counter()
        for r in self.results:
            total.update(r.statuses)
        return total

    def answers(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for r in self.results:
            total.update(r.answers)
        return total


def drive(
    front: Front, auth: Any, service_url: str, targets: list[Target], args: argparse.Namespace, *, floor: bool
) -> Load:
    results = [ClientResults() for _ in range(args.clients)]
    # The warm-up is answered and checked like the rest but not timed: each worker's first requests import
    # and fetch the signing keys, which a server that has been up for a while did long ago.
    timed_from = time.monotonic() + args.warmup
    deadline = timed_from + args.seconds
    threads = [
        threading.Thread(
            target=_client,
            args=(
                n,
                front.port,
                auth,
                service_url,
                targets if args.shared_people else targets[n :: args.clients],
                timed_from,
                deadline,
                results[n],
            ),
            kwargs={"floor": floor},
            name=f"client-{n}",
        )
        for n in range(args.clients)
    ]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, timed_from - time.monotonic()))
    cpu_before, clients_before = cpu_seconds(front.pid), time.process_time()
    watch = Stopwatch()
    for thread in threads:
        thread.join(timeout=args.warmup + args.seconds + 120)
    seconds = watch.seconds
    cpu_after, clients_after = cpu_seconds(front.pid), time.process_time()
    logs = front.stop()
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return Load(front.label, seconds, results, cpu, clients_after - clients_before, logs)


def _figures(load: Load) -> dict[str, float]:
    found = load.latencies
    return {
        "n": len(found),
        "rate": len(found) / load.seconds,
        "p50": percentile(found, 0.50),
        "p90": percentile(found, 0.90),
        "p99": percentile(found, 0.99),
        "max": found[-1] if found else float("nan"),
    }


def _load_rows(name: str, load: Load) -> list[tuple[str, str]]:
    f = _figures(load)
    statuses = load.statuses()
    errors = sum(statuses.values()) - statuses.get(200, 0)
    return [
        (name, load.label),
        (
            "  requests timed",
            f"{int(f['n']):,} in {load.seconds:.1f} s ({f['rate']:,.1f}/s), after {sum(r.warmup for r in load.results):,} "
            "in the warm-up",
        ),
        (
            "  latency p50 / p90 / p99 / max",
            " / ".join(f"{f[k] * 1000:,.1f}" for k in ("p50", "p90", "p99", "max")) + " ms",
        ),
        (
            "  over 1 s, over 5 s",
            f"{sum(1 for x in load.latencies if x > 1.0):,}, {sum(1 for x in load.latencies if x > 5.0):,}",
        ),
        (
            "  errors (non-200)",
            f"{errors}" + (f" ({', '.join(f'{k}: {v}' for k, v in statuses.items() if k != 200)})" if errors else ""),
        ),
        ("  200 answers", ", ".join(f"{kind}: {n:,}" for kind, n in load.answers().most_common()) or "none"),
        (
            "  CPU during load",
            f"server {load.cpu_server:.1f} s, clients {load.cpu_clients:.1f} s"
            if load.cpu_server is not None
            else "n/a",
        ),
        (
            "  server log warnings/errors",
            f"{sum(load.logs.values())}"
            + "".join(f"\n{'':36}{n:>6} x {line}" for line, n in sorted(load.logs.items(), key=lambda kv: -kv[1])[:6]),
        ),
    ]


# -- one run ----------------------------------------------------------------------------------------------


def stored_answers(
    session_factory: Any, box: Any, round_id: int, targets: list[Target]
) -> dict[tuple[int, str], int | None]:
    """The stored answers by (person index, question), found through each participant's slots (the
    rows themselves name nobody)."""
    from bot.core.crypto import Aead
    from surveys.models import PulseParticipant, PulseRoundKey, PulseSealedAnswer, PulseUnit
    from surveys.rounds import _unseal, slot_for

    by_person = {t.person_id: t for t in targets}
    with session_factory() as session:
        key = session.get(PulseRoundKey, round_id)
        rows = session.scalars(select(PulseSealedAnswer).where(PulseSealedAnswer.round_id == round_id)).all()
        owners: dict[str, tuple[int, str]] = {}
        for participant in session.scalars(select(PulseParticipant).where(PulseParticipant.round_id == round_id)):
            unit = session.get(PulseUnit, participant.unit_id)
            assert unit is not None
            for question in unit.questions:
                owners[slot_for(box, participant, question)] = (by_person[participant.person_id].index, question)
    if key is None:
        return {}
    aead = Aead(box.open(key.sealed_key))
    stored: dict[tuple[int, str], int | None] = {}
    for row in rows:
        _unit, question, answer = _unseal(aead, round_id, row.slot, row.sealed)
        owner = owners[row.slot]
        if owner[1] != question:
            raise RuntimeError("a sealed answer's question is not its slot's")
        stored[owner] = answer.value
    return stored


def run_one(kind: str, args: argparse.Namespace) -> bool:
    from bot.core.crypto import SecretBox
    from bot.core.database import make_engine, make_session_factory
    from surveys.models import PulseParticipant, PulseSealedAnswer
    from tests.fakes.teams.auth import FakeBotFrameworkAuth
    from tests.fakes.teams.connector import FakeBotConnector

    print(
        f"\n-- Teams invoke acks: {args.people} people, {args.clients} clients, {args.seconds:g} s, {kind}", flush=True
    )
    secret_key = new_secret_key()
    box = SecretBox(secret_key)
    auth = FakeBotFrameworkAuth().start()
    connector = FakeBotConnector(auth, CLIENT_ID).start()
    try:
        with temporary_database(kind) as db_url, FakeSlackProcess() as slack:
            env = settings_env(
                slack.url,
                db_url,
                secret_key,
                TEAMS_CLIENT_ID=CLIENT_ID,
                TEAMS_CLIENT_SECRET="not-used-a-click-needs-no-outbound-token",
                TEAMS_TENANT_ID=TENANT_ID,
                TEAMS_OPENID_URL=auth.openid_url,
                TEAMS_LOGIN_URL=auth.url,
                TEAMS_SERVICE_URL=connector.url,
            )
            engine = make_engine(db_url)
            try:
                session_factory = make_session_factory(engine)
                watch = Stopwatch()
                round_id, targets = seed(session_factory, box, args.people, connector.url)
                seeded = watch.seconds
                questions = sum(len(t.questions) for t in targets)

                floor_before = drive(empty_front(env), auth, connector.url, targets, args, floor=True)
                fetches_before = auth.key_fetches
                teams = drive(teams_front(env), auth, connector.url, targets, args, floor=False)
                key_fetches = auth.key_fetches - fetches_before
                floor_after = drive(empty_front(env), auth, connector.url, targets, args, floor=True)

                stored = stored_answers(session_factory, box, round_id, targets)
                with session_factory() as session:
                    answer_rows = session.scalar(select(func.count()).select_from(PulseSealedAnswer)) or 0
                    doubled = (
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
                    responded = (
                        session.scalar(
                            select(func.count())
                            .select_from(PulseParticipant)
                            .where(PulseParticipant.responded.is_(True))
                        )
                        or 0
                    )
            finally:
                engine.dispose()
    finally:
        connector_calls, refusals = len(connector.calls), len(connector.refusals)
        connector.stop()
        auth.stop()

    acked: dict[tuple[int, str], set[int]] = {}
    for r in teams.results:
        for pair, values in r.acked_values.items():
            acked.setdefault(pair, set()).update(values)
    if args.shared_people:
        # Clients race on the same person: whichever click committed last won, and it was acked.
        wrong = sum(1 for pair, values in acked.items() if stored.get(pair) not in values)
    else:
        # Each client owns its people, so one person's clicks are sequential: the last acked is stored.
        last = {pair: value for r in teams.results for pair, value in r.last_acked.items()}
        wrong = sum(1 for pair, value in last.items() if stored.get(pair) != value)
    unacked = sum(1 for pair in stored if pair not in acked)
    statuses = teams.statuses()
    five_xx = sum(n for status, n in statuses.items() if isinstance(status, int) and status >= 500)
    not_card = sum(n for answer, n in teams.answers().items() if answer != "card")
    errors = sum(teams.statuses().values()) - statuses.get(200, 0)
    floor_errors = sum(
        sum(load.statuses().values()) - load.statuses().get(200, 0) + load.answers().get("unexpected", 0)
        for load in (floor_before, floor_after)
    )

    t, a, b = _figures(teams), _figures(floor_before), _figures(floor_after)
    floor = {k: (a[k] + b[k]) / 2 for k in a}
    ratio = " / ".join(f"{t[k] / floor[k]:.1f}x" if floor[k] else "n/a" for k in ("p50", "p90", "p99", "max"))
    rows = [
        ("database", kind),
        ("organisation", f"{args.people} people, {questions} questions on their cards; seeded in {seeded:.1f} s"),
        (
            "load",
            f"{args.clients} client threads, back to back, a new connection per request; "
            + ("every client clicks for anyone" if args.shared_people else "each client clicks for its own people"),
        ),
        *_load_rows("floor (before)", floor_before),
        *_load_rows("Teams clicks", teams),
        *_load_rows("floor (after)", floor_after),
        ("Teams / floor (mean of both), p50 / p90 / p99 / max", ratio),
        ("Teams / floor throughput", f"{t['rate'] / floor['rate']:.2f}" if floor["rate"] else "n/a"),
        ("signing-key fetches by the SDK (Teams run)", f"{key_fetches}"),
        ("Bot Connector calls, token refusals", f"{connector_calls}, {refusals} (must be 0, 0)"),
        ("Teams: 5xx, other non-200, 200 without a card", f"{five_xx}, {errors - five_xx}, {not_card} (must be 0)"),
        ("floor: errors or unexpected answers", f"{floor_errors} (must be 0)"),
        ("(round, slot) with > 1 row", f"{doubled} (must be 0)"),
        ("answer rows; (person, question) acked", f"{answer_rows:,}; {len(acked):,} (must be equal)"),
        (
            "stored without an ack; stored value "
            + ("not among those acked" if args.shared_people else "!= last acked"),
            f"{unacked}; {wrong} (must be 0; 0)",
        ),
        ("participants marked responded", f"{responded} of {args.people}"),
    ]
    print_table(f"Teams invoke-ack latency ({kind})", rows)
    ok = (
        errors == 0
        and not_card == 0
        and floor_errors == 0
        and connector_calls == 0
        and doubled == 0
        and answer_rows == len(acked) == len(stored)
        and unacked == 0
        and wrong == 0
    )
    print(f"  RESULT: {'OK' if ok else 'FAILED'}", flush=True)
    return ok


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.teams_ack", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="load duration of each front (default 20)")
    parser.add_argument("--clients", type=int, default=64, help="concurrent client threads (default 64)")
    parser.add_argument("--people", type=int, default=200, help="people in the pulse (default 200)")
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds of untimed load before each front's timed part (default 3)"
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--shared-people",
        action="store_true",
        help="every client clicks for anyone (one person's clicks race each other, as a double click does); "
        "default: each client owns its share of the people",
    )
    parser.add_argument("--empty-front", action="store_true", help=argparse.SUPPRESS)  # the floor's child process
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= 3600:
        parser.error("--seconds must be in (0, 3600]")
    if not 1 <= args.clients <= 512:
        parser.error("--clients must be in [1, 512]")
    if not 0 <= args.warmup <= 600:
        parser.error("--warmup must be in [0, 600]")
    if args.people < 1:
        parser.error("--people must be at least 1")
    if args.people < args.clients and not args.shared_people:
        parser.error("each client owns its share of the people: give --people at least --clients, or --shared-people")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.empty_front:
        return _serve_empty_front()
    kinds = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    ok = True
    for kind in kinds:
        ok = run_one(kind, args) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
