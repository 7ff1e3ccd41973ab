"""Fan-out against a platform slow to answer: the real outbox, the fake Slack answering after 50, 150 and 300 ms.

For each latency and each rate (a Slack-like 600/min and a fast 6,000/min, both methods throttled by the
fake's token bucket), it seeds enough people for `--ideal` seconds of sending at that rate, opens one
round for everyone (`open_pulse_now`) and runs the real `OutboxDispatcher` with the real `SlackSender`
until every row is settled. Every configuration gets its own fake Slack process and its own database.

Figures per run: the fan-out's wall time and its ratio to the rate-limit ideal (people / rate, the floor:
the fake refuses anything faster), the 429s the fake answered (no failures are injected here, so every 429
is self-inflicted), duplicates and lost DMs (RESULT: FAILED if either is not 0).

Where the 429s come from: each post's turn (taken right before the sender's `post`) and its arrival at the fake
are recorded on one clock (CLOCK_MONOTONIC, shared by both processes); the fake's bucket is replayed over each,
and a heartbeat thread in each process notes when it was not scheduled. `--window 1` sizes the bucket as a
second of the rate (Teams counts per second); `--http 1.0` runs the stock fake, which closes every connection;
`--saved half,code` runs each configuration twice, the sender saving half the bucket and then by its own rule.

The script runs at any commit: it passes `concurrency` and `headroom` only where the code has them, so the
same file measures the dispatcher before and after (#18). A run slower than `--give-up` times the ideal is
stopped and its ratio extrapolated from the DMs it delivered (marked "stopped").
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from benchmarks._support import (
    HEARTBEAT_LATE_MS,
    HEARTBEAT_MS,
    TEAM_ID,
    FakeSlackProcess,
    new_secret_key,
    settings_env,
    slack_id,
    temporary_database,
)
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
    fake_options: dict[str, Any] = {"answer_after": True} if args.limit_at == "arrival" else {}
    fake_options["http11"] = args.http == "1.1"
    with temporary_database(database) as db_url, FakeSlackProcess(latency=latency_ms / 1000, **fake_options) as fake:
        engine = make_engine(db_url)
        try:
            session_factory = make_session_factory(engine)
            settings = load_settings(settings_env(fake.url, db_url, secret_key))
            burst = _burst(rate, args)
            for method in RATE_LIMITED:
                fake.set_rate_limit(method, rate, burst=burst)
            _seed_and_open(session_factory, fake, secret_key, people)
            sender_options: dict[str, Any] = {}
            if "headroom" in inspect.signature(SlackSender).parameters:
                sender_options["headroom"] = True  # as handlers.slack.platform builds the outbox's sender
            dispatcher_options: dict[str, Any] = {}
            if "concurrency" in inspect.signature(OutboxDispatcher).parameters:
                dispatcher_options["concurrency"] = args.concurrency if rate <= 1000 else args.fast_concurrency
            with _saved_burst(args.saved):
                sender = SlackSender(
                    build_web_client(settings, for_outbox=True), rate_per_minute=rate, burst=burst, **sender_options
                )
                # Built now, under the rule asked for: the benchmark's one workspace, posts and (where the code has
                # it) opens.
                sender.pace(TEAM_ID)
                if hasattr(sender, "_open_paces"):
                    sender._bucket(sender._open_paces, TEAM_ID)
            posted_at = _trace_posts(sender)
            dispatcher = OutboxDispatcher(
                session_factory,
                sender,
                SystemClock(),
                worker_id="bench-latency",
                **dispatcher_options,
            )
            totals = Totals()
            bot_stalls: list[tuple[float, float]] = []
            stop_heartbeat = threading.Event()
            threading.Thread(target=_heartbeat, args=(bot_stalls, stop_heartbeat), daemon=True).start()
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
            arrivals = fake.arrivals()
            fake_stalls = fake.stalls()
            stop_heartbeat.set()
        finally:
            engine.dispose()
    delivered = sum(1 for n in counts.values() if n)
    unsettled = states.get("pending", 0) + states.get("sending", 0)
    return {
        "database": database,
        "latency_ms": latency_ms,
        "rate": rate,
        "burst": burst,
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
        "jitter": _jitter(posted_at, arrivals),
        # The same bucket over the posts' turns, then over their arrivals at the fake: what the sends' own pattern
        # would draw, and what the way to the fake (both processes' scheduling) adds.
        "refused at turns": _refused_if_at(TURNS, rate, burst),
        "refused at arrival": _refused_if_at(
            [at for at, method, _, _ in arrivals if method == "chat.postMessage"], rate, burst
        ),
        "episodes": _episodes(arrivals, fake_stalls, bot_stalls),
        "stalls": (_stalled(fake_stalls), _stalled(bot_stalls)),
    }


# When each post took its turn, every attempt (the sends' pattern, before anything between them and the fake).
TURNS: list[float] = []


def _refused_if_at(times: list[float], rate: int, burst: int) -> int:
    """How many of calls made at `times` the fake's bucket (rate a minute, `burst`, full at first) would refuse."""
    tokens, last, refused = float(burst), None, 0
    for at in sorted(times):
        if last is not None:
            tokens = min(burst, tokens + (at - last) * rate / 60)
        last = at
        if tokens >= 1:
            tokens -= 1
        else:
            refused += 1
    return refused


def _heartbeat(stalls: list[tuple[float, float]], stop: threading.Event) -> None:
    """As the fake's (benchmarks._support._heartbeat): when this process was not scheduled for a while."""
    while not stop.is_set():
        before = time.monotonic()
        time.sleep(HEARTBEAT_MS / 1000)
        late = (time.monotonic() - before) * 1000 - HEARTBEAT_MS
        if late > HEARTBEAT_LATE_MS:
            stalls.append((before, late))


def _stalled(stalls: list[tuple[float, float]]) -> str:
    return f"{len(stalls)} stalls, {sum(ms for _, ms in stalls) / 1000:.1f} s, longest {max((ms for _, ms in stalls), default=0):.0f} ms"


def _episodes(
    arrivals: list[tuple[float, str, str, int]],
    fake_stalls: list[tuple[float, float]],
    bot_stalls: list[tuple[float, float]],
) -> list[str]:
    """The 429s grouped by instant (calls refused within 50 ms of each other hold the workspace once), each
    with the longest stall of the fake's process and of the bot's in the 200 ms before it."""
    refused = sorted(at for at, _, _, status in arrivals if status == 429)
    if not refused:
        return []
    start = min(at for at, *_ in arrivals)
    groups: list[list[float]] = []
    for at in refused:
        if groups and at - groups[-1][-1] < 0.05:
            groups[-1].append(at)
        else:
            groups.append([at])

    def worst(stalls: list[tuple[float, float]], at: float) -> float:
        return max((ms for began, ms in stalls if at - 0.2 <= began + ms / 1000 and began <= at), default=0.0)

    return [
        f"{g[0] - start:.1f} s: {len(g)} refused, fake stalled {worst(fake_stalls, g[0]):.0f} ms, "
        f"bot {worst(bot_stalls, g[0]):.0f} ms"
        for g in groups
    ]


def _trace_posts(sender: Any) -> dict[str, float]:
    """When each post left the outbox for the sender (its turn taken just before), by outbox id; every attempt
    is also in TURNS."""
    posted_at: dict[str, float] = {}
    post = sender.post
    TURNS.clear()

    def traced(workspace: str, conversation: str, message: Any, *, outbox_id: int) -> Any:
        posted_at[str(outbox_id)] = now = time.monotonic()
        TURNS.append(now)
        return post(workspace, conversation, message, outbox_id=outbox_id)

    sender.post = traced
    return posted_at


def _jitter(posted_at: dict[str, float], arrivals: list[tuple[float, str, str, int]]) -> dict[str, float]:
    """How much later than its turn each post reached the fake's rate limit (the bot's GIL, both kernels'
    scheduling, the fake's own threads), in ms, over the posts that were accepted."""
    delays = sorted(
        (at - posted_at[oid]) * 1000
        for at, method, oid, status in arrivals
        if method == "chat.postMessage" and oid in posted_at and status == 200
    )
    if not delays:
        return {}

    def pct(q: float) -> float:
        return delays[min(len(delays) - 1, int(q * len(delays)))]

    return {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": delays[-1]}


@contextlib.contextmanager
def _saved_burst(rule: str) -> Iterator[None]:
    """`half`: the sender's paces save half the burst whatever the rate (the rule before `PLATFORM_HEADROOM`),
    so the same run can set it beside the code's own rule."""
    if rule == "code":
        yield
        return
    import handlers.slack.sender as sender_module
    from bot.delivery.rate_limit import PACE_MARGIN, TokenBucket

    original = sender_module.under_limit

    def half(limit: float, burst: int, *, window: float = 60.0, monotonic: Any = time.monotonic) -> Any:
        capacity = max(1, min(burst // 2, int(limit * 0.05)))
        margin = min(0.5, max(PACE_MARGIN, capacity / limit))
        return TokenBucket(limit * (1 - margin) * 60.0 / window, capacity, monotonic=monotonic)

    sender_module.under_limit = half  # type: ignore[assignment]
    try:
        yield
    finally:
        sender_module.under_limit = original


def _burst(rate: int, args: argparse.Namespace) -> int:
    """The fake's bucket (and the sender's burst): `--burst` calls, or with `--window` that many seconds of the rate."""
    return max(1, round(rate / 60 * args.window)) if args.window else args.burst


def _fmt(figures: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.0f}" for k, v in figures.items()) or "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fanout_latency", description=__doc__.split("\n")[0])
    parser.add_argument("--latencies", default="50,150,300", help="fake Slack latencies in ms (50,150,300)")
    parser.add_argument("--rates", default="600,6000", help="limits per minute on each method (600,6000)")
    parser.add_argument("--ideal", type=float, default=30.0, help="seconds of sending per run at its rate (30)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--burst", type=int, default=5, help="the fake's bucket, and the sender's burst (5)")
    parser.add_argument(
        "--window",
        type=float,
        default=0.0,
        help="instead of --burst, a bucket holding this many seconds of the rate: 1 counts calls per second, as "
        "Teams documents its limits (50 a second per tenant; 7 a second per conversation)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=16,
        help="messages in flight where the code has it, at rates up to 1,000/min (16)",
    )
    parser.add_argument(
        "--fast-concurrency",
        type=int,
        default=128,
        help="the same above 1,000/min (128): at 300 ms an open and a post take 0.6 s, so 100 DMs/s needs 60 in flight "
        "even when no thread is ever scheduled late",
    )
    parser.add_argument(
        "--limit-at",
        choices=("arrival", "answer"),
        default="arrival",
        help="when the fake counts a call against its limit: as it arrives (Slack's front door; default), or "
        "after the latency, just before answering (pulse_fanout's fake, where the fake's own thread wake-ups "
        "bunch calls together)",
    )
    parser.add_argument(
        "--http",
        choices=("1.1", "1.0"),
        default="1.1",
        help="the fake's HTTP: 1.1 keeps connections open as Slack does (default); 1.0 is the stock fake, which "
        "closes each one, so every call connects anew (the figures before the second round on #18)",
    )
    parser.add_argument(
        "--saved",
        default="code",
        help="comma-separated, each run in turn per configuration: code (the sender's rule) and/or half (save half "
        "the burst whatever the rate, as before PLATFORM_HEADROOM)",
    )
    parser.add_argument("--give-up", type=float, default=3.0, help="stop a run after this many times its ideal (3)")
    args = parser.parse_args(argv)
    latencies = [float(x) for x in args.latencies.split(",")]
    rates = [int(x) for x in args.rates.split(",")]
    load = os.getloadavg()
    print(
        f"-- fan-out latency: {args.database}, limit counted at {args.limit_at}, HTTP/{args.http}, {f'{args.window:g} s window' if args.window else f'burst {args.burst}'}, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}",
        flush=True,
    )
    results = []
    rules = args.saved.split(",")
    for rate in rates:
        for latency in latencies:
            for rule in rules:
                args.saved = rule
                people = max(10, round(rate / 60 * args.ideal))
                result = run_one(args.database, latency, rate, people, args)
                result["saved"] = rule
                results.append(result)
                print(
                    f"  {latency:>4.0f} ms {rate:>6,}/min {people:>6,} people  ideal {result['ideal']:6.1f} s  "
                    f"fan-out {result['elapsed']:6.1f} s  ratio {result['projected'] / result['ideal']:5.2f}x"
                    f"{' (stopped, projected)' if result['stopped'] else ''}  "
                    f"{result['delivered'] / result['elapsed']:6.1f} DMs/s  429s {result['429s by method']}  "
                    f"duplicates {result['duplicates']}  lost {result['lost']}  unsent {result['unsent']}  "
                    f"failed {result['failed']}  CPU {result['cpu_ms_per_dm']:.1f} ms/DM, "
                    f"{result['cpu_share']:.0%} of a core  (concurrency {result['concurrency']}, headroom {result['headroom']}, "
                    f"saved burst: {rule})"
                    f"  turn->fake ms {_fmt(result['jitter'])}",
                    flush=True,
                )
                print(f"    stalls: fake {result['stalls'][0]}; bot {result['stalls'][1]}")
                print(
                    f"    posts the fake's bucket refuses, replayed: at their turns {result['refused at turns']}, "
                    f"at their arrivals {result['refused at arrival']}"
                )
                for episode in result["episodes"]:
                    print(f"    429 episode at {episode}")
    load = os.getloadavg()
    print(f"-- load average at the end {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(
        "\n| latency | rate/min | burst | saved | people | ideal | fan-out | ratio to ideal | 429s (instants) | turn -> fake p99 "
        "| posts refused if at turns / at arrival | fake's stalls | duplicates | lost |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        ratio = f"{r['projected'] / r['ideal']:.2f}x" + (" (stopped at 3x, projected)" if r["stopped"] else "")
        print(
            f"| {r['latency_ms']:.0f} ms | {r['rate']:,} | {r['burst']} | {r['saved']} | {r['people']:,} | {r['ideal']:.1f} s "
            f"| {r['elapsed']:.1f} s | {ratio} | {r['429s']} ({len(r['episodes'])}) "
            f"| {r['jitter'].get('p99', 0):.0f} ms | {r['refused at turns']} / {r['refused at arrival']} | {r['stalls'][0]} | {r['duplicates']} | {r['lost']} |"
        )
    ok = all(r["duplicates"] == 0 and r["lost"] == 0 for r in results)
    print(f"  RESULT: {'OK' if ok else 'FAILED'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
