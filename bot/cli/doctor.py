"""`empathy-bot doctor`: checks settings, database, migrations, the Slack token and its scopes, the
channels the bot posts to, and on Teams how many people the bot cannot reach and why, and says what to
fix. Read-only: it changes nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from bot.core.crypto import SecretBox
from bot.core.database import make_engine, make_session_factory, schema_is_current
from bot.core.models import Person, Workspace
from bot.core.people import is_hr, listed_admin_problems
from bot.core.settings import Settings, SettingsError, load_settings
from bot.core.workspace_config import get_setting
from bot.delivery.inbox import Inbox, inbox_engine, inbox_file
from bot.registry import config_keys
from handlers.slack.client import build_web_client
from handlers.slack.scopes import REINSTALL, REQUIRED_SCOPES, missing_scopes_detail
from handlers.teams.reach import teams_reach


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    warning: bool = False  # worth knowing, but the bot works

    def line(self) -> str:
        mark = "✓" if self.ok else "!" if self.warning else "✗"
        text = f"{mark} {self.name}: {self.detail}"
        return text + (f"\n    → {self.fix}" if self.fix and not self.ok else "")


def run_checks(env: Mapping[str, str] | None = None) -> list[Check]:
    try:
        settings = load_settings(env)
    except SettingsError as error:
        return [Check("Settings", False, str(error), "set it in .env (see the Configuration table in README.md)")]
    checks = [Check("Settings", True, f"loaded ({settings.environment})")]
    if settings.secret_key_generated:
        checks.append(
            Check(
                "Secret key", False, "EMPATHY_SECRET_KEY is not set; a new one is made every run",
                "set EMPATHY_SECRET_KEY in .env and keep it (README: Configuration)", warning=True,
            )
        )  # fmt: skip
    database = _database_checks(settings)
    # Channel settings live in the database: without a usable one there is nothing to look up.
    usable = all(c.ok or c.warning for c in database)
    teams = _teams_checks(settings) if settings.teams and usable else []
    # A Teams-only deployment has no Slack token to test.
    slack = _slack_checks(settings, with_channels=usable) if settings.slack else []
    return checks + database + slack + teams


# Requests normally wait milliseconds; a minute means nothing is working the inbox.
INBOX_STALE_SECONDS = 60


def _inbox_checks(settings: Settings) -> list[Check]:
    """Acked requests still waiting for their work: with `serve --no-scheduler`, a missing worker."""
    if not settings.early_acks:
        return []
    side = inbox_file(settings.database_url)
    if side is not None and not side.exists():
        return [Check("Inbox", True, "nothing waiting")]  # no web process has run yet; create nothing
    engine = inbox_engine(settings.database_url)
    try:
        count, lag = Inbox(engine, SecretBox(settings.secret_key)).waiting()
    except SQLAlchemyError as error:
        return [Check("Inbox", False, f"can't read it ({type(error).__name__})", "check DATABASE_URL")]
    finally:
        engine.dispose()
    detail = f"{count} acked request(s) waiting, the oldest for {lag:.0f} s" if count else "nothing waiting"
    return [
        Check(
            "Inbox", lag < INBOX_STALE_SECONDS, detail,
            "start `empathy-bot worker` (the Procfile's worker): it does the work behind the web part's acks",
            warning=True,
        )
    ]  # fmt: skip


def _database_checks(settings: Settings) -> list[Check]:
    engine = make_engine(settings.database_url)
    try:
        current = schema_is_current(engine)
    except SQLAlchemyError as error:
        return [
            Check(
                "Database",
                False,
                f"can't connect ({type(error).__name__})",
                "check DATABASE_URL and that the server runs",
            )
        ]
    finally:
        engine.dispose()
    checks = [Check("Database", True, f"reachable ({engine.dialect.name})")]
    if not current:
        checks.append(Check("Migrations", False, "the schema is behind this version", "run `empathy-bot migrate`"))
        return checks
    checks.append(Check("Migrations", True, "the schema is up to date"))
    checks += _inbox_checks(settings)
    engine = make_engine(settings.database_url)
    with make_session_factory(engine)() as session:
        people = session.scalar(select(func.count()).select_from(Person).where(Person.active.is_(True))) or 0
        admins = [
            p for p in session.scalars(select(Person).where(Person.active.is_(True))) if is_hr(session, p, settings)
        ]
        listed = listed_admin_problems(session, settings)
    engine.dispose()
    checks.append(
        Check(
            "People",
            people > 0,
            f"{people} active",
            "load them: `empathy-bot org import FILE` or `empathy-bot org sync`",
            warning=True,
        )
    )
    checks.append(
        Check(
            "HR admins", bool(admins), f"{len(admins)} found",
            "mark HR in the org file (role=hr) or list them in EMPATHY_ADMINS", warning=True,
        )
    )  # fmt: skip
    if settings.admins:
        inactive = [p.entry for p in listed if p.problem == "inactive"]
        unknown = [p.entry for p in listed if p.problem == "unknown"]
        words = [f"{', '.join(inactive)} inactive, so without admin powers"] if inactive else []
        words += [f"{', '.join(unknown)} not in the directory"] if unknown else []
        checks.append(
            Check(
                "EMPATHY_ADMINS", not listed,
                "; ".join(words) if listed else f"all {len(settings.admins)} listed are active people",
                "take people who left out of EMPATHY_ADMINS; for unknown entries check the spelling "
                "or run `empathy-bot org sync`", warning=True,
            )
        )  # fmt: skip
    return checks


TEAMS_REACH_FIX = (
    "install the app for everyone (Teams admin center: an app setup policy that installs it in people's "
    "personal scope); someone who blocked the bot can unblock it in their chat with it. The next message "
    "to each of them tries again"
)


def _teams_checks(settings: Settings) -> list[Check]:
    """How many people on the Teams tenant the bot cannot write to, by reason (counts only, no names)."""
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            reach = teams_reach(session)
    except SQLAlchemyError as error:
        return [Check("Teams reach", False, f"can't read it ({type(error).__name__})", "check DATABASE_URL")]
    finally:
        engine.dispose()
    pending = f"; {reach.not_yet} have no chat with the bot yet (made at their first message)" if reach.not_yet else ""
    if not reach.cannot:
        detail = (
            f"all {reach.people} people can be reached"
            if not reach.not_yet
            else f"{reach.reachable} of {reach.people} people can be reached"
        )
        return [Check("Teams reach", True, detail + pending)]
    reasons = "; ".join(f"{count} {label}" for label, count in reach.unreachable.most_common())
    detail = f"{reach.cannot} of {reach.people} people cannot be reached: {reasons}{pending}"
    return [Check("Teams reach", False, detail, TEAMS_REACH_FIX, warning=True)]


def _slack_checks(settings: Settings, *, with_channels: bool) -> list[Check]:
    client = build_web_client(settings)
    try:
        response = client.auth_test()
    except SlackApiError as error:
        return [
            Check(
                "Slack token",
                False,
                f"Slack said {error.response.get('error')}",
                "copy the Bot User OAuth Token (xoxb-…) into SLACK_BOT_TOKEN",
            )
        ]
    except (SlackClientError, OSError) as error:
        return [
            Check(
                "Slack token",
                False,
                f"can't reach Slack ({type(error).__name__})",
                "check the network and SLACK_API_URL",
            )
        ]
    checks = [Check("Slack token", True, f"valid for {response.get('team')} ({response.get('team_id')})")]
    header = {k.lower(): v for k, v in (response.headers or {}).items()}.get("x-oauth-scopes")
    if header is None:
        checks.append(Check("Scopes", True, "Slack did not list them; skipped", warning=True))
    else:
        granted = {s.strip() for s in header.split(",")}
        missing = [scope for scope in REQUIRED_SCOPES if scope not in granted]
        checks.append(
            Check("Scopes", not missing, missing_scopes_detail(missing) if missing else "all granted", REINSTALL)
        )
    if with_channels:
        checks += _channel_checks(settings, client)
    return checks


def _channel_checks(settings: Settings, client: object) -> list[Check]:
    engine = make_engine(settings.database_url)
    checks = []
    with make_session_factory(engine)() as session:
        for workspace in session.scalars(select(Workspace)):
            for name, key in config_keys().items():
                if not name.endswith("-channel"):
                    continue
                channel = get_setting(session, workspace, key, settings)
                if channel is None:
                    continue
                try:
                    info = client.conversations_info(channel=channel)["channel"]  # type: ignore[attr-defined]
                except SlackApiError as error:
                    checks.append(_channel_error(name, channel, error))
                    continue
                member = bool(info.get("is_member"))
                checks.append(
                    Check(
                        f"Channel {name}",
                        member,
                        f"{channel} {'(bot is a member)' if member else 'bot is not a member'}",
                        "invite the bot to the channel: `/invite @Empathy Bot`",
                    )
                )
    engine.dispose()
    return checks


def _channel_error(name: str, channel: str, error: SlackApiError) -> Check:
    code = error.response.get("error")
    if code == "missing_scope":
        # The app may not look the channel up: nothing is known about the channel itself, so inviting
        # the bot would not help; the install lacks a scope.
        needed = error.response.get("needed") or "channels:read or groups:read"
        return Check(
            f"Channel {name}", False,
            f"<#{channel}>: can't check it, the app lacks the {needed.replace(',', ' or ')} scope (missing_scope)",
            REINSTALL,
        )  # fmt: skip
    return Check(
        f"Channel {name}", False, f"<#{channel}>: {code}",
        "invite the bot to the channel (`/invite @Empathy Bot`) or pick another one",
    )  # fmt: skip
