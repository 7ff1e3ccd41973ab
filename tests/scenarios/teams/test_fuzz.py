"""The fuzz suite for Teams: hostile words, clicks and dialogs, through the real SDK with signed activities.

Every command word the bot answers (the manifest's list and the listeners' `COMMANDS` and
`CHANNEL_COMMANDS`) is sent followed by hostile text (`tests.support.fuzzing.NASTY`, Teams' own markup,
`<at>` tags without entities, mentions of people nobody knows, huge strings, control characters, RTL,
emoji); Adaptive Card clicks, dialog opens and submits and the kudos message action arrive with garbage
data. Whatever arrives, the bot must:

- answer 200, and an invoke's answer must be one Teams can show (a card that passes the Adaptive Cards
  schema, or a message);
- reply kindly or not at all: no traceback, nothing of Python's, and what was typed never echoed as
  live markup (`[links](…)`, `**bold**`, `{{DATE(…)}}`, `<at>` tags) into what it sends;
- store nothing: the features' tables and the outbox hold as many rows afterwards;
- log nothing of what was typed: every input carries a marker that no log record may contain.
"""

from __future__ import annotations

import itertools
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.accounts import link
from bot.core.crypto import SecretBox
from bot.core.models import OutboxMessage, Person, Role, RoleGrant, RoleSource, Team
from bot.core.settings import Settings
from bot.core.workspace_config import store_setting
from bot.kudos.config import KUDOS_CHANNEL
from bot.kudos.models import Kudos, KudosRecipient
from bot.kudos.values import parse_lines, replace_values
from bot.onboarding.models import OnboardingCheckinScore, OnboardingCheckinSealed, OnboardingJourney
from bot.suggestions.models import Suggestion, SuggestionMessage
from handlers.teams.accounts import TEAMS, ConversationRef, teams_workspace
from handlers.teams.commands import KUDOS_MESSAGE_ACTION, command_names
from handlers.teams.listeners import help as help_listener
from handlers.teams.listeners import kudos, onboarding, pulse, suggestions
from handlers.teams.listeners.help import STALE
from handlers.teams.render.message import render_payload
from surveys.jobs import invite_key, queue_invitations
from surveys.models import PulseAnswer, PulseRound, PulseSealedAnswer
from surveys.pack_store import workspace_bank
from surveys.rounds import open_round
from tests.fakes.teams.cards import CARD_CONTENT_TYPE, card_problems, cards, walk
from tests.fakes.teams.connector import FakeBotConnector
from tests.fakes.teams.requests import Answer, TeamsRequests, TeamsUser
from tests.scenarios.teams.conftest import ANA, PRIYA, TENANT_ID
from tests.support.fuzzing import NASTY

JSON = dict[str, Any]
# Huge values are the point here; Hypothesis warns when it prints one.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

BEN = TeamsUser(aad_object_id="c1b2c3d4-0000-4000-8000-00000000c0c0", name="Ben Okafor")
STRANGER = TeamsUser(aad_object_id="a3b2c3d4-0000-4000-8000-00000000a2a2", name="Gus Stranger")  # not in the directory
CHANNEL = "19:5e1d9c0a7b3f4e2a8d6c1b0a9f8e7d6c@thread.tacv2"
TEAM = "19:0a1b2c3d4e5f4a6b8c9d0e1f2a3b4c5d@thread.tacv2"

# Markup Teams would act on if it came through as typed: a link, bold, a template, a mention, HTML.
# Each is a canary: if any of them was typed, none may appear verbatim in what the bot sends.
CANARIES = (
    "[click me](https://evil.example)",
    "**bold**",
    "{{DATE(2026-01-01T00:00:00Z, SHORT)}}",
    "<at>Priya Natarajan</at>",
    "<at>Nobody Here</at>",
    "<script>alert(1)</script>",
    "<b>loud</b>",
)
TEAMS_NASTY = [
    *CANARIES,
    "&lt;at&gt;Priya&lt;/at&gt;",
    "# heading\n- list\n1. item",
    "\u202eevil\u202c \u200f\u05e9\u05dc\u05d5\u05dd",
    "\x1b[31m\x07\x08\ufeff",
    "\ud7ff\U0010ffff",
    "👩‍👩‍👧‍👦" * 200,
    "y" * 30_000,
    "\r\n\r",
]
hostile = st.one_of(
    st.sampled_from(NASTY + TEAMS_NASTY),
    st.text(max_size=200),
    st.lists(st.sampled_from(NASTY + TEAMS_NASTY) | st.text(max_size=20), max_size=5).map(" ".join),
)

# The words after a command that reach past its "I don't know that", so the fuzz gets into each branch.
SUBCOMMANDS = ["", "help", "status", "send", "schedule", "channel", "digest", "mine", "queue", "delete", "export"]


def every_command_word() -> list[str]:
    words = set(command_names())
    for module in (help_listener, pulse, kudos, suggestions, onboarding):
        words |= set(module.COMMANDS) | set(getattr(module, "CHANNEL_COMMANDS", {}))
    return sorted(words)


def channel_command_words() -> list[str]:
    words: set[str] = set()
    for module in (help_listener, pulse, kudos, suggestions, onboarding):
        words |= set(getattr(module, "CHANNEL_COMMANDS", {}))
    return sorted(words)


# Every action id a card or dialog of ours can send, and some no card ever sends.
KNOWN_ACTIONS = sorted(
    {
        "pulse.answer.1",
        "pulse.answer.5",
        "pulse.answer.99",
        "pulse.answer.-1",
        "pulse.select",
        "pulse.skip",
        "pulse.review",
        "pulse.comment",
        pulse.COMMENT_FORM,
        "onboard.done",
        "onboard.buddy_pick",
        "onboard.checkin.1",
        "onboard.checkin.9",
        onboarding.CHECKIN_SUBMIT,
        kudos.SUBMIT,
        suggestions.FORM_DIALOG,
        suggestions.FORM_SUBMIT,
        suggestions.CLOSE_SEND,
        suggestions.OWNER_REPLY_SEND,
        suggestions.AUTHOR_REPLY_SEND,
        suggestions.OWNER_CANCEL,
        "suggest_status",
        "suggest_close_open",
        "suggest_owner_reply_open",
        "suggest_author_reply_open",
        "suggest_delete",
    }
)
odd_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    hostile,
    st.sampled_from([ANA.aad_object_id, PRIYA.aad_object_id, BEN.aad_object_id, STRANGER.aad_object_id]),
    st.sampled_from([ANA.user_id, "S-1", "S-999999", "0", "-1", "1|2|3", "999999|1|x", "pulse|1", "x" * 10_000]),
)
odd_value = st.recursive(
    odd_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
action_field = st.one_of(st.sampled_from(KNOWN_ACTIONS), st.sampled_from(["", "nope", "pulse.answer."]), odd_value)
FIELDS = [
    "value",
    "block",
    "input",
    "state",
    "step",
    "score",
    "comment",
    "consent",
    "message",
    "status",
    "form",
    "dialog",
    "text",
    "category",
    "share",
    "note",
    "recipients",
    "values",
    "private",
    "round",
    "person",
    "dialog_id",
]
garbage_data = st.one_of(
    st.fixed_dictionaries(
        {}, optional={"action": action_field, **{name: odd_value for name in FIELDS}, "msteams": odd_value}
    ),
    st.dictionaries(st.text(max_size=12), odd_value, max_size=4),
)

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same inputs on every run: a failure here is reproducible, not a flake
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- the tenant -------------------------------------------------------------------------------------


class Tenant:
    def __init__(
        self,
        teams: TeamsRequests,
        connector: FakeBotConnector,
        session_factory: sessionmaker[Session],
        caplog: pytest.LogCaptureFixture,
        priyas_card: JSON,
    ) -> None:
        self.teams = teams
        self.connector = connector
        self.session_factory = session_factory
        self.caplog = caplog
        self.priyas_card = priyas_card  # the pulse card Priya was sent, for clicks by someone else

    def rows(self) -> dict[str, int]:
        with self.session_factory() as session:
            return {
                model.__name__: session.scalar(select(func.count()).select_from(model)) or 0 for model in FEATURE_TABLES
            }

    def send(self, activity: JSON, typed: str, *, refused: bool = False) -> Answer:
        """Post `activity` and check everything a hostile input must not cause; the answer, for more checks.
        `refused`: the SDK's parser refuses the activity (outside the Bot Framework schema), which it
        logs as an error by type only."""
        self.connector.reset()
        self.caplog.clear()
        before = self.rows()
        answer = self.teams.post(activity)
        assert answer.status == 200, (answer, _short(typed))
        if activity["type"] == "invoke" and not refused:
            # Garbage is never acted on, so the person is told so: answered with nothing, a click or a
            # dialog's opening shows Teams' own error, and a submitted form closes as if it had worked.
            assert isinstance(answer.body, dict) and answer.body, ("an invoke answered with nothing", answer)
        problems = outgoing_problems(self.connector, answer, typed)
        assert problems == [], (problems, _short(typed))
        assert self.rows() == before, ("something was stored", _short(typed))
        logged = [_record_text(r) for r in self.caplog.records]
        assert not [line for line in logged if MARKER in line], ("what was typed reached the logs", logged)
        errors = [r.getMessage() for r in self.caplog.records if r.levelno >= logging.ERROR]
        if refused:
            # The SDK's line names the error's type; the front's, the status it turned into a 200.
            assert errors and all(line.startswith("the Teams SDK ") for line in errors), errors
            assert answer.body in (None, "", {}), answer
        else:
            assert errors == [], errors
        return answer

    def __repr__(self) -> str:
        return "Tenant(Ana HR, Priya, Ben; Gus a stranger)"


FEATURE_TABLES = (
    Kudos,
    KudosRecipient,
    Suggestion,
    SuggestionMessage,
    PulseRound,
    PulseAnswer,
    PulseSealedAnswer,
    OnboardingJourney,
    OnboardingCheckinSealed,
    OnboardingCheckinScore,
    OutboxMessage,
    RoleGrant,
)

# In every typed input: if any log record contains it, the bot logged what someone typed.
MARKER = "qzx" + "marker" + "7f3a"


def _short(typed: str) -> str:
    return typed[:300] + (f"… ({len(typed)} characters)" if len(typed) > 300 else "")


def _record_text(record: logging.LogRecord) -> str:
    return " ".join(filter(None, [record.getMessage(), record.exc_text or "", str(record.__dict__.get("extra", ""))]))


@pytest.fixture
def tenant(
    teams: TeamsRequests,
    connector: FakeBotConnector,
    session_factory: sessionmaker[Session],
    teams_settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> Iterator[Tenant]:
    """Ana (HR), Priya and Ben in the directory with their chats known, values, the kudos channel, and an
    open pulse Priya was invited to; Gus is a stranger."""
    box = SecretBox(teams_settings.secret_key)
    with session_factory.begin() as session:
        workspace = teams_workspace(session, TENANT_ID)
        team = Team(workspace_id=workspace.id, name="Platform")
        session.add(team)
        session.flush()
        ids: dict[str, int] = {}
        for user in (ANA, PRIYA, BEN):
            person = Person(
                workspace_id=workspace.id,
                name=user.name,
                email=f"{user.name.split()[0].lower()}@contoso.example",
                timezone="Europe/Lisbon",
                team_id=team.id,
                source=TEAMS,
            )
            session.add(person)
            session.flush()
            account = link(session, person, TEAMS, user.aad_object_id)
            account.conversation_ref = ConversationRef(user.personal_conversation_id, connector.url).to_json()
            ids[user.aad_object_id] = person.id
        session.add(
            RoleGrant(
                workspace_id=workspace.id,
                person_id=ids[ANA.aad_object_id],
                role=Role.HR.value,
                source=RoleSource.CSV.value,
            )
        )
        replace_values(
            session, workspace.id, parse_lines("Care - we look after each other"), actor_id=None, via="test", now=_now()
        )
        store_setting(session, workspace, KUDOS_CHANNEL, CHANNEL)
        bank = workspace_bank(session, workspace.id)
        opened = open_round(
            session, workspace, bank, box, now=_now(), round_key="fuzz", round_date=_now().date(), packs=["recommend"]
        )
        queue_invitations(session, bank, opened)
        round_id = opened.round.id
    with session_factory() as session:
        row = session.scalar(
            select(OutboxMessage).where(OutboxMessage.idempotency_key == invite_key(round_id, ids[PRIYA.aad_object_id]))
        )
        assert row is not None
        [card] = cards(render_payload(row.payload))
    caplog.set_level(logging.DEBUG)
    yield Tenant(teams, connector, session_factory, caplog, card)


def _now() -> datetime:
    return datetime.now(UTC)


# -- what may come back ---------------------------------------------------------------------------


def outgoing_problems(connector: FakeBotConnector, answer: Answer, typed: str) -> list[str]:
    """What is wrong with everything the bot said: the activities it sent or updated, and the invoke's answer."""
    found: list[str] = []
    bodies = [c.body for c in connector.calls if isinstance(c.body, dict)]
    for body in bodies:
        for card in cards(body):
            found += [f"sent card: {p}" for p in card_problems(card)]
    if isinstance(answer.body, dict):
        bodies.append(answer.body)
        found += invoke_answer_problems(answer.body)
    for body in bodies:
        said = json.dumps(body, ensure_ascii=False)
        for leak in ("Traceback", 'File "', "Error:", "Exception", "NoneType", "sqlalchemy", "psycopg"):
            if leak in said:
                found.append(f"{leak!r} in what the bot said: {said[:300]}")
        for canary in CANARIES:
            if canary in typed and canary in _visible_text(body):
                found.append(f"{canary!r} echoed as typed: {said[:300]}")
    return found


def _visible_text(body: JSON) -> str:
    """The words Teams renders as markdown: message text and every TextBlock/TextRun of any card."""
    parts = [str(body.get("text", ""))] if isinstance(body.get("text"), str) else []
    for item in walk(body):
        if item.get("type") in ("TextBlock", "TextRun", "FactSet") and isinstance(item.get("text"), str):
            parts.append(item["text"])
        if item.get("type") == "Fact":
            parts += [str(item.get("title", "")), str(item.get("value", ""))]
    # A message answer to a click is shown as text too.
    if body.get("type") == "application/vnd.microsoft.activity.message" and isinstance(body.get("value"), str):
        parts.append(body["value"])
    return "\n".join(parts)


def invoke_answer_problems(body: JSON) -> list[str]:
    """An invoke's answer Teams can show: a card (valid) or a message, for a click, a dialog or an action."""
    found: list[str] = []
    if "statusCode" in body:  # adaptiveCard/action
        if body["statusCode"] != 200:
            found.append(f"a click answered with status {body['statusCode']}: {body}")
        if body.get("type") == CARD_CONTENT_TYPE:
            found += [f"answered card: {p}" for p in card_problems(body.get("value") or {})]
        elif body.get("type") != "application/vnd.microsoft.activity.message" or not isinstance(body.get("value"), str):
            found.append(f"a click's answer is neither a card nor a message: {str(body)[:300]}")
        return found
    task = body.get("task")
    if task is not None:  # task/fetch, task/submit, composeExtension/fetchTask
        if task.get("type") == "continue":
            attachment = (task.get("value") or {}).get("card") or {}
            if attachment.get("contentType") != CARD_CONTENT_TYPE:
                found.append(f"a dialog without an Adaptive Card: {str(task)[:300]}")
            found += [f"dialog card: {p}" for p in card_problems(attachment.get("content") or {})]
        elif task.get("type") == "message":
            if not isinstance(task.get("value"), str) or not task["value"].strip():
                found.append(f"a dialog message without words: {task}")
        else:
            found.append(f"a dialog answer of type {task.get('type')!r}")
        return found
    if "composeExtension" in body:
        return found
    if body:
        found.append(f"an invoke answer Teams does not know: {str(body)[:300]}")
    return found


# -- typed commands ---------------------------------------------------------------------------------


def mention_entity(text: str, *, user_id: str, aad: str | None, name: str = "Nobody Here") -> JSON:
    mentioned: JSON = {"id": user_id, "name": name}
    if aad is not None:
        mentioned["aadObjectId"] = aad
    return {"type": "mention", "text": text, "mentioned": mentioned}


entities = st.lists(
    st.one_of(
        # A mention of someone nobody knows, whose tag may or may not be in the text.
        st.builds(
            lambda text: mention_entity(text, user_id=f"29:1{uuid.uuid4().hex}", aad=str(uuid.uuid4())),
            st.sampled_from(["<at>Nobody Here</at>", "<at>Priya Natarajan</at>", "<at></at>", "not a tag"]),
        ),
        # A mention pointing at an id that is no Entra id at all.
        st.builds(lambda: mention_entity("<at>Nobody Here</at>", user_id="28:not-a-person", aad=None)),
        st.builds(lambda: mention_entity("<at>Nobody Here</at>", user_id="19:channel@thread.tacv2", aad="x" * 300)),
    ),
    max_size=3,
)


@FUZZ
@given(
    data=st.data(),
    word=st.sampled_from(every_command_word()),
    subcommand=st.sampled_from(SUBCOMMANDS),
    words=hostile,
)
def test_every_command_word_followed_by_hostile_words(
    tenant: Tenant, data: st.DataObject, word: str, subcommand: str, words: str
) -> None:
    user = data.draw(st.sampled_from([PRIYA, ANA, STRANGER]), label="user")
    if user is ANA and not words.strip():
        # HR's bare `pulse send` is a real send to everyone: rows it should store. Keep the words hostile.
        words = "nobody's team"
    typed = " ".join(filter(None, [data.draw(st.sampled_from([word, word.upper(), f"  {word}"])), subcommand, words]))
    typed = f"{typed} {MARKER}"
    activity = tenant.teams.message(user, typed)
    activity["entities"] += data.draw(entities, label="entities")
    tenant.send(activity, typed)
    assert tenant.connector.texts() or tenant.connector.sent(), "a command in the personal chat got no answer"


def test_each_command_word_with_each_piece_of_markup_as_its_next_word(tenant: Tenant) -> None:
    """Deterministic, beside the random search: right after the command word is where a listener quotes
    back the word it did not understand."""
    for word, canary in itertools.product(every_command_word(), CANARIES):
        for typed in (f"{word} {canary} {MARKER}", f"{word} help {canary}{MARKER}"):
            tenant.send(tenant.teams.message(PRIYA, typed), typed)
            assert tenant.connector.sent(), f"{typed!r} got no answer"


@FUZZ
@given(word=st.sampled_from(channel_command_words()), subcommand=st.sampled_from(SUBCOMMANDS), words=hostile)
def test_channel_commands_followed_by_hostile_words(tenant: Tenant, word: str, subcommand: str, words: str) -> None:
    # Priya is not HR: `kudos channel` and `suggest channel` are refused, so nothing is stored.
    typed = " ".join(filter(None, ["<at>Empathy Bot</at>", word, subcommand, words, MARKER]))
    activity = tenant.teams.message(PRIYA, typed, conversation_id=f"{CHANNEL};messageid=1", conversation_type="channel")
    activity["channelData"].update(channel={"id": CHANNEL}, team={"id": TEAM})
    tenant.send(activity, typed)


def test_kudos_to_nobody_with_each_nasty_text_stores_nothing(tenant: Tenant) -> None:
    """The one command that stores what it is given: without a mention of someone in the directory it stores
    nothing, whatever the words, and its refusal quotes none of them as markup."""
    for text in NASTY + TEAMS_NASTY:
        typed = f"kudos {text} {MARKER}"
        tenant.send(tenant.teams.message(ANA, typed), typed)
        assert tenant.connector.texts(), f"the kudos command answered nothing to {_short(typed)!r}"


# -- card clicks, dialogs and the message action ---------------------------------------------------


@FUZZ
@given(data=garbage_data, verb=st.one_of(st.just(""), hostile), user=st.sampled_from([ANA, PRIYA, STRANGER]))
def test_card_clicks_with_garbage_data(tenant: Tenant, data: JSON, verb: str, user: TeamsUser) -> None:
    data = {**data, "marker": MARKER}
    tenant.send(tenant.teams.card_action(user, data, verb=verb), json.dumps(data))


def test_someone_else_s_pulse_buttons_store_nothing(tenant: Tenant) -> None:
    """Every button on Priya's pulse card, clicked by someone else: Ana in Priya's chat, Ben in a team
    channel, a stranger in their own chat. Each is refused in words, and nothing is stored."""
    actions = [item for item in walk(tenant.priyas_card) if item.get("type") == "Action.Execute"]
    assert actions, "Priya's card has no buttons"
    wheres: list[tuple[TeamsUser, JSON]] = [
        (ANA, {"conversation_id": PRIYA.personal_conversation_id}),
        (BEN, {"conversation_id": f"{CHANNEL};messageid=1", "conversation_type": "channel"}),
        (STRANGER, {}),
    ]
    for user, where in wheres:
        for action in actions:
            answer = tenant.send(tenant.teams.execute(user, action, **where), json.dumps(action["data"]))
            assert answer.body and answer.body.get("type") == "application/vnd.microsoft.activity.message", answer


@FUZZ
@given(data=garbage_data, user=st.sampled_from([ANA, PRIYA, STRANGER]))
def test_dialog_opens_with_garbage_data(tenant: Tenant, data: JSON, user: TeamsUser) -> None:
    data = {**data, "marker": MARKER}
    tenant.send(tenant.teams.dialog_open(user, data, reply_to_id="1700000000000"), json.dumps(data))


@FUZZ
@given(data=garbage_data, user=st.sampled_from([ANA, PRIYA, STRANGER]))
def test_dialog_submits_with_garbage_data(tenant: Tenant, data: JSON, user: TeamsUser) -> None:
    data = {**data, "marker": MARKER}
    tenant.send(tenant.teams.dialog_submit(user, data), json.dumps(data))


def _compose_invoke(tenant: Tenant, user: TeamsUser, name: str, value: JSON) -> JSON:
    activity = tenant.teams.message(user, "", conversation_id=f"{CHANNEL};messageid=1", conversation_type="channel")
    for key in ("text", "textFormat", "localTimezone"):
        activity.pop(key, None)
    activity.update(type="invoke", name=name, value=value)
    activity["channelData"].update(channel={"id": CHANNEL}, team={"id": TEAM}, source={"name": "message"})
    return activity


command_id = st.one_of(st.just(KUDOS_MESSAGE_ACTION), st.sampled_from(["", "other_action", "x" * 500]))


@FUZZ
@given(
    command=command_id,
    html=hostile,
    author=st.sampled_from([PRIYA.aad_object_id, STRANGER.aad_object_id, ANA.aad_object_id, "not-a-guid", ""]),
    user=st.sampled_from([ANA, PRIYA, STRANGER]),
    payload_kind=st.sampled_from(["full", "no body", "no from", "none", "odd"]),
)
def test_the_message_action_opens_with_garbage(
    tenant: Tenant, command: str, html: str, author: str, user: TeamsUser, payload_kind: str
) -> None:
    html = f"{html} {MARKER}"
    payload: Any = {
        "id": "1732000000000",
        "createdDateTime": "2026-11-30T09:00:00.000Z",
        "body": {"contentType": "html", "content": html},
        "from": {"user": {"userIdentityType": "aadUser", "id": author, "displayName": "<b>loud</b> " + MARKER}},
    }
    if payload_kind == "no body":
        payload.pop("body")
    elif payload_kind == "no from":
        payload.pop("from")
    elif payload_kind == "none":
        payload = None
    elif payload_kind == "odd":
        payload["body"] = {"contentType": "text", "content": html * 3}
    value: JSON = {"commandId": command, "commandContext": "message", "context": {"theme": "default"}}
    if payload is not None:
        value["messagePayload"] = payload
    tenant.send(_compose_invoke(tenant, user, "composeExtension/fetchTask", value), html)


@FUZZ
@given(command=command_id, data=garbage_data, user=st.sampled_from([ANA, PRIYA, STRANGER]))
def test_the_message_action_submits_garbage(tenant: Tenant, command: str, data: JSON, user: TeamsUser) -> None:
    data = {**data, "marker": MARKER}
    value = {"commandId": command, "commandContext": "message", "context": {"theme": "default"}, "data": data}
    tenant.send(_compose_invoke(tenant, user, "composeExtension/submitAction", value), json.dumps(data))


ODD_RECIPIENTS: list[Any] = [
    STRANGER.aad_object_id,
    f"{STRANGER.aad_object_id},{PRIYA.aad_object_id}",
    ",".join([PRIYA.aad_object_id] * 50),
    [PRIYA.aad_object_id, 7, None],
    "29:1abc",
    {"id": PRIYA.aad_object_id},
    "x" * 10_000,
    "",
]


def test_the_kudos_dialog_with_odd_recipients_stores_nothing(tenant: Tenant) -> None:
    """The message action's form, sent with recipients nobody can thank: the form again, with the problem."""
    for recipients in ODD_RECIPIENTS:
        data = {"action": kudos.SUBMIT, "dialog": uuid.uuid4().hex, "recipients": recipients, "message": MARKER}
        value = {
            "commandId": KUDOS_MESSAGE_ACTION,
            "commandContext": "message",
            "context": {"theme": "default"},
            "data": data,
        }
        answer = tenant.send(_compose_invoke(tenant, ANA, "composeExtension/submitAction", value), json.dumps(data))
        assert answer.body and answer.body["task"]["type"] == "continue", answer


@pytest.mark.parametrize(
    "value",
    [
        {"commandId": KUDOS_MESSAGE_ACTION, "messagePayload": {"from": {"user": {"id": None}}}},
        {"commandId": 7, "messagePayload": "not an object"},
        {"commandId": KUDOS_MESSAGE_ACTION, "messagePayload": {"body": {"content": ["a", MARKER]}}},
    ],
)
def test_a_message_action_teams_would_never_send_is_answered_and_forgotten(tenant: Tenant, value: JSON) -> None:
    """Payloads outside the Bot Framework's schema stop in the SDK's parser, before any handler: still a 200,
    nothing stored, and its one log line names the error's type, never the payload."""
    tenant.send(_compose_invoke(tenant, ANA, "composeExtension/fetchTask", value), json.dumps(value), refused=True)


def test_a_button_dialog_or_action_nobody_knows_is_answered_in_words(tenant: Tenant) -> None:
    """Found by this suite: an unknown action id (an older card's button, a dialog or message action
    that no longer exists) was answered with an empty 200: Teams' own error for a click, a form that
    closes as if it had been saved."""
    click = tenant.send(tenant.teams.card_action(PRIYA, {"action": "retired.button"}), "")
    assert click.body == {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": STALE}
    for activity in (
        tenant.teams.dialog_open(PRIYA, {"dialog_id": "retired.dialog"}),
        tenant.teams.dialog_submit(PRIYA, {"action": "retired.form"}),
    ):
        assert tenant.send(activity, "").body == {"task": {"type": "message", "value": STALE}}
    for name in ("composeExtension/fetchTask", "composeExtension/submitAction"):
        value = {"commandId": "retired_action", "commandContext": "message", "data": {}}
        answer = tenant.send(_compose_invoke(tenant, PRIYA, name, value), "")
        assert answer.body == kudos.UNKNOWN_ACTION
