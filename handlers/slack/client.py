"""The one place WebClients are built, so every client honours SLACK_API_URL and retries the
same way."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.core.logs import SLACK_CLIENT_LOGGER, guard_loggers
from bot.core.settings import Settings
from handlers.slack.keepalive import KeepAliveWebClient

# WebClients log whole request and response bodies (answers, typed texts, tokens) at DEBUG; they get
# a logger of their own that guard_loggers caps at INFO, so LOG_LEVEL=DEBUG cannot bring them back.
logger = logging.getLogger(SLACK_CLIENT_LOGGER)


def interactive_retry_handlers() -> list[RetryHandler]:
    # Listeners answer a person who is waiting: retry briefly, then let the error handler apologise.
    return [
        ConnectionErrorRetryHandler(max_retry_count=2),
        RateLimitErrorRetryHandler(max_retry_count=1),
        ServerErrorRetryHandler(max_retry_count=2),
    ]


def build_web_client(settings: Settings, *, token: str | None = None, for_outbox: bool = False) -> WebClient:
    """A WebClient pointed at `settings.slack_api_url`, keeping its connections open between calls
    (handlers/slack/keepalive.py).

    The outbox client retries nothing in-process: a 429, a 5xx or a dropped connection goes back to
    the outbox, which reschedules the row (honouring Retry-After) without holding a worker thread and,
    since Slack may have stored a post before the connection dropped, looks for it in the channel's
    history before posting again. An in-process retry would post blind and could duplicate it.
    """
    handlers: list[RetryHandler] = [] if for_outbox else interactive_retry_handlers()
    guard_loggers()
    return KeepAliveWebClient(
        token=token or settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=15,
        retry_handlers=handlers,
        logger=logger,
    )


def fetch_team(client: WebClient) -> tuple[str, str]:
    """(team id, team name) of the workspace the bot token belongs to."""
    answer = client.auth_test()
    return str(answer["team_id"]), str(answer.get("team") or "")
