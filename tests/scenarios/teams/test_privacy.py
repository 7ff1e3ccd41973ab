"""Privacy rights on Teams, through the real SDK with signed activities: `privacy` says what is kept,
`privacy export` sends the person their data in their own 1:1 chat and nowhere else, `privacy forget`
forgets them only after they confirm."""

from __future__ import annotations

import html
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.accounts import link
from bot.core.models import AuditEntry, Person, PersonAccount, Team
from bot.privacy import FORGOTTEN_NAME
from handlers.teams.accounts import teams_workspace
from handlers.teams.listeners.privacy import FORGET_ACTION, KEEP_ACTION, NOT_YOUR_CHAT, export_json, export_messages
from handlers.teams.render.message import render, size
from tests.fakes.teams.cards import activity_problems, card_problems, walk
from tests.fakes.teams.connector import FakeBotConnector
from tests.fakes.teams.requests import TeamsRequests, TeamsUser
from tests.scenarios.teams.conftest import ANA, PRIYA, TENANT_ID

ANA_EMAIL = "ana.souza@example.com"


def people(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        workspace = teams_workspace(session, TENANT_ID)
        team = Team(workspace_id=workspace.id, name="Platform")
        session.add(team)
        session.flush()
        for user, email in ((ANA, ANA_EMAIL), (PRIYA, "priya@example.com")):
            person = Person(
                workspace_id=workspace.id, name=user.name, email=email, team_id=team.id, timezone="Europe/Lisbon"
            )
            session.add(person)
            session.flush()
            link(session, person, "teams", user.aad_object_id)


def installed(teams: TeamsRequests, connector: FakeBotConnector, *users: TeamsUser) -> None:
    """Each installs the app (the bot stores their 1:1 conversation); their home cards are not what we test."""
    for user in users:
        assert teams.post(teams.installation_update(user)).status == 200
    connector.reset()


def card_text(activity: dict[str, Any]) -> str:
    return "\n".join(
        str(item["text"]) for item in walk(activity["attachments"][0]["content"]) if item.get("type") == "TextBlock"
    )


def sent_to(connector: FakeBotConnector, user: TeamsUser) -> list[dict[str, Any]]:
    return [
        c.body for c in connector.sent() if c.path == f"/v3/conversations/{user.personal_conversation_id}/activities"
    ]


def test_privacy_lists_what_is_kept_in_plain_words(
    teams: TeamsRequests, connector: FakeBotConnector, session_factory: sessionmaker[Session]
) -> None:
    people(session_factory)
    installed(teams, connector, ANA)

    assert teams.post(teams.message(ANA, "privacy")).status == 200

    [reply] = sent_to(connector, ANA)
    assert activity_problems(reply) == []
    words = card_text(reply)
    assert "What I keep about you" in words
    assert ANA_EMAIL in words and "Platform" in words
    assert "stored without any link to you" in words  # the pulse answers are not linked
    assert "**privacy export**" in words and "**privacy forget**" in words


def test_export_arrives_in_the_persons_own_chat_as_their_data(
    teams: TeamsRequests, connector: FakeBotConnector, session_factory: sessionmaker[Session]
) -> None:
    people(session_factory)
    installed(teams, connector, ANA)

    assert teams.post(teams.message(ANA, "privacy export")).status == 200

    replies = sent_to(connector, ANA)
    assert replies and len(replies) == len(connector.sent())
    for reply in replies:
        assert activity_problems(reply) == []
    # The monospace lines, put back together, are the JSON export.
    lines = [
        html.unescape(str(item["text"])).replace("\u00a0", " ")
        for reply in replies
        for item in walk(reply["attachments"][0]["content"])
        if item.get("fontType") == "Monospace"
    ]
    data = json.loads("\n".join(lines))
    assert data["profile"]["email"] == ANA_EMAIL
    assert data["profile"]["teams_user_id"] == ANA.aad_object_id
    assert "29:" not in json.dumps(data)  # the per-bot Teams id is never stored, so never exported
    with session_factory() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.export")).all()
        assert entry.via == "teams"


def test_an_export_asked_for_from_someone_elses_chat_is_refused(
    teams: TeamsRequests, connector: FakeBotConnector, session_factory: sessionmaker[Session]
) -> None:
    """Priya's signed activity, but in Ana's 1:1 conversation: nothing of Priya's is sent there, nothing
    of Ana's is sent to anyone, and the refusal says where to ask."""
    people(session_factory)
    installed(teams, connector, ANA, PRIYA)

    for words in ("privacy export", "privacy"):
        activity = teams.message(PRIYA, words, conversation_id=ANA.personal_conversation_id)
        assert teams.post(activity).status == 200

    assert [c.body.get("text") for c in connector.sent()] == [NOT_YOUR_CHAT, NOT_YOUR_CHAT]
    assert not any(c.body.get("attachments") for c in connector.sent())
    with session_factory() as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.export")).all() == []


def test_forget_asks_first_and_keep_changes_nothing(
    teams: TeamsRequests, connector: FakeBotConnector, session_factory: sessionmaker[Session]
) -> None:
    people(session_factory)
    installed(teams, connector, ANA)

    assert teams.post(teams.message(ANA, "privacy forget")).status == 200
    [question] = sent_to(connector, ANA)
    assert activity_problems(question) == []
    verbs = {item.get("verb") for item in walk(question) if item.get("type") == "Action.Execute"}
    assert verbs == {FORGET_ACTION, KEEP_ACTION}
    with session_factory() as session:  # asking forgets nothing
        assert session.scalar(select(Person).where(Person.email == ANA_EMAIL)) is not None

    answer = teams.post(teams.card_action(ANA, {"action": KEEP_ACTION, "value": "keep"}, verb=KEEP_ACTION))
    assert answer.status == 200 and card_problems(answer.body["value"]) == []
    with session_factory() as session:
        assert session.scalar(select(Person).where(Person.email == ANA_EMAIL)) is not None


def test_confirmed_forget_forgets_only_the_person_who_confirmed(
    teams: TeamsRequests, connector: FakeBotConnector, session_factory: sessionmaker[Session]
) -> None:
    people(session_factory)
    installed(teams, connector, ANA, PRIYA)
    with session_factory() as session:
        ana = session.scalar(select(Person).where(Person.email == ANA_EMAIL))
        priya = session.scalar(select(Person).where(Person.email == "priya@example.com"))
        assert ana is not None and priya is not None

    # Priya's confirmation clicked in Ana's conversation forgets nobody.
    forged = teams.card_action(
        PRIYA,
        {"action": FORGET_ACTION, "value": "confirm"},
        verb=FORGET_ACTION,
        conversation_id=ANA.personal_conversation_id,
    )
    assert teams.post(forged).body["value"]["fallbackText"] == NOT_YOUR_CHAT

    answer = teams.post(teams.card_action(ANA, {"action": FORGET_ACTION, "value": "confirm"}, verb=FORGET_ACTION))
    assert answer.status == 200
    assert card_problems(answer.body["value"]) == []
    assert "forgotten everything linked to you" in json.dumps(answer.body["value"])

    with session_factory() as session:
        ana = session.get(Person, ana.id)
        assert ana.name == FORGOTTEN_NAME and ana.email is None and ana.forgotten_at is not None
        assert session.scalars(select(PersonAccount).where(PersonAccount.person_id == ana.id)).all() == []
        priya = session.get(Person, priya.id)
        assert priya.email == "priya@example.com" and priya.forgotten_at is None
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.forget")).all()
        assert entry.via == "teams"

    # A second click (Teams redelivers invokes) finds nothing left, and says so.
    again = teams.post(teams.card_action(ANA, {"action": FORGET_ACTION, "value": "confirm"}, verb=FORGET_ACTION))
    assert "nothing to forget" in json.dumps(again.body["value"])


def test_a_large_export_comes_in_parts_that_each_fit_a_teams_message() -> None:
    """Words full of markup characters (each becomes a 5–6 byte character reference on Teams) in a big
    export: every part renders under Teams' 100 KB (`render` refuses otherwise) and they add up to it all."""
    data = {"kudos": [{"words": "{*_[<&>]}|" * 30, "n": i} for i in range(1500)]}
    content = export_json(data)

    activities = [render(message) for message in export_messages(content)]

    assert len(activities) > 2
    assert all(size(activity) < 100_000 for activity in activities)
    lines = [
        html.unescape(str(item["text"])).replace("\u00a0", " ")
        for activity in activities
        for item in walk(activity["attachments"][0]["content"])
        if item.get("fontType") == "Monospace"
    ]
    assert "\n".join(lines) == content
