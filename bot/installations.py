"""Multi-workspace install: Slack OAuth with slack_sdk's SQLAlchemy installation and state stores.

Their tables are declared on our metadata too, so Alembic creates and checks them like ours. In
single-workspace mode (SLACK_BOT_TOKEN) none of this is used and the tables stay empty.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from slack_sdk.oauth.token_rotation import TokenRotator
from sqlalchemy import Engine, MetaData, select

from bot.settings import Settings

logger = logging.getLogger(__name__)

INSTALLATIONS_TABLE = "slack_installations"
BOTS_TABLE = "slack_bots"
STATES_TABLE = "slack_oauth_states"
STATE_SECONDS = 600
# Refresh a rotating token this long before it expires (Slack's tokens live 12 hours).
ROTATE_BEFORE_MINUTES = 120
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"


def declare_tables(metadata: MetaData) -> None:
    SQLAlchemyInstallationStore.build_installations_table(metadata, INSTALLATIONS_TABLE)
    SQLAlchemyInstallationStore.build_bots_table(metadata, BOTS_TABLE)
    SQLAlchemyOAuthStateStore.build_oauth_states_table(metadata, STATES_TABLE)


def installation_store(settings: Settings, engine: Engine) -> SQLAlchemyInstallationStore:
    assert settings.slack_client_id is not None
    return SQLAlchemyInstallationStore(
        client_id=settings.slack_client_id,
        engine=engine,
        bots_table_name=BOTS_TABLE,
        installations_table_name=INSTALLATIONS_TABLE,
        logger=logger,
    )


def oauth_settings(settings: Settings, engine: Engine, scopes: list[str]) -> OAuthSettings:
    return OAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret,
        scopes=scopes,
        installation_store=installation_store(settings, engine),
        state_store=SQLAlchemyOAuthStateStore(STATE_SECONDS, engine, logger=logger, table_name=STATES_TABLE),
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        token_rotation_expiration_minutes=ROTATE_BEFORE_MINUTES,
    )


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
