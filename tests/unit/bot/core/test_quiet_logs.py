"""At INFO the log says what happened, once; the scheduler's heartbeat shows only at DEBUG."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.core.clock import ManualClock
from bot.core.logs import configure_logging
from bot.delivery.outbox import DispatchReport
from bot.delivery.scheduler import Job, Scheduler, what_it_did

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[_Records]:
    handler = _Records()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)
    logging.getLogger("apscheduler.executors").setLevel(logging.NOTSET)


def _run_for_a_while(engine: Engine, session_factory: sessionmaker[Session], jobs: list[Job]) -> None:
    scheduler = Scheduler(jobs, session_factory, engine, ManualClock(NOW))
    assert scheduler.start()
    time.sleep(1.3)
    scheduler.shutdown()


def _jobs(counter: list[int]) -> list[Job]:
    def idle(_session: Session, _clock: object) -> int:
        return 0

    def closes_one_round(_session: Session, _clock: object) -> int:
        counter.append(1)
        return 1 if len(counter) == 1 else 0  # something happens once, then nothing

    every = IntervalTrigger(seconds=0.2, timezone="UTC")
    return [Job("outbox.idle", idle, every, "idle", 5), Job("pulse.close", closes_one_round, every, "close", 5)]


def test_at_info_an_idle_scheduler_is_silent_and_a_run_that_did_something_is_one_line(
    engine: Engine, session_factory: sessionmaker[Session], records: _Records
) -> None:
    configure_logging("INFO")
    _run_for_a_while(engine, session_factory, _jobs(counter := []))
    assert len(counter) >= 3  # the jobs really ran, several times
    shown = [r.getMessage() for r in records.records if r.levelno >= logging.INFO]
    assert not any("Running job" in m or "executed successfully" in m for m in shown)
    assert [m for m in shown if m.startswith("job ")] == ["job pulse.close: 1"]


def test_at_debug_the_heartbeat_is_there(
    engine: Engine, session_factory: sessionmaker[Session], records: _Records
) -> None:
    configure_logging("DEBUG")
    _run_for_a_while(engine, session_factory, _jobs([]))
    messages = [r.getMessage() for r in records.records]
    assert any("Running job" in m for m in messages)
    assert any(m == "job outbox.idle: nothing to do" for m in messages)


def test_what_a_job_did_is_counts_only() -> None:
    assert what_it_did(0) == "" and what_it_did(None) == "" and what_it_did(3) == "3"
    assert what_it_did({"people forgotten": 0, "kudos": 2}) == "kudos: 2"
    assert what_it_did(DispatchReport(sent=40)) == ""  # routine sends stay at DEBUG
    assert what_it_did(DispatchReport(sent=40, failed=1)) == "failed: 1"
