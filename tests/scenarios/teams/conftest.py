"""Teams fixtures: the fake Bot Framework keys and Bot Connector, settings that point the real SDK at
them, and the web front built by the composition root (`bot.cli.server.create_front`) with Teams mounted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from slack_bolt import App
from sqlalchemy import Engine

from bot.cli.server import create_front
from bot.core.settings import Settings, load_settings
from tests.conftest import make_env
from tests.fakes.slack.api import FakeSlack
from tests.fakes.teams.auth import FakeBotFrameworkAuth
from tests.fakes.teams.connector import FakeBotConnector
from tests.fakes.teams.requests import TeamsRequests, TeamsUser

CLIENT_ID = "5f3c2a1b-9d8e-4f70-a6b5-c4d3e2f1a0b9"
TENANT_ID = "0e1d2c3b-4a59-4687-9786-a5b4c3d2e1f0"
CLIENT_SECRET = "not-used-the-tests-sign-outbound-tokens-themselves"

ANA = TeamsUser(aad_object_id="a1b2c3d4-0000-4000-8000-00000000a0a0", name="Ana Souza")
PRIYA = TeamsUser(aad_object_id="b1b2c3d4-0000-4000-8000-00000000b0b0", name="Priya Natarajan")


@pytest.fixture(scope="session")
def teams_auth() -> Iterator[FakeBotFrameworkAuth]:
    fake = FakeBotFrameworkAuth().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def _connector_server(teams_auth: FakeBotFrameworkAuth) -> Iterator[FakeBotConnector]:
    fake = FakeBotConnector(teams_auth, CLIENT_ID).start()
    yield fake
    fake.stop()


@pytest.fixture
def connector(_connector_server: FakeBotConnector) -> Iterator[FakeBotConnector]:
    """The fake Bot Connector, empty at the start of each test; the test fails if the bot ever called it
    without its valid app token."""
    _connector_server.reset()
    yield _connector_server
    refusals = list(_connector_server.refusals)
    _connector_server.reset()
    assert not refusals, f"the Bot Connector refused the bot's token: {refusals}"


def teams_env(slack: FakeSlack, db_url: str, auth: FakeBotFrameworkAuth, connector: FakeBotConnector) -> dict[str, str]:
    return make_env(
        slack,
        db_url,
        TEAMS_CLIENT_ID=CLIENT_ID,
        TEAMS_CLIENT_SECRET=CLIENT_SECRET,
        TEAMS_TENANT_ID=TENANT_ID,
        TEAMS_OPENID_URL=auth.openid_url,
        TEAMS_LOGIN_URL=auth.url,  # never reached: outbound tokens come from the `token=` hook
        TEAMS_SERVICE_URL=connector.url,
    )


@pytest.fixture
def teams_settings(
    slack: FakeSlack, db_url: str, teams_auth: FakeBotFrameworkAuth, connector: FakeBotConnector
) -> Settings:
    return load_settings(teams_env(slack, db_url, teams_auth, connector))


@pytest.fixture
def teams_front(
    teams_settings: Settings, engine: Engine, teams_auth: FakeBotFrameworkAuth, bolt_app_for_teams: App
) -> Flask:
    """The Flask front exactly as `empathy-bot serve` builds it, Teams' outbound tokens minted by the fake."""
    return create_front(
        teams_settings,
        bolt_app_for_teams,
        teams_token=lambda _scope, _tenant: teams_auth.app_token(CLIENT_ID, TENANT_ID),
    )


@pytest.fixture
def bolt_app_for_teams(teams_settings: Settings, engine: Engine) -> App:
    from handlers.slack.app import create_app

    return create_app(teams_settings, engine=engine)


@pytest.fixture
def teams(teams_front: Flask, teams_auth: FakeBotFrameworkAuth, connector: FakeBotConnector) -> TeamsRequests:
    return TeamsRequests(
        teams_auth,
        client_id=CLIENT_ID,
        tenant_id=TENANT_ID,
        service_url=connector.url,
        client=teams_front.test_client(),
    )
