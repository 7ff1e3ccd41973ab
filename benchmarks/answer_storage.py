"""What sealing answers costs a click: record_answer + commit, on one thread, at the service level.

Each of N people answers every question of their round once and then changes one answer, each
click in its own transaction, as the worker applies them (without Slack or HTTP around it, so
the storage is all that differs between two versions of the code). Prints clicks per second
and per-click latency; run it at two commits to compare, e.g. with `git worktree`.

    .venv/bin/python -m benchmarks.answer_storage --people 300
    .venv/bin/python -m benchmarks.answer_storage --people 300 --database postgresql
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from benchmarks._support import new_secret_key, percentile, seed_people, temporary_database


def run(kind: str, people: int) -> dict[str, float]:
    from bot.core.crypto import SecretBox
    from bot.core.database import make_engine, make_session_factory
    from bot.core.models import Workspace
    from surveys.bank import QuestionBank
    from surveys.rounds import open_round, record_answer

    box, bank = SecretBox(new_secret_key()), QuestionBank.builtin()
    now = datetime(2026, 11, 23, 10, tzinfo=UTC)
    with temporary_database(kind) as url:
        engine = make_engine(url)
        factory = make_session_factory(engine)
        ids = seed_people(factory, people)
        with factory.begin() as session:
            workspace = session.scalar(select(Workspace))
            opened = open_round(
                session, workspace, bank, box, now=now, round_key="bench", round_date=now.date(), packs=["engagement"]
            )
            round_id = opened.round.id
            questions = {i.person_id: i.question_ids for i in opened.invitations}
        with factory() as session:
            from bot.core.models import Person, PersonAccount

            by_slack = dict(session.execute(select(PersonAccount.external_user_id, PersonAccount.person_id)).all())
        clicks: list[tuple[str, str, int]] = []
        for uid in ids:
            asked = questions[by_slack[uid]]
            clicks += [(uid, q, 1 + n % 5) for n, q in enumerate(asked)]
            clicks.append((uid, asked[0], 5))  # a change of mind
        latencies = []
        started = time.perf_counter()
        for uid, question_id, value in clicks:
            t0 = time.perf_counter()
            with factory.begin() as session:
                workspace = session.scalar(select(Workspace))
                record_answer(
                    session,
                    workspace,
                    bank,
                    box,
                    person=session.get(Person, by_slack[uid]),
                    round_id=round_id,
                    question_id=question_id,
                    value=value,
                    now=now + timedelta(hours=1),
                )
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - started
        engine.dispose()
    latencies.sort()
    return {
        "clicks": len(clicks),
        "per_second": len(clicks) / elapsed,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for attempt in range(1, args.repeat + 1):
        figures = run(args.database, args.people)
        print(
            f"{args.database} run {attempt}: {figures['clicks']:.0f} clicks, {figures['per_second']:.0f}/s, "
            f"p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms"
        )


if __name__ == "__main__":
    main()
