"""`empathy-bot`: serve, worker, migrate, org import/sync/list, jobs list/run.

Every expected failure (a bad setting, an old schema, a bad org file, Slack refusing the token)
ends with one readable line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, selectinload, sessionmaker
from websockets.exceptions import WebSocketException

from bot.core.accounts import external_id
from bot.core.audit import recent, record
from bot.core.clock import SystemClock
from bot.core.crypto import SecretBox
from bot.core.database import make_engine, make_session_factory, schema_is_current, upgrade
from bot.core.logs import configure_logging
from bot.core.models import Person, Platform, Team, Workspace
from bot.core.settings import Settings, SettingsError, load_environment, load_settings
from bot.core.storage_scrub import scrub
from bot.core.workspaces import get_or_create_workspace
from bot.delivery.ports import Directory, DirectoryError
from bot.delivery.scheduler import Scheduler, run_job
from bot.digest_jobs import WeekError, parse_week, queue_digests, week_end_for
from bot.digest_sections import build_digest, trend_settings
from bot.org.importer import OrgImportError, grant_env_admins, import_org
from bot.org.sync import sync_directory
from bot.privacy import forget, personal_data
from handlers.slack.client import build_web_client, fetch_team
from handlers.slack.directory import SlackDirectory
from handlers.slack.inbox_app import inbox_for
from handlers.slack.installations import BOTS_TABLE, INSTALLATIONS_TABLE, TokenSource, seal_clear_tokens
from handlers.slack.render.digest import digest_text, heatmap_lines, message_text, overview_message
from handlers.slack.render.message import json_text
from handlers.teams.directory import build_teams_directory
from surveys.bank import PackError
from surveys.digest import WeekData, hr_overview
from surveys.jobs import EARLY_CLOSE_EXPLAINED, close_early, open_pulse_now, open_rounds, scrub_closed_rounds
from surveys.models import PulseRound, PulseSchedule
from surveys.pack_store import add_custom_pack, workspace_bank
from surveys.schedules import ScheduleError, ScheduleSettings, describe, find_team, save_schedule

logger = logging.getLogger("empathy_bot")


class CommandError(Exception):
    """A failure the operator can fix; `str()` says how."""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (SettingsError, CommandError) as error:
        print(f"empathy-bot: {error}", file=sys.stderr)
        return 2
    except OrgImportError as error:
        print(str(error), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="empathy-bot", description="Empathy Bot: care for your people in Slack and Microsoft Teams."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    doctor = commands.add_parser("doctor", help="check settings, database, Slack token, scopes and channels")
    doctor.set_defaults(run=cmd_doctor)
    manifest = commands.add_parser("manifest", help="write the bot scopes (handlers/slack/scopes.py) into manifest.yml")
    manifest.add_argument("file", nargs="?", type=Path, default=Path("manifest.yml"), help="default: ./manifest.yml")
    manifest.add_argument("--check", action="store_true", help="change nothing; exit 1 if the file is out of date")
    manifest.set_defaults(run=cmd_manifest)
    teams = commands.add_parser("teams", help="Microsoft Teams: the app package").add_subparsers(
        required=True, metavar="ACTION"
    )
    teams_package = teams.add_parser("package", help="write the Teams app package (a zip) to upload to your Teams")
    teams_package.add_argument("--host", help="the public host name Teams reaches the bot at, e.g. bot.example.com")
    teams_package.add_argument(
        "--out", type=Path, default=Path("empathy-bot-teams.zip"), help="default: ./empathy-bot-teams.zip"
    )
    teams_package.add_argument("--privacy-url", help="your privacy notice (default: https://HOST/privacy)")
    teams_package.add_argument("--terms-url", help="your terms of use (default: https://HOST/terms)")
    teams_package.add_argument("--website-url", help="about the app (default: https://HOST/)")
    teams_package.set_defaults(run=cmd_teams_package)
    demo = commands.add_parser("demo", help="see the whole product without Slack: 12 simulated weeks, ~60 people")
    demo.add_argument("--out", default="demo-output", help="folder for the digests, charts and views (replaced)")
    demo.set_defaults(run=cmd_demo)
    serve = commands.add_parser("serve", help="run the Slack app (and the scheduler, unless --no-scheduler)")
    serve.add_argument(
        "--no-scheduler",
        action="store_true",
        help="run only the web part, which acks; `empathy-bot worker` runs the jobs and does the work",
    )
    serve.set_defaults(run=cmd_serve)

    commands.add_parser(
        "worker", help="run the scheduler, the outbox dispatcher and the work behind the web part's acks"
    ).set_defaults(run=cmd_worker)
    commands.add_parser("migrate", help="upgrade the database schema to the latest version").set_defaults(
        run=cmd_migrate
    )

    org = commands.add_parser("org", help="the organisation directory").add_subparsers(required=True, metavar="ACTION")
    org_import = org.add_parser("import", help="load people from a CSV file (all-or-nothing)")
    org_import.add_argument("file", type=Path)
    _platform_argument(org_import)
    org_import.set_defaults(run=cmd_org_import)
    org_sync = org.add_parser("sync", help="pull people from the Slack directory, or from Microsoft Graph on Teams")
    _platform_argument(org_sync)
    org_sync.set_defaults(run=cmd_org_sync)
    org.add_parser("list", help="show who is who").set_defaults(run=cmd_org_list)

    pulse = commands.add_parser("pulse", help="pulse surveys").add_subparsers(required=True, metavar="ACTION")
    pulse_send = pulse.add_parser("send", help="send a pulse now (to everyone, or one team)")
    pulse_send.add_argument("--team", help="the team's name, as in the org file")
    pulse_send.set_defaults(run=cmd_pulse_send)
    pulse_close = pulse.add_parser("close", help="end the open pulse now (everyone's, or one team's)")
    pulse_close.add_argument("--team", help="the team's name, as in the org file")
    pulse_close.add_argument("--yes", action="store_true", help="don't ask for confirmation")
    pulse_close.set_defaults(run=cmd_pulse_close)
    schedule = pulse.add_parser("schedule", help="set when pulses go out (for everyone, or one team)")
    schedule.add_argument("--team", help="the team's name; leave out for everyone")
    schedule.add_argument("--cadence", default="weekly", help="weekly, fortnightly or monthly")
    schedule.add_argument("--day", default="monday", help="day of the week")
    schedule.add_argument("--time", default="10:00", help="local send time in each person's time zone")
    schedule.add_argument("--questions", type=int, default=5, help="questions per pulse (1-15)")
    schedule.add_argument("--open-days", type=int, default=3, help="how long a round stays open")
    schedule.add_argument("--reminder-hours", type=int, default=24, help="reminder after this many hours; 0 for none")
    schedule.add_argument("--packs", default="", help="comma-separated question packs (default: the standard ones)")
    schedule.set_defaults(run=cmd_pulse_schedule)
    pulse.add_parser("list", help="show pulse schedules and rounds").set_defaults(run=cmd_pulse_list)
    packs = pulse.add_parser("packs", help="question packs").add_subparsers(required=True, metavar="ACTION")
    packs.add_parser("list", help="list the question packs").set_defaults(run=cmd_pulse_packs_list)
    pack_add = packs.add_parser("add", help="add a question pack from a YAML file (validated as a whole)")
    pack_add.add_argument("file", type=Path)
    pack_add.set_defaults(run=cmd_pulse_packs_add)

    digest = commands.add_parser("digest", help="weekly manager digests").add_subparsers(
        required=True, metavar="ACTION"
    )
    digest_send = digest.add_parser("send", help="queue this week's digests now (once per manager per week)")
    digest_send.add_argument("--week", help="the week the digest covers, like 2026-W48 (default: last week)")
    digest_send.add_argument("--manager", help="only this manager's email")
    digest_send.set_defaults(run=cmd_digest_send)
    digest_preview = digest.add_parser("preview", help="print a manager's digest in the terminal")
    digest_preview.add_argument("--manager", required=True, help="the manager's email")
    digest_preview.add_argument("--week", help="like 2026-W48 (default: last week)")
    digest_preview.set_defaults(run=cmd_digest_preview)
    digest_overview = digest.add_parser("overview", help="print HR's organisation-wide digest in the terminal")
    digest_overview.add_argument("--week", help="like 2026-W48 (default: last week)")
    digest_overview.set_defaults(run=cmd_digest_overview)

    privacy = commands.add_parser("privacy", help="a person's linked data: export it, or forget them").add_subparsers(
        required=True, metavar="ACTION"
    )
    privacy_export = privacy.add_parser("export", help="print everything linked to a person as JSON")
    privacy_export.add_argument("--email", required=True)
    privacy_export.add_argument("--out", type=Path, help="write to this file instead of the terminal")
    privacy_export.set_defaults(run=cmd_privacy_export)
    privacy_forget = privacy.add_parser("forget", help="remove or anonymise everything linked to a person")
    privacy_forget.add_argument("--email", required=True)
    privacy_forget.add_argument("--yes", action="store_true", help="don't ask for confirmation")
    privacy_forget.set_defaults(run=cmd_privacy_forget)

    onboarding = commands.add_parser("onboarding", help="onboarding journey templates").add_subparsers(
        required=True, metavar="ACTION"
    )
    onboarding_import = onboarding.add_parser("import", help="replace the templates with a YAML file (all-or-nothing)")
    onboarding_import.add_argument("file", type=Path)
    onboarding_import.set_defaults(run=cmd_onboarding_import)
    onboarding_export = onboarding.add_parser("export", help="write the templates as YAML (to FILE, else print)")
    onboarding_export.add_argument("file", type=Path, nargs="?")
    onboarding_export.set_defaults(run=cmd_onboarding_export)

    kudos = commands.add_parser("kudos", help="kudos: the company values people tag them with").add_subparsers(
        dest="kudos_command", required=True
    )
    values_import = kudos.add_parser(
        "values-import", help="replace the company values with a YAML file (all-or-nothing)"
    )
    values_import.add_argument("file", type=Path)
    values_import.set_defaults(run=cmd_kudos_values_import)
    values_export = kudos.add_parser("values-export", help="write the company values as YAML (to FILE, else print)")
    values_export.add_argument("file", type=Path, nargs="?")
    values_export.set_defaults(run=cmd_kudos_values_export)

    audit = commands.add_parser("audit", help="the latest admin actions: who, what, when (never content)")
    audit.add_argument("--limit", type=int, default=50)
    audit.set_defaults(run=cmd_audit)

    jobs = commands.add_parser("jobs", help="scheduled jobs").add_subparsers(required=True, metavar="ACTION")
    jobs.add_parser("list", help="list the scheduled jobs").set_defaults(run=cmd_jobs_list)
    jobs_run = jobs.add_parser("run", help="run one job once, now")
    jobs_run.add_argument("name")
    jobs_run.set_defaults(run=cmd_jobs_run)
    return parser


# -- shared steps ----------------------------------------------------------------------------


def _settings(*, require_slack: bool = True) -> Settings:
    settings = load_settings(require_slack=require_slack)
    _configure_logging(settings)
    if settings.secret_key_generated:
        print(
            "empathy-bot: EMPATHY_SECRET_KEY is not set, so I made one for this run. Add this line to .env "
            "to keep encrypted data readable after a restart:\n"
            f"EMPATHY_SECRET_KEY={settings.secret_key}",
            file=sys.stderr,
        )
    return settings


def _configure_logging(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_format)


def _database(settings: Settings) -> tuple[Engine, sessionmaker[Session]]:
    engine = make_engine(settings.database_url)
    try:
        current = schema_is_current(engine)
    except OperationalError as error:
        raise CommandError(
            f"cannot reach the database in DATABASE_URL ({type(error.orig).__name__}); is it running?"
        ) from None
    if not current:
        raise CommandError("the database schema is not up to date: run `empathy-bot migrate` first")
    return engine, make_session_factory(engine)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from None


def _installed_token(settings: Settings, session: Session) -> str | None:
    """With multi-workspace installs, the token of the workspace a command is for (EMPATHY_WORKSPACE,
    or the only one installed); None in single-workspace mode."""
    if not settings.oauth:
        return None
    tokens = TokenSource(settings, session.get_bind(), lambda token: build_web_client(settings, token=token))  # type: ignore[arg-type]
    teams = tokens.installed_teams()
    chosen = os.environ.get("EMPATHY_WORKSPACE") or (teams[0] if len(teams) == 1 else None)
    if chosen is None:
        installed = ", ".join(teams) or "none yet (open /slack/install to add one)"
        raise CommandError(f"say which workspace with EMPATHY_WORKSPACE=T… (installed: {installed})")
    token = tokens.token_for(chosen)
    if token is None:
        raise CommandError(f"the app is not installed in workspace {chosen}; open /slack/install in it first")
    return token


def _workspace(settings: Settings, session: Session) -> Workspace:
    """The workspace the bot token belongs to, created on first use, with EMPATHY_ADMINS granted."""
    if not settings.slack:
        raise CommandError(
            "this command works on the Slack workspace, and this deployment has Microsoft Teams only: set "
            "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET in .env to add Slack (README: Configuration)"
        )
    try:
        team_id, team_name = fetch_team(build_web_client(settings, token=_installed_token(settings, session)))
    except SlackApiError as error:
        raise CommandError(
            f"Slack refused SLACK_BOT_TOKEN ({error.response.get('error')}): copy the Bot User OAuth Token "
            "from 'OAuth & Permissions' in your Slack app's settings into .env"
        ) from None
    except (SlackClientError, OSError) as error:
        raise CommandError(f"cannot reach Slack at {settings.slack_api_url} ({type(error).__name__})") from None
    workspace = get_or_create_workspace(session, team_id, team_name)
    grant_env_admins(session, workspace, settings.admins)
    return workspace


def _slack_directory(settings: Settings, session: Session) -> tuple[Workspace, Directory]:
    return _workspace(settings, session), SlackDirectory(build_web_client(settings))


def _teams_directory(settings: Settings, session: Session) -> tuple[Workspace, Directory]:
    """The deployment's one Teams tenant (TEAMS_TENANT_ID) and its Graph directory."""
    if not (settings.teams_tenant_id and settings.teams_client_id and settings.teams_client_secret):
        raise CommandError(
            "Teams is not set up: put TEAMS_CLIENT_ID, TEAMS_CLIENT_SECRET and TEAMS_TENANT_ID from the bot's "
            "Entra app registration into .env"
        )
    workspace = get_or_create_workspace(session, settings.teams_tenant_id, platform=Platform.TEAMS.value)
    grant_env_admins(session, workspace, settings.admins)
    return workspace, build_teams_directory(settings)


# Where each platform's people come from: its workspace and its Directory.
DIRECTORIES: dict[str, Callable[[Settings, Session], tuple[Workspace, Directory]]] = {
    Platform.SLACK.value: _slack_directory,
    Platform.TEAMS.value: _teams_directory,
}
PLATFORM_NAMES = {Platform.SLACK.value: "Slack", Platform.TEAMS.value: "Microsoft Teams"}


def _platform_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--platform",
        choices=sorted(DIRECTORIES),
        default=Platform.SLACK.value,
        help="whose directory to read: the Slack workspace (default) or the Teams tenant",
    )


def _seal_stored_tokens(settings: Settings, engine: Engine, *, scrub_anyway: bool = False) -> None:
    """Seal Slack tokens an older version stored in clear (see handlers/slack/installations.py). Never under a key
    made for this run only: the tokens would be unreadable after a restart."""
    if settings.secret_key_generated:
        return
    if not seal_clear_tokens(engine, SecretBox(settings.secret_key)) and scrub_anyway:
        scrub(engine, [INSTALLATIONS_TABLE, BOTS_TABLE])


# -- commands --------------------------------------------------------------------------------


def cmd_migrate(_args: argparse.Namespace) -> int:
    settings = _settings(require_slack=False)
    try:
        upgrade(settings.database_url)
    except OperationalError as error:
        raise CommandError(f"cannot reach the database in DATABASE_URL ({type(error.orig).__name__})") from None
    engine = make_engine(settings.database_url)
    # Migration 0018 seals tokens in its own transaction, where no scrub can run: scrub now.
    _seal_stored_tokens(settings, engine, scrub_anyway=True)
    engine.dispose()
    print("The database schema is up to date.")
    return 0


def cmd_org_import(args: argparse.Namespace) -> int:
    settings = _settings(require_slack=args.platform == Platform.SLACK.value)
    _engine, factory = _database(settings)
    text = _read_text(args.file)
    with factory.begin() as session:
        workspace, directory = DIRECTORIES[args.platform](settings, session)
        report = import_org(session, workspace, text, directory)
        grant_env_admins(session, workspace, settings.admins)
        record(session, workspace.id, None, "org.import", args.file.name, via="cli")
    print(
        f"Imported {args.file.name}: {report.created} added, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.reactivated} reactivated, {report.deactivated} deactivated."
    )
    return 0


def cmd_org_sync(args: argparse.Namespace) -> int:
    settings = _settings(require_slack=args.platform == Platform.SLACK.value)
    _engine, factory = _database(settings)
    with factory.begin() as session:
        workspace, directory = DIRECTORIES[args.platform](settings, session)
        try:
            report = sync_directory(session, workspace, directory)
        except DirectoryError as error:
            raise CommandError(str(error)) from None
        grant_env_admins(session, workspace, settings.admins)
    print(
        f"Synced from {PLATFORM_NAMES[args.platform]}: {report.created} added, {report.updated} updated, "
        f"{report.deactivated} deactivated, {report.skipped_bots} bots skipped."
    )
    return 0


def cmd_org_list(_args: argparse.Namespace) -> int:
    settings = _settings(require_slack=False)
    _engine, factory = _database(settings)
    with factory() as session:
        people = session.scalars(
            select(Person).options(selectinload(Person.accounts)).order_by(Person.active.desc(), Person.name)
        ).all()
        rows = [
            (
                p.name,
                p.email or "",
                p.team.name if p.team else "",
                p.manager.name if p.manager else "",
                external_id(p, Platform.SLACK) or "-",
                p.timezone or "-",
                "active" if p.active else "deactivated",
            )
            for p in people
        ]
    _print_table(("name", "email", "team", "manager", "slack", "timezone", "status"), rows)
    return 0


def cmd_pulse_send(args: argparse.Namespace) -> int:
    settings = _settings()
    _engine, factory = _database(settings)
    now = SystemClock().now()
    with factory.begin() as session:
        workspace = _workspace(settings, session)
        team = _team(session, workspace, args.team)
        bank = workspace_bank(session, workspace.id)
        opened = open_pulse_now(
            session,
            workspace,
            bank,
            SecretBox(settings.secret_key),
            now=now,
            team_id=team.id if team else None,
        )
    who = team.name if team else "everyone"
    if not opened.created:
        print(
            f"A pulse for {who} was already sent today, so nothing new was sent (open until {opened.round.closes_at:%a %d %b})."
        )
        return 0
    print(
        f"Pulse for {who} opened: {len(opened.invitations)} DMs queued, open until {opened.round.closes_at:%a %d %b %H:%M} UTC. "
        "A running worker (or `serve`) sends them."
    )
    return 0


def cmd_pulse_close(args: argparse.Namespace) -> int:
    settings = _settings()
    _engine, factory = _database(settings)
    now = SystemClock().now()
    with factory() as session:
        workspace = _workspace(settings, session)
        team = _team(session, workspace, args.team)
        found = open_rounds(session, workspace, team.id if team else None)
    who = team.name if team else "everyone"
    if not found:
        print(f"No pulse for {who} is open, so there is nothing to end. `empathy-bot pulse list` shows recent rounds.")
        return 0
    until = ", ".join(f"{r.closes_at:%a %d %b %H:%M} UTC" for r in found)
    print(f"The pulse for {who} is open until {until}. {EARLY_CLOSE_EXPLAINED}")
    if not args.yes:
        answer = input("End it now? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing was changed; the pulse stays open.")
            return 0
    box = SecretBox(settings.secret_key)
    with factory.begin() as session:
        took_part = invited = 0
        for pulse in found:
            pulse = session.merge(pulse)
            if pulse.status != "open":
                continue  # closed meanwhile (its scheduled end, or another admin)
            counted = close_early(session, pulse, now, box)
            if counted is None:
                continue  # closed by its scheduled end a moment ago
            took_part, invited = took_part + counted[0], invited + counted[1]
            record(session, pulse.workspace_id, None, "pulse.close_early", who, via="cli")
    scrub_closed_rounds(factory, settings.database_url, now)
    print(
        f"Ended the pulse for {who}: {took_part} of {invited} people took part. Everyone's pulse message "
        "becomes a thank-you as soon as a worker (or `serve`) runs."
    )
    return 0


def cmd_pulse_schedule(args: argparse.Namespace) -> int:
    settings = _settings()
    _engine, factory = _database(settings)
    with factory.begin() as session:
        workspace = _workspace(settings, session)
        team = _team(session, workspace, args.team)
        bank = workspace_bank(session, workspace.id)
        choice = ScheduleSettings(
            cadence=args.cadence.lower(),
            weekday=args.day.lower(),
            send_time=args.time,
            questions_per_round=args.questions,
            open_days=args.open_days,
            reminder_after_hours=args.reminder_hours or None,
            packs=tuple(p.strip() for p in args.packs.split(",") if p.strip()),
        )
        try:
            schedule = save_schedule(session, workspace, bank, choice, team=team, today=SystemClock().now().date())
        except ScheduleError as error:
            raise CommandError(str(error)) from None
        record(session, workspace.id, None, "pulse.schedule", team.name if team else "everyone", via="cli")
        print("Saved: " + describe(schedule, team.name if team else None))
    return 0


def cmd_pulse_list(_args: argparse.Namespace) -> int:
    settings = _settings(require_slack=False)
    _engine, factory = _database(settings)
    with factory() as session:
        for schedule in session.scalars(select(PulseSchedule).where(PulseSchedule.active.is_(True))):
            team = session.get(Team, schedule.team_id) if schedule.team_id else None
            print("schedule  " + describe(schedule, team.name if team else None))
        rows = [
            (str(r.id), r.round_key, r.status, f"{r.opens_at:%Y-%m-%d %H:%M}", f"{r.closes_at:%Y-%m-%d %H:%M}")
            for r in session.scalars(select(PulseRound).order_by(PulseRound.id.desc()).limit(20))
        ]
    _print_table(("round", "key", "status", "opens (UTC)", "closes (UTC)"), rows)
    return 0


def cmd_pulse_packs_list(_args: argparse.Namespace) -> int:
    settings = _settings()
    _engine, factory = _database(settings)
    with factory.begin() as session:
        workspace = _workspace(settings, session)
        bank = workspace_bank(session, workspace.id)
        rows = [
            (p.id, p.name, str(len(p.questions)), "on" if p.enabled_by_default else "optional", p.attribution[:60])
            for p in bank.packs.values()
        ]
    _print_table(("pack", "name", "questions", "default", "source"), rows)
    return 0


def cmd_pulse_packs_add(args: argparse.Namespace) -> int:
    settings = _settings()
    _engine, factory = _database(settings)
    text = _read_text(args.file)
    with factory.begin() as session:
        workspace = _workspace(settings, session)
        try:
            pack = add_custom_pack(session, workspace.id, text, source=args.file.name)
        except PackError as error:
            print(str(error), file=sys.stderr)
            return 1
        record(session, workspace.id, None, "pulse.pack.add", pack.id, via="cli")
    print(f"Added the pack '{pack.id}' ({len(pack.questions)} questions). Turn it on in the pulse settings.")
    return 0


def _week_end(week: str | None) -> datetime:
    try:
        return parse_week(week) if week else week_end_for(SystemClock().now())
    except WeekError as error:
        raise CommandError(str(error)) from None


def cmd_digest_send(args: argparse.Namespace) -> int:
    from bot.cli.platforms import message_fits

    settings = _settings(require_slack=False)
    _engine, factory = _database(settings)
    week_end = _week_end(args.week)
    with factory.begin() as session:
        queued = queue_digests(
            session,
            SystemClock().now(),
            settings,
            week_end=week_end,
            manager_email=args.manager,
            fits=message_fits(settings),
        )
    print(f"{queued} digest(s) queued for the week ending {week_end:%a %d %b %Y}. A running worker sends them.")
    return 0


def cmd_digest_preview(args: argparse.Namespace) -> int:
    settings = _settings(require_slack=False)
    _engine, factory = _database(settings)
    week_end = _week_end(args.week)
    with factory() as session:
        manager = session.scalar(select(Person).where(func.lower(Person.email) == args.manager.lower()))
        if manager is None:
            raise CommandError(f"nobody has the email {args.manager}; `empathy-bot org list` shows who is who")
        digest = build_digest(
            session, workspace_bank(session, manager.workspace_id), manager, week_end, settings=settings
        )
        print(digest_text(digest, manager.first_name))
    return 0


def cmd_digest_overview(args: argparse.Namespace) -> int:
    settings = _settings(require_slack=False)
    _engine, factory = _database(settings)
    week_end = _week_end(args.week)
    with factory() as session:
        for workspace in session.scalars(select(Workspace)):
            data = WeekData(
                session, workspace_bank(session, workspace.id), workspace.id, week_end, trend=trend_settings(settings)
            )
            overview = hr_overview(session, data)
            print(message_text(overview_message(overview, "HR team")))
            print("\n".join(heatmap_lines(overview)))
    return 0


def _team(session: Session, workspace: Workspace, name: str | None) -> Team | None:
    if not name:
        return None
    try:
        return find_team(session, workspace, name)
    except ScheduleError as error:
        raise CommandError(str(error)) from None


def _person_by_email(session: Session, workspace: Workspace, email: str) -> Person:
    person = session.scalar(
        select(Person).where(Person.workspace_id == workspace.id, func.lower(Person.email) == email.strip().lower())
    )
    if person is None:
        raise CommandError(f"nobody has the email {email} in this workspace; `empathy-bot org list` shows who is here")
    return person


def cmd_privacy_export(args: argparse.Namespace) -> int:
    settings = _settings()
    _engine, factory = _database(settings)
    with factory.begin() as session:
        workspace = _workspace(settings, session)
        person = _person_by_email(session, workspace, args.email)
        data = personal_data(session, person, box=SecretBox(settings.secret_key))
        record(session, workspace.id, None, "privacy.export", f"person {person.id}", via="cli")
    text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True, default=json_text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
        print(f"Wrote everything linked to {args.email} to {args.out}.")
    else:
        print(text)
    return 0


def cmd_privacy_forget(args: argparse.Namespace) -> int:
    settings = _settings()
    _engine, factory = _database(settings)
    with factory.begin() as session:
        workspace = _workspace(settings, session)
        person = _person_by_email(session, workspace, args.email)
        if not args.yes:
            answer = input(f"Forget {person.name or args.email}? This removes everything linked to them. [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("Nothing changed.")
                return 1
        was_active = person.active
        done = forget(
            session, person, box=SecretBox(settings.secret_key), now=SystemClock().now(), actor_id=None, via="cli"
        )
    print(f"Forgot {args.email}. Removed or anonymised:")
    for kind, count in done.items():
        print(f"  {kind}: {count}")
    print("Pulse answers were never linked to them and stay in the anonymous results.")
    if was_active:
        print(
            "They were still active here: if they are still in Slack, the next directory sync adds them back as a "
            "new person with nothing from before. Remove them from the org file or Slack first if they have left."
        )
    return 0


def cmd_onboarding_import(args: argparse.Namespace) -> int:
    from bot.onboarding.service import import_templates
    from bot.onboarding.templates import TemplateError

    settings = _settings()
    _engine, factory = _database(settings)
    text = _read_text(args.file)
    with factory.begin() as session:
        workspace = _workspace(settings, session)
        try:
            report = import_templates(
                session, workspace.id, text, actor_id=None, via="cli", now=SystemClock().now(), source=args.file.name
            )
        except TemplateError as error:
            print(f"{args.file.name}: {error}", file=sys.stderr)
            return 1
    print(f"Imported {args.file.name}: {report}. Running journeys keep the version they started with.")
    return 0


def cmd_onboarding_export(args: argparse.Namespace) -> int:
    from bot.onboarding.service import export_templates

    settings = _settings()
    _engine, factory = _database(settings)
    with factory.begin() as session:
        workspace = _workspace(settings, session)
        text = export_templates(session, workspace.id, actor_id=None, via="cli", now=SystemClock().now())
    return _print_or_write(text, args.file, "the onboarding templates")


def cmd_kudos_values_import(args: argparse.Namespace) -> int:
    from bot.kudos.values import ValuesError, parse_yaml, replace_values

    settings = _settings()
    _engine, factory = _database(settings)
    text = _read_text(args.file)
    try:
        specs = parse_yaml(text)
    except ValuesError as error:
        print(f"{args.file.name}: {error}", file=sys.stderr)
        return 1
    with factory.begin() as session:
        workspace = _workspace(settings, session)
        replace_values(session, workspace.id, specs, actor_id=None, via="cli", now=SystemClock().now())
    print(f"Imported {len(specs)} company values from {args.file.name}. Kudos already given keep their tags.")
    return 0


def cmd_kudos_values_export(args: argparse.Namespace) -> int:
    from bot.kudos.values import as_yaml, current

    settings = _settings()
    _engine, factory = _database(settings)
    with factory() as session:
        text = as_yaml(current(session, _workspace(settings, session).id))
    return _print_or_write(text, args.file, "the company values")


def _print_or_write(text: str, file: Path | None, what: str) -> int:
    if file is None:
        print(text, end="")
        return 0
    try:
        file.write_text(text, encoding="utf-8")
    except OSError as error:
        raise CommandError(f"cannot write {file}: {error.strerror or error}") from None
    print(f"Wrote {what} to {file}.")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    settings = _settings()
    _engine, factory = _database(settings)
    with factory.begin() as session:
        workspace = _workspace(settings, session)
        rows = [
            (f"{line.at:%Y-%m-%d %H:%M}", line.actor, line.via, line.action, line.subject)
            for line in recent(session, workspace.id, limit=args.limit)
        ]
    _print_table(("when (UTC)", "who", "via", "action", "subject"), rows)
    return 0


def cmd_jobs_list(_args: argparse.Namespace) -> int:
    settings = _settings()
    _engine, factory = _database(settings)
    _print_table(("job", "when", "what"), [(j.name, str(j.trigger), j.description) for j in _jobs(settings, factory)])
    return 0


def cmd_jobs_run(args: argparse.Namespace) -> int:
    settings = _settings()
    _engine, factory = _database(settings)
    jobs = {job.name: job for job in _jobs(settings, factory)}
    if args.name not in jobs:
        raise CommandError(
            f"there is no job called '{args.name}'; `empathy-bot jobs list` shows them: {', '.join(jobs)}"
        )
    result = run_job(jobs[args.name], factory, SystemClock())
    print(f"{args.name}: {result}")
    return 0


def cmd_worker(_args: argparse.Namespace) -> int:
    settings = _settings()
    engine, factory = _database(settings)
    _seal_stored_tokens(settings, engine)
    if settings.slack:
        with factory.begin() as session:
            _workspace(settings, session)
    scheduler = Scheduler(_jobs(settings, factory, linger=True), factory, engine, SystemClock())
    inbox = inbox_for(settings, engine=engine, clock=SystemClock(), accepts=False, works=True)
    if inbox is not None:
        # Its work threads lower their own priority; its keeper, which holds the inbox's write lock that
        # acks wait for, keeps the normal one (bot/delivery/inbox.py).
        inbox.start()
    if settings.worker_nice:
        # Web processes beside it ack first (EMPATHY_WORKER_NICE). Before the scheduler's threads start: on
        # Linux a thread inherits the niceness of the thread that starts it.
        os.nice(settings.worker_nice)
    scheduler.start()

    def stop() -> None:
        if inbox is not None:
            inbox.stop()
        scheduler.shutdown()

    _wait_for_signal(stop)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from bot.cli.doctor import run_checks

    checks = run_checks()
    for check in checks:
        print(check.line())
    broken = [c for c in checks if not c.ok and not c.warning]
    print("\nAll good." if not broken else f"\n{len(broken)} thing(s) to fix before the bot can work.")
    return 1 if broken else 0


def cmd_manifest(args: argparse.Namespace) -> int:
    from handlers.slack.scopes import render_manifest

    try:
        text = args.file.read_text(encoding="utf-8")
        rendered = render_manifest(text)
    except (OSError, ValueError) as error:
        raise CommandError(f"can't update {args.file}: {error}") from None
    if rendered == text:
        print(f"{args.file}: the bot scopes are up to date")
        return 0
    if args.check:
        print(
            f"{args.file}: the bot scopes differ from handlers/slack/scopes.py; run `empathy-bot manifest` to update them"
        )
        return 1
    args.file.write_text(rendered, encoding="utf-8")
    print(f"{args.file}: bot scopes rewritten from handlers/slack/scopes.py; paste it into the app and reinstall")
    return 0


def cmd_teams_package(args: argparse.Namespace) -> int:
    from handlers.teams.package import PackageError, build, write_package

    env = load_environment()  # TEAMS_CLIENT_ID from the environment or .env, like every setting
    try:
        manifest = build(
            client_id=env.get("TEAMS_CLIENT_ID"),
            host=args.host,
            app_id=env.get("TEAMS_APP_ID"),
            website_url=args.website_url,
            privacy_url=args.privacy_url,
            terms_url=args.terms_url,
        )
        package = write_package(args.out, manifest)
    except PackageError as error:
        raise CommandError(str(error)) from None
    pages = manifest["developer"]
    print(
        f"{package.path}: Teams app {manifest['name']['short']} {manifest['version']} (app id {package.app_id}) "
        f"for the bot {manifest['bots'][0]['botId']} at {manifest['validDomains'][0]}.\n"
        f"Its privacy and terms links go to {pages['privacyUrl']} and {pages['termsOfUseUrl']}; "
        "--privacy-url and --terms-url point them at your own pages.\n"
        "Next: upload it in the Teams admin center (Teams apps → Manage apps → Upload new app); "
        "README: Install on Microsoft Teams."
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.demo.run import run_demo  # matplotlib and the simulation load only for the demo

    out = Path(args.out).resolve()
    print(f"Simulating 12 weekly pulses for a synthetic company; writing to {out} ...")
    report = run_demo(out)
    print(
        f"Done in {report.seconds:.1f} s: {report.people} people, {report.rounds} pulses, {report.answers} answers "
        f"({report.comments} with comments), {report.dms} Slack messages sent through the outbox."
    )
    for folder in ("digests", "charts", "home", "teams"):
        files = sorted(p.name for p in report.files if p.parent.name == folder)
        print(f"  {out / folder}/  {len(files)} files, e.g. {', '.join(files[:3])}")
    if report.problems:
        print("Block Kit problems (this is a bug, please report it):", *report.problems, sep="\n  ")
        return 1
    print("Every message and view is inside Slack's Block Kit limits.")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings()
    engine, factory = _database(settings)
    _seal_stored_tokens(settings, engine)
    if settings.slack:  # a Teams-only deployment has no Slack workspace to check the token against
        with factory.begin() as session:
            _workspace(settings, session)
    scheduler = (
        None if args.no_scheduler else Scheduler(_jobs(settings, factory, linger=True), factory, engine, SystemClock())
    )
    if settings.socket_mode:
        return _serve_socket_mode(settings, scheduler)
    from bot.cli.server import serve_http

    serve_http(settings, scheduler)
    return 0


def _serve_socket_mode(settings: Settings, scheduler: Scheduler | None) -> int:
    from handlers.slack.app import create_app
    from handlers.slack.socket_mode import SocketMode

    assert settings.slack_app_token is not None  # settings.socket_mode
    socket_mode = SocketMode(create_app(settings), settings.slack_app_token)
    logger.info("connecting to Slack in Socket Mode")
    try:
        socket_mode.start()  # before the scheduler: a refused app token ends `serve` with nothing left running
    except SlackApiError as error:
        socket_mode.stop()
        raise CommandError(
            f"Slack refused SLACK_APP_TOKEN ({error.response.get('error')}): generate an app-level token with the "
            "connections:write scope under 'Basic Information' in your Slack app's settings and put it in .env"
        ) from None
    except (SlackClientError, OSError, WebSocketException) as error:
        socket_mode.stop()
        raise CommandError(f"cannot open a Socket Mode connection to Slack ({type(error).__name__})") from None
    if scheduler is not None:
        scheduler.start()

    def stop() -> None:
        socket_mode.stop()  # stops taking requests and waits for the ones in hand to be acked
        if scheduler is not None:
            scheduler.shutdown()

    _wait_for_signal(stop)
    return 0


def _jobs(settings: Settings, factory: sessionmaker[Session], *, linger: bool = False) -> list[Any]:
    from bot.cli.platforms import chat_platforms, message_fits
    from bot.jobs import build_jobs

    return build_jobs(settings, factory, chat_platforms(settings, factory), linger=linger, fits=message_fits(settings))


def _wait_for_signal(on_stop: Callable[[], None]) -> None:
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    logger.info("running; press Ctrl+C to stop")
    stopped.wait()
    on_stop()


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    if not rows:
        print("(nothing yet)")


if __name__ == "__main__":
    sys.exit(main())
