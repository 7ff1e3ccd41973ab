"""Multi-workspace install: Slack OAuth with slack_sdk's SQLAlchemy installation and state stores.

Their tables are declared on our metadata too, so Alembic creates and checks them like ours. In
single-workspace mode (SLACK_BOT_TOKEN) none of this is used and the tables stay empty.

Tokens are sealed at rest: `SealedInstallationStore` seals every token (and the incoming webhook
URL, which is a credential too) with the application key before slack_sdk writes a row, and opens
them when it reads one, so a copy of the database or a backup holds no usable token. Rows written
in clear before this (by older versions) still open as they are, and `seal_clear_tokens` seals them:
the 0018 migration when EMPATHY_SECRET_KEY is set for it, else the app at its next start.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from slack_bolt.authorization.authorize import InstallationStoreAuthorize
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from slack_sdk.oauth.token_rotation import TokenRotator
from sqlalchemy import Connection, Engine, MetaData, String, select, update

from bot.core.crypto import UNTIMED_PREFIX, SecretBox
from bot.core.settings import Settings
from bot.core.storage_scrub import scrub
from handlers.slack.client import build_web_client

logger = logging.getLogger(__name__)

INSTALLATIONS_TABLE = "slack_installations"
BOTS_TABLE = "slack_bots"
STATES_TABLE = "slack_oauth_states"
STATE_SECONDS = 600
# Refresh a rotating token this long before it expires (Slack's tokens live 12 hours).
ROTATE_BEFORE_MINUTES = 120
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"


# Credentials in the two tables: sealed at rest. A sealed value is longer than the token (a rotating
# token of ~170 characters seals to ~280), so these columns are widened from slack_sdk's 200.
SEALED_COLUMNS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token", "incoming_webhook_url")
SEALED_LENGTH = 1000


def declare_tables(metadata: MetaData) -> None:
    for table in (
        SQLAlchemyInstallationStore.build_installations_table(metadata, INSTALLATIONS_TABLE),
        SQLAlchemyInstallationStore.build_bots_table(metadata, BOTS_TABLE),
    ):
        for name in SEALED_COLUMNS:
            if name in table.c:
                table.c[name].type = String(SEALED_LENGTH)
    SQLAlchemyOAuthStateStore.build_oauth_states_table(metadata, STATES_TABLE)


Entity = TypeVar("Entity", Installation, Bot)


class SealedInstallationStore(SQLAlchemyInstallationStore):
    """slack_sdk's store, with every credential sealed (SecretBox.seal_untimed) on its way to a row and
    opened on its way back. Values not sealed yet (rows from before) are returned as they are."""

    def __init__(self, box: SecretBox, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.box = box

    def _seal(self, value: str | None) -> str | None:
        # Already sealed: `save` hands `save_bot` an installation it sealed itself.
        if not value or value.startswith(UNTIMED_PREFIX):
            return value
        return self.box.seal_untimed(value.encode())

    def _open(self, value: str | None) -> str | None:
        # Tokens start with xox…, webhook URLs with https: only our sealed values start with the prefix.
        if not value or not value.startswith(UNTIMED_PREFIX):
            return value
        return self.box.open_untimed(value).decode()

    def _with(self, entity: Entity, change: Callable[[str | None], str | None]) -> Entity:
        changed = copy.copy(entity)  # never seal the caller's object: Bolt keeps using its tokens
        for name in SEALED_COLUMNS:
            if hasattr(changed, name):
                setattr(changed, name, change(getattr(changed, name)))
        return changed

    def save(self, installation: Installation) -> None:
        super().save(self._with(installation, self._seal))

    def save_bot(self, bot: Bot) -> None:
        super().save_bot(self._with(bot, self._seal))

    def build_installation_entity(self, row: Any) -> Installation:  # type: ignore[override]
        return self._with(super().build_installation_entity(row), self._open)

    def build_bot_entity(self, row: Any) -> Bot:  # type: ignore[override]
        return self._with(super().build_bot_entity(row), self._open)


def installation_store(settings: Settings, engine: Engine) -> SealedInstallationStore:
    assert settings.slack_client_id is not None
    return SealedInstallationStore(
        SecretBox(settings.secret_key),
        client_id=settings.slack_client_id,
        engine=engine,
        bots_table_name=BOTS_TABLE,
        installations_table_name=INSTALLATIONS_TABLE,
        logger=logger,
    )


def seal_rows(connection: Connection, box: SecretBox) -> int:
    """Seal every credential still in clear in both tables; returns how many rows changed.

    Each update is conditional on the clear values it read, so a token rotated meanwhile (already
    sealed by the store) is left alone rather than overwritten with a sealed stale one.
    """
    metadata = MetaData()
    declare_tables(metadata)
    changed = 0
    for table in (metadata.tables[INSTALLATIONS_TABLE], metadata.tables[BOTS_TABLE]):
        columns = [table.c[name] for name in SEALED_COLUMNS if name in table.c]
        for row in connection.execute(select(table.c.id, *columns)).mappings().all():
            clear = {c.name: row[c.name] for c in columns if row[c.name] and not row[c.name].startswith(UNTIMED_PREFIX)}
            if not clear:
                continue
            done = connection.execute(
                update(table)
                .where(table.c.id == row["id"], *[table.c[name] == value for name, value in clear.items()])
                .values({name: box.seal_untimed(value.encode()) for name, value in clear.items()})
            )
            changed += done.rowcount
    return changed


def seal_clear_tokens(engine: Engine, box: SecretBox) -> int:
    """Seal what older versions stored in clear, then scrub the files so the clear bytes are gone too.

    Run at every start in OAuth mode (cheap when there is nothing to do). The caller must not run it
    with a generated EMPATHY_SECRET_KEY: tokens sealed under a key that dies with the process are lost.
    """
    with engine.begin() as connection:
        changed = seal_rows(connection, box)
    if changed:
        logger.info("sealed the Slack tokens of %d installation rows stored in clear", changed)
        scrub(engine, [INSTALLATIONS_TABLE, BOTS_TABLE])
    return changed


def oauth_settings(settings: Settings, engine: Engine, scopes: list[str]) -> OAuthSettings:
    store = installation_store(settings, engine)
    found = OAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret,
        scopes=scopes,
        installation_store=store,
        state_store=SQLAlchemyOAuthStateStore(STATE_SECONDS, engine, logger=logger, table_name=STATES_TABLE),
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        token_rotation_expiration_minutes=ROTATE_BEFORE_MINUTES,
    )
    # OAuthSettings builds its authorize with a default WebClient, so token refreshes went to slack.com
    # whatever SLACK_API_URL said; the same authorize with our client honours it.
    found.authorize = InstallationStoreAuthorize(
        logger=logger,
        client_id=found.client_id,
        client_secret=found.client_secret,
        token_rotation_expiration_minutes=ROTATE_BEFORE_MINUTES,
        installation_store=store,
        bot_only=found.installation_store_bot_only,
        user_token_resolution=found.user_token_resolution,
        client=build_web_client(settings),
    )
    return found


class TokenSource:
    """The bot token for a workspace: SLACK_BOT_TOKEN in single-workspace mode, else the workspace's
    installation, refreshed first when token rotation is on and it is about to expire."""

    def __init__(self, settings: Settings, engine: Engine, client_factory: Callable[[str | None], WebClient]) -> None:
        self.settings = settings
        self.engine = engine
        self.client_factory = client_factory
        self.store = installation_store(settings, engine) if settings.oauth else None

    def token_for(self, team_id: str) -> str | None:
        if self.store is None:
            return self.settings.slack_bot_token
        bot = self.store.find_bot(enterprise_id=None, team_id=team_id)
        if bot is None:
            return None
        if bot.bot_refresh_token:
            bot = self._rotated(bot)
        return bot.bot_token

    def installed_teams(self) -> list[str]:
        if self.store is None:
            return []
        table = self.store.bots
        with self.engine.connect() as connection:
            return sorted({row[0] for row in connection.execute(select(table.c.team_id).distinct()) if row[0]})

    def _rotated(self, bot: Bot) -> Bot:
        assert self.store is not None and self.settings.slack_client_id and self.settings.slack_client_secret
        rotator = TokenRotator(
            client_id=self.settings.slack_client_id,
            client_secret=self.settings.slack_client_secret,
            client=self.client_factory(None),
        )
        refreshed = rotator.perform_bot_token_rotation(bot=bot, minutes_before_expiration=ROTATE_BEFORE_MINUTES)
        if refreshed is None:
            return bot
        self.store.save_bot(refreshed)
        return refreshed
