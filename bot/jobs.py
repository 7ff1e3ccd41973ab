"""The scheduled jobs, by stable name: the kernel's (sending, directory sync, digests, privacy, event
ids) and each registered feature's own (bot/registry.py). Each is idempotent: running it twice
creates nothing twice."""

from __future__ import annotations

from datetime import timedelta

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from slack_sdk import WebClient
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

import bot.schema  # noqa: F401  (see below)
from bot import registry
from bot.clock import Clock
from bot.crypto import SecretBox
from bot.digest_jobs import queue_digests
from bot.features import JobDeps
from bot.models import Platform, ProcessedEvent
from bot.org_sync import SyncReport, sync_directory
from bot.outbox import QUEUED, DispatchReport, OutboxDispatcher
from bot.scheduler import Job
from bot.settings import Settings
from bot.workspaces import get_or_create_workspace
from handlers.slack.client import build_web_client, fetch_team
from handlers.slack.directory import SlackDirectory
from handlers.slack.installations import TokenSource
from handlers.slack.sender import SlackSender
from handlers.teams.directory import build_teams_directory

# Every mapped class is imported above (bot.schema) before any job runs. Jobs run on several threads and
# some import feature modules lazily (digest sections, privacy hooks): a thread querying while another is
# halfway through importing a models module made SQLAlchemy fail to configure that mapper, and then every
# query in the process failed ("One or more mappers failed to initialize") until a restart. Found by
# benchmarks/two_workers.py; `empathy-bot serve` was safe because handlers.slack.app imports bot.schema, `worker` was not.
EVENT_ID_RETENTION = timedelta(hours=24)  # Slack stops retrying an event long before this


def build_jobs(
    settings: Settings,
    session_factory: sessionmaker[Session],
    *,
    client: WebClient | None = None,
    outbox_client: WebClient | None = None,
    linger: bool = False,
) -> list[Job]:
    """`linger`: the scheduled dispatcher stays for its whole run and sends what is queued at once (a
    running worker or `serve`); without it a run sends what is due and returns (`jobs run`, tests)."""
    client = client or build_web_client(settings)
    dispatcher_client = outbox_client or build_web_client(settings, for_outbox=True)

    tokens = TokenSource(settings, session_factory.kw["bind"], lambda token: build_web_client(settings, token=token))
    box = SecretBox(settings.secret_key)

    def dispatch_outbox(session: Session, clock: Clock) -> DispatchReport:
        sender = SlackSender(
            dispatcher_client,
            rate_per_minute=settings.outbox_rate_per_minute,
            tokens=tokens.token_for if settings.oauth else None,
        )
        dispatcher = OutboxDispatcher(
            session_factory,
            {sender.platform: sender},
            clock,
            max_attempts=settings.outbox_max_attempts,
            box=box,
            wake=QUEUED if linger else None,
        )
        # Short of the next tick, so runs do not pile up behind each other.
        return dispatcher.run_once(time_budget=50)

    def sync_slack(session: Session, clock: Clock) -> SyncReport | list[SyncReport]:
        if not settings.oauth:
            team_id, team_name = fetch_team(client)
            workspace = get_or_create_workspace(session, team_id, team_name)
            return sync_directory(session, workspace, SlackDirectory(client), now=clock.now())
        reports = []
        for team_id in tokens.installed_teams():
            token = tokens.token_for(team_id)
            if token is None:
                continue
            team_client = build_web_client(settings, token=token)
            workspace = get_or_create_workspace(session, *fetch_team(team_client))
            reports.append(sync_directory(session, workspace, SlackDirectory(team_client), now=clock.now()))
        return reports

    def sync_teams(session: Session, clock: Clock) -> SyncReport:
        workspace = get_or_create_workspace(session, settings.teams_tenant_id or "", platform=Platform.TEAMS.value)
        return sync_directory(session, workspace, build_teams_directory(settings), now=clock.now())

    # Each platform's directory sync, run when the deployment is set up for that platform.
    directory_syncs = {
        Platform.SLACK.value: (bool(settings.slack_bot_token or settings.oauth), sync_slack),
        Platform.TEAMS.value: (bool(settings.teams_tenant_id and settings.teams_client_id), sync_teams),
    }

    def sync_org(session: Session, clock: Clock) -> SyncReport | list[SyncReport]:
        reports: list[SyncReport] = []
        for configured, sync in directory_syncs.values():
            if configured:
                result = sync(session, clock)
                reports += result if isinstance(result, list) else [result]
        return reports[0] if len(reports) == 1 and not settings.oauth else reports

    def send_digests(session: Session, clock: Clock) -> int:
        return queue_digests(session, clock.now(), settings)

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
            description="Pull names, time zones, managers and deactivations from the Slack or Teams directory (daily, 03:17 UTC).",
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
