"""Slack as the jobs see it (`bot.delivery.ports.ChatPlatform`): the outbox's sender, and each installed
workspace's directory for the nightly sync.

One Slack workspace with SLACK_BOT_TOKEN, or every workspace installed through OAuth, each with its own
token. The jobs ask this object instead of building Slack clients themselves, so that the job list
(`bot/jobs.py`) names no platform and a Teams tenant's platform can sit beside this one.
"""

from __future__ import annotations

from collections.abc import Iterator

from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.core.models import Platform, Workspace
from bot.core.settings import Settings
from bot.core.workspaces import get_or_create_workspace
from bot.delivery.ports import Directory, Sender
from handlers.slack.client import build_web_client, fetch_team
from handlers.slack.directory import SlackDirectory
from handlers.slack.installations import TokenSource
from handlers.slack.sender import SlackSender


class SlackPlatform:
    name = Platform.SLACK.value

    def __init__(
        self,
        settings: Settings,
        session_factory: sessionmaker[Session],
        *,
        client: WebClient | None = None,
        outbox_client: WebClient | None = None,
    ) -> None:
        """`client` reads the directory, `outbox_client` sends (it retries nothing itself: see
        `build_web_client`); the demo passes its in-process stand-in for both."""
        self._settings = settings
        self._client = client or build_web_client(settings)
        self._outbox_client = outbox_client or build_web_client(settings, for_outbox=True)
        self._tokens = TokenSource(
            settings, session_factory.kw["bind"], lambda token: build_web_client(settings, token=token)
        )
        # One sender for every dispatcher run: its paces carry over, so a new run (every 50 s during a long
        # fan-out) does not start with a full bucket while Slack's is empty.
        self._sender = SlackSender(
            self._outbox_client,
            rate_per_minute=settings.outbox_rate_per_minute,
            tokens=self._tokens.token_for if settings.oauth else None,
            headroom=True,
        )

    def sender(self) -> Sender:
        return self._sender

    def directories(self, session: Session) -> Iterator[tuple[Workspace, Directory]]:
        """Each workspace the bot is in, with its directory: the token's one, or every OAuth install."""
        if not self._settings.oauth:
            yield get_or_create_workspace(session, *fetch_team(self._client)), SlackDirectory(self._client)
            return
        for team_id in self._tokens.installed_teams():
            token = self._tokens.token_for(team_id)
            if token is None:
                continue
            team_client = build_web_client(self._settings, token=token)
            yield get_or_create_workspace(session, *fetch_team(team_client)), SlackDirectory(team_client)
