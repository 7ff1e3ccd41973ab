"""One timed pass of `benchmarks.digest_scale`, in its own process, with whichever code PYTHONPATH names.

    PYTHONPATH=<code> python benchmarks/_digest_child.py digests|floor URL WEEK_END OUT.json

Run as a file, not a module, so that `bot` and `surveys` come from PYTHONPATH: the checkout under
test, or an older commit's tree extracted by the parent (the "before" path). `digests` runs
`queue_digests` for every manager and HR in a transaction that is rolled back after the queued rows
are read, so every pass sees the same database. `floor` runs the one query the week's digests need
at the least: per round, unit and question, the number of answers per value over the 12 weeks of
history, every row fetched into Python. Writes {"seconds", "cpu", "statements", "queued", "rows"} to OUT
("cpu": this process's CPU seconds over the same span; the database server's work is not in it).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, event, select, text

from bot.core.database import make_engine, make_session_factory
from bot.core.models import OutboxMessage
from bot.core.settings import load_settings

HISTORY = timedelta(weeks=12)


def main() -> None:
    mode, url, week_end_text, out = sys.argv[1:5]
    week_end = datetime.fromisoformat(week_end_text)
    engine = make_engine(url)
    statements = 0

    def count(*_args: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(engine, "before_cursor_execute", count)
    factory = make_session_factory(engine)
    report: dict[str, Any] = {}
    if mode == "floor":
        rounds = text("SELECT id FROM pulse_round WHERE status = 'closed' AND closed_at >= :start AND closed_at < :end")
        # By round id, as the digests select answers: a join on closed_at lets SQLite scan every answer.
        query = text(
            "SELECT round_id, unit_id, question_id, value, count(*) FROM pulse_answer "
            "WHERE round_id IN :rounds AND value IS NOT NULL GROUP BY round_id, unit_id, question_id, value"
        ).bindparams(bindparam("rounds", expanding=True))
        with factory() as session:
            started, cpu = time.perf_counter(), time.process_time()
            ids = list(session.scalars(rounds, {"start": week_end - HISTORY, "end": week_end}))
            rows = session.execute(query, {"rounds": ids}).all()
            report["seconds"] = time.perf_counter() - started
            report["cpu"] = time.process_time() - cpu
            report["rows"] = len(rows)
    else:
        from bot.digest_jobs import queue_digests

        settings = load_settings(
            {"DATABASE_URL": url, "EMPATHY_SECRET_KEY": "x" * 43 + "=", "EMPATHY_ADMINS": "top@example.com"},
            require_slack=False,
        )
        with factory() as session:
            session.execute(select(1))  # connect before the clock starts, as a worker's pool would have
            statements = 0
            started, cpu = time.perf_counter(), time.process_time()
            queued = queue_digests(session, week_end, settings, week_end=week_end)
            session.flush()
            report["seconds"] = time.perf_counter() - started
            report["cpu"] = time.process_time() - cpu
            report["statements"] = statements
            report["queued"] = queued
            # What would go out, byte for byte: the "before" and "after" passes must write the same rows.
            report["rows"] = [
                [row.idempotency_key, row.person_id, row.state, row.due_at.isoformat(), json.dumps(row.payload)]
                for row in session.scalars(select(OutboxMessage).order_by(OutboxMessage.idempotency_key))
            ]
            session.rollback()
    report.setdefault("statements", statements)
    engine.dispose()
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(report, handle)


if __name__ == "__main__":
    main()
