"""Teams' front door, `POST /api/messages`, through the real SDK with authentication on.

Every request here is signed (or forged) as the Bot Framework signs activities, checked by the SDK's own
validator against the fake key set, and answered by our handlers; replies go to the fake Bot Connector
with the bot's app token, which the fake checks.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

import handlers.teams.app as teams_app
from bot.core.errors import UserFacingError
from bot.core.message import Command, text
from bot.core.models import Person, PersonAccount, Platform, ProcessedEvent, Workspace
from bot.core.settings import Settings
from handlers.teams.app import APOLOGY, initialized_app
from handlers.teams.listeners.help import HELP, UNKNOWN
from handlers.teams.loop import process_loop
from tests.fakes.teams.auth import FakeBotFrameworkAuth, new_key
from tests.fakes.teams.connector import FakeBotConnector
from tests.fakes.teams.requests import TeamsRequests, TeamsUser
from tests.scenarios.teams.conftest import ANA, CLIENT_ID, PRIYA, TENANT_ID

JSON = dict[str, Any]


def stored(session_factory: sessionmaker[Session]) -> dict[str, int]:
    """How many rows each table an activity can write holds."""
    with session_factory() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Workspace, Person, PersonAccount, ProcessedEvent)
        }


def teams_account(session: Session, user: TeamsUser) -> PersonAccount | None:
    return session.scalar(
        select(PersonAccount).where(
            PersonAccount.platform == Platform.TEAMS.value, PersonAccount.external_user_id == user.aad_object_id
        )
    )


# -- the loop: a signed message in, a reply out ---------------------------------------------------


def test_help_in_the_personal_chat_is_answered_through_the_connector(
    teams: TeamsRequests, connector: FakeBotConnector
) -> None:
    answer = teams.post(teams.message(ANA, "help"))

    assert answer.status == 200
    [reply] = connector.sent()
    assert reply.path == f"/v3/conversations/{ANA.personal_conversation_id}/activities"
    assert reply.body["type"] == "message"
    assert reply.body["text"] == HELP
    assert reply.body["conversation"]["id"] == ANA.personal_conversation_id


def test_text_the_bot_does_not_know_gets_a_pointer_to_help(teams: TeamsRequests, connector: FakeBotConnector) -> None:
    assert teams.post(teams.message(ANA, "what's the weather")).status == 200
    assert connector.texts() == [UNKNOWN]


def test_messages_in_a_channel_are_left_for_the_features_that_use_them(
    teams: TeamsRequests, connector: FakeBotConnector
) -> None:
    channel = teams.message(ANA, "help", conversation_id="19:abc@thread.tacv2", conversation_type="channel")
    assert teams.post(channel).status == 200
    assert connector.calls == []


# -- authentication: each forgery gets 401, and nothing is sent or stored ---------------------------

_OTHER_KEY = new_key()

FORGERIES: dict[str, Callable[[TeamsRequests, JSON], str | None]] = {
    "no Authorization header": lambda _t, _a: None,
    "not a JWT": lambda _t, _a: "not-a-token",
    "signed by another key": lambda t, a: t.token_for(a, key=_OTHER_KEY),
    "expired": lambda t, a: t.token_for(a, now=time.time() - 7200, lifetime=3600),
    "for another bot": lambda t, a: t.token_for(a, audience="0f0f0f0f-0000-4000-8000-000000000000"),
    "from another issuer": lambda t, a: t.token_for(a, issuer="https://sts.attacker.example"),
    "for another service URL": lambda t, a: t.auth.activity_token(CLIENT_ID, "https://smba.attacker.example/"),
    "with an unknown key id": lambda t, a: t.token_for(a, kid="rotated-away"),
}


@pytest.mark.parametrize("kind", ["help", "install"])
@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_forged_request_gets_401_and_changes_nothing(
    teams: TeamsRequests,
    connector: FakeBotConnector,
    session_factory: sessionmaker[Session],
    forgery: str,
    kind: str,
) -> None:
    activity = teams.message(ANA, "help") if kind == "help" else teams.installation_update(ANA)
    before = stored(session_factory)

    answer = teams.post(activity, token=FORGERIES[forgery](teams, activity))

    assert answer.status == 401
    assert connector.calls == []
    assert stored(session_factory) == before
    # The same activity, signed properly, goes through: the forgery was the only thing wrong with it.
    assert teams.post(activity).status == 200
    assert connector.calls or stored(session_factory) != before


def test_a_service_url_that_differs_from_the_signed_one_is_refused(
    teams: TeamsRequests, connector: FakeBotConnector
) -> None:
    """The token is genuine but the activity was re-addressed: replies would go to the attacker's URL."""
    genuine = teams.message(ANA, "help")
    token = teams.token_for(genuine)
    readdressed = {**genuine, "serviceUrl": "https://smba.attacker.example/"}

    assert teams.post(readdressed, token=token).status == 401
    assert connector.calls == []


# -- delivered twice, handled once ----------------------------------------------------------------


def test_a_redelivered_message_is_handled_once(
    teams: TeamsRequests, connector: FakeBotConnector, session_factory: sessionmaker[Session]
) -> None:
    activity = teams.message(ANA, "help")

    assert teams.post(activity).status == 200
    assert teams.post(activity).status == 200

    assert connector.texts() == [HELP]
    assert stored(session_factory)["processed_event"] == 1


def test_the_key_that_drops_redeliveries_cannot_be_matched_by_someone_holding_the_database(
    teams: TeamsRequests, session_factory: sessionmaker[Session]
) -> None:
    """An attacker with the database knows each person's conversation id (stored to reach them) and can
    try every millisecond as the activity id: a plain hash would tell them who wrote to the bot when.
    Even handed the exact activity id, they cannot reproduce the stored key without EMPATHY_SECRET_KEY."""
    activity = teams.message(ANA, "help", activity_id="1700000000123")
    assert teams.post(activity).status == 200
    with session_factory() as session:
        stored = {key for key in session.scalars(select(ProcessedEvent.event_id)) if key.startswith("teams:")}
    assert len(stored) == 1
    guess = hashlib.sha256(f"{activity['conversation']['id']}\n{activity['id']}".encode()).hexdigest()
    assert not any(guess[:48] in key for key in stored)


def test_the_same_activity_id_in_another_conversation_is_another_activity(
    teams: TeamsRequests, connector: FakeBotConnector
) -> None:
    """A message's id is its timestamp, unique only within its conversation."""
    assert teams.post(teams.message(ANA, "help", activity_id="1700000000123")).status == 200
    assert teams.post(teams.message(PRIYA, "help", activity_id="1700000000123")).status == 200
    assert connector.texts() == [HELP, HELP]


# -- our failures answer 200, never 5xx ----------------------------------------------------------


def test_a_failure_in_our_handler_answers_200_with_an_apology(
    teams: TeamsRequests, connector: FakeBotConnector
) -> None:
    connector.fail_next(502, method="POST")  # the reply fails: our handler raises

    answer = teams.post(teams.message(ANA, "help"))

    assert answer.status == 200
    assert connector.texts() == [APOLOGY]


def test_a_user_facing_error_is_phrased_for_teams(
    teams: TeamsRequests, connector: FakeBotConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error meant for the person reads as Teams' people type commands: the words in bold, no slash."""

    def refused(*_args: Any) -> bool:
        raise UserFacingError(text("I can't find that pulse any more. ", Command("pulse"), " shows the one open now."))

    monkeypatch.setattr(teams_app, "_first_delivery", refused)

    assert teams.post(teams.message(ANA, "help")).status == 200
    assert connector.texts() == ["I can't find that pulse any more. **pulse** shows the one open now."]


def test_a_failure_while_recording_an_install_answers_200(
    teams: TeamsRequests, connector: FakeBotConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(teams_app, "remember_conversation", broken)

    assert teams.post(teams.installation_update(ANA)).status == 200
    assert connector.calls == []  # nobody is waiting in a chat for an install


def test_an_activity_the_sdk_cannot_read_answers_200_not_500(teams: TeamsRequests, connector: FakeBotConnector) -> None:
    activity = teams.message(ANA, "help")
    activity["conversation"] = "not an object"  # signed, but not a valid activity: the SDK's parser fails

    answer = teams.post(activity)

    assert answer.status == 200
    assert connector.calls == []


def test_a_body_that_is_not_json_is_refused_before_the_sdk(teams_front: Flask) -> None:
    answer = teams_front.test_client().post("/api/messages", data=b"\x00not json", content_type="application/json")
    assert answer.status_code == 400


# -- installs: where to reach each person, keyed by their Entra object id --------------------------


def test_an_install_keeps_the_persons_conversation_reference_under_their_entra_id(
    teams: TeamsRequests, connector: FakeBotConnector, session_factory: sessionmaker[Session]
) -> None:
    assert teams.post(teams.installation_update(ANA)).status == 200
    # Teams announces the same install a second time, as the bot joining the chat.
    assert teams.post(teams.bot_added(ANA)).status == 200
    assert teams.post(teams.bot_added(PRIYA)).status == 200

    with session_factory() as session:
        [workspace] = session.scalars(select(Workspace)).all()
        assert (workspace.platform, workspace.external_id) == ("teams", TENANT_ID)
        ana = teams_account(session, ANA)
        assert ana is not None and ana.workspace_id == workspace.id
        assert ana.person.name == "Ana Souza"
        assert json.loads(ana.conversation_ref or "") == {
            "conversation_id": ANA.personal_conversation_id,
            "service_url": connector.url,
        }
        assert teams_account(session, PRIYA) is not None
        assert session.scalar(select(func.count()).select_from(Person)) == 2
        # The per-bot 29: id is not how anyone is known.
        assert session.scalar(select(PersonAccount).where(PersonAccount.external_user_id == ANA.user_id)) is None
    # Each install greets once with the home card (tests/scenarios/teams/test_home.py), however announced.
    assert [c.path for c in connector.sent()] == [
        f"/v3/conversations/{user.personal_conversation_id}/activities" for user in (ANA, PRIYA)
    ]


def test_an_install_from_another_tenant_is_ignored(
    teams_auth: FakeBotFrameworkAuth,
    connector: FakeBotConnector,
    teams_front: Flask,
    session_factory: sessionmaker[Session],
) -> None:
    stranger = TeamsRequests(
        teams_auth,
        client_id=CLIENT_ID,
        tenant_id="99999999-9999-4999-8999-999999999999",
        service_url=connector.url,
        client=teams_front.test_client(),
    )
    assert stranger.post(stranger.installation_update(ANA)).status == 200
    assert stored(session_factory)["workspace"] == 0
    assert stored(session_factory)["person_account"] == 0


# -- served for real: threads, one loop, a worker's app -------------------------------------------


@pytest.fixture
def served(teams_front: Flask) -> Iterator[str]:
    """The front on a real threaded HTTP server, as gunicorn's gthread workers serve it."""
    server = make_server("127.0.0.1", 0, teams_front, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_concurrent_requests_over_real_http_share_one_event_loop(
    served: str, teams_auth: FakeBotFrameworkAuth, connector: FakeBotConnector
) -> None:
    teams = TeamsRequests(
        teams_auth, client_id=CLIENT_ID, tenant_id=TENANT_ID, service_url=connector.url, base_url=served
    )
    people = [TeamsUser(f"c0c0c0c0-0000-4000-8000-{n:012d}", f"Person {n}") for n in range(8)]
    answers: list[int] = []

    def ask(person: TeamsUser) -> None:
        answers.append(teams.post(teams.message(person, "help")).status)

    threads = [threading.Thread(target=ask, args=(person,)) for person in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert answers == [200] * len(people)
    assert sorted(c.path for c in connector.sent()) == sorted(
        f"/v3/conversations/{p.personal_conversation_id}/activities" for p in people
    )
    assert teams.post(teams.message(ANA, "help"), token=None).status == 401  # over real HTTP too


def test_a_worker_sends_proactively_through_an_app_that_serves_nothing(
    teams_settings: Settings,
    session_factory: sessionmaker[Session],
    teams_auth: FakeBotFrameworkAuth,
    connector: FakeBotConnector,
) -> None:
    loop = process_loop()
    app = loop.run(
        initialized_app(
            teams_settings,
            session_factory,
            token=lambda _scope, _tenant: teams_auth.app_token(CLIENT_ID, TENANT_ID),
        ),
        10,
    )

    sent = loop.run(
        app.send(ANA.personal_conversation_id, "A pulse is waiting for you.", service_url=connector.url), 10
    )

    assert sent.id
    assert connector.texts() == ["A pulse is waiting for you."]


def test_the_front_keeps_slacks_routes_and_has_teams_only_when_configured(
    teams_front: Flask, settings: Settings, bolt_app: Any
) -> None:
    from bot.cli.server import create_front

    assert teams_front.test_client().get("/healthz").status_code == 200
    assert {rule.rule for rule in teams_front.url_map.iter_rules()} >= {"/slack/events", "/api/messages"}
    slack_only = create_front(settings, bolt_app)
    assert slack_only.test_client().post("/api/messages", json={"type": "message"}).status_code == 404


def test_a_slow_answer_is_cut_short_with_200_and_the_work_still_finishes(
    teams_settings: Settings,
    session_factory: sessionmaker[Session],
    teams_auth: FakeBotFrameworkAuth,
    connector: FakeBotConnector,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from handlers.teams.web import mount_teams

    remember = teams_app.remember_conversation

    def slow(*args: Any) -> None:
        time.sleep(1.5)
        remember(*args)

    monkeypatch.setattr(teams_app, "remember_conversation", slow)
    web = Flask("slow")
    mount_teams(
        web,
        teams_settings,
        session_factory,
        token=lambda _scope, _tenant: teams_auth.app_token(CLIENT_ID, TENANT_ID),
        wait_seconds=0.3,
    )
    teams = TeamsRequests(
        teams_auth, client_id=CLIENT_ID, tenant_id=TENANT_ID, service_url=connector.url, client=web.test_client()
    )

    started = time.monotonic()
    answer = teams.post(teams.installation_update(ANA))

    assert answer.status == 200
    assert time.monotonic() - started < 1.2
    deadline = time.monotonic() + 10
    while stored(session_factory)["person_account"] == 0:
        assert time.monotonic() < deadline, "the install was never recorded"
        time.sleep(0.05)


def test_activities_that_change_nothing_cost_no_write(
    teams: TeamsRequests, connector: FakeBotConnector, session_factory: sessionmaker[Session]
) -> None:
    typing = {**teams.message(ANA, ""), "type": "typing"}
    del typing["text"]
    assert teams.post(typing).status == 200
    assert stored(session_factory)["processed_event"] == 0
    assert connector.calls == []


def test_what_a_person_typed_stays_out_of_the_log_when_the_sdk_cannot_read_it(
    teams: TeamsRequests, connector: FakeBotConnector, caplog: pytest.LogCaptureFixture
) -> None:
    activity = teams.message(ANA, "help")
    activity["text"] = {"words": "my manager shouts at me"}  # not a string: the SDK's parser quotes it in its error

    with caplog.at_level("DEBUG"):
        assert teams.post(activity).status == 200
        # Nor does the SDK's DEBUG log of every activity it receives get through.
        assert teams.post(teams.message(ANA, "my manager shouts at me")).status == 200

    assert "ValidationError" in caplog.text  # the failure is logged...
    assert "shouts" not in caplog.text  # ...without what was typed
    assert connector.texts() == [UNKNOWN]


def test_a_card_action_is_answered_and_not_deduplicated(
    teams: TeamsRequests, connector: FakeBotConnector, session_factory: sessionmaker[Session]
) -> None:
    """No card is handled yet (handlers/teams gets them with the features); the invoke must still pass
    authentication and the SDK's parser, be answered, and cost no write: its answer is the response."""
    click = teams.card_action(ANA, {"action": "pulse.answer", "question": 1, "choice": 4})

    assert teams.post(click, token=None).status == 401
    assert teams.post(click).status == 200
    assert teams.post(click).status == 200
    assert stored(session_factory)["processed_event"] == 0
    assert connector.calls == []
