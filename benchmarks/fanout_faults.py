"""Fan-out under faults: a pulse to N people while the fake Slack API is rate-limited AND answers a random
share of chat.postMessage and conversations.open calls with 429 (Retry-After: 1) or 500.

    .venv/bin/python -m benchmarks.fanout_faults                          # 10,000 people, 60,000/min, SQLite
    .venv/bin/python -m benchmarks.fanout_faults --database postgresql
    .venv/bin/python -m benchmarks.fanout_faults --people 2000 --rate 600 # a Slack-like limit (~3.5 minutes)

Same setup as benchmarks/pulse_fanout.py (seeded organisation, `open_pulse_now`, the real
`OutboxDispatcher`, the fake in its own process), plus `FakeSlack.inject_failures` on both methods with a
fixed seed. The dispatcher must deliver every DM exactly once: injected 429s hold the whole workspace for
Retry-After (and do not use up an attempt), 500s put the row back with jittered backoff.

Figures printed: see benchmarks/README.md, section `fanout_faults`.
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy import func, select

from benchmarks._support import (
    FakeSlackProcess,
    new_secret_key,
    print_table,
    settings_env,
    slack_id,
    temporary_database,
)
from benchmarks.pulse_fanout import RATE_LIMITED, _dispatch, _seed_and_open


def run(args: argparse.Namespace) -> int:
    from bot.core.database import make_engine, make_session_factory
    from bot.core.models import OutboxMessage
    from bot.core.settings import load_settings

    people, rate = args.people, args.rate
    ideal = people / rate * 60.0
    # Every injected 429 makes a dispatcher wait Retry-After (1 s): 2% of 2 calls per DM is 0.04 s a DM,
    # which dwarfs the ideal at high rates (400 s for 10,000 people at any rate, with one dispatcher).
    expected_waits = args.rate_429 * len(RATE_LIMITED) * people / args.dispatchers
    timeout = args.timeout or max(600.0, 3 * (ideal + expected_waits))
    print(
        f"\n-- fan-out with faults: {people:,} people, {rate:,}/min, {args.rate_429:.1%} 429 + {args.rate_500:.1%} 500 "
        f"injected on {' and '.join(RATE_LIMITED)} (seed {args.seed}), {args.dispatchers} dispatcher(s), "
        f"{args.database}; ideal {ideal:.1f} s, about {expected_waits:.0f} s of Retry-After waits expected",
        flush=True,
    )
    secret_key = new_secret_key()
    with temporary_database(args.database) as db_url, FakeSlackProcess() as fake:
        engine = make_engine(db_url)
        try:
            session_factory = make_session_factory(engine)
            settings = load_settings(settings_env(fake.url, db_url, secret_key))
            for offset, method in enumerate(RATE_LIMITED):
                fake.set_rate_limit(method, rate, burst=args.burst)
                fake.inject_failures(
                    method,
                    rate_429=args.rate_429,
                    rate_500=args.rate_500,
                    # Only a post can be lost this way; opening a DM twice is harmless.
                    rate_500_after=args.rate_500_after if method == "chat.postMessage" else 0.0,
                    seed=args.seed + offset,
                )
            _, open_seconds, invited = _seed_and_open(session_factory, fake, secret_key, people)
            seconds, totals = _dispatch(
                session_factory,
                settings,
                rate=rate,
                burst=args.burst,
                workers=args.dispatchers,
                timeout=timeout,
                concurrency=args.concurrency,
            )
            with session_factory() as session:
                states = dict(
                    session.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all()
                )
                most_attempts = session.scalar(select(func.max(OutboxMessage.attempts)))
            counts = fake.dm_counts([slack_id(i) for i in range(people)])
            injected = fake.injected()
            stats = fake.call_stats()["by_method"]
        finally:
            engine.dispose()

    duplicates = sum(max(0, n - 1) for n in counts.values())
    lost = sum(1 for n in counts.values() if n == 0)
    injected_429 = sum(n for key, n in injected.items() if key.endswith(" 429"))
    injected_500 = sum(n for key, n in injected.items() if key.endswith(" 500"))
    injected_after = sum(n for key, n in injected.items() if key.endswith(" 500 after"))
    throttled = sum(stats.get(m, {}).get(429, 0) for m in RATE_LIMITED) - injected_429
    # Each 429 tells the bot to wait Retry-After (1 s) before the workspace's next call: time Slack imposes, not ours.
    imposed = ideal + injected_429 * 1.0 / args.dispatchers
    unsettled = states.get("pending", 0) + states.get("sending", 0)
    rows = [
        ("database", args.database),
        ("people", f"{people:,} (invited {invited:,})"),
        ("rate limit", f"{rate:,}/min on each method (burst {args.burst}); {args.dispatchers} dispatcher(s)"),
        ("open round (DB work)", f"{open_seconds:.2f} s"),
        ("fan-out total", f"{seconds:.2f} s" + (f"  GAVE UP with {unsettled:,} rows unsent" if unsettled else "")),
        ("ideal people/rate", f"{ideal:.2f} s"),
        ("ratio to ideal", f"{seconds / ideal:.2f}x"),
        (
            "ideal + Retry-After waits",
            f"{imposed:.2f} s ({injected_429} injected 429s x 1 s); ratio {seconds / imposed:.2f}x",
        ),
        ("injected", ", ".join(f"{key} {n}" for key, n in sorted(injected.items())) or "none"),
        ("throttle 429s (bucket)", f"{throttled}"),
        ("dispatcher retries", f"{totals.retried} (429 + 500 put back); failed {totals.failed}"),
        ("most attempts on one row", f"{most_attempts} (429s do not count; max_attempts 8)"),
        ("outbox rows", ", ".join(f"{state} {n:,}" for state, n in sorted(states.items()))),
        (
            "Slack calls",
            ", ".join(f"{m} {sum(stats.get(m, {}).values()):,}" for m in RATE_LIMITED)
            + f" (injected 500s {injected_500}, 500s after posting {injected_after})",
        ),
        ("duplicates", f"{duplicates} (DM posts beyond one per person; must be 0)"),
        ("lost", f"{lost} (people without a DM; must be 0)"),
    ]
    if totals.errors:
        rows.append(("errors", "; ".join(totals.errors[:3])))
    print_table(f"fan-out with faults: {people:,} people @ {rate:,}/min ({args.database})", rows)
    ok = duplicates == 0 and lost == 0
    print(f"  RESULT: {'OK' if ok else 'FAILED'}", flush=True)
    return 0 if ok else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fanout_faults", description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=10_000, help="people to invite (default 10,000)")
    parser.add_argument("--rate", type=int, default=60_000, help="limit per minute on each method (default 60,000)")
    parser.add_argument("--burst", type=int, default=5, help="token-bucket burst, fake and dispatcher (default 5)")
    parser.add_argument("--dispatchers", type=int, default=1, help="dispatchers in threads sharing the rate")
    parser.add_argument("--concurrency", type=int, default=16, help="messages in flight per dispatcher (16)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rate-429", type=float, default=0.02, help="share of calls answered 429 (default 0.02)")
    parser.add_argument("--rate-500", type=float, default=0.01, help="share of calls answered 500 (default 0.01)")
    parser.add_argument(
        "--rate-500-after",
        type=float,
        default=0.0,
        help="share of chat.postMessage calls answered 500 after the message was posted (default 0)",
    )
    parser.add_argument("--seed", type=int, default=8, help="seed of the injected failures (default 8)")
    parser.add_argument(
        "--timeout", type=float, help="give up after this many seconds (default 3 x (ideal + expected waits))"
    )
    args = parser.parse_args(argv)
    if min(args.people, args.rate, args.burst, args.dispatchers) < 1:
        parser.error("--people, --rate, --burst and --dispatchers must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
