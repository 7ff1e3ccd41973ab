"""The scheduler: APScheduler 3 in UTC, stable job ids, and one runner per database.

Two workers started against one database are safe: only the holder of the runner lock schedules
anything; the other waits as a hot standby and takes over if the holder dies (PostgreSQL drops an
advisory lock with its session; the OS drops a file lock with its process).
"""

from __future__ import annotations

import fcntl
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session, sessionmaker

from bot.core.clock import Clock
from bot.delivery.outbox import allow_lingering, listen_for_queued, stop_lingering

logger = logging.getLogger(__name__)


class _StillRunningIsExpected(logging.Filter):
    """A tick that finds its job's last run still going is skipped by design (max_instances=1): the
    outbox dispatcher sends through a long queue for up to 50 s while its ticks come every 2 s, and
    APScheduler would log a warning for each of them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in str(record.msg)


logging.getLogger("apscheduler.scheduler").addFilter(_StillRunningIsExpected())


def what_it_did(result: Any) -> str:
    """A job's result in a few words, or "" when it did nothing (counts only, never content)."""
    if isinstance(result, bool) or result is None:
        return ""
    summary = getattr(result, "log_summary", None)
    if callable(summary):
        return str(summary())
    if isinstance(result, int):
        return str(result) if result else ""
    if isinstance(result, dict):
        return ", ".join(f"{key}: {value}" for key, value in result.items() if value)
    if isinstance(result, list | tuple):
        return "; ".join(filter(None, (what_it_did(item) for item in result)))
    counts = {k: v for k, v in vars(result).items() if isinstance(v, int) and not isinstance(v, bool)}
    if counts:  # a report dataclass (the outbox's, the directory sync's)
        done = {k: v for k, v in counts.items() if v and k not in ("unchanged",)}
        return ", ".join(f"{key.replace('_', ' ')}: {value}" for key, value in done.items())
    text = str(result)
    return "" if text in ("", "0") else text


# Any constant works; this one spells "EMPATHY" in ASCII-ish hex so it is recognisable in pg_locks.
ADVISORY_LOCK_KEY = 0x454D50415448


class JobFunction(Protocol):
    def __call__(self, session: Session, clock: Clock) -> Any: ...


@dataclass(frozen=True)
class Job:
    """A scheduled job: a plain, idempotent function of (session, clock) and when to run it.

    `misfire_grace_time` is chosen per job: how late a run may start and still be worth doing.
    """

    name: str
    func: JobFunction
    trigger: BaseTrigger
    description: str
    misfire_grace_time: int


def run_job(job: Job, session_factory: sessionmaker[Session], clock: Clock) -> Any:
    """Run a job once, in one transaction."""
    with session_factory() as session, session.begin():
        return job.func(session, clock)


class RunnerLock:
    """Held by the one process allowed to run scheduled jobs against a database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._connection is not None or self._file is not None

    def acquire(self) -> bool:
        if self.held:
            return True
        if self.engine.dialect.name == "postgresql":
            return self._acquire_advisory()
        return self._acquire_file()

    def _acquire_advisory(self) -> bool:
        connection = self.engine.connect()
        got = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}).scalar()
        connection.commit()
        if got:
            self._connection = connection
            return True
        connection.close()
        return False

    def _acquire_file(self) -> bool:
        database = self.engine.url.database
        if not database or database == ":memory:":
            return True  # an in-memory database only exists inside this process
        handle = open(Path(database).with_suffix(Path(database).suffix + ".scheduler.lock"), "a")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
                self._connection.commit()
            finally:
                self._connection.close()
                self._connection = None
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class Scheduler:
    """Runs `jobs` on a background thread once this process holds the runner lock."""

    def __init__(
        self,
        jobs: list[Job],
        session_factory: sessionmaker[Session],
        engine: Engine,
        clock: Clock,
        *,
        standby_poll_seconds: float = 15.0,
    ) -> None:
        self.jobs = jobs
        self.session_factory = session_factory
        self.clock = clock
        self.lock = RunnerLock(engine)
        self.standby_poll_seconds = standby_poll_seconds
        self._scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._standby: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    def start(self) -> bool:
        """Start now if the lock is free (True); otherwise wait for it in the background (False)."""
        if self._try_take_over():
            return True
        logger.info("another process runs the scheduler; standing by")
        self._standby = threading.Thread(target=self._wait_for_lock, name="scheduler-standby", daemon=True)
        self._standby.start()
        return False

    def _wait_for_lock(self) -> None:
        while not self._stop.wait(self.standby_poll_seconds):
            if self._try_take_over():
                return

    def _try_take_over(self) -> bool:
        if not self.lock.acquire():
            return False
        scheduler = BackgroundScheduler(
            timezone="UTC",
            executors={"default": ThreadPoolExecutor(max_workers=4)},
            # One run at a time per job, and runs missed while down collapse into one.
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        for job in self.jobs:
            scheduler.add_job(
                self._run,
                trigger=job.trigger,
                args=[job],
                id=job.name,
                name=job.name,
                replace_existing=True,
                misfire_grace_time=job.misfire_grace_time,
            )
        allow_lingering()
        scheduler.start()
        self._scheduler = scheduler
        # Messages queued by other processes (web processes beside a worker) wake this one's dispatcher.
        listen_for_queued(self.lock.engine.url.render_as_string(hide_password=False), self._stop)
        logger.info("scheduler started with %d jobs", len(self.jobs))
        return True

    def _run(self, job: Job) -> None:
        try:
            result = run_job(job, self.session_factory, self.clock)
        except Exception as error:
            # Log the kind and place only: a job's exception text may quote stored content.
            logger.error("job %s failed with %s", job.name, type(error).__name__, exc_info=False)
            return
        said = what_it_did(result)
        # One line per run that did something (a round opened or closed, digests queued); a run that
        # found nothing to do is a heartbeat, for DEBUG only.
        logger.log(logging.INFO if said else logging.DEBUG, "job %s: %s", job.name, said or "nothing to do")

    def shutdown(self) -> None:
        self._stop.set()
        stop_lingering()
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=True)
        self._scheduler = None
        self.lock.release()
