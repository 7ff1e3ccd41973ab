"""The scheduled jobs, by stable name: the kernel's (sending, directory sync, digests, privacy, event
ids) and each registered feature's own (bot/registry.py). Each is idempotent: running it twice
creates nothing twice."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from bot import registry
from bot.core.clock import Clock
from bot.core.crypto import SecretBox
from bot.core.models import ProcessedEvent
from bot.core.settings import Settings
from bot.delivery.outbox import QUEUED, DispatchReport, OutboxDispatcher
from bot.delivery.ports import ChatPlatform
from bot.delivery.scheduler import Job
from bot.digest_jobs import Fits, queue_digests
from bot.features import JobDeps
from bot.org.sync import SyncReport, sync_directory

# Every mapped class is imported above (the registry imports each feature with its models) before any
# job runs. Jobs run on several threads and
# some import feature modules lazily (digest sections, privacy hooks): a thread querying while another is
# halfway through importing a models module made SQLAlchemy fail to configure that mapper, and then every
# query in the process failed ("One or more mappers failed to initialize") until a restart. Found by
# benchmarks/two_workers.py; `empathy-bot serve` was safe because handlers.slack.app imports bot.schema,
# `worker` was not.
EVENT_ID_RETENTION = timedelta(hours=24)  # Slack stops retrying an event long before this


def build_jobs(
    settings: Settings,
    session_factory: sessionmaker[Session],
    platforms: Sequence[ChatPlatform],
    *,
    linger: bool = False,
    fits: Fits | None = None,
) -> list[Job]:
    """`platforms`: each chat platform the bot serves (the composition root builds them; see
    `bot.delivery.ports.ChatPlatform`). `linger`: the scheduled dispatcher stays for its whole run and
    sends what is queued at once (a running worker or `serve`); without it a run sends what is due and
    returns (`jobs run`, tests). `fits`: per platform, whether a message fits in one of its messages
    (`bot.digest_jobs.Fits`)."""
    box = SecretBox(settings.secret_key)

    def dispatch_outbox(session: Session, clock: Clock) -> DispatchReport:
        dispatcher = OutboxDispatcher(
            session_factory,
            {platform.name: sender for platform in platforms if (sender := platform.sender()) is not None},
            clock,
            max_attempts=settings.outbox_max_attempts,
            concurrency=settings.outbox_concurrency,
            box=box,
            wake=QUEUED if linger else None,
        )
        # Short of the next tick, so runs do not pile up behind each other.
        return dispatcher.run_once(time_budget=50)

    def sync_org(session: Session, clock: Clock) -> list[SyncReport]:
        return [
            sync_directory(session, workspace, directory, now=clock.now())
            for platform in platforms
            for workspace, directory in platform.directories(session)
        ]

    def send_digests(session: Session, clock: Clock) -> int:
        return queue_digests(session, clock.now(), settings, fits=fits)

    def privacy_nightly(session: Session, clock: Clock) -> dict[str, int]:
        from bot.privacy import expire, forget_leavers

        forgotten = forget_leavers(session, settings, box, clock.now())
        return {"people forgotten": forgotten, **expire(session, settings, clock.now())}

    def prune_events(session: Session, clock: Clock) -> int:
        cutoff = clock.now() - EVENT_ID_RETENTION
        result = session.execute(delete(ProcessedEvent).where(ProcessedEvent.received_at < cutoff))
        return int(result.rowcount or 0)

    deps = JobDeps(settings=settings, session_factory=session_factory, box=box)
    features = [job for feature in registry.FEATURES for job in feature.jobs(deps)]
    return [
        Job(
            name="outbox.dispatch",
            func=dispatch_outbox,
            trigger=IntervalTrigger(seconds=2, timezone="UTC"),
            description="Send due outbox messages (paced per workspace, retries 429/5xx).",
            misfire_grace_time=10,
        ),
        Job(
            name="org.sync",
            func=sync_org,
            trigger=CronTrigger(hour=3, minute=17, timezone="UTC"),
            description="Pull names, time zones, managers and deactivations from each platform's directory (daily, 03:17 UTC).",
            misfire_grace_time=6 * 3600,
        ),
        *features,
        Job(
            name="digest.weekly",
            func=send_digests,
            trigger=CronTrigger(minute="*/15", timezone="UTC"),
            description="Queue weekly digests for managers and HR whose local send time has come (once per week).",
            misfire_grace_time=900,
        ),
        Job(
            name="privacy.nightly",
            func=privacy_nightly,
            trigger=CronTrigger(hour=2, minute=43, timezone="UTC"),
            description="Forget people deactivated longer than the grace period; delete content past its retention.",
            misfire_grace_time=6 * 3600,
        ),
        Job(
            name="events.prune",
            func=prune_events,
            trigger=IntervalTrigger(hours=1, timezone="UTC"),
            description="Forget Slack event ids older than a day (used to drop redelivered events).",
            misfire_grace_time=3600,
        ),
    ]
