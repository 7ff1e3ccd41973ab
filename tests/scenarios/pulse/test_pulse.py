"""Pulse scenarios through the real app, the real outbox and the fake Slack API, on a controllable clock."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, inspect, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.core.models import (
    InboxRequest,
    OutboxMessage,
    OutboxState,
    Person,
    Role,
    RoleGrant,
    RoleSource,
    Team,
    Workspace,
)
from bot.core.settings import Settings
from bot.delivery.inbox import Inbox
from handlers.slack.app import create_app
from handlers.slack.web import create_web_app
from surveys.bank import QuestionBank
from surveys.models import PulseAnswer, PulseParticipant, PulseRound, PulseRoundKey, PulseSealedAnswer, PulseUnit
from surveys.schedules import ScheduleSettings, save_schedule
from tests.conftest import METRICS_AUTH, TEAM_ID
from tests.fakes.slack.api import FakeSlack
from tests.support.harness import Harness, start_app
from tests.support.people import slack_account, slack_is
from tests.support.pulse_storage import StoredAnswer, stored_answers

SUNDAY = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)  # the Monday after is 2026-11-23
PEOPLE = [
    # slack id, name, timezone, manager slack id
    ("U0MARCUS", "Marcus Oyelaran", "Europe/Berlin", None),
    ("U0ANA", "Ana Souza", "Europe/Lisbon", "U0MARCUS"),
    ("U0CHEN", "Chen Wei", "Asia/Singapore", "U0MARCUS"),
    ("U0IRIS", "Iris Novak", "America/Chicago", "U0MARCUS"),
]


class Pulse(Harness):
    """The whole bot on a manual clock: app, jobs, outbox."""

    def click(  # type: ignore[override]
        self, user_id: str, element: dict[str, Any], message: dict[str, Any], channel: str | None = None
    ) -> None:
        action = {"type": element["type"], "action_id": element["action_id"], "block_id": "a"}
        if element["type"] == "static_select":
            action["selected_option"] = element["options"][0]
        else:
            action["value"] = element["value"]
        payload = {
            "type": "block_actions",
            "user": {"id": user_id, "team_id": TEAM_ID},
            "trigger_id": "1.trigger",
            "container": {"type": "message", "channel_id": channel or "D" + user_id[1:], "message_ts": message["ts"]},
            "channel": {"id": channel or "D" + user_id[1:]},
            "response_url": self.requests.response_url(),
            "actions": [action],
        }
        assert self.requests.interaction(payload).status_code == 200


@pytest.fixture
def pulse(
    settings: Settings, engine, session_factory: sessionmaker[Session], workspace: Workspace, slack: FakeSlack
) -> Pulse:  # type: ignore[no-untyped-def]
    with session_factory.begin() as session:
        team = Team(workspace_id=workspace.id, name="Platform")
        session.add(team)
        session.flush()
        ids: dict[str, int] = {}
        for slack_id, name, tz, manager in PEOPLE:
            slack.add_user(slack_id, email=f"{slack_id.lower()}@example.com", real_name=name, tz=tz)
            person = Person(
                workspace_id=workspace.id,
                accounts=slack_account(slack_id),
                email=f"{slack_id.lower()}@example.com",
                name=name,
                timezone=tz,
                team_id=team.id,
                manager_id=ids.get(manager or ""),
            )
            session.add(person)
            session.flush()
            ids[slack_id] = person.id
        session.add(
            RoleGrant(workspace_id=workspace.id, person_id=ids["U0MARCUS"], role=Role.HR, source=RoleSource.CSV)
        )
    return Pulse(**vars(start_app(settings, engine, session_factory, slack, SUNDAY)))


def weekly_schedule(pulse: Pulse, **overrides: Any) -> None:
    with pulse.session_factory.begin() as session:
        workspace = session.scalar(select(Workspace))
        save_schedule(
            session, workspace, QuestionBank.builtin(), ScheduleSettings(**overrides), team=None, today=SUNDAY.date()
        )


def open_and_deliver(pulse: Pulse) -> None:
    weekly_schedule(pulse)
    pulse.clock.advance(timedelta(hours=20))  # Sunday 20:00 UTC: Monday 10:00 in UTC+14
    pulse.job("pulse.open")
    pulse.clock.advance(timedelta(days=1))  # Monday 20:00 UTC: everyone's 10:00 has passed
    pulse.dispatch()


def answer_buttons(message: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return [b["elements"] for b in message["blocks"] if b["type"] == "actions"]


def wait_for_update(pulse: Pulse, count: int) -> dict[str, Any]:
    return pulse.slack.wait_for("chat.update", count=count)[-1]


def eventually(check: Any, timeout: float = 5.0) -> None:
    """Listeners update the message, then commit: give the commit a moment to land."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def answers(pulse: Pulse) -> list[StoredAnswer]:
    with pulse.session_factory() as session:
        return stored_answers(session)


def ephemeral_replies(pulse: Pulse) -> list[str]:
    return [c.body.get("text", "") for c in pulse.slack.calls if c.method.startswith("response_url.")]


def wait_for_reply(pulse: Pulse, count: int = 1) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        replies = ephemeral_replies(pulse)
        if len(replies) >= count:
            return replies[-1]
        time.sleep(0.02)
    raise AssertionError("no ephemeral reply")


# -- delivery --------------------------------------------------------------------------------------


def test_a_weekly_pulse_arrives_at_ten_local_time_in_every_timezone(pulse: Pulse) -> None:
    weekly_schedule(pulse)
    pulse.clock.advance(timedelta(hours=19, minutes=59))
    assert pulse.job("pulse.open") == 0  # Monday 10:00 has begun nowhere yet
    pulse.clock.advance(timedelta(minutes=1))
    assert pulse.job("pulse.open") == 4
    assert pulse.job("pulse.open") == 0  # running the job twice opens nothing twice

    expected = {  # Monday 2026-11-23, 10:00 local, in UTC
        "U0CHEN": datetime(2026, 11, 23, 2, 0, tzinfo=UTC),
        "U0MARCUS": datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        "U0ANA": datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
        "U0IRIS": datetime(2026, 11, 23, 16, 0, tzinfo=UTC),
    }
    for user_id, due in sorted(expected.items(), key=lambda item: item[1]):
        pulse.clock.advance(due - pulse.clock.now() - timedelta(seconds=1))
        pulse.dispatch()
        assert pulse.dm(user_id) == [], f"{user_id} got the pulse early"
        pulse.clock.advance(timedelta(seconds=1))
        pulse.dispatch()
        assert len(pulse.dm(user_id)) == 1, f"{user_id} did not get the pulse at 10:00 local"
    greeting = pulse.dm("U0ANA")[0]["text"]
    assert greeting.startswith("Hi Ana — 5 quick questions, about a minute, and confidential")
    assert "groups of 5 or more" in greeting
    assert len(pulse.slack.calls_to("chat.postMessage")) == 4


def test_every_dm_fits_slack_limits(pulse: Pulse) -> None:
    weekly_schedule(
        pulse, questions_per_round=15, packs=("engagement", "recommend", "burnout_single", "cbi_work", "who5")
    )
    pulse.clock.advance(timedelta(days=2))
    pulse.job("pulse.open")
    pulse.dispatch()
    message = pulse.dm("U0ANA")[0]
    assert len(message["blocks"]) <= 50
    for block in message["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "actions":
            assert len(block["elements"]) <= 25
            for element in block["elements"]:
                if element["type"] == "button":
                    assert len(element["text"]["text"]) <= 75 and len(element["value"]) <= 2000
                else:
                    assert len(element["options"]) <= 100


def test_deactivated_people_and_bots_get_nothing(pulse: Pulse) -> None:
    with pulse.session_factory.begin() as session:
        session.scalar(select(Person).where(slack_is("U0CHEN"))).active = False
        session.scalar(select(Person).where(slack_is("U0IRIS"))).is_bot = True
    weekly_schedule(pulse)
    pulse.clock.advance(timedelta(days=2))
    assert pulse.job("pulse.open") == 2
    pulse.dispatch()
    assert pulse.dm("U0CHEN") == [] and pulse.dm("U0IRIS") == []
    assert len(pulse.dm("U0ANA")) == 1


def test_fan_out_survives_429_and_500_without_duplicates(pulse: Pulse) -> None:
    weekly_schedule(pulse)
    pulse.clock.advance(timedelta(days=2))
    pulse.job("pulse.open")
    pulse.slack.fail_next("chat.postMessage", status=429, retry_after=5)
    pulse.slack.fail_next("chat.postMessage", status=500)
    for _ in range(4):
        pulse.dispatch()
        pulse.clock.advance(timedelta(minutes=5))
    for user_id, *_ in PEOPLE:
        assert len(pulse.dm(user_id)) == 1, user_id
    with pulse.session_factory() as session:
        assert set(session.scalars(select(OutboxMessage.state))) == {OutboxState.SENT}


# -- answering -------------------------------------------------------------------------------------


def test_answer_change_skip_and_thank_you(pulse: Pulse) -> None:
    open_and_deliver(pulse)
    message = pulse.dm("U0ANA")[0]
    rows = answer_buttons(message)
    assert len(rows) == 5

    first = rows[0][0]
    pulse.click("U0ANA", first, message)
    updated = wait_for_update(pulse, 1)
    assert "✅ Your answer" in updated["blocks"][1]["text"]["text"]
    eventually(lambda: _assert_len(answers(pulse), 1))

    pulse.click("U0ANA", rows[0][1], message)  # change the answer
    wait_for_update(pulse, 2)
    eventually(lambda: _assert_values(answers(pulse), [_value_of(rows[0][1])]))

    pulse.click("U0ANA", rows[0][1], message)  # a double click changes nothing
    wait_for_update(pulse, 3)
    eventually(lambda: _assert_values(answers(pulse), [_value_of(rows[0][1])]))

    for row in rows[1:]:
        skip = next(e for e in row if e["action_id"] == "pulse.skip")
        pulse.click("U0ANA", skip, message)
    final = wait_for_update(pulse, 7)
    assert final["text"].startswith("Thank you, Ana")
    assert "What happens next" in final["blocks"][0]["text"]["text"]
    eventually(lambda: _assert_values(answers(pulse), [_value_of(rows[0][1]), None, None, None, None]))


def _assert_len(items: list[Any], count: int) -> None:
    assert len(items) == count


def _assert_values(stored: list[StoredAnswer], expected: list[int | None]) -> None:
    assert sorted((a.value is None, a.value or 0) for a in stored) == sorted((v is None, v or 0) for v in expected)


def _value_of(element: dict[str, Any]) -> int | None:
    if element["type"] == "static_select":
        return int(element["options"][0]["value"].split("|")[2])
    return int(element["value"].split("|")[2])


def test_the_comment_modal(pulse: Pulse) -> None:
    open_and_deliver(pulse)
    message = pulse.dm("U0ANA")[0]
    comment = next(e for e in answer_buttons(message)[0] if e["action_id"] == "pulse.comment")
    pulse.click("U0ANA", comment, message)
    view = pulse.slack.wait_for("views.open")[0]["view"]
    assert view["callback_id"] == "pulse.comment_view"
    assert view["blocks"][1]["element"]["max_length"] == 1000

    too_long = pulse.requests.view_submission(
        "pulse.comment_view",
        {"comment": {"comment": {"type": "plain_text_input", "value": "x" * 1001}}},
        user_id="U0ANA",
        private_metadata=view["private_metadata"],
    )
    assert too_long.get_json()["response_action"] == "errors"
    assert "up to 1000 characters" in too_long.get_json()["errors"]["comment"]
    assert answers(pulse) == []

    ok = pulse.requests.view_submission(
        "pulse.comment_view",
        {"comment": {"comment": {"type": "plain_text_input", "value": "More focus time, please."}}},
        user_id="U0ANA",
        private_metadata=view["private_metadata"],
    )
    assert ok.status_code == 200
    updated = wait_for_update(pulse, 1)
    assert "More focus time, please." in updated["blocks"][1]["text"]["text"]
    eventually(lambda: _assert_comments(answers(pulse), ["More focus time, please."]))


def _assert_comments(stored: list[StoredAnswer], expected: list[str]) -> None:
    assert [a.comment for a in stored] == expected


# -- bad input -------------------------------------------------------------------------------------


def test_clicks_that_cannot_count_get_a_kind_reply_and_change_nothing(pulse: Pulse, session_factory) -> None:  # type: ignore[no-untyped-def]
    open_and_deliver(pulse)
    message = pulse.dm("U0ANA")[0]
    button = answer_buttons(message)[0][0]
    round_id, question_id, value = button["value"].split("|")

    cases = [
        ("U0ANA", {**button, "value": f"999999|{question_id}|{value}"}, "I can't find that pulse"),
        ("U0ANA", {**button, "value": f"{round_id}|engagement.nope|{value}"}, "isn't part of your pulse"),
        ("U0ANA", {**button, "value": f"{round_id}|{question_id}|42"}, "isn't one of the answers"),
        ("U0ANA", {**button, "value": "garbage"}, "I can't find that pulse"),
        ("U0STRANGER", button, "wasn't sent to you"),
    ]
    for n, (user_id, element, words) in enumerate(cases, start=1):
        pulse.click(user_id, element, message)
        assert words in wait_for_reply(pulse, n)
    assert answers(pulse) == []
    # Chen clicks Ana's button on Ana's message (a forwarded or replayed payload): refused, nothing re-rendered.
    pulse.click("U0CHEN", button, message, channel="D0ANA")
    assert "sent to someone else" in wait_for_reply(pulse, len(cases) + 1)
    assert answers(pulse) == []
    cases.append(("U0CHEN", button, "sent to someone else"))

    with session_factory.begin() as session:
        session.scalar(select(Person).where(slack_is("U0CHEN"))).active = False
    pulse.click("U0CHEN", answer_buttons(pulse.dm("U0CHEN")[0])[0][0], pulse.dm("U0CHEN")[0])
    assert "account is switched off" in wait_for_reply(pulse, len(cases) + 1)
    assert answers(pulse) == []
    assert pulse.slack.calls_to("chat.update") == []


# -- reminders and closing ---------------------------------------------------------------------------


def test_one_reminder_only_for_those_who_have_not_answered(pulse: Pulse) -> None:
    open_and_deliver(pulse)  # Monday 20:00 UTC
    pulse.click("U0ANA", answer_buttons(pulse.dm("U0ANA")[0])[0][0], pulse.dm("U0ANA")[0])
    wait_for_update(pulse, 1)
    eventually(lambda: _assert_len(answers(pulse), 1))
    pulse.clock.advance(timedelta(hours=19))  # Tuesday 15:00 UTC: 24 h after everyone's 10:00 but Iris's
    assert pulse.job("pulse.remind") == 2  # Marcus, Chen (Iris's 24 h are not up; Ana answered)
    pulse.clock.advance(timedelta(hours=1))
    assert pulse.job("pulse.remind") == 1  # Iris
    assert pulse.job("pulse.remind") == 0
    pulse.dispatch()
    for user_id, count in [("U0ANA", 1), ("U0MARCUS", 2), ("U0CHEN", 2), ("U0IRIS", 2)]:
        assert len(pulse.dm(user_id)) == count, user_id
    assert "gentle nudge" in pulse.dm("U0CHEN")[1]["text"]


def test_closing_counts_participation_and_forgets_who_answered(pulse: Pulse) -> None:
    open_and_deliver(pulse)
    pulse.click("U0ANA", answer_buttons(pulse.dm("U0ANA")[0])[0][0], pulse.dm("U0ANA")[0])
    wait_for_update(pulse, 1)
    eventually(lambda: _assert_len(answers(pulse), 1))
    pulse.clock.advance(timedelta(hours=24))
    assert pulse.job("pulse.remind") == 3
    pulse.dispatch()  # Marcus, Chen and Iris now have a second pulse message, the reminder
    late = pulse.dm("U0CHEN")[0]  # a click on it that arrives after the close
    pulse.clock.advance(timedelta(days=2))
    assert pulse.job("pulse.close") == 1
    with pulse.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(PulseParticipant)) == 0
        assert session.scalar(select(func.count()).select_from(PulseSealedAnswer)) == 0
        assert session.scalar(select(func.count()).select_from(PulseRoundKey)) == 0
        assert [a.slot for a in session.scalars(select(PulseAnswer))] == [None]
        units = {(u.invited, u.responded) for u in session.scalars(select(PulseUnit))}
        assert units == {(1, 0), (3, 1)}  # Marcus alone under nobody; three reports under Marcus
        assert session.scalar(select(PulseRound.status)) == "closed"
        # Nothing says who was reminded: only the "closed" updates wait, one per message sent, by channel.
        waiting = session.scalars(select(OutboxMessage)).all()
        assert {m.person_id for m in waiting} == {None} and len(waiting) == 7
        assert all(m.idempotency_key.startswith("pulse-closed:") for m in waiting)

    # Every pulse message, answered or not, first or reminder, becomes the same neutral one.
    before = len(pulse.slack.calls_to("chat.update"))
    pulse.dispatch()
    updates = pulse.slack.calls_to("chat.update")[before:]
    assert len(updates) == 7
    assert {(u["channel"], u["ts"]) for u in updates} == {
        ("D" + user_id[1:], m["ts"]) for user_id, *_ in PEOPLE for m in pulse.dm(user_id)
    }
    for update_call in updates:
        assert "This pulse closed on" in update_call["text"]
        assert "Your answer" not in str(update_call) and "actions" not in str(update_call)
    assert len({str(u.get("blocks")) for u in updates}) == 1  # identical for everyone
    for user_id, *_ in PEOPLE:  # and what Slack now shows in each conversation
        assert all(m["text"].startswith("This pulse closed on") for m in pulse.dm(user_id)), user_id
    pulse.job("pulse.close")  # the next run forgets the sent updates
    with pulse.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0

    pulse.click("U0CHEN", answer_buttons(late)[0][0], late)
    assert "This pulse closed on" in wait_for_reply(pulse)
    assert len(answers(pulse)) == 1


# -- anonymity ------------------------------------------------------------------------------------------


def test_answering_before_the_reminder_goes_out_cancels_it(pulse: Pulse) -> None:
    open_and_deliver(pulse)
    pulse.clock.advance(timedelta(hours=19))
    assert pulse.job("pulse.remind") == 3  # Ana, Marcus and Chen: queued, not yet sent
    pulse.click("U0MARCUS", answer_buttons(pulse.dm("U0MARCUS")[0])[0][0], pulse.dm("U0MARCUS")[0])
    eventually(lambda: _assert_len(answers(pulse), 1))
    pulse.dispatch()
    assert len(pulse.dm("U0MARCUS")) == 1  # no nudge after answering
    assert "gentle nudge" in pulse.dm("U0CHEN")[1]["text"]


def test_no_answer_can_be_joined_to_a_person(pulse: Pulse, engine) -> None:  # type: ignore[no-untyped-def]
    schema = inspect(engine)
    answer_columns = {c["name"] for c in schema.get_columns("pulse_answer")}
    assert answer_columns == {"id", "round_id", "unit_id", "question_id", "value", "comment", "slot"}
    assert {c["name"] for c in schema.get_columns("pulse_sealed_answer")} == {"id", "round_id", "slot", "sealed"}
    referenced = {fk["referred_table"] for fk in schema.get_foreign_keys("pulse_answer")}
    assert referenced == {"pulse_round", "pulse_unit"}
    assert {fk["referred_table"] for fk in schema.get_foreign_keys("pulse_sealed_answer")} == {"pulse_round"}
    unit_fks = {fk["referred_table"]: fk["constrained_columns"] for fk in schema.get_foreign_keys("pulse_unit")}
    assert unit_fks["person"] == ["manager_id"]  # the unit's manager, never a respondent

    open_and_deliver(pulse)
    for user_id in ("U0ANA", "U0CHEN", "U0IRIS"):
        message = pulse.dm(user_id)[0]
        pulse.click(user_id, answer_buttons(message)[0][0], message)
    wait_for_update(pulse, 3)
    eventually(lambda: _assert_len(answers(pulse), 3))
    with pulse.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(PulseAnswer)) == 0  # nothing in clear while open
        stored = session.scalars(select(PulseSealedAnswer)).all()
    assert len({len(row.sealed) for row in stored}) == 1  # one size for every answer, comment or not
    assert all(len(row.slot) == 64 for row in stored)  # an HMAC, not an id
    ids = [row.id for row in stored]
    assert len(set(ids)) == 3 and all(len(i) == 32 for i in ids)


# -- early acks: clicks are kept in the inbox until their work has run ----------------------------


def _inbox(pulse: Pulse) -> Inbox:
    return pulse.requests.client.application.extensions["empathy_inbox"]  # type: ignore[no-any-return]


def _kept(pulse: Pulse) -> list[InboxRequest]:
    with Session(_inbox(pulse).engine) as session:  # on SQLite, a file of its own
        return list(session.scalars(select(InboxRequest)))


def test_a_click_acked_just_before_a_crash_is_kept_sealed_and_applied_once_later(
    pulse: Pulse, settings: Settings, engine
) -> None:  # type: ignore[no-untyped-def]
    open_and_deliver(pulse)
    _inbox(pulse).stop()  # the process dies right after its ack: nothing works its inbox any more
    message = pulse.dm("U0ANA")[0]
    element = answer_buttons(message)[0][0]
    pulse.click("U0ANA", element, message)  # acked with 200

    kept = _kept(pulse)
    assert [row.kind for row in kept] == ["click"]
    assert "U0ANA" not in kept[0].sealed and element["value"] not in kept[0].sealed  # who and what: sealed
    metrics = pulse.requests.client.get("/metrics", headers=METRICS_AUTH).get_data(as_text=True)
    assert "empathy_inbox_waiting 1" in metrics
    time.sleep(0.2)
    assert answers(pulse) == [] and pulse.slack.calls_to("chat.update") == []

    # Another process takes the row over once the dead one's claim has run out, and applies it once.
    with _inbox(pulse).engine.begin() as connection:
        connection.execute(update(InboxRequest).values(claimed_until=datetime.now(UTC) - timedelta(seconds=1)))
    other = create_web_app(create_app(settings, engine=engine, clock=pulse.clock))
    recovering: Inbox = other.extensions["empathy_inbox"]
    recovering.stop()  # its threads would sweep in 5 s; drain on this thread now instead
    assert recovering.drain() == 1
    assert "✅ Your answer" in wait_for_update(pulse, 1)["blocks"][1]["text"]["text"]
    assert [a.value for a in answers(pulse)] == [_value_of(element)]
    assert _kept(pulse) == []
    assert recovering.drain() == 0 and len(answers(pulse)) == 1


def test_a_forged_click_is_refused_and_never_kept(pulse: Pulse) -> None:
    open_and_deliver(pulse)
    message = pulse.dm("U0ANA")[0]
    element = answer_buttons(message)[0][0]
    payload = {
        "type": "block_actions",
        "user": {"id": "U0ANA", "team_id": TEAM_ID},
        "container": {"type": "message", "channel_id": "D0ANA", "message_ts": message["ts"]},
        "actions": [{"type": "button", "action_id": element["action_id"], "block_id": "a", "value": element["value"]}],
    }
    forged = pulse.requests.interaction(payload, signature="v0=" + "0" * 64)
    stale = pulse.requests.interaction(payload, timestamp=int(time.time()) - 6 * 60)
    assert (forged.status_code, stale.status_code) == (401, 401)
    time.sleep(0.2)
    assert _kept(pulse) == [] and answers(pulse) == []


# -- /pulse ---------------------------------------------------------------------------------------


def test_pulse_command_for_employees(pulse: Pulse) -> None:
    reply = pulse.requests.command("/pulse", "", user_id="U0ANA").get_json()
    assert "There's no pulse open for you right now" in reply["text"]
    assert "/empathy help" in reply["text"]
    open_and_deliver(pulse)
    reply = pulse.requests.command("/pulse", "", user_id="U0ANA").get_json()
    assert "You've answered 0 of 5" in reply["text"]


def test_pulse_send_is_for_hr_only(pulse: Pulse) -> None:
    refused = pulse.requests.command("/pulse", "send", user_id="U0ANA").get_json()
    assert refused["text"].startswith("Only HR admins can do that")
    with pulse.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(PulseRound)) == 0

    accepted = pulse.requests.command("/pulse", "send Platform", user_id="U0MARCUS").get_json()
    assert accepted["text"].startswith("On it")
    assert "Done: a pulse for Platform is on its way to 4 people" in wait_for_reply(pulse)
    pulse.dispatch()
    assert all(len(pulse.dm(u)) == 1 for u, *_ in PEOPLE)

    again = pulse.requests.command("/pulse", "send Platform", user_id="U0MARCUS").get_json()
    assert again["text"].startswith("On it")
    assert "already sent today, so I didn't send another" in wait_for_reply(pulse, 2)
    pulse.dispatch()
    assert all(len(pulse.dm(u)) == 1 for u, *_ in PEOPLE)

    unknown_team = pulse.requests.command("/pulse", "send Narnia", user_id="U0MARCUS").get_json()
    assert unknown_team["text"].startswith("On it")
    assert "There's no team called 'Narnia'" in wait_for_reply(pulse, 3)


def test_unknown_pulse_subcommand(pulse: Pulse) -> None:
    reply = pulse.requests.command("/pulse", "explode", user_id="U0ANA").get_json()
    assert "I don't know `/pulse explode`" in reply["text"]


def test_rotation_is_the_same_within_a_unit_and_moves_on_next_round(pulse: Pulse) -> None:
    weekly_schedule(pulse)
    pulse.clock.advance(timedelta(days=1))
    pulse.job("pulse.open")
    pulse.clock.advance(timedelta(days=7))
    pulse.job("pulse.open")
    with pulse.session_factory() as session:
        rounds = session.scalars(select(PulseRound).order_by(PulseRound.id)).all()
        assert [r.round_date for r in rounds] == [date(2026, 11, 23), date(2026, 11, 30)]
        by_round = [
            {
                u.manager_id: set(u.questions)
                for u in session.scalars(select(PulseUnit).where(PulseUnit.round_id == r.id))
            }
            for r in rounds
        ]
        participants = session.execute(select(PulseParticipant.round_id, PulseParticipant.unit_id)).all()
    assert len(participants) == 8
    for manager, first in by_round[0].items():
        assert len(first) == 5
        assert not first & by_round[1][manager], "the second round should ask what the first did not"


def test_a_changed_secret_key_is_explained_and_changes_nothing(pulse: Pulse, settings: Settings, engine) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from cryptography.fernet import Fernet

    open_and_deliver(pulse)
    other = replace(settings, secret_key=Fernet.generate_key().decode())
    restarted = create_app(other, engine=engine, clock=pulse.clock)
    pulse.requests.client = create_web_app(restarted).test_client()
    message = pulse.dm("U0ANA")[0]
    pulse.click("U0ANA", answer_buttons(message)[0][0], message)
    assert "the bot's secret key changed" in wait_for_reply(pulse)
    assert answers(pulse) == []
