"""Kudos on Teams through the real SDK, with signed activities, against the fake Bot Connector: the typed
`kudos` command with `<at>` mentions, the message action's dialog, and `kudos channel` in a team channel.
The shout-out and the DMs are outbox rows (the Teams sender posts them); the shout-out row is rendered
as Teams will receive it, with its mentions."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.models import OutboxMessage, Person, PersonAccount, Platform, Role, RoleGrant, RoleSource
from bot.core.settings import Settings
from bot.core.workspace_config import get_setting, store_setting
from bot.kudos.config import KUDOS_CHANNEL
from bot.kudos.models import Kudos
from bot.kudos.values import parse_lines, replace_values
from handlers.teams.accounts import teams_workspace
from handlers.teams.commands import KUDOS_MESSAGE_ACTION
from handlers.teams.listeners import kudos as teams_kudos
from handlers.teams.render.markdown import escape
from handlers.teams.render.message import Names, TeamsUser, render_payload
from tests.fakes.teams.cards import activity_problems, card_problems
from tests.fakes.teams.connector import FakeBotConnector
from tests.fakes.teams.requests import TeamsRequests
from tests.fakes.teams.requests import TeamsUser as Someone
from tests.scenarios.teams.conftest import ANA, PRIYA, TENANT_ID

JSON = dict[str, Any]

BEN = Someone(aad_object_id="c1b2c3d4-0000-4000-8000-00000000c0c0", name="Ben Okafor")
CHEN = Someone(aad_object_id="d1b2c3d4-0000-4000-8000-00000000d0d0", name="Chen Wei")
DAN = Someone(aad_object_id="e1b2c3d4-0000-4000-8000-00000000e0e0", name="Dan Moore")
EVA = Someone(aad_object_id="f1b2c3d4-0000-4000-8000-00000000f0f0", name="Eva Lind")
FIN = Someone(aad_object_id="a2b2c3d4-0000-4000-8000-00000000a1a1", name="Fin Walsh")
GUS = Someone(aad_object_id="a3b2c3d4-0000-4000-8000-00000000a2a2", name="Gus Stranger")  # not in the directory
PEOPLE = (ANA, PRIYA, BEN, CHEN, DAN, EVA, FIN)
CHANNEL = "19:5e1d9c0a7b3f4e2a8d6c1b0a9f8e7d6c@thread.tacv2"
TEAM = "19:0a1b2c3d4e5f4a6b8c9d0e1f2a3b4c5d@thread.tacv2"
VALUES = "Care - we look after each other\nOwnership - we finish what we start"


@pytest.fixture
def tenant(session_factory: sessionmaker[Session]) -> Iterator[sessionmaker[Session]]:
    """The tenant's directory (everyone but Gus) with company values, Ana as HR and the kudos channel set."""
    with session_factory.begin() as session:
        workspace = teams_workspace(session, TENANT_ID)
        for user in PEOPLE:
            session.add(
                Person(
                    workspace_id=workspace.id,
                    name=user.name,
                    email=f"{user.name.split()[0].lower()}@example.com",
                    timezone="Europe/Lisbon",
                    source="teams",
                    accounts=[PersonAccount(platform=Platform.TEAMS.value, external_user_id=user.aad_object_id)],
                )
            )
        session.flush()
        ana = _person(session, ANA)
        session.add(
            RoleGrant(workspace_id=workspace.id, person_id=ana.id, role=Role.HR.value, source=RoleSource.CSV.value)
        )
        replace_values(session, workspace.id, parse_lines(VALUES), actor_id=None, via="test", now=datetime.now(UTC))
        store_setting(session, workspace, KUDOS_CHANNEL, CHANNEL)
    yield session_factory


def _person(session: Session, user: Someone) -> Person:
    return session.scalars(
        select(Person).join(PersonAccount).where(PersonAccount.external_user_id == user.aad_object_id)
    ).one()


def mention(user: Someone, *, with_aad: bool = True) -> JSON:
    """A mention entity as Teams sends it: the per-bot `29:` id, maybe the Entra object id too."""
    mentioned: JSON = {"id": user.user_id, "name": user.name}
    if with_aad:
        mentioned["aadObjectId"] = user.aad_object_id
    return {"type": "mention", "text": f"<at>{user.name}</at>", "mentioned": mentioned}


def kudos_message(teams: TeamsRequests, giver: Someone, text: str, *mentions: JSON) -> JSON:
    activity = teams.message(giver, text)
    activity["entities"] = [*activity["entities"], *mentions]
    return activity


def sent_texts(connector: FakeBotConnector) -> list[str]:
    return connector.texts()


def kudos_count(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count(Kudos.id))) or 0


def outbox(session_factory: sessionmaker[Session]) -> list[OutboxMessage]:
    with session_factory() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


# -- the typed command -----------------------------------------------------------------------------


def test_a_typed_kudos_with_two_mentions_is_stored_once_and_queues_the_shout_out_and_dms(
    teams: TeamsRequests, connector: FakeBotConnector, tenant: sessionmaker[Session]
) -> None:
    activity = kudos_message(
        teams,
        ANA,
        f"kudos <at>{PRIYA.name}</at> and <at>{BEN.name}</at> for untangling the release #care",
        mention(PRIYA),
        mention(BEN, with_aad=False),  # resolved through the stored accounts, by the one Ben Okafor
    )
    assert teams.post(activity).status == 200

    [reply] = sent_texts(connector)
    assert "Thank you for noticing" in reply and "**Priya Natarajan** and **Ben Okafor**" in reply
    assert "kudos channel" in reply and "4 more today" in reply
    with tenant() as session:
        [kudos] = session.scalars(select(Kudos)).all()
        assert kudos.message == "and for untangling the release"
        assert [v.tag for v in kudos.values] == ["care"]
        recipients = {r.person_id for r in kudos.recipients}
        assert recipients == {_person(session, PRIYA).id, _person(session, BEN).id}
        assert kudos.giver_id == _person(session, ANA).id and not kudos.private
        people = {p.id: p for p in session.scalars(select(Person))}
    rows = outbox(tenant)
    posts = [r for r in rows if r.channel_id is not None]
    dms = [r for r in rows if r.person_id is not None]
    assert [r.channel_id for r in posts] == [CHANNEL]
    assert {people[r.person_id].name for r in dms} == {PRIYA.name, BEN.name}

    # The shout-out as Teams will receive it: real <at> mentions with one entity each.
    names = Names(people={u.aad_object_id: TeamsUser(u.user_id, u.name) for u in PEOPLE})
    rendered = render_payload(posts[0].payload, names)
    assert activity_problems(rendered) == []
    card = rendered["attachments"][0]["content"]
    texts = " ".join(block.get("text", "") for block in _walk(card["body"]))
    for user in (ANA, PRIYA, BEN):
        assert f"<at>{user.name}</at>" in texts
    entities = card["msteams"]["entities"]
    assert [(e["text"], e["mentioned"]["id"]) for e in entities] == [
        (f"<at>{u.name}</at>", u.user_id) for u in (ANA, PRIYA, BEN)
    ]
    assert "untangling the release" in texts


def _walk(items: list[JSON]) -> Iterator[JSON]:
    for item in items:
        yield item
        for key in ("items", "columns"):
            yield from _walk(item.get(key, []))


def test_the_same_kudos_sent_twice_within_the_window_is_one_kudos(
    teams: TeamsRequests, connector: FakeBotConnector, tenant: sessionmaker[Session]
) -> None:
    text = f"kudos <at>{PRIYA.name}</at> for the calm incident review"
    assert teams.post(kudos_message(teams, ANA, text, mention(PRIYA))).status == 200
    # A second Enter: a new activity (new id) with the same words.
    assert teams.post(kudos_message(teams, ANA, text, mention(PRIYA))).status == 200

    assert kudos_count(tenant) == 1
    assert len(outbox(tenant)) == 2  # one shout-out, one DM
    first, second = sent_texts(connector)
    assert "Thank you for noticing" in first
    assert second == teams_kudos.ALREADY_SENT


def test_the_sixth_kudos_of_the_day_is_refused_kindly(
    teams: TeamsRequests, connector: FakeBotConnector, tenant: sessionmaker[Session]
) -> None:
    for number, user in enumerate((PRIYA, BEN, CHEN, DAN, EVA), start=1):
        text = f"kudos <at>{user.name}</at> for help number {number}"
        assert teams.post(kudos_message(teams, ANA, text, mention(user))).status == 200
    assert kudos_count(tenant) == 5
    assert "That was your last one for today" in sent_texts(connector)[-1]

    sixth = kudos_message(teams, ANA, f"kudos <at>{FIN.name}</at> for the sixth thing", mention(FIN))
    assert teams.post(sixth).status == 200

    assert kudos_count(tenant) == 5
    refusal = sent_texts(connector)[-1]
    assert "daily limit" in refusal and "midnight your time" in refusal and "Thank you" in refusal


def test_an_unknown_mention_is_refused_kindly_and_nothing_is_stored(
    teams: TeamsRequests, connector: FakeBotConnector, tenant: sessionmaker[Session]
) -> None:
    activity = kudos_message(
        teams,
        ANA,
        f"kudos <at>{PRIYA.name}</at> <at>{GUS.name}</at> for the onboarding docs",
        mention(PRIYA),
        mention(GUS),
    )
    assert teams.post(activity).status == 200

    assert sent_texts(connector) == [
        f"I don't know {GUS.name} yet, so I can't thank them. If they joined today, the directory catches up "
        "overnight; otherwise please check the name."
    ]
    assert kudos_count(tenant) == 0 and outbox(tenant) == []


def test_a_name_typed_after_at_without_picking_it_is_explained(
    teams: TeamsRequests, connector: FakeBotConnector, tenant: sessionmaker[Session]
) -> None:
    assert teams.post(teams.message(ANA, "kudos @priya for the retro")).status == 200
    assert sent_texts(connector) == [
        "I couldn't tell who @priya is. Pick them from the list Teams shows while you type @, so their name turns "
        "into a mention, then send it again."
    ]
    assert kudos_count(tenant) == 0


def test_a_tag_mention_is_refused_because_kudos_go_to_people(
    teams: TeamsRequests, connector: FakeBotConnector, tenant: sessionmaker[Session]
) -> None:
    tag = {
        "type": "mention",
        "text": "<at>Release crew</at>",
        "mentioned": {"id": "29:tagid", "name": "Release crew", "type": "tag"},
    }
    assert teams.post(kudos_message(teams, ANA, "kudos <at>Release crew</at> for shipping", tag)).status == 200
    assert sent_texts(connector) == [teams_kudos.NOT_GROUPS]
    assert kudos_count(tenant) == 0


def test_a_private_kudos_goes_by_dm_only(
    teams: TeamsRequests, connector: FakeBotConnector, tenant: sessionmaker[Session]
) -> None:
    text = f"kudos private <at>{PRIYA.name}</at> for listening on a hard day"
    assert teams.post(kudos_message(teams, ANA, text, mention(PRIYA))).status == 200

    rows = outbox(tenant)
    assert [r.channel_id for r in rows] == [None]
    with tenant() as session:
        assert rows[0].person_id == _person(session, PRIYA).id
        [kudos] = session.scalars(select(Kudos)).all()
        assert kudos.private and kudos.message == "for listening on a hard day"
    [reply] = sent_texts(connector)
    assert "wasn't posted anywhere else" in reply


def test_stats_and_help_answer_in_the_chat(
    teams: TeamsRequests, connector: FakeBotConnector, tenant: sessionmaker[Session]
) -> None:
    assert teams.post(teams.message(ANA, "kudos help")).status == 200
    assert teams.post(teams.message(ANA, "kudos stats")).status == 200
    assert teams.post(teams.message(ANA, "kudos leaderboard")).status == 200
    help_text, stats, leaderboard = sent_texts(connector)
    assert help_text == teams_kudos.HELP
    assert "**Your kudos**" in stats and "you gave 0 and received 0" in stats
    assert leaderboard == teams_kudos.LEADERBOARD_OFF


# -- the message action ----------------------------------------------------------------------------


def invoke(teams: TeamsRequests, user: Someone, name: str, value: JSON) -> JSON:
    activity = teams.message(
        user, "", conversation_id=CHANNEL + ";messageid=1732000000000", conversation_type="channel"
    )
    for key in ("text", "textFormat", "localTimezone"):
        activity.pop(key, None)
    activity.update(type="invoke", name=name, value=value)
    activity["channelData"].update(channel={"id": CHANNEL}, team={"id": TEAM}, source={"name": "message"})
    return activity


def fetch_task(teams: TeamsRequests, user: Someone, author: Someone, html: str) -> JSON:
    return invoke(
        teams,
        user,
        "composeExtension/fetchTask",
        {
            "commandId": KUDOS_MESSAGE_ACTION,
            "commandContext": "message",
            "requestId": uuid.uuid4().hex,
            "context": {"theme": "default"},
            "messagePayload": {
                "id": "1732000000000",
                "createdDateTime": "2026-11-30T09:00:00.000Z",
                "importance": "normal",
                "locale": "en-us",
                "body": {"contentType": "html", "content": html},
                "from": {
                    "user": {"userIdentityType": "aadUser", "id": author.aad_object_id, "displayName": author.name}
                },
                "attachments": [],
                "mentions": [],
                "reactions": [],
            },
        },
    )


def submit_action(teams: TeamsRequests, user: Someone, data: JSON) -> JSON:
    return invoke(
        teams,
        user,
        "composeExtension/submitAction",
        {"commandId": KUDOS_MESSAGE_ACTION, "commandContext": "message", "context": {"theme": "default"}, "data": data},
    )


def dialog_of(body: JSON) -> JSON:
    task = body["task"]
    assert task["type"] == "continue"
    attachment = task["value"]["card"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    return attachment["content"]


def test_the_message_action_opens_the_dialog_and_its_submit_gives_the_kudos(
    teams: TeamsRequests, connector: FakeBotConnector, tenant: sessionmaker[Session]
) -> None:
    opened = teams.post(
        fetch_task(teams, ANA, PRIYA, "<div>The rollback plan is in the <b>runbook</b> now &amp; tested</div>")
    )
    assert opened.status == 200
    card = dialog_of(opened.body)
    assert card_problems(card) == []
    inputs = {item["id"]: item for item in _walk(card["body"]) if "id" in item}
    assert inputs["recipients"]["value"] == PRIYA.aad_object_id  # the author, filled in
    assert inputs["recipients"]["choices"] == [{"title": PRIYA.name, "value": PRIYA.aad_object_id}]
    assert [c["value"] for c in inputs["values"]["choices"]] == ["care", "ownership"]
    assert inputs["private"]["value"] == "false"
    texts = [item.get("text", "") for item in _walk(card["body"])]
    # The message as context, its HTML read as text and made inert for Teams' markdown.
    assert escape("The rollback plan is in the runbook now & tested") in texts
    [send] = card["actions"]
    data = {
        **send["data"],
        "recipients": f"{PRIYA.aad_object_id},{BEN.aad_object_id}",
        "message": "Thank you for writing the rollback plan down",
        "values": "ownership",
        "private": "false",
    }

    done = teams.post(submit_action(teams, ANA, data))
    assert done.status == 200
    done_card = dialog_of(done.body)
    assert card_problems(done_card) == []
    assert "Thank you for noticing" in done_card["body"][0]["text"]
    # Pressed again (or delivered twice): the same dialog is the same kudos.
    assert teams.post(submit_action(teams, ANA, data)).status == 200

    with tenant() as session:
        [kudos] = session.scalars(select(Kudos)).all()
        assert kudos.message == "Thank you for writing the rollback plan down"
        assert [v.tag for v in kudos.values] == ["ownership"]
        assert {r.person_id for r in kudos.recipients} == {_person(session, PRIYA).id, _person(session, BEN).id}
    rows = outbox(tenant)
    assert [r.channel_id for r in rows if r.channel_id] == [CHANNEL] and len(rows) == 3
    assert connector.calls == []  # everything went through the outbox, nothing was sent inline


def test_a_refused_dialog_comes_back_with_the_reason_and_what_was_typed(
    teams: TeamsRequests, tenant: sessionmaker[Session]
) -> None:
    card = dialog_of(teams.post(fetch_task(teams, ANA, ANA, "<p>my own message</p>")).body)
    data = {**card["actions"][0]["data"], "recipients": ANA.aad_object_id, "message": "Me, myself", "private": "false"}
    again = dialog_of(teams.post(submit_action(teams, ANA, data)).body)
    assert card_problems(again) == []
    assert "thanking someone else" in again["body"][0]["text"]
    inputs = {item["id"]: item for item in _walk(again["body"]) if "id" in item}
    assert inputs["message"]["value"] == "Me, myself"
    assert kudos_count(tenant) == 0


# -- the kudos channel -----------------------------------------------------------------------------


def channel_message(teams: TeamsRequests, user: Someone, text: str, *, kind: str = "standard") -> JSON:
    activity = teams.message(
        user,
        f"<at>Empathy Bot</at> {text}",
        conversation_id=f"{CHANNEL};messageid=1732000000001",
        conversation_type="channel",
    )
    activity["channelData"].update(channel={"id": CHANNEL, "name": "Kudos", "type": kind}, team={"id": TEAM})
    return activity


def test_kudos_channel_typed_in_a_team_channel_records_the_channel(
    teams: TeamsRequests, connector: FakeBotConnector, tenant: sessionmaker[Session], teams_settings: Settings
) -> None:
    other = "19:ffffeeeeddddccccbbbbaaaa99998888@thread.tacv2"
    with tenant.begin() as session:
        store_setting(session, teams_workspace(session, TENANT_ID), KUDOS_CHANNEL, other)

    assert teams.post(channel_message(teams, PRIYA, "kudos channel")).status == 200  # not HR
    assert teams.post(channel_message(teams, ANA, "kudos channel")).status == 200

    assert sent_texts(connector) == [teams_kudos.CHANNEL_ONLY_HR, teams_kudos.CHANNEL_SET]
    # The replies went to the thread where it was typed.
    assert all(f"{CHANNEL};messageid=1732000000001" in call.path for call in connector.sent())
    with tenant() as session:
        workspace = teams_workspace(session, TENANT_ID)
        assert get_setting(session, workspace, KUDOS_CHANNEL, teams_settings) == CHANNEL


def test_kudos_channel_in_a_private_channel_says_why_it_cannot_be_used(
    teams: TeamsRequests, connector: FakeBotConnector, tenant: sessionmaker[Session]
) -> None:
    assert teams.post(channel_message(teams, ANA, "kudos channel", kind="private")).status == 200
    assert sent_texts(connector) == [teams_kudos.CHANNEL_PRIVATE]


def test_a_kudos_typed_in_a_team_channel_ignores_the_bots_own_mention(
    teams: TeamsRequests, connector: FakeBotConnector, tenant: sessionmaker[Session]
) -> None:
    activity = channel_message(teams, ANA, f"kudos <at>{PRIYA.name}</at> for the demo")
    activity["entities"].append(mention(PRIYA))
    assert teams.post(activity).status == 200
    with tenant() as session:
        [kudos] = session.scalars(select(Kudos)).all()
        assert [r.person_id for r in kudos.recipients] == [_person(session, PRIYA).id]
        assert kudos.message == "for the demo"
