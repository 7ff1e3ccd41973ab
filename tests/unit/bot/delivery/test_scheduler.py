"""One scheduler per database, jobs by stable name, and jobs that are safe to run twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.clock import ManualClock
from bot.core.database import make_engine
from bot.core.models import ProcessedEvent
from bot.core.settings import Settings
from bot.delivery.scheduler import Job, RunnerLock, Scheduler, run_job
from bot.jobs import build_jobs
from handlers.slack.platform import SlackPlatform

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_only_one_runner_lock_per_database(engine: Engine, db_url: str) -> None:
    other_engine = make_engine(db_url)
    first, second = RunnerLock(engine), RunnerLock(other_engine)
    try:
        assert first.acquire()
        assert not second.acquire()
        first.release()
        assert second.acquire()
        assert not first.acquire()
    finally:
        first.release()
        second.release()
        other_engine.dispose()


def test_a_second_scheduler_stands_by_and_takes_over(
    engine: Engine, db_url: str, session_factory: sessionmaker[Session]
) -> None:
    clock = ManualClock(NOW)
    jobs = [Job("noop", lambda s, c: None, _every_hour(), "does nothing", 60)]
    other_engine = make_engine(db_url)
    active = Scheduler(jobs, session_factory, engine, clock)
    standby = Scheduler(jobs, session_factory, other_engine, clock, standby_poll_seconds=0.05)
    try:
        assert active.start() is True
        assert standby.start() is False
        assert not standby.running
        active.shutdown()
        for _ in range(100):
            if standby.running:
                break
            standby._stop.wait(0.05)
        assert standby.running
    finally:
        active.shutdown()
        standby.shutdown()
        other_engine.dispose()


def test_jobs_have_stable_names_and_deliberate_misfire_policies(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    jobs = {job.name: job for job in build_jobs(settings, session_factory, [SlackPlatform(settings, session_factory)])}
    # Feature jobs (kudos, suggestions, onboarding) come on top of these; the names below must never change.
    assert set(jobs) >= {
        "outbox.dispatch",
        "org.sync",
        "events.prune",
        "pulse.open",
        "pulse.remind",
        "pulse.close",
        "digest.weekly",
        "privacy.nightly",
    }
    assert len(jobs) == len(build_jobs(settings, session_factory, [SlackPlatform(settings, session_factory)])), (
        "two jobs share a name"
    )
    assert all(job.misfire_grace_time for job in jobs.values())
    assert jobs["outbox.dispatch"].misfire_grace_time < jobs["org.sync"].misfire_grace_time


def test_pruning_events_twice_is_harmless(settings: Settings, session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        session.add(ProcessedEvent(event_id="Ev0OLD", received_at=NOW - timedelta(days=2)))
        session.add(ProcessedEvent(event_id="Ev0NEW", received_at=NOW - timedelta(hours=1)))
    prune = {
        job.name: job for job in build_jobs(settings, session_factory, [SlackPlatform(settings, session_factory)])
    }["events.prune"]
    clock = ManualClock(NOW)
    assert run_job(prune, session_factory, clock) == 1
    assert run_job(prune, session_factory, clock) == 0
    with session_factory() as session:
        assert session.scalars(select(ProcessedEvent.event_id)).all() == ["Ev0NEW"]
        assert session.scalar(select(func.count()).select_from(ProcessedEvent)) == 1


def _every_hour():
    from apscheduler.triggers.interval import IntervalTrigger

    return IntervalTrigger(hours=1, timezone="UTC")
