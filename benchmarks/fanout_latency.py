"""Fan-out against a platform slow to answer: the real outbox, the fake Slack answering after 50, 150 and 300 ms.

For each latency and each rate (a Slack-like 600/min and a fast 6,000/min, both methods throttled by the
fake's token bucket), it seeds enough people for `--ideal` seconds of sending at that rate, opens one
round for everyone (`open_pulse_now`) and runs the real `OutboxDispatcher` with the real `SlackSender`
until every row is settled. Every configuration gets its own fake Slack process and its own database.

Figures per run: the fan-out's wall time and its ratio to the rate-limit ideal (people / rate, the floor:
the fake refuses anything faster), the 429s the fake answered (no failures are injected here, so every 429
is self-inflicted), duplicates and lost DMs (RESULT: FAILED if either is not 0).

The script runs at any commit: it passes `concurrency` and `headroom` only where the code has them, so the
same file measures the dispatcher before and after (#18). A run slower than `--give-up` times the ideal is
stopped and its ratio extrapolated from the DMs it delivered (marked "stopped").
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from benchmarks._support import FakeSlackProcess, new_secret_key, settings_env, slack_id, temporary_database
from benchmarks.pulse_fanout import RATE_LIMITED, Totals, _outstanding, _seed_and_open


def _dispatch_until(
    dispatcher: Any, session_factory: Any, totals: Totals, deadline: float, stop: threading.Event
) -> None:
    while time.monotonic() < deadline and not stop.is_set():
        budget = max(0.5, min(30.0, deadline - time.monotonic()))
        report = dispatcher.run_once(time_budget=budget)
        totals.add(report)
        if report.attempted:
            continue
        left, next_due = _outstanding(session_factory)
        if left == 0:
            return
        wait = (next_due - datetime.now(UTC)).total_seconds() if next_due else 0.05
        time.sleep(min(1.0, max(0.02, wait)))


def run_one(database: str, latency_ms: float, rate: int, people: int, args: argparse.Namespace) -> dict[str, Any]:
    from bot.core.clock import SystemClock
    from bot.core.database import make_engine, make_session_factory
    from bot.core.models import OutboxMessage
    from bot.core.settings import load_settings
    from bot.delivery.outbox import OutboxDispatcher
    from handlers.slack.client import build_web_client
    from handlers.slack.sender import SlackSender

    ideal = people / rate * 60.0
    secret_key = new_secret_key()
    fake_options = {"answer_after": True} if args.limit_at == "arrival" else {}
    with temporary_database(database) as db_url, FakeSlackProcess(latency=latency_ms / 1000, **fake_options) as fake:
        engine = make_engine(db_url)
        try:
            session_factory = make_session_factory(engine)
            settings = load_settings(settings_env(fake.url, db_url, secret_key))
            for method in RATE_LIMITED:
                fake.set_rate_limit(method, rate, burst=args.burst)
            _seed_and_open(session_factory, fake, secret_key, people)
            sender_options: dict[str, Any] = {}
            if "headroom" in inspect.signature(SlackSender).parameters:
                sender_options["headroom"] = True  # as handlers.slack.platform builds the outbox's sender
            dispatcher_options: dict[str, Any] = {}
            if "concurrency" in inspect.signature(OutboxDispatcher).parameters:
                dispatcher_options["concurrency"] = args.concurrency if rate <= 1000 else args.fast_concurrency
            dispatcher = OutboxDispatcher(
                session_factory,
                SlackSender(
                    build_web_client(settings, for_outbox=True),
                    rate_per_minute=rate,
                    burst=args.burst,
                    **sender_options,
                ),
                SystemClock(),
                worker_id="bench-latency",
                **dispatcher_options,
            )
            totals = Totals()
            cpu_before = time.process_time()
            started = time.monotonic()
            give_up = max(ideal * args.give_up, ideal + 30)
            _dispatch_until(dispatcher, session_factory, totals, started + give_up, threading.Event())
            elapsed = time.monotonic() - started
            cpu = time.process_time() - cpu_before  # the bot's side: every thread of this process
            with session_factory() as session:
                states = dict(
                    session.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all()
                )
            counts = fake.dm_counts([slack_id(i) for i in range(people)])
            stats = fake.call_stats()["by_method"]
        finally:
            engine.dispose()
    delivered = sum(1 for n in counts.values() if n)
    unsettled = states.get("pending", 0) + states.get("sending", 0)
    return {
        "database": database,
        "latency_ms": latency_ms,
        "rate": rate,
        "people": people,
        "ideal": ideal,
        "elapsed": elapsed,
        "stopped": unsettled > 0,
        "delivered": delivered,
        "cpu_ms_per_dm": cpu / max(1, delivered) * 1000,
        "cpu_share": cpu / elapsed,
        # A stopped run: how long all of them would have taken at the pace it kept.
        "projected": elapsed * people / max(1, delivered) if unsettled else elapsed,
        "duplicates": sum(max(0, n - 1) for n in counts.values()),
        "lost": 0 if unsettled else people - delivered,
        "unsent": unsettled,
        "429s": sum(stats.get(m, {}).get(429, 0) for m in RATE_LIMITED),
        "429s by method": {m: stats.get(m, {}).get(429, 0) for m in RATE_LIMITED},
        "failed": states.get("failed", 0),
        "concurrency": dispatcher_options.get("concurrency", 1),
        "headroom": bool(sender_options),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fanout_latency", description=__doc__.split("\n")[0])
    parser.add_argument("--latencies", default="50,150,300", help="fake Slack latencies in ms (50,150,300)")
    parser.add_argument("--rates", default="600,6000", help="limits per minute on each method (600,6000)")
    parser.add_argument("--ideal", type=float, default=30.0, help="seconds of sending per run at its rate (30)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--burst", type=int, default=5, help="the fake's bucket, and the sender's burst (5)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=16,
        help="messages in flight where the code has it, at rates up to 1,000/min (16)",
    )
    parser.add_argument(
        "--fast-concurrency", type=int, default=64, help="the same above 1,000/min: about rate/s x 0.6 s is needed (64)"
    )
    parser.add_argument(
        "--limit-at",
        choices=("arrival", "answer"),
        default="arrival",
        help="when the fake counts a call against its limit: as it arrives (Slack's front door; default), or "
        "after the latency, just before answering (pulse_fanout's fake, where the fake's own thread wake-ups "
        "bunch calls together)",
    )
    parser.add_argument("--give-up", type=float, default=3.0, help="stop a run after this many times its ideal (3)")
    args = parser.parse_args(argv)
    latencies = [float(x) for x in args.latencies.split(",")]
    rates = [int(x) for x in args.rates.split(",")]
    load = os.getloadavg()
    print(
        f"-- fan-out latency: {args.database}, limit counted at {args.limit_at}, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}",
        flush=True,
    )
    results = []
    for rate in rates:
        for latency in latencies:
            people = max(10, round(rate / 60 * args.ideal))
            result = run_one(args.database, latency, rate, people, args)
            results.append(result)
            print(
                f"  {latency:>4.0f} ms {rate:>6,}/min {people:>6,} people  ideal {result['ideal']:6.1f} s  "
                f"fan-out {result['elapsed']:6.1f} s  ratio {result['projected'] / result['ideal']:5.2f}x"
                f"{' (stopped, projected)' if result['stopped'] else ''}  "
                f"{result['delivered'] / result['elapsed']:6.1f} DMs/s  429s {result['429s by method']}  "
                f"duplicates {result['duplicates']}  lost {result['lost']}  unsent {result['unsent']}  "
                f"failed {result['failed']}  CPU {result['cpu_ms_per_dm']:.1f} ms/DM, "
                f"{result['cpu_share']:.0%} of a core  (concurrency {result['concurrency']}, headroom {result['headroom']})",
                flush=True,
            )
    load = os.getloadavg()
    print(f"-- load average at the end {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(
        "\n| latency | rate/min | people | ideal | fan-out | ratio to ideal | self-inflicted 429s | duplicates | lost |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        ratio = f"{r['projected'] / r['ideal']:.2f}x" + (" (stopped at 3x, projected)" if r["stopped"] else "")
        print(
            f"| {r['latency_ms']:.0f} ms | {r['rate']:,} | {r['people']:,} | {r['ideal']:.1f} s | {r['elapsed']:.1f} s "
            f"| {ratio} | {r['429s']} | {r['duplicates']} | {r['lost']} |"
        )
    ok = all(r["duplicates"] == 0 and r["lost"] == 0 for r in results)
    print(f"  RESULT: {'OK' if ok else 'FAILED'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
