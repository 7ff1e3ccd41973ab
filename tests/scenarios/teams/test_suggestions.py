"""The anonymous suggestion box on Teams, through the real SDK with signed activities and invokes.

The Teams sender is built separately: what the bot queues for owners and authors is read from the
outbox and rendered with `render_payload`, as the sender will, and the clicks and dialog submits those
cards would send are posted back. The anonymity promises are Slack's: nothing stored ties a suggestion
to its author, messages to the author are sealed, owners see dates only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.crypto import SecretBox
from bot.core.models import AuditEntry, OutboxMessage, Person, RoleGrant, Workspace, WorkspaceSetting
from bot.delivery.outbox import open_target
from bot.suggestions import service
from bot.suggestions.models import Suggestion, SuggestionMessage, SuggestionTally
from handlers.teams.accounts import teams_workspace
from handlers.teams.render.message import render_payload
from tests.conftest import SECRET_KEY
from tests.fakes.teams.cards import activity_problems, card_problems, cards, walk
from tests.fakes.teams.connector import FakeBotConnector
from tests.fakes.teams.requests import Answer, TeamsRequests, TeamsUser
from tests.scenarios.teams.conftest import ANA, PRIYA, TENANT_ID
from tests.support.forensics import pg_table_bytes, sqlite_file_bytes, sqlite_path

CHEN = TeamsUser(aad_object_id="c1b2c3d4-0000-4000-8000-00000000c0c0", name="Chen Wei")
CHANNEL = "19:3a5c7e9f1b2d4f6a8c0e2a4c6e8a0c2e@thread.tacv2"
THREAD = f"{CHANNEL};messageid=1700000000123"
BOX = SecretBox(SECRET_KEY)
IDEA = "Standing desks on the 3rd floor <at>Everyone</at>"


@dataclass
class Box:
    teams: TeamsRequests
    connector: FakeBotConnector
    session_factory: sessionmaker[Session]

    def say(self, user: TeamsUser, words: str, **where: Any) -> None:
        assert self.teams.post(self.teams.message(user, words, **where)).status == 200

    def last_card(self) -> dict[str, Any]:
        sent = self.connector.sent()[-1].body
        assert activity_problems(sent) == [], activity_problems(sent)
        return cards(sent)[0]

    def invoke(self, activity: dict[str, Any]) -> Any:
        answer: Answer = self.teams.post(activity)
        assert answer.status == 200, answer
        return answer.body

    def open_form(self, user: TeamsUser, words: str = "") -> dict[str, Any]:
        self.say(user, f"suggest {words}".strip())
        body = self.invoke(self.teams.task_fetch(user, action(self.last_card(), None)))
        assert body["task"]["type"] == "continue", body
        form: dict[str, Any] = body["task"]["value"]["card"]["content"]
        assert card_problems(form) == [], card_problems(form)
        return form

    def submit(self, user: TeamsUser, form: dict[str, Any], text: str, category: str = "tools") -> Any:
        inputs = {"text": text, "category": category, "share": "false"}
        return self.invoke(self.teams.task_submit(user, action(form, "Send anonymously"), inputs))

    def submit_one(self, text: str = IDEA) -> str:
        answer = self.submit(ANA, self.open_form(ANA), text)
        assert answer["task"]["type"] == "message", answer
        return self.suggestion().reference

    def click(
        self, user: TeamsUser, card: dict[str, Any], title: str, inputs: dict[str, Any] | None = None, **where: Any
    ) -> Any:
        return self.invoke(self.teams.execute(user, action(card, title), inputs, **where))

    def suggestion(self) -> Suggestion:
        with self.session_factory() as session:
            return session.scalars(select(Suggestion)).one()

    def person_id(self, user: TeamsUser) -> int:
        with self.session_factory() as session:
            person = session.scalars(select(Person).where(Person.name == user.name)).one()
            return person.id

    def rows(self, prefix: str) -> list[OutboxMessage]:
        with self.session_factory() as session:
            return list(
                session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.idempotency_key.like(prefix + "%"))
                    .order_by(OutboxMessage.id)
                )
            )

    def to_author(self) -> list[tuple[int, dict[str, Any]]]:
        """Each sealed message to an author: (recipient person id, the card they will see)."""
        found = []
        for row in self.rows(service.AUTHOR_KEY_PREFIX):
            assert row.person_id is None and row.channel_id is None  # sealed: no recipient in clear
            target = open_target(row, BOX)
            assert target.person_id is not None
            found.append((target.person_id, owner_card(target.payload)))
        return found


def action(card: dict[str, Any], title: str | None) -> dict[str, Any]:
    """The card's action titled `title` (None: its only action)."""
    found = [item for item in walk(card) if str(item.get("type", "")).startswith("Action.")]
    if title is None:
        assert len(found) == 1, found
        return found[0]
    matching = [a for a in found if a.get("title") == title]
    assert matching, (title, [a.get("title") for a in found])
    return matching[0]


def titles(card: dict[str, Any]) -> list[str]:
    return [str(a.get("title")) for a in walk(card) if a.get("type") == "Action.Execute"]


def owner_card(payload: dict[str, Any]) -> dict[str, Any]:
    activity = render_payload(payload)
    assert activity_problems(activity) == [], activity_problems(activity)
    return cards(activity)[0]


def replaced(body: Any) -> dict[str, Any]:
    """The card an `adaptiveCard/action` answer puts in place of the clicked one."""
    assert body["type"] == "application/vnd.microsoft.card.adaptive", body
    card: dict[str, Any] = body["value"]
    assert card_problems(card) == [], card_problems(card)
    return card


def said(body: Any) -> str:
    assert body["type"] == "application/vnd.microsoft.activity.message", body
    return str(body["value"])


def identity_of(user: TeamsUser) -> list[str]:
    return [user.aad_object_id, user.user_id, user.personal_conversation_id, user.name, user.name.split()[0]]


def stored_rows(session_factory: sessionmaker[Session]) -> str:
    with session_factory() as session:
        rows = [
            *session.scalars(select(Suggestion)),
            *session.scalars(select(SuggestionMessage)),
            *session.scalars(select(OutboxMessage)),
            *session.scalars(select(SuggestionTally)),
        ]
        return json.dumps([{k: str(v) for k, v in r.__dict__.items() if not k.startswith("_")} for r in rows])


def raw(engine: Engine, db_url: str, table: str) -> bytes:
    """What someone with the database files reads (tests.support.forensics)."""
    if engine.dialect.name == "sqlite":
        return sqlite_file_bytes(sqlite_path(db_url))
    return pg_table_bytes(engine, table)


@pytest.fixture
def box(teams: TeamsRequests, connector: FakeBotConnector, session_factory: sessionmaker[Session]) -> Iterator[Box]:
    for user in (ANA, PRIYA, CHEN):
        assert teams.post(teams.installation_update(user)).status == 200
    with session_factory.begin() as session:
        workspace = teams_workspace(session, TENANT_ID)
        priya = session.scalars(select(Person).where(Person.name == PRIYA.name)).one()
        session.add(RoleGrant(workspace_id=workspace.id, person_id=priya.id, role="hr", source="test"))
    yield Box(teams, connector, session_factory)


# -- submitting ------------------------------------------------------------------------------------------


def test_the_dialog_takes_a_suggestion_and_nothing_stored_names_its_author(box: Box) -> None:
    form = box.open_form(ANA)
    choices = next(item for item in walk(form) if item.get("id") == "category")["choices"]
    assert [c["value"] for c in choices] == ["workplace", "process", "tools", "culture", "wellbeing", "other"]
    text = next(item for item in walk(form) if item.get("id") == "text")
    assert text["maxLength"] == 2000 and "2,000" in text["label"]
    assert "What stays private" in json.dumps(form)

    before = datetime.now(UTC)
    answer = box.submit(ANA, form, IDEA)
    reference = box.suggestion().reference
    assert answer["task"]["type"] == "message" and reference in answer["task"]["value"]

    # The receipt goes straight into Ana's chat, with the delete button, and is not queued.
    receipt = box.last_card()
    assert box.connector.sent()[-1].path.startswith(f"/v3/conversations/{ANA.personal_conversation_id}/")
    assert reference in json.dumps(receipt) and "Delete my suggestion" in titles(receipt)
    row = box.suggestion()
    assert (row.text, row.category, row.shared_name) == (IDEA, "tools", None)

    # Owners (HR: Priya, by DM as no channel is set) get it after the random relay delay, dated only.
    (relay,) = box.rows("suggestion-relay:")
    assert relay.person_id == box.person_id(PRIYA) and relay.state == "pending"
    assert (
        before - timedelta(seconds=1) <= relay.due_at.replace(tzinfo=UTC) <= datetime.now(UTC) + timedelta(minutes=10)
    )
    assert relay.created_at.replace(tzinfo=UTC) == datetime.combine(before.date(), time.min, UTC)
    shown = json.dumps(owner_card(relay.payload))
    assert reference in shown and "Anonymous" in shown and f"{before:%a %d %b %Y}" in shown
    assert "&lt;at&gt;Everyone&lt;/at&gt;" in shown and "<at>Everyone</at>" not in shown  # inert, pings nobody
    assert "entities" not in shown

    stored = stored_rows(box.session_factory) + shown
    for secret in identity_of(ANA):
        assert secret not in stored, secret
    assert box.rows(service.AUTHOR_KEY_PREFIX) == []  # nothing queued for the author: the receipt was direct


def test_the_same_form_sent_twice_is_one_suggestion(box: Box) -> None:
    form = box.open_form(ANA)
    box.submit(ANA, form, IDEA)
    box.submit(ANA, form, IDEA)
    with box.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Suggestion)) == 1
    assert len(box.rows("suggestion-relay:")) == 1


def test_suggest_with_words_fills_the_form_in(box: Box) -> None:
    form = box.open_form(ANA, "Free fruit <3 on Fridays")
    assert next(item for item in walk(form) if item.get("id") == "text")["value"] == "Free fruit <3 on Fridays"
    with box.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Suggestion)) == 0  # nothing until sent
    box.submit(ANA, form, "Free fruit <3 on Fridays", category="wellbeing")
    assert (box.suggestion().text, box.suggestion().category) == ("Free fruit <3 on Fridays", "wellbeing")


def test_a_too_long_suggestion_is_refused_kindly_and_nothing_is_stored(box: Box) -> None:
    form = box.open_form(ANA)
    answer = box.submit(ANA, form, "x" * 2001)

    again = answer["task"]["value"]["card"]["content"]
    assert answer["task"]["type"] == "continue" and card_problems(again) == []
    assert "2001 characters; the limit is 2000. Please shorten it" in json.dumps(again)
    assert next(item for item in walk(again) if item.get("id") == "text")["value"] == "x" * 2001  # kept to edit
    assert action(again, "Send anonymously")["data"]["form"] == action(form, "Send anonymously")["data"]["form"]
    with box.session_factory() as session:
        for table in (Suggestion, SuggestionTally, OutboxMessage):
            assert session.scalar(select(func.count()).select_from(table)) == 0, table

    box.say(ANA, "suggest " + "y" * 2001)
    assert "the limit is 2000" in box.connector.texts()[-1]


def test_someone_the_bot_has_never_met_is_told_why(box: Box) -> None:
    stranger = TeamsUser(aad_object_id="d1b2c3d4-0000-4000-8000-00000000d0d0", name="New Person")
    box.say(stranger, "suggest")
    assert "company directory" in box.connector.texts()[-1]


def test_someone_from_another_tenant_is_a_stranger_and_makes_no_workspace(box: Box) -> None:
    other = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
    message = box.teams.message(ANA, "suggest")
    message["conversation"]["tenantId"] = message["channelData"]["tenant"]["id"] = other
    assert box.teams.post(message).status == 200
    assert "company directory" in box.connector.texts()[-1]
    # The form itself, sent from there (a form's submit is handled in a writing transaction).
    form = box.open_form(ANA)
    submit = box.teams.task_submit(ANA, action(form, "Send anonymously"), {"text": IDEA, "category": "tools"})
    submit["conversation"]["tenantId"] = submit["channelData"]["tenant"]["id"] = other
    again = box.invoke(submit)["task"]["value"]["card"]["content"]
    assert "company directory" in json.dumps(again)
    with box.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Suggestion)) == 0
        assert session.scalar(select(func.count()).select_from(Workspace)) == 1


# -- owners ---------------------------------------------------------------------------------------------


def test_a_non_owner_s_status_click_is_refused_and_changes_nothing(box: Box) -> None:
    box.submit_one()
    card = owner_card(box.rows("suggestion-relay:")[0].payload)

    refusal = said(box.click(CHEN, card, "Acknowledge"))
    assert "Only the suggestion owners" in refusal and "Nothing was changed" in refusal
    assert said(box.click(CHEN, card, "Reply")).startswith("Only the suggestion owners")
    assert box.suggestion().status == "new"
    with box.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0
    assert box.rows(service.AUTHOR_KEY_PREFIX) == []

    box.say(CHEN, "suggest queue")
    assert "only for its owners" in box.connector.texts()[-1]


def test_status_changes_update_the_card_and_reach_the_author_sealed(box: Box) -> None:
    reference = box.submit_one()
    card = owner_card(box.rows("suggestion-relay:")[0].payload)

    updated = replaced(box.click(PRIYA, card, "Acknowledge"))
    assert "Status: **acknowledged**" in json.dumps(updated) and "Acknowledge" not in titles(updated)
    assert box.suggestion().status == "acknowledged"
    ((recipient, to_ana),) = box.to_author()
    assert recipient == box.person_id(ANA) and f"{reference}** is now **acknowledged" in json.dumps(to_ana)

    # Won't do needs a reason: the form is in the card, and an empty note is refused in it.
    form = replaced(box.click(PRIYA, updated, "Won't do"))
    refused = replaced(box.click(PRIYA, form, "Send", {"note": ""}))
    assert "Please give a reason" in json.dumps(refused) and box.suggestion().status == "acknowledged"
    closed = replaced(box.click(PRIYA, refused, "Send", {"note": "The floor can't take the weight"}))
    assert "won't do" in json.dumps(closed) and titles(closed) == []
    assert box.suggestion().status == "wont_do"
    assert "The floor can" in json.dumps(box.to_author()[-1][1])


def test_the_anonymous_thread_both_ways(box: Box, engine: Engine, db_url: str) -> None:
    reference = box.submit_one()
    card = owner_card(box.rows("suggestion-relay:")[0].payload)

    form = replaced(box.click(PRIYA, card, "Reply"))
    sent = replaced(box.click(PRIYA, form, "Send", {"note": "We are pricing desks now"}))
    assert "pass replies on to the author" in json.dumps(sent)
    ((recipient, reply),) = box.to_author()
    assert recipient == box.person_id(ANA)
    assert "Priya Natarajan replied to your suggestion" in json.dumps(reply) and "pricing desks" in json.dumps(reply)
    # Sealed: the queued row says neither what it says nor whom it is for, down to the table's files on
    # PostgreSQL (SQLite's single file also holds the thread, where the reply is, unlinked, by design).
    (row,) = box.rows(service.AUTHOR_KEY_PREFIX)
    assert "pricing" not in json.dumps(row.payload) and reference not in json.dumps(row.payload)
    if engine.dialect.name == "postgresql":
        assert b"pricing desks" not in raw(engine, db_url, "outbox_message")

    # Ana answers from the card in her chat: the form comes as a card of its own.
    assert said(box.click(ANA, reply, "Answer anonymously")) == "Write your answer in the card below."
    answer_form = box.last_card()
    assert box.connector.sent()[-1].path.startswith(f"/v3/conversations/{ANA.personal_conversation_id}/")
    done = replaced(box.click(ANA, answer_form, "Send", {"note": "Great, the 4th floor too please"}))
    assert "on its way to the owners, anonymously" in json.dumps(done)

    relays = box.rows(f"suggestion-relay:{box.suggestion().id}:2:")  # message 2: her answer
    assert [r.person_id for r in relays] == [box.person_id(PRIYA)]
    answer_card = owner_card(relays[0].payload)
    shown = json.dumps(answer_card)
    assert f"Anonymous {reference} replied" in shown and "4th floor" in shown and "Reply" in titles(answer_card)
    for secret in identity_of(ANA):
        assert secret not in shown + stored_rows(box.session_factory), secret

    # Someone else clicking Ana's button gets nothing to answer.
    assert "no longer there" in said(box.click(CHEN, reply, "Answer anonymously"))


def test_the_owners_channel_is_set_in_the_channel_and_receives_new_suggestions(box: Box) -> None:
    box.say(CHEN, "<at>Empathy Bot</at> suggest channel", conversation_id=THREAD, conversation_type="channel")
    assert "Only HR admins" in box.connector.texts()[-1]
    box.say(PRIYA, "<at>Empathy Bot</at> suggest channel", conversation_id=THREAD, conversation_type="channel")
    assert "will arrive in this channel" in box.connector.texts()[-1]
    with box.session_factory() as session:
        setting = session.scalars(select(WorkspaceSetting).where(WorkspaceSetting.key == "suggestions-channel")).one()
        assert setting.value == CHANNEL

    box.submit_one()
    (relay,) = box.rows("suggestion-relay:")
    assert (relay.channel_id, relay.person_id) == (CHANNEL, None)

    # Done with a note, from the card in the channel; the reply's note goes to the card's thread.
    card = owner_card(relay.payload)
    where = {"conversation_id": f"{CHANNEL};messageid=1700000000999", "conversation_type": "channel"}
    form = replaced(box.click(PRIYA, card, "Reply", **where))
    box.click(PRIYA, form, "Send", {"note": "Ordered ten desks"}, **where)
    (thread_note,) = box.rows("suggestion-thread:")
    assert thread_note.channel_id == where["conversation_id"] and "Ordered ten desks" in json.dumps(
        owner_card(thread_note.payload)
    )
    form = replaced(box.click(PRIYA, card, "Done", **where))
    replaced(box.click(PRIYA, form, "Send", {"note": "Ten desks arrive Monday"}, **where))
    assert box.suggestion().status == "done"

    # "You said, we did", posted by HR in the channel.
    box.say(PRIYA, "<at>Empathy Bot</at> suggest digest", conversation_id=THREAD, conversation_type="channel")
    assert "you said, we did" in box.connector.texts()[-1]
    (summary,) = box.rows("suggestion-summary:")
    assert summary.channel_id == CHANNEL and "Ten desks arrive Monday" in json.dumps(owner_card(summary.payload))


# -- the author ------------------------------------------------------------------------------------------


def test_the_author_lists_and_deletes_a_suggestion(box: Box) -> None:
    reference = box.submit_one()
    receipt = box.last_card()

    box.say(ANA, "suggest mine")
    assert reference in box.connector.texts()[-1]
    box.say(CHEN, f"suggest delete {reference}")
    assert "can't find a suggestion" in box.connector.texts()[-1]
    assert box.suggestion().reference == reference

    done = replaced(box.click(ANA, receipt, "Delete my suggestion"))
    assert f"suggestion **{reference}** and its replies are deleted" in json.dumps(done)
    with box.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Suggestion)) == 0
    assert box.rows("suggestion-relay:") == []  # the owners' copy, not yet sent, goes too
    assert "can't find" in said(box.click(ANA, receipt, "Delete my suggestion"))


def test_deleting_a_suggestion_owners_have_withdraws_their_copy(box: Box) -> None:
    reference = box.submit_one("Quieter meeting rooms")
    (relay,) = box.rows("suggestion-relay:")
    # As the Teams sender leaves a delivered row: the conversation and the activity id Teams gave it.
    activity_id = "1700000000555"
    box.connector._conversation(CHANNEL).activities[activity_id] = owner_card(relay.payload)
    with box.session_factory.begin() as session:
        row = session.get(OutboxMessage, relay.id)
        assert row is not None
        row.state, row.sent_channel_id, row.sent_ts = "sent", CHANNEL, activity_id

    box.say(ANA, f"suggest delete {reference}")
    assert "are deleted" in box.connector.texts()[-1]
    (update,) = [c for c in box.connector.calls if c.method == "PUT"]
    assert update.path == f"/v3/conversations/{CHANNEL}/activities/{activity_id}" and update.status == 200
    assert "withdrawn by its author" in json.dumps(update.body) and "Quieter" not in json.dumps(update.body)


def test_a_replayed_reply_and_answer_are_each_sent_once(box: Box) -> None:
    """Invokes are not deduplicated (their answer is the response): the form's id in the card makes a
    second delivery of the same Send one reply, one sealed message and one relay."""
    box.submit_one()
    card = owner_card(box.rows("suggestion-relay:")[0].payload)
    form = replaced(box.click(PRIYA, card, "Reply"))
    for _ in range(2):
        box.click(PRIYA, form, "Send", {"note": "Which floor?"})
    ((_, reply),) = box.to_author()

    box.click(ANA, reply, "Answer anonymously")
    answer_form = box.last_card()
    for _ in range(2):
        box.click(ANA, answer_form, "Send", {"note": "The 3rd"})
    with box.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(SuggestionMessage)) == 2
    assert len(box.rows(f"suggestion-relay:{box.suggestion().id}:2:")) == 1
