"""Settings from the environment (and `.env`), checked once at start.

Every problem is raised as `SettingsError` with one line that names the variable and says how
to fix it; the CLI prints that line and exits, so an operator never sees a traceback for a typo.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from urllib.parse import urlparse

from cryptography.fernet import Fernet
from dotenv import dotenv_values
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_TEAMS_OPENID_URL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
DEFAULT_TEAMS_LOGIN_URL = "https://login.microsoftonline.com"
# Where proactive sends go when no activity has told us a person's own service URL yet.
DEFAULT_TEAMS_SERVICE_URL = "https://smba.trafficmanager.net/teams/"
DEFAULT_GRAPH_API_URL = "https://graph.microsoft.com/v1.0"
DEFAULT_DATABASE_FILE = "empathy-bot.sqlite3"
ENVIRONMENTS = ("development", "production")

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class SettingsError(Exception):
    """A setting is missing or malformed. `str()` is the one line to show the operator."""


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str
    slack_signing_secret: str
    slack_app_token: str | None
    slack_api_url: str
    database_url: str
    port: int
    admins: tuple[str, ...]
    secret_key: str
    environment: str = "development"
    secret_key_generated: bool = False
    outbox_rate_per_minute: int = 300
    outbox_max_attempts: int = 8
    # Messages a dispatcher has in flight at once, so a platform slow to answer still gets its full rate.
    outbox_concurrency: int = 16
    # Threads that run the work of requests acked early (bot/delivery/inbox.py), in the worker or in a single
    # `serve`; 0 turns early acks off.
    work_threads: int = 4
    # How much `empathy-bot worker` lowers its own CPU priority, so web processes on the same machine
    # ack first: an ack has 3 s, the work behind it has no deadline a person would notice.
    worker_nice: int = 10
    log_level: str = "INFO"
    log_format: str = "text"
    kudos_channel: str | None = None
    kudos_per_day: int = 5
    kudos_pair_per_week: int = 3
    kudos_reaction: str = "raised_hands"
    slack_client_id: str | None = None
    slack_client_secret: str | None = None
    suggestions_channel: str | None = None
    suggestions_per_day: int = 5
    suggestions_relay_delay_minutes: int = 5
    digest_day: int = 0  # Monday
    digest_time: time = time(9, 0)
    trend_smoothing: float = 0.2
    trend_width: float = 3.0
    forget_after_days: int = 30
    # The bearer token a monitoring system must present for GET /metrics; None turns /metrics off.
    metrics_token: str | None = None
    # months to keep each kind of content; see RETENTION_DEFAULTS
    retention_months: tuple[tuple[str, int], ...] = ()
    # Microsoft Teams (a single-tenant Entra app registration); Teams is on when the client id is set.
    teams_client_id: str | None = None
    teams_client_secret: str | None = None
    teams_tenant_id: str | None = None
    # Microsoft's endpoints, overridable so that tests (and sovereign clouds) can point elsewhere.
    teams_openid_url: str = DEFAULT_TEAMS_OPENID_URL
    teams_login_url: str = DEFAULT_TEAMS_LOGIN_URL
    teams_service_url: str = DEFAULT_TEAMS_SERVICE_URL
    # Bot Connector calls a second for the tenant: inside Microsoft's published 50 per app per tenant.
    teams_rate_per_second: int = 40
    graph_api_url: str = DEFAULT_GRAPH_API_URL

    def retention(self, kind: str) -> int:
        """Months to keep `kind` (0: keep forever, also for a kind with no default)."""
        return dict(self.retention_months).get(kind, RETENTION_DEFAULTS.get(kind, 0))

    @property
    def oauth(self) -> bool:
        """Installed in many workspaces through Slack OAuth, rather than with one SLACK_BOT_TOKEN."""
        return bool(self.slack_client_id and self.slack_client_secret)

    @property
    def teams(self) -> bool:
        """Whether this deployment serves a Microsoft Teams tenant (then all three credentials are set)."""
        return self.teams_client_id is not None

    @property
    def slack(self) -> bool:
        """Whether this deployment serves Slack (one workspace by token, or many through OAuth)."""
        return bool(self.slack_bot_token) or self.oauth

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def early_acks(self) -> bool:
        """Whether the web front acks some requests itself and leaves their work to the inbox (bot/delivery/inbox.py).
        Socket Mode acks over its socket and needs none; EMPATHY_WORK_THREADS=0 turns them off."""
        return not self.socket_mode and bool(self.slack_signing_secret) and self.work_threads > 0

    @property
    def admin_emails(self) -> frozenset[str]:
        return frozenset(a.lower() for a in self.admins if "@" in a)

    @property
    def admin_slack_ids(self) -> frozenset[str]:
        return frozenset(a for a in self.admins if "@" not in a)


# Any of these set means the deployment uses Slack, so its required settings are checked.
SLACK_CREDENTIALS = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
)


def load_environment(dotenv_path: str | Path | None = None) -> dict[str, str]:
    """The process environment over `.env`: a real environment variable always wins."""
    path = Path(dotenv_path) if dotenv_path else Path.cwd() / ".env"
    from_file = {k: v for k, v in dotenv_values(path).items() if v is not None} if path.exists() else {}
    return {**from_file, **os.environ}


def load_settings(env: Mapping[str, str] | None = None, *, require_slack: bool = True) -> Settings:
    """Build `Settings` from `env` (default: environment + `.env`).

    `require_slack=False` is for commands that only touch the database (`migrate`), so an
    operator can prepare the schema before the Slack app exists. Otherwise a deployment needs a chat
    platform: Slack's settings, or Teams' alone (no SLACK_* variable set at all: then Slack is off).
    """
    env = load_environment() if env is None else env
    _refuse_unauthenticated_teams(env)
    teams_client_id, teams_client_secret, teams_tenant_id = _teams_credentials(env)
    if require_slack and not any(_value(env, name) for name in SLACK_CREDENTIALS):
        # No Slack at all: a Teams-only deployment, or nothing configured yet.
        if teams_client_id is None:
            raise SettingsError(
                "no chat platform is configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET for Slack, or "
                "TEAMS_CLIENT_ID, TEAMS_CLIENT_SECRET and TEAMS_TENANT_ID for Microsoft Teams, in .env "
                "(README: Configuration)"
            )
        require_slack = False
    environment = _choice(env, "EMPATHY_ENV", ENVIRONMENTS, default="development")
    secret_key, generated = _secret_key(env, environment)
    return Settings(
        slack_bot_token=_token(env, "SLACK_BOT_TOKEN", "xoxb-", required=require_slack and not _oauth(env)),
        slack_signing_secret=_signing_secret(env, required=require_slack and not env.get("SLACK_APP_TOKEN")),
        slack_app_token=_token(env, "SLACK_APP_TOKEN", "xapp-", required=False) or None,
        slack_api_url=_api_url(env),
        database_url=_database_url(env),
        port=_int(env, "PORT", default=3000, low=1, high=65535),
        admins=_admins(env),
        secret_key=secret_key,
        secret_key_generated=generated,
        environment=environment,
        outbox_rate_per_minute=_int(env, "EMPATHY_OUTBOX_RATE_PER_MINUTE", default=300, low=1, high=100_000),
        outbox_max_attempts=_int(env, "EMPATHY_OUTBOX_MAX_ATTEMPTS", default=8, low=1, high=100),
        outbox_concurrency=_int(env, "EMPATHY_OUTBOX_CONCURRENCY", default=16, low=1, high=128),
        work_threads=_int(env, "EMPATHY_WORK_THREADS", default=4, low=0, high=64),
        worker_nice=_int(env, "EMPATHY_WORKER_NICE", default=10, low=0, high=19),
        log_level=_choice(env, "LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), default="INFO", upper=True),
        log_format=_choice(env, "LOG_FORMAT", ("text", "json"), default="text"),
        kudos_channel=_channel(env, "EMPATHY_KUDOS_CHANNEL"),
        kudos_per_day=_int(env, "EMPATHY_KUDOS_PER_DAY", default=5, low=1, high=100),
        kudos_pair_per_week=_int(env, "EMPATHY_KUDOS_PAIR_PER_WEEK", default=3, low=1, high=100),
        kudos_reaction=(_value(env, "EMPATHY_KUDOS_REACTION") or "raised_hands").strip(":").lower(),
        slack_client_id=_value(env, "SLACK_CLIENT_ID") or None,
        slack_client_secret=_value(env, "SLACK_CLIENT_SECRET") or None,
        suggestions_channel=_channel(env, "EMPATHY_SUGGESTIONS_CHANNEL"),
        suggestions_per_day=_int(env, "EMPATHY_SUGGESTIONS_PER_DAY", default=5, low=1, high=1000),
        suggestions_relay_delay_minutes=_int(
            env, "EMPATHY_SUGGESTIONS_RELAY_DELAY_MINUTES", default=5, low=0, high=720
        ),
        digest_day=WEEKDAYS.index(_choice(env, "EMPATHY_DIGEST_DAY", WEEKDAYS, default="monday")),
        digest_time=_clock_time(env, "EMPATHY_DIGEST_TIME", default=time(9, 0)),
        trend_smoothing=_float(env, "EMPATHY_TREND_SMOOTHING", default=0.2, low=0.05, high=1.0),
        trend_width=_float(env, "EMPATHY_TREND_WIDTH", default=3.0, low=1.0, high=6.0),
        forget_after_days=_int(env, "EMPATHY_FORGET_AFTER_DAYS", default=30, low=0, high=3650),
        retention_months=_retention(env),
        metrics_token=_metrics_token(env),
        teams_client_id=teams_client_id,
        teams_client_secret=teams_client_secret,
        teams_tenant_id=teams_tenant_id,
        teams_openid_url=_teams_openid_url(env),
        teams_login_url=_base_url(env, "TEAMS_LOGIN_URL", DEFAULT_TEAMS_LOGIN_URL),
        teams_service_url=_base_url(env, "TEAMS_SERVICE_URL", DEFAULT_TEAMS_SERVICE_URL) + "/",
        graph_api_url=_base_url(env, "GRAPH_API_URL", DEFAULT_GRAPH_API_URL),
        teams_rate_per_second=_int(env, "TEAMS_RATE_PER_SECOND", default=40, low=1, high=50),
    )


# Months each kind of content is kept before the nightly retention job deletes it (0 = forever).
RETENTION_DEFAULTS: dict[str, int] = {
    "comments": 24,  # pulse comments (the numbers stay)
    "suggestions": 36,
    "kudos": 36,
    "onboarding": 24,  # finished journeys and their check-ins
    "messages": 3,  # copies of messages the bot has sent (digests quote comments)
    "audit": 24,
}


def _retention(env: Mapping[str, str]) -> tuple[tuple[str, int], ...]:
    """`EMPATHY_RETENTION=comments=24,suggestions=36`: months per kind; unnamed kinds keep their default."""
    value = _value(env, "EMPATHY_RETENTION")
    chosen: list[tuple[str, int]] = []
    for part in filter(None, (p.strip() for p in value.split(","))):
        kind, _, months = part.partition("=")
        kind = kind.strip().lower()
        if kind not in RETENTION_DEFAULTS or not months.strip().isdigit():
            raise SettingsError(
                f"EMPATHY_RETENTION has '{part}': write kind=months, separated by commas, with kinds from "
                f"{', '.join(RETENTION_DEFAULTS)} (0 keeps forever), e.g. comments=24,suggestions=36"
            )
        chosen.append((kind, int(months)))
    return tuple(chosen)


METRICS_TOKEN_MIN_LENGTH = 32
_METRICS_TOKEN = re.compile(r"^[A-Za-z0-9._~+/=-]+$")  # what may follow "Bearer " in an Authorization header


def _metrics_token(env: Mapping[str, str]) -> str | None:
    value = _value(env, "EMPATHY_METRICS_TOKEN")
    if not value:
        return None
    if len(value) < METRICS_TOKEN_MIN_LENGTH or not _METRICS_TOKEN.match(value):
        raise SettingsError(
            f"EMPATHY_METRICS_TOKEN must be at least {METRICS_TOKEN_MIN_LENGTH} letters, digits or -._~+/= "
            "(no spaces): generate one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    return value


def _oauth(env: Mapping[str, str]) -> bool:
    client_id, secret = _value(env, "SLACK_CLIENT_ID"), _value(env, "SLACK_CLIENT_SECRET")
    if bool(client_id) != bool(secret):
        missing = "SLACK_CLIENT_SECRET" if client_id else "SLACK_CLIENT_ID"
        raise SettingsError(
            f"{missing} is missing: multi-workspace install needs both SLACK_CLIENT_ID and SLACK_CLIENT_SECRET "
            "(Basic Information → App Credentials); for one workspace, set neither and use SLACK_BOT_TOKEN"
        )
    return bool(client_id)


_ENTRA_HELP = "Entra admin center → App registrations → your bot's app → Overview"


def _refuse_unauthenticated_teams(env: Mapping[str, str]) -> None:
    # The Teams SDK reads this variable itself and then accepts requests nobody signed: anyone who can
    # reach /api/messages could speak as any employee. No setting of ours turns that on.
    if _value(env, "DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS"):
        raise SettingsError(
            "DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS is set: remove it from the environment and .env; Empathy "
            "Bot only accepts Teams requests signed by Microsoft"
        )


def _teams_credentials(env: Mapping[str, str]) -> tuple[str | None, str | None, str | None]:
    client_id, secret, tenant = (_value(env, n) for n in ("TEAMS_CLIENT_ID", "TEAMS_CLIENT_SECRET", "TEAMS_TENANT_ID"))
    if not client_id:
        if secret or tenant:
            raise SettingsError(
                "TEAMS_CLIENT_ID is missing: Teams needs TEAMS_CLIENT_ID, TEAMS_CLIENT_SECRET and TEAMS_TENANT_ID "
                f"together (the Application (client) ID is on {_ENTRA_HELP}); for Slack only, set none of them"
            )
        return None, None, None
    if not _GUID.match(client_id.lower()):
        raise SettingsError(
            "TEAMS_CLIENT_ID must be a GUID like 00000000-0000-0000-0000-000000000000: copy the "
            f"Application (client) ID from {_ENTRA_HELP}"
        )
    if not secret:
        raise SettingsError(
            "TEAMS_CLIENT_SECRET is not set: create one under Certificates & secrets in your bot's app registration "
            "(Entra admin center) and put its Value (not its ID) in .env"
        )
    if not tenant:
        raise SettingsError(f"TEAMS_TENANT_ID is not set: copy the Directory (tenant) ID from {_ENTRA_HELP}")
    if not _GUID.match(tenant.lower()):
        raise SettingsError(
            "TEAMS_TENANT_ID must be a GUID like 00000000-0000-0000-0000-000000000000: copy the "
            f"Directory (tenant) ID from {_ENTRA_HELP} (not the domain name)"
        )
    return client_id.lower(), secret, tenant.lower()


def _base_url(env: Mapping[str, str], name: str, default: str) -> str:
    """An http(s) base URL without its trailing slash (the Teams SDK and Graph calls add paths to it)."""
    value = _value(env, name) or default
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise SettingsError(f"{name} must be an http(s) URL such as {default}, or unset for Microsoft's own")
    return value.rstrip("/")


def _teams_openid_url(env: Mapping[str, str]) -> str:
    value = _base_url(env, "TEAMS_OPENID_URL", DEFAULT_TEAMS_OPENID_URL)
    # The SDK finds the signing keys by replacing this ending with /keys.
    if not value.endswith("/openidconfiguration"):
        raise SettingsError(
            f"TEAMS_OPENID_URL must end with /openidconfiguration, like {DEFAULT_TEAMS_OPENID_URL}, or be unset"
        )
    return value


CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,20}$")


def _channel(env: Mapping[str, str], name: str) -> str | None:
    value = _value(env, name)
    if not value:
        return None
    if not CHANNEL_ID.match(value):
        raise SettingsError(
            f"{name} must be a Slack channel id such as C0123ABCD (in Slack: open the channel's details; "
            "the id is at the bottom), not a name."
        )
    return value


def _value(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or "").strip()


def _token(env: Mapping[str, str], name: str, prefix: str, *, required: bool) -> str:
    value = _value(env, name)
    if not value:
        if required:
            raise SettingsError(
                f"{name} is not set: copy it from your Slack app's settings page into .env as {name}={prefix}…"
            )
        return ""
    if not value.startswith(prefix):
        raise SettingsError(f"{name} should start with '{prefix}'; check you pasted the right token into .env")
    return value


def _signing_secret(env: Mapping[str, str], *, required: bool) -> str:
    value = _value(env, "SLACK_SIGNING_SECRET")
    if not value and required:
        raise SettingsError(
            "SLACK_SIGNING_SECRET is not set: copy 'Signing Secret' from Basic Information in your Slack "
            "app's settings into .env (or set SLACK_APP_TOKEN to use Socket Mode)"
        )
    if value and not re.fullmatch(r"[0-9a-fA-F]{16,}", value):
        raise SettingsError("SLACK_SIGNING_SECRET should be the hex 'Signing Secret' from Basic Information")
    return value


def _api_url(env: Mapping[str, str]) -> str:
    value = _value(env, "SLACK_API_URL") or DEFAULT_SLACK_API_URL
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise SettingsError(f"SLACK_API_URL must be an http(s) URL such as {DEFAULT_SLACK_API_URL}")
    return value if value.endswith("/") else value + "/"


def _database_url(env: Mapping[str, str]) -> str:
    value = _value(env, "DATABASE_URL")
    if not value:
        return f"sqlite:///{Path.cwd() / DEFAULT_DATABASE_FILE}"
    # Heroku-style URLs say postgres://; SQLAlchemy wants a driver name.
    if value.startswith("postgres://"):
        value = "postgresql+psycopg://" + value[len("postgres://") :]
    elif value.startswith("postgresql://"):
        value = "postgresql+psycopg://" + value[len("postgresql://") :]
    try:
        url = make_url(value)
    except ArgumentError:
        raise SettingsError(
            "DATABASE_URL is not a database URL: use e.g. sqlite:///empathy.sqlite3 or "
            "postgresql://user:password@host/dbname"
        ) from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise SettingsError(f"DATABASE_URL uses '{url.get_backend_name()}'; Empathy Bot supports sqlite and postgresql")
    return value


def _int(env: Mapping[str, str], name: str, *, default: int, low: int, high: int) -> int:
    raw = _value(env, name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number between {low} and {high}, not '{raw}'") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, not {value}")
    return value


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _float(env: Mapping[str, str], name: str, *, default: float, low: float, high: float) -> float:
    raw = _value(env, name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number between {low} and {high}, not '{raw}'") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, not {value}")
    return value


def _clock_time(env: Mapping[str, str], name: str, *, default: time) -> time:
    raw = _value(env, name)
    if not raw:
        return default
    try:
        return time.fromisoformat(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a time of day like 09:00, not '{raw}'") from None


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], *, default: str, upper: bool = False) -> str:
    raw = _value(env, name) or default
    value = raw.upper() if upper else raw.lower()
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, not '{raw}'")
    return value


def _admins(env: Mapping[str, str]) -> tuple[str, ...]:
    entries = [a.strip() for a in _value(env, "EMPATHY_ADMINS").split(",") if a.strip()]
    for entry in entries:
        if not (_EMAIL.match(entry) or _SLACK_USER_ID.match(entry)):
            raise SettingsError(
                f"EMPATHY_ADMINS has '{entry}', which is neither an email nor a Slack user id (like U0123ABCD); "
                "separate entries with commas"
            )
    return tuple(entries)


def _secret_key(env: Mapping[str, str], environment: str) -> tuple[str, bool]:
    value = _value(env, "EMPATHY_SECRET_KEY")
    if not value:
        if environment == "production":
            raise SettingsError(
                "EMPATHY_SECRET_KEY is required in production: generate one with "
                "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
            )
        return Fernet.generate_key().decode(), True
    try:
        Fernet(value.encode())
    except ValueError:
        raise SettingsError(
            "EMPATHY_SECRET_KEY is not a valid key (32 url-safe base64-encoded bytes): generate one with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
        ) from None
    return value, False
