"""Enqueue-to-send latency: how long a queued message (a shout-out, a receipt) waits before Slack has it.

A lingering dispatcher (what `empathy-bot worker` runs) against the fake Slack API, one message at a
time at random intervals, three ways: queued in the same process (woken at commit), queued by another
process on PostgreSQL (woken by NOTIFY), and the old way for comparison (a dispatcher that runs every
2 s and sends what is due). The rate limit never binds here (100,000/min).

    .venv/bin/python -m benchmarks.outbox_wake --messages 100
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from datetime import UTC, datetime

from sqlalchemy import insert, select, text

from benchmarks._support import percentile, seed_people, temporary_database


def run(kind: str, mode: str, messages: int) -> list[float]:
    from slack_sdk import WebClient

    from bot.core.clock import SystemClock
    from bot.core.database import make_engine, make_session_factory
    from bot.core.models import OutboxMessage, OutboxState, Workspace
    from bot.delivery.outbox import (
        QUEUED,
        OutboxDispatcher,
        allow_lingering,
        enqueue,
        listen_for_queued,
        stop_lingering,
    )
    from handlers.slack.sender import SlackSender
    from tests.fakes.slack.api import FakeSlack

    fake = FakeSlack(team_id="T0BENCH").start()
    latencies: list[float] = []
    with temporary_database(kind) as url:
        engine = make_engine(url)
        factory = make_session_factory(engine)
        seed_people(factory, 2)
        with factory() as session:
            workspace_id = session.scalar(select(Workspace.id))
        client = WebClient(token="xoxb-bench", base_url=fake.url)
        stop = threading.Event()
        allow_lingering()
        lingering = mode != "poll-2s"
        dispatcher = OutboxDispatcher(
            factory, SlackSender(client, rate_per_minute=100_000, burst=1000), SystemClock(),
            wake=QUEUED if lingering else None, poll_seconds=1.0,
        )  # fmt: skip

        def dispatch() -> None:
            while not stop.is_set():
                dispatcher.run_once(time_budget=50)
                if not lingering:
                    stop.wait(2.0)  # APScheduler's interval before the wake existed

        listener = listen_for_queued(url, stop) if mode == "other-process" else None
        thread = threading.Thread(target=dispatch, daemon=True)
        thread.start()
        other = make_engine(url)
        time.sleep(0.5)
        try:
            for n in range(messages):
                time.sleep(random.uniform(0.02, 0.3))
                before = len(fake.calls_to("chat.postMessage"))
                started = time.perf_counter()
                if mode == "other-process":
                    with other.begin() as connection:
                        connection.execute(
                            insert(OutboxMessage).values(
                                workspace_id=workspace_id, idempotency_key=f"m{n}", channel_id="C0BENCH",
                                payload={"text": f"message {n}"}, state=OutboxState.PENDING.value,
                                due_at=datetime.now(UTC), attempts=0,
                            )
                        )  # fmt: skip
                        connection.execute(text("NOTIFY empathy_outbox"))
                else:
                    with factory.begin() as session:
                        enqueue(session, workspace_id, f"m{n}", {"text": f"message {n}"}, channel_id="C0BENCH")
                while len(fake.calls_to("chat.postMessage")) == before:
                    time.sleep(0.0005)
                latencies.append(time.perf_counter() - started)
        finally:
            stop.set()
            stop_lingering()
            thread.join(60)
            if listener is not None:
                listener.join(5)
            allow_lingering()
            other.dispose()
            engine.dispose()
            fake.stop()
    return sorted(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100)
    args = parser.parse_args()
    for kind, mode in [
        ("sqlite", "poll-2s"),
        ("sqlite", "same-process"),
        ("postgresql", "poll-2s"),
        ("postgresql", "same-process"),
        ("postgresql", "other-process"),
    ]:
        found = run(kind, mode, args.messages)
        print(
            f"{kind:10} {mode:13} {len(found)} messages: enqueue-to-send p50 {percentile(found, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(found, 0.99) * 1000:.0f} ms, max {found[-1] * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
