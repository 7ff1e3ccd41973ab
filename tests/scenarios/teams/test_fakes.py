"""The Teams fakes behave as Microsoft's services do, as seen through the real SDK: the Bot Connector
refuses calls without the bot's token and answers each documented fault the way the SDK then surfaces it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
from microsoft_teams.api import Account, MessageActivityInput
from microsoft_teams.api.clients.conversation import CreateConversationParams
from sqlalchemy.orm import Session, sessionmaker

from bot.core.settings import Settings
from handlers.teams.app import initialized_app
from handlers.teams.loop import process_loop
from tests.fakes.teams.auth import FakeBotFrameworkAuth
from tests.fakes.teams.connector import FakeBotConnector
from tests.scenarios.teams.conftest import ANA, CLIENT_ID, TENANT_ID

if TYPE_CHECKING:
    # Only handlers.teams imports the SDK's app module at run time: it switches off the SDK's .env loading first.
    from microsoft_teams.apps import App

CONVERSATION = ANA.personal_conversation_id


@pytest.fixture
def app(teams_settings: Settings, session_factory: sessionmaker[Session], teams_auth: FakeBotFrameworkAuth) -> App:
    token = lambda _scope, _tenant: teams_auth.app_token(CLIENT_ID, TENANT_ID)  # noqa: E731
    return process_loop().run(initialized_app(teams_settings, session_factory, token=token), 10)


def send(app: App, connector: FakeBotConnector, text: str = "hello") -> str:
    sent = process_loop().run(app.send(CONVERSATION, text, service_url=connector.url), 10)
    return str(sent.id)


@pytest.fixture
def raw(connector: FakeBotConnector) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=connector.url.rstrip("/"), timeout=10) as client:
        yield client


def test_the_connector_refuses_calls_without_the_bots_token(
    connector: FakeBotConnector, teams_auth: FakeBotFrameworkAuth, raw: httpx.Client
) -> None:
    activity = {"type": "message", "text": "hi"}
    path = f"/v3/conversations/{CONVERSATION}/activities"
    assert raw.post(path, json=activity).status_code == 401
    other_app = teams_auth.app_token("0f0f0f0f-0000-4000-8000-000000000000", TENANT_ID)
    assert raw.post(path, json=activity, headers={"Authorization": f"Bearer {other_app}"}).status_code == 401
    expired = teams_auth.app_token(CLIENT_ID, TENANT_ID, lifetime=-60)
    assert raw.post(path, json=activity, headers={"Authorization": f"Bearer {expired}"}).status_code == 401
    assert [reason for _, reason in connector.refusals] == [
        "no bearer token",
        "token for another app",
        "invalid token: ExpiredSignatureError",
    ]
    assert connector.sent() == []
    connector.refusals.clear()  # refused on purpose: the fixture fails a test whose bot was refused


def test_conversations_and_activities_round_trip_through_the_sdk(app: App, connector: FakeBotConnector) -> None:
    created = process_loop().run(
        app.api.conversations.create(
            CreateConversationParams(
                members=[Account(id=ANA.aad_object_id)],
                tenant_id=TENANT_ID,
                channel_data={"tenant": {"id": TENANT_ID}},
            )
        ),
        10,
    )
    assert created.id.startswith("a:")
    [create] = connector.calls
    assert create.path == "/v3/conversations"
    assert create.body["members"] == [{"id": ANA.aad_object_id}]
    assert connector.conversations[created.id].tenant_id == TENANT_ID
    activity_id = send(app, connector, "first")
    conversations = app.api.conversations
    process_loop().run(
        conversations.update_activity(CONVERSATION, activity_id, MessageActivityInput(text="second")), 10
    )
    assert connector.conversations[CONVERSATION].activities[activity_id]["text"] == "second"
    process_loop().run(conversations.delete_activity(CONVERSATION, activity_id), 10)
    assert activity_id not in connector.conversations[CONVERSATION].activities
    assert [(c.method, c.status) for c in connector.calls] == [
        ("POST", 201),
        ("POST", 201),
        ("PUT", 200),
        ("DELETE", 200),
    ]


def test_a_429_carries_retry_after_to_the_caller(app: App, connector: FakeBotConnector) -> None:
    connector.fail_next(429, retry_after=7)
    with pytest.raises(httpx.HTTPStatusError) as failure:
        send(app, connector)
    assert failure.value.response.status_code == 429
    assert failure.value.response.headers["Retry-After"] == "7"
    assert send(app, connector)  # the fault was used up; the next call goes through


@pytest.mark.parametrize("status", [412, 502, 503, 504, 404])
def test_each_queued_fault_is_answered_once(app: App, connector: FakeBotConnector, status: int) -> None:
    connector.fail_next(status, times=2)
    for _ in range(2):
        with pytest.raises(httpx.HTTPStatusError) as failure:
            send(app, connector)
        assert failure.value.response.status_code == status
    assert send(app, connector)


def test_a_blocked_bot_gets_403_with_the_message_writes_blocked_sub_code(app: App, connector: FakeBotConnector) -> None:
    connector.fail_next(403, sub_code="MessageWritesBlocked")
    with pytest.raises(httpx.HTTPStatusError) as failure:
        send(app, connector)
    body = failure.value.response.json()
    assert failure.value.response.status_code == 403
    assert body["errorCode"] == 209
    assert json.loads(body["message"])["subCode"] == "MessageWritesBlocked"


def test_a_fault_for_one_method_leaves_the_others_alone(app: App, connector: FakeBotConnector) -> None:
    connector.fail_next(503, method="PUT")
    activity_id = send(app, connector)
    with pytest.raises(httpx.HTTPStatusError):
        process_loop().run(
            app.api.conversations.update_activity(CONVERSATION, activity_id, MessageActivityInput(text="x")), 10
        )
