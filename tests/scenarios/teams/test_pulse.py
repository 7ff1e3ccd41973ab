"""Pulse surveys on Teams, end to end: the pulse the jobs queue, rendered as the card the person sees,
and the clicks that card sends, signed as Teams signs them, through the real SDK (authentication on).

The outbox's Teams sender is built elsewhere; here each person's queued row is rendered with the
renderer the sender uses (`render_payload`), and the tests click what that card offers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.accounts import link
from bot.core.crypto import SecretBox
from bot.core.models import OutboxMessage, OutboxState, Person, Role, RoleGrant, RoleSource, Team
from bot.core.settings import Settings
from handlers.teams.accounts import TEAMS, ConversationRef, teams_workspace
from handlers.teams.render.message import render_payload
from surveys.jobs import invite_key, queue_invitations, reminder_key
from surveys.models import PulseAnswer, PulseParticipant, PulseRound, PulseSealedAnswer
from surveys.pack_store import workspace_bank
from surveys.rounds import open_round
from tests.fakes.teams.cards import activity_problems, card_problems, walk
from tests.fakes.teams.connector import FakeBotConnector
from tests.fakes.teams.requests import Answer, TeamsRequests, TeamsUser
from tests.scenarios.teams.conftest import ANA, PRIYA, TENANT_ID
from tests.support.pulse_storage import StoredAnswer, stored_answers

JSON = dict[str, Any]
CARD = "application/vnd.microsoft.card.adaptive"
MESSAGE = "application/vnd.microsoft.activity.message"

MARCUS = TeamsUser(aad_object_id="c1b2c3d4-0000-4000-8000-00000000c0c0", name="Marcus Oyelaran")
CHEN = TeamsUser(aad_object_id="d1b2c3d4-0000-4000-8000-00000000d0d0", name="Chen Wei")
OUTSIDER = TeamsUser(aad_object_id="e1b2c3d4-0000-4000-8000-00000000e0e0", name="Someone Else")
# Teams user, time zone, manager.
PEOPLE = [
    (MARCUS, "Europe/Berlin", None),
    (ANA, "Europe/Lisbon", MARCUS),
    (PRIYA, None, MARCUS),
    (CHEN, "Asia/Singapore", MARCUS),
]


@dataclass
class Pulse:
    teams: TeamsRequests
    connector: FakeBotConnector
    session_factory: sessionmaker[Session]
    box: SecretBox
    round_id: int
    person_ids: dict[str, int]

    def card(self, user: TeamsUser) -> JSON:
        """The card `user` was sent: their queued outbox row, rendered as the Teams sender renders it."""
        with self.session_factory() as session:
            row = session.scalar(
                select(OutboxMessage).where(
                    OutboxMessage.idempotency_key == invite_key(self.round_id, self.person_ids[user.aad_object_id])
                )
            )
            assert row is not None and row.person_id == self.person_ids[user.aad_object_id]
            activity = render_payload(row.payload)
        assert activity_problems(activity) == []
        return activity["attachments"][0]["content"]

    def click(self, user: TeamsUser, action: JSON, **options: Any) -> Answer:
        answer = self.teams.post(self.teams.execute(user, action, **options))
        assert answer.status == 200, answer
        return answer

    def answers(self) -> list[StoredAnswer]:
        with self.session_factory() as session:
            return stored_answers(session, self.box)


@pytest.fixture
def pulse(
    teams: TeamsRequests, connector: FakeBotConnector, session_factory: sessionmaker[Session], teams_settings: Settings
) -> Pulse:
    box = SecretBox(teams_settings.secret_key)
    with session_factory.begin() as session:
        workspace = teams_workspace(session, TENANT_ID)
        workspace.name = "Contoso"
        team = Team(workspace_id=workspace.id, name="Platform")
        session.add(team)
        session.flush()
        ids: dict[str, int] = {}
        for user, zone, manager in PEOPLE:
            person = Person(
                workspace_id=workspace.id,
                name=user.name,
                email=f"{user.name.split()[0].lower()}@contoso.example",
                timezone=zone,
                team_id=team.id,
                manager_id=ids[manager.aad_object_id] if manager else None,
                source=TEAMS,
            )
            session.add(person)
            session.flush()
            account = link(session, person, TEAMS, user.aad_object_id)
            # Installed: the Bot Connector gave the bot their 1:1 conversation.
            account.conversation_ref = ConversationRef(user.personal_conversation_id, connector.url).to_json()
            ids[user.aad_object_id] = person.id
        now = datetime.now(UTC)
        bank = workspace_bank(session, workspace.id)
        # The recommend question's eleven options make a drop-down; the others are buttons.
        opened = open_round(
            session,
            workspace,
            bank,
            box,
            now=now,
            round_key="teams",
            round_date=now.date(),
            packs=["recommend", "burnout_single", "cbi_work"],
        )
        queue_invitations(session, bank, opened)
        assert len(opened.invitations) == len(PEOPLE)
        round_id = opened.round.id
    return Pulse(teams, connector, session_factory, box, round_id, ids)


def executes(card: JSON, action: str) -> list[JSON]:
    return [item for item in walk(card) if item.get("type") == "Action.Execute" and item["data"]["action"] == action]


def answer_rows(card: JSON) -> list[list[JSON]]:
    """Each question's answer buttons (by block), in order."""
    rows: dict[str, list[JSON]] = {}
    for item in walk(card):
        if item.get("type") == "Action.Execute" and item["data"]["action"].startswith("pulse.answer."):
            rows.setdefault(item["data"]["block"], []).append(item)
    return list(rows.values())


def skips(card: JSON) -> list[JSON]:
    return executes(card, "pulse.skip")


def updated_card(answer: Answer) -> JSON:
    """The card an invoke answered with, checked against the Adaptive Cards schema."""
    assert answer.body["type"] == CARD, answer.body
    assert answer.body["statusCode"] == 200
    card = answer.body["value"]
    assert card_problems(card) == []
    return card


def refusal(answer: Answer) -> str:
    assert answer.body["type"] == MESSAGE, answer.body
    return str(answer.body["value"])


def texts(card: JSON) -> str:
    return "\n".join(item["text"] for item in walk(card) if item.get("type") == "TextBlock")


def value_of(action: JSON) -> int:
    return int(action["data"]["value"].split("|")[2])


def values(stored: list[StoredAnswer]) -> list[tuple[bool, int]]:
    return sorted((a.value is None, a.value or 0) for a in stored)


# -- answering -------------------------------------------------------------------------------------


def test_each_click_answers_with_the_updated_card_until_the_thank_you(pulse: Pulse) -> None:
    card = pulse.card(ANA)
    assert "Hi Ana" in texts(card)
    rows = answer_rows(card)
    assert len(rows) >= 3 and all(len(row) <= 6 for row in rows)

    first = pulse.click(ANA, rows[0][0])
    shown = updated_card(first)
    assert "✅ Your answer" in texts(shown)
    assert values(pulse.answers()) == [(False, value_of(rows[0][0]))]

    changed = updated_card(pulse.click(ANA, rows[0][1]))  # change the answer: still one, the new value
    assert values(pulse.answers()) == [(False, value_of(rows[0][1]))]
    # The chosen answer is the highlighted one on the card now shown.
    assert [a["data"]["value"] for a in answer_rows(changed)[0] if a.get("style") == "positive"] == [
        rows[0][1]["data"]["value"]
    ]

    cards = [updated_card(pulse.click(ANA, row[0])) for row in rows[1:]]
    # The last question's options are in a drop-down, sent with its Send button.
    send = executes(card, "pulse.select")[0]
    picked = next(i for i in walk(card) if i.get("id") == send["data"]["input"])["choices"][0]["value"]
    cards.append(updated_card(pulse.click(ANA, send, inputs={send["data"]["input"]: picked})))
    for earlier in cards[:-1]:
        assert "Thank you" not in texts(earlier)
    final = cards[-1]
    assert "Thank you, Ana" in texts(final) and "What happens next" in texts(final)
    assert executes(final, "pulse.answer.1") == [] and len(executes(final, "pulse.review")) == 1
    assert len(pulse.answers()) == len(rows) + 1
    # The card is the answer: the bot wrote nothing to the Bot Connector for any click.
    assert pulse.connector.calls == []

    # Review brings the questions back with the answers given, to change one while the pulse is open.
    review = updated_card(pulse.click(ANA, executes(final, "pulse.review")[0]))
    assert texts(review).count("✅ Your answer") == len(rows) + 1
    again = answer_rows(review)[0][2]
    updated_card(pulse.click(ANA, again))
    question = again["data"]["value"].split("|")[1]
    assert [a.value for a in pulse.answers() if a.question_id == question] == [value_of(again)]
    assert len(pulse.answers()) == len(rows) + 1


def test_skip_and_a_drop_down_answer(pulse: Pulse) -> None:
    card = pulse.card(PRIYA)
    selects = executes(card, "pulse.select")
    assert selects, "the pulse has a question whose scale is too long for buttons"
    send = selects[0]  # a drop-down and Send: Teams merges the chosen option into the data by input id
    skip = next(a for a in skips(card) if a["data"]["block"] != send["data"]["block"])
    shown = updated_card(pulse.click(PRIYA, skip))
    assert "⏭️ Skipped" in texts(shown)
    assert [(a.value, a.comment) for a in pulse.answers()] == [(None, None)]
    choice = next(i for i in walk(card) if i.get("id") == send["data"]["input"])
    picked = choice["choices"][-1]["value"]
    shown = updated_card(pulse.click(PRIYA, send, inputs={send["data"]["input"]: picked}))
    assert next(i for i in walk(shown) if i.get("id") == send["data"]["input"])["value"] == picked
    assert sorted(a.value or 0 for a in pulse.answers()) == [0, int(picked.split("|")[2])]


def test_a_replayed_click_is_applied_once(pulse: Pulse) -> None:
    card = pulse.card(MARCUS)
    click = pulse.teams.execute(MARCUS, answer_rows(card)[0][3])
    first = pulse.teams.post(click)
    again = pulse.teams.post(click)  # Teams retries an invoke it did not see answered
    assert updated_card(first) == updated_card(again)
    assert values(pulse.answers()) == [(False, value_of(answer_rows(card)[0][3]))]


def test_answers_are_stored_unlinkable_to_the_person(pulse: Pulse, engine) -> None:  # type: ignore[no-untyped-def]
    schema = inspect(engine)
    assert {c["name"] for c in schema.get_columns("pulse_sealed_answer")} == {"id", "round_id", "slot", "sealed"}
    assert {fk["referred_table"] for fk in schema.get_foreign_keys("pulse_sealed_answer")} == {"pulse_round"}
    for user in (ANA, PRIYA, CHEN):
        pulse.click(user, answer_rows(pulse.card(user))[0][0])
    with pulse.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(PulseAnswer)) == 0  # nothing in clear while open
        stored = session.scalars(select(PulseSealedAnswer)).all()
        sealed = b"".join(row.sealed for row in stored)
        for user in (ANA, PRIYA, CHEN):  # neither the Entra id nor the conversation is in what is stored
            assert user.aad_object_id.encode() not in sealed and user.personal_conversation_id.encode() not in sealed
        assert session.scalar(select(func.count()).where(PulseParticipant.responded.is_(True))) == 3
    assert len({len(row.sealed) for row in stored}) == 1  # one size for every answer
    assert all(len(row.slot) == 64 for row in stored)  # an HMAC, not an id
    assert len({row.id for row in stored}) == 3 and all(len(row.id) == 32 for row in stored)


def test_answering_calls_off_the_reminder(pulse: Pulse) -> None:
    from bot.delivery.outbox import enqueue

    marcus = pulse.person_ids[MARCUS.aad_object_id]
    with pulse.session_factory.begin() as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.person_id == marcus))
        assert row is not None
        queued = enqueue(session, row.workspace_id, reminder_key(pulse.round_id, marcus), row.payload, person_id=marcus)
        assert queued.state == OutboxState.PENDING.value
    pulse.click(MARCUS, answer_rows(pulse.card(MARCUS))[0][0])
    with pulse.session_factory() as session:
        reminder = session.scalar(
            select(OutboxMessage).where(OutboxMessage.idempotency_key == reminder_key(pulse.round_id, marcus))
        )
        assert reminder is not None and reminder.state == OutboxState.CANCELLED.value


# -- clicks that cannot count ------------------------------------------------------------------------


def test_someone_elses_card_is_refused_and_nothing_is_stored(pulse: Pulse) -> None:
    ana_card = pulse.card(ANA)
    button = answer_rows(ana_card)[0][0]
    # Priya (invited to the same pulse) clicks Ana's card, in Ana's chat; then in a group chat.
    in_anas_chat = refusal(pulse.click(PRIYA, button, conversation_id=ANA.personal_conversation_id))
    assert "sent to someone else" in in_anas_chat and "**pulse**" in in_anas_chat
    in_a_group = refusal(pulse.click(ANA, button, conversation_id="19:group@thread.v2", conversation_type="groupChat"))
    assert "sent to someone else" in in_a_group
    # Someone the bot never invited, in their own chat.
    assert "wasn't sent to you" in refusal(pulse.click(OUTSIDER, button))
    assert pulse.answers() == []


def test_forged_values_are_refused_kindly_and_change_nothing(pulse: Pulse) -> None:
    button = answer_rows(pulse.card(ANA))[0][0]
    round_id, question_id, value = button["data"]["value"].split("|")
    cases = [
        (f"999999|{question_id}|{value}", "I can't find that pulse"),
        (f"{round_id}|engagement.nope|{value}", "isn't part of your pulse"),
        (f"{round_id}|{question_id}|42", "isn't one of the answers"),
        ("garbage", "I can't find that pulse"),
    ]
    for forged, words in cases:
        said = refusal(pulse.click(ANA, {**button, "data": {**button["data"], "value": forged}}))
        assert words in said, said
    assert "**pulse**" in said  # the command hint as Teams phrases it
    # A forged signature never reaches the bot.
    assert pulse.teams.post(pulse.teams.execute(ANA, button), token="forged.token.value").status == 401
    assert pulse.answers() == []


def test_a_click_after_the_pulse_closed_says_so(pulse: Pulse) -> None:
    button = answer_rows(pulse.card(CHEN))[0][0]
    with pulse.session_factory.begin() as session:
        session.get(PulseRound, pulse.round_id).status = "closed"  # type: ignore[union-attr]
    said = refusal(pulse.click(CHEN, button))
    assert "This pulse closed on" in said and "can't be changed" in said
    review = {**button, "data": {"action": "pulse.review", "value": str(pulse.round_id)}}
    assert "has closed" in refusal(pulse.click(CHEN, review))
    assert pulse.answers() == []


# -- the comment dialog ----------------------------------------------------------------------------


def comment_button(card: JSON) -> JSON:
    found = [
        i for i in walk(card) if i.get("type") == "Action.Submit" and i.get("data", {}).get("action") == "pulse.comment"
    ]
    assert found, "no comment button"
    return found[0]


def dialog_card(answer: Answer) -> JSON:
    assert answer.status == 200, answer
    task = answer.body["task"]
    assert task["type"] == "continue", task
    card = task["value"]["card"]["content"]
    assert card_problems(card) == []
    return card


def save_action(form: JSON) -> JSON:
    return form["actions"][0]


def test_the_comment_dialog_refuses_a_too_long_comment_kindly_then_saves(pulse: Pulse) -> None:
    card = pulse.card(ANA)
    button = comment_button(card)
    assert button["data"]["msteams"] == {"type": "task/fetch"}  # a dialog, not an Action.Execute
    form = dialog_card(pulse.teams.post(pulse.teams.task_fetch(ANA, button, reply_to_id="1700000000123")))
    box = next(i for i in walk(form) if i.get("type") == "Input.Text")
    assert box["id"] == "comment" and box["maxLength"] == 1000 and box["isMultiline"] is True

    too_long = dialog_card(pulse.teams.post(pulse.teams.task_submit(ANA, save_action(form), {"comment": "x" * 1001})))
    assert "up to 1000 characters" in texts(too_long) and "this one has 1001" in texts(too_long)
    assert next(i for i in walk(too_long) if i.get("type") == "Input.Text")["value"] == "x" * 1001  # kept as typed
    assert pulse.answers() == []

    saved = pulse.teams.post(
        pulse.teams.task_submit(ANA, save_action(too_long), {"comment": "More focus time, please."})
    )
    assert saved.status == 200 and not (saved.body or {}).get("task")  # the dialog closes
    assert [(a.value, a.comment) for a in pulse.answers()] == [(None, "More focus time, please.")]
    # The pulse card in the chat now shows the comment: one update of the message the dialog came from.
    updates = [c for c in pulse.connector.calls if c.method == "PUT"]
    assert len(updates) == 1 and updates[0].path.endswith(
        f"/v3/conversations/{ANA.personal_conversation_id}/activities/1700000000123"
    )
    assert activity_problems(updates[0].body) == []
    assert "More focus time, please." in texts(updates[0].body["attachments"][0]["content"])


def test_the_comment_dialog_of_someone_elses_card_is_refused(pulse: Pulse) -> None:
    button = comment_button(pulse.card(ANA))
    answer = pulse.teams.post(pulse.teams.task_fetch(PRIYA, button, conversation_id=ANA.personal_conversation_id))
    assert answer.body["task"]["type"] == "message" and "sent to someone else" in answer.body["task"]["value"]


# -- the `pulse` command and the person's time zone -------------------------------------------------


def test_the_pulse_command_shows_the_open_pulse(pulse: Pulse) -> None:
    assert pulse.teams.post(pulse.teams.message(CHEN, "pulse")).status == 200
    pulse.connector.wait_for(lambda c: len(c.texts()) == 1)
    assert "You've answered 0 of" in pulse.connector.texts()[0]
    assert "groups of" in pulse.connector.texts()[0]

    assert pulse.teams.post(pulse.teams.message(OUTSIDER, "pulse")).status == 200
    pulse.connector.wait_for(lambda c: len(c.texts()) == 2)
    assert "There's no pulse open for you right now" in pulse.connector.texts()[1]


def test_a_persons_time_zone_comes_from_their_teams_client_when_the_directory_has_none(pulse: Pulse) -> None:
    assert pulse.teams.post(pulse.teams.message(PRIYA, "pulse", timezone="Asia/Kolkata")).status == 200
    assert pulse.teams.post(pulse.teams.message(ANA, "pulse", timezone="America/Chicago")).status == 200
    with pulse.session_factory() as session:
        zones = {p.name: p.timezone for p in session.scalars(select(Person))}
    assert zones["Priya Natarajan"] == "Asia/Kolkata"  # had none
    assert zones["Ana Souza"] == "Europe/Lisbon"  # the directory's stays


def test_a_drop_down_sent_without_a_choice_asks_for_one(pulse: Pulse) -> None:
    send = executes(pulse.card(ANA), "pulse.select")[0]
    assert "choose an answer from the list first" in refusal(pulse.click(ANA, send))
    assert pulse.answers() == []


def test_pulse_send_and_schedule_are_for_hr(
    teams: TeamsRequests, connector: FakeBotConnector, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as session:
        workspace = teams_workspace(session, TENANT_ID)
        for user in (MARCUS, ANA):
            person = Person(workspace_id=workspace.id, name=user.name, timezone="Europe/Berlin", source=TEAMS)
            session.add(person)
            session.flush()
            account = link(session, person, TEAMS, user.aad_object_id)
            account.conversation_ref = ConversationRef(user.personal_conversation_id, connector.url).to_json()
            if user is MARCUS:
                session.add(
                    RoleGrant(workspace_id=workspace.id, person_id=person.id, role=Role.HR, source=RoleSource.CSV)
                )

    def said(user: TeamsUser, words: str) -> str:
        before = len(connector.texts())
        assert teams.post(teams.message(user, words)).status == 200
        connector.wait_for(lambda c: len(c.texts()) == before + 1)
        return connector.texts()[-1]

    assert "Only HR admins" in said(ANA, "pulse send")
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(PulseRound)) == 0
    assert "No pulse schedule is set up yet" in said(MARCUS, "pulse schedule")
    assert "Done: a pulse for everyone is on its way to 2 people" in said(MARCUS, "pulse send")
    assert "already sent today" in said(MARCUS, "pulse send")
    assert "no team called" in said(MARCUS, "pulse send Nowhere")
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(PulseRound)) == 1
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 2  # one pulse card each
