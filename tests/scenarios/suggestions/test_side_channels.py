"""Attacks on the suggestion box's side channels and replays (issue #15, points 8, 9 and 17), through the
real app, the real outbox and the fake Slack API, on SQLite and PostgreSQL.

- An owner who knows who left the company replies to every suggestion and watches what the bot says.
- Whoever can read /metrics watches the outbox gauges for the moment someone submits.
- A replayed (or retried) reply form, and owners clicking the same status change at the same time.
- Text with NUL and other control characters, which PostgreSQL refuses to store.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.crypto import SecretBox
from bot.core.models import AuditEntry, OutboxMessage, Person
from bot.delivery.outbox import open_target
from bot.kudos.models import Kudos
from bot.privacy import forget
from bot.suggestions.models import Suggestion, SuggestionMessage
from handlers.slack.render import suggestions as views
from tests.conftest import METRICS_AUTH, SECRET_KEY, TEAM_ID
from tests.fakes.slack.api import FakeSlack
from tests.scenarios.suggestions.test_suggestions import CHANNEL, MONDAY, Box, buttons, channel_messages, make_box
from tests.support.harness import Harness
from tests.support.people import slack_is

AUTHORS_DMS = ("U0ANA", "D0ANA", "U0CHEN", "D0CHEN")
RACE_ROUNDS = 10


@pytest.fixture
def box(slack: FakeSlack, db_url: str, engine: Engine, session_factory: sessionmaker[Session]) -> Box:
    # One suggestion per race round: more than the default daily limit.
    return make_box(slack, db_url, engine, session_factory, EMPATHY_SUGGESTIONS_PER_DAY="100")


def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def relay_of(box: Box, reference: str) -> dict[str, Any]:
    return next(m for m in channel_messages(box) if reference in json.dumps(m.get("blocks")))


def reference_of(box: Box, text: str) -> str:
    with box.session_factory() as session:
        return session.scalars(select(Suggestion.reference).where(Suggestion.text == text)).one()


def signed_view_submission(box: Box, user: str, callback_id: str, metadata: str, text: str) -> tuple[str, str, str]:
    """One view_submission exactly as Slack signs it: (body, timestamp, signature), to send as often as we like."""
    payload = {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": "testworkspace"},
        "api_app_id": "A0EMPATHY",
        "user": {"id": user, "team_id": TEAM_ID},
        "trigger_id": f"{time.monotonic_ns()}.trigger",
        "view": {
            "id": f"V{time.monotonic_ns()}",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": metadata,
            "state": {"values": {views.NOTE_BLOCK: {views.NOTE_INPUT: {"type": "plain_text_input", "value": text}}}},
        },
    }
    body = urlencode({"payload": json.dumps(payload)})
    ts = str(int(time.time()))
    return body, ts, box.requests.verifier.generate_signature(timestamp=ts, body=body)


def replay(box: Box, signed: tuple[str, str, str], times: int, *, at_once: bool) -> list[int]:
    """Send the very same signed request `times` times: one after the other, or from threads at once."""
    body, ts, signature = signed
    statuses: list[int] = []
    start = threading.Barrier(times)

    def send() -> None:
        client = box.requests.client.application.test_client()  # a connection of its own, like a retry
        if at_once:
            start.wait()
        response = client.post(
            "/slack/events",
            data=body.encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": signature,
            },
        )
        statuses.append(response.status_code)

    if not at_once:
        for _ in range(times):
            send()
        return statuses
    threads = [threading.Thread(target=send) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return statuses


def reply_modal(box: Box, user: str, button: dict[str, Any], channel: str, ts: str) -> dict[str, Any]:
    before = len(box.slack.calls_to("views.open"))
    box.click(user, button, channel, ts)
    return box.slack.wait_for("views.open", before + 1)[-1]["view"]


# -- point 8: owners learn nothing about whether the author can be reached ---------------------------------


def _owners_view_of_a_reply(box: Box, reference: str) -> list[str]:
    """Everything that reaches owners (channel posts, updates, replies, the modal's answer) when Priya replies
    to `reference`, with the reference and message timestamps blanked out."""
    relay = relay_of(box, reference)
    modal = reply_modal(box, "U0PRIYA", buttons(relay)["Reply"], CHANNEL, relay["ts"])
    before = len(box.slack.calls)
    answered = box.submit_text("U0PRIYA", views.OWNER_REPLY_VIEW, modal["private_metadata"], "Which floor, exactly?")
    box.dispatch()
    seen = [json.dumps(answered, sort_keys=True)]
    for call in box.slack.calls[before:]:
        if call.body.get("channel") in AUTHORS_DMS or call.body.get("users") in AUTHORS_DMS:
            continue  # what the author gets (or not) is theirs; the attacker here is an owner
        seen.append(call.method + " " + json.dumps(call.body, sort_keys=True))
    # What differs between any two replies anyway: the reference, the thread, the outbox row's number.
    blank = re.compile(re.escape(reference) + "|" + re.escape(relay["ts"]) + '|"outbox_id": "[0-9]+"')
    return [blank.sub("<>", line) for line in seen]


@pytest.mark.parametrize("gone", ["deactivated", "forgotten"])
def test_owners_see_the_same_reply_thread_whether_or_not_the_author_can_be_reached(
    slack: FakeSlack, db_url: str, engine: Engine, session_factory: sessionmaker[Session], gone: str
) -> None:
    box = make_box(slack, db_url, engine, session_factory)
    box.submit("Standing desks on the 3rd floor", user="U0ANA")
    box.submit("Standing desks on the 4th floor", user="U0CHEN")
    box.dispatch()
    reachable = reference_of(box, "Standing desks on the 3rd floor")
    left = reference_of(box, "Standing desks on the 4th floor")
    with session_factory.begin() as session:
        chen = session.scalars(select(Person).where(slack_is("U0CHEN"))).one()
        if gone == "deactivated":
            chen.active = False  # left the company: owners in HR know who
        else:
            forget(session, chen, box=SecretBox(SECRET_KEY), now=MONDAY, actor_id=None, via="cli")

    to_reachable = _owners_view_of_a_reply(box, reachable)
    to_unreachable = _owners_view_of_a_reply(box, left)

    assert to_reachable == to_unreachable  # byte for byte: nothing says which author can still be reached
    assert any("Which floor, exactly?" in line for line in to_reachable)  # the thread copy was posted
    assert "Which floor, exactly?" in json.dumps(box.slack.messages("U0ANA"))  # and Ana got hers
    assert "Which floor, exactly?" not in json.dumps(box.slack.messages("U0CHEN"))
    with session_factory() as session:
        audit = session.scalars(select(AuditEntry.subject).where(AuditEntry.action == "suggestion.reply")).all()
    assert sorted(audit) == sorted([reachable, left])


# -- point 9: /metrics says nothing at the moment of a submission ----------------------------------------


def metrics(box: Box) -> str:
    response = box.requests.client.get("/metrics", headers=METRICS_AUTH)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_submission_changes_no_metrics_line_until_its_relay_is_due(
    slack: FakeSlack, db_url: str, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    box = make_box(slack, db_url, engine, session_factory, EMPATHY_SUGGESTIONS_RELAY_DELAY_MINUTES="5")
    before = metrics(box)
    assert box.submit("A quieter open space")["response_action"] == "update"
    box.slack.wait_for("chat.postMessage")  # the receipt went out: the submission is complete
    with session_factory() as session:
        due = session.scalars(select(OutboxMessage.due_at).where(OutboxMessage.channel_id == CHANNEL)).one()
    assert due > box.clock.now()  # the relay waits, as it should
    assert metrics(box) == before  # a watcher of /metrics saw nothing happen

    box.clock.advance(due - box.clock.now() - timedelta(microseconds=1))
    assert metrics(box) == before  # still nothing, a moment before it is due
    box.clock.advance(timedelta(microseconds=1))
    assert "empathy_outbox_pending 1\n" in metrics(box)  # now it is a message like any other
    assert box.dispatch() == 1


# -- point 17: replays and racing clicks ------------------------------------------------------------------


@pytest.mark.parametrize("at_once", [False, True], ids=["one-after-the-other", "at-once"])
def test_a_replayed_owner_reply_is_stored_once_and_dmed_once(box: Box, at_once: bool) -> None:
    box.submit("Standing desks on the 3rd floor")
    box.dispatch()
    reference = box.suggestion().reference
    relay = relay_of(box, reference)
    modal = reply_modal(box, "U0PRIYA", buttons(relay)["Reply"], CHANNEL, relay["ts"])
    signed = signed_view_submission(box, "U0PRIYA", views.OWNER_REPLY_VIEW, modal["private_metadata"], "Which side?")

    assert replay(box, signed, 3, at_once=at_once) == [200, 200, 200]
    box.dispatch()

    with box.session_factory() as session:
        assert session.scalars(select(SuggestionMessage.text)).all() == ["Which side?"]
        assert session.scalar(select(Suggestion.messages)) == 1
        replies = session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "suggestion.reply")
        )
        assert replies == 1
    to_ana = [m for m in box.slack.messages("U0ANA") if "Which side?" in json.dumps(m)]
    assert len(to_ana) == 1
    in_thread = [m for m in channel_messages(box) if "Which side?" in json.dumps(m)]
    assert len(in_thread) == 1

    # A second, different reply still goes through, numbered after the first.
    modal = reply_modal(box, "U0PRIYA", buttons(relay)["Reply"], CHANNEL, relay["ts"])
    assert box.submit_text("U0PRIYA", views.OWNER_REPLY_VIEW, modal["private_metadata"], "And which floor?") == {}
    with box.session_factory() as session:
        numbered = session.execute(select(SuggestionMessage.number, SuggestionMessage.text)).all()
        assert sorted(numbered) == [(1, "Which side?"), (2, "And which floor?")]


@pytest.mark.parametrize("at_once", [False, True], ids=["one-after-the-other", "at-once"])
def test_a_replayed_anonymous_answer_is_stored_once_and_relayed_once(box: Box, at_once: bool) -> None:
    box.submit("Standing desks on the 3rd floor")
    box.dispatch()
    reference = box.suggestion().reference
    relay = relay_of(box, reference)
    modal = reply_modal(box, "U0PRIYA", buttons(relay)["Reply"], CHANNEL, relay["ts"])
    box.submit_text("U0PRIYA", views.OWNER_REPLY_VIEW, modal["private_metadata"], "Which side?")
    box.dispatch()
    to_ana = box.slack.messages("U0ANA")[-1]
    modal = reply_modal(box, "U0ANA", buttons(to_ana)["Answer anonymously"], "D0ANA", to_ana["ts"])
    signed = signed_view_submission(box, "U0ANA", views.AUTHOR_REPLY_VIEW, modal["private_metadata"], "The windows")
    confirmations_before = len(box.slack.messages("U0ANA"))

    assert replay(box, signed, 3, at_once=at_once) == [200, 200, 200]
    time.sleep(0.3)  # let a second (wrong) confirmation arrive if one were coming
    box.dispatch()

    with box.session_factory() as session:
        assert session.scalars(select(SuggestionMessage.text).order_by(SuggestionMessage.number)).all() == [
            "Which side?",
            "The windows",
        ]
    answers = [m for m in channel_messages(box) if f"Anonymous {reference} replied" in json.dumps(m)]
    assert len(answers) == 1
    confirmations = [m for m in box.slack.messages("U0ANA")[confirmations_before:] if "on its way" in m["text"]]
    assert len(confirmations) == 1


def _race(*sends: Callable[[], None]) -> None:
    start = threading.Barrier(len(sends))
    errors: list[BaseException] = []

    def run(send: Callable[[], None]) -> None:
        start.wait()
        try:
            send()
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(send,)) for send in sends]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []


def _author_dms(box: Box) -> list[str]:
    with box.session_factory() as session:
        ana = session.scalars(select(Person).where(slack_is("U0ANA"))).one()
        # Messages to an author are sealed (no person in clear): open them as the dispatcher does.
        targets = [
            open_target(r, SecretBox(SECRET_KEY))
            for r in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        ]
        return [json.dumps(t.payload) for t in targets if t.person_id == ana.id]


def _status_audit(box: Box, reference: str) -> list[str]:
    with box.session_factory() as session:
        return list(
            session.scalars(
                select(AuditEntry.subject).where(
                    AuditEntry.action == "suggestion.status", AuditEntry.subject.like(reference + " %")
                )
            )
        )


def test_two_owners_clicking_the_same_status_at_once_change_it_once(box: Box) -> None:
    for round_ in range(RACE_ROUNDS):
        text = f"Idea number {round_}"
        box.submit(text)
        box.dispatch()
        reference = reference_of(box, text)
        relay = relay_of(box, reference)
        replies_before = len(box.replies())
        dms_before = len(_author_dms(box))
        click = partial(box.click, "U0PRIYA", buttons(relay)["Acknowledge"], CHANNEL, relay["ts"])
        _race(click, click)
        wait_until(partial(_answered, box, replies_before + 2), "both clicks answered")

        assert _status_audit(box, reference) == [f"{reference} -> acknowledged"], round_
        new_dms = _author_dms(box)[dms_before:]
        assert len(new_dms) == 1 and "is now *acknowledged*" in new_dms[0], round_
        answers = box.replies()[replies_before:]
        assert sorted(a.get("replace_original") for a in answers) == [False, True], round_
        refused = next(a for a in answers if a.get("replace_original") is False)
        assert "already acknowledged; a status only moves forward" in refused["text"], round_


def test_done_and_won_t_do_submitted_at_once_close_the_suggestion_once(box: Box) -> None:
    for round_ in range(RACE_ROUNDS):
        text = f"Idea number {round_}"
        box.submit(text)
        box.dispatch()
        reference = reference_of(box, text)
        relay = relay_of(box, reference)
        done = reply_modal(box, "U0PRIYA", buttons(relay)["Done"], CHANNEL, relay["ts"])
        wont = reply_modal(box, "U0PRIYA", buttons(relay)["Won't do"], CHANNEL, relay["ts"])
        dms_before = len(_author_dms(box))
        answers: list[dict[str, Any]] = []
        _race(
            partial(_close, box, answers, done["private_metadata"], "Ordered"),
            partial(_close, box, answers, wont["private_metadata"], "No budget"),
        )

        audit = _status_audit(box, reference)
        assert len(audit) == 1, (round_, audit)
        closed_as = box_status(box, reference)
        assert audit == [f"{reference} -> {views.STATUS_LABELS[closed_as]}"]
        new_dms = _author_dms(box)[dms_before:]
        assert len(new_dms) == 1 and f"is now *{views.STATUS_LABELS[closed_as]}*" in new_dms[0], round_
        assert answers.count({}) == 1, round_  # one was applied ...
        refused = [a for a in answers if a]
        assert len(refused) == 1 and "already closed" in refused[0]["errors"][views.NOTE_BLOCK]  # ... one refused


def _answered(box: Box, count: int) -> bool:
    return len(box.replies()) >= count


def _close(box: Box, answers: list[dict[str, Any]], metadata: str, note: str) -> None:
    answers.append(box.submit_text("U0PRIYA", views.CLOSE_VIEW, metadata, note))


def box_status(box: Box, reference: str) -> str:
    with box.session_factory() as session:
        return session.scalars(select(Suggestion.status).where(Suggestion.reference == reference)).one()


# -- NUL and other control characters ---------------------------------------------------------------------


def test_nul_and_control_characters_are_stored_cleaned(box: Box) -> None:
    """PostgreSQL refuses NUL in text (a DataError, so a 500): a suggestion, a reply, a reason and a kudos
    carrying control characters are stored cleaned instead, on both databases."""
    assert box.submit("Standing\x00 desks\x07 on the\r\n3rd\tfloor")["response_action"] == "update"
    box.dispatch()
    reference = box.suggestion().reference
    relay = relay_of(box, reference)
    modal = reply_modal(box, "U0PRIYA", buttons(relay)["Reply"], CHANNEL, relay["ts"])
    assert box.submit_text("U0PRIYA", views.OWNER_REPLY_VIEW, modal["private_metadata"], "Which\x00 side?\x1b") == {}
    modal = reply_modal(box, "U0PRIYA", buttons(relay)["Won't do"], CHANNEL, relay["ts"])
    assert box.submit_text("U0PRIYA", views.CLOSE_VIEW, modal["private_metadata"], "No\x00 budget") == {}
    Harness.command(box, "/kudos", "<@U0CHEN> for the\x00 quick\x08 fix", user="U0ANA")
    wait_until(lambda: _kudos_messages(box) != [], "the kudos to be stored")

    with box.session_factory() as session:
        suggestion = session.scalars(select(Suggestion)).one()
        assert suggestion.text == "Standing desks on the\n3rd\tfloor"
        assert suggestion.status_note == "No budget"
        assert session.scalars(select(SuggestionMessage.text)).all() == ["Which side?"]
    assert _kudos_messages(box) == ["for the quick fix"]


def _kudos_messages(box: Box) -> list[str]:
    with box.session_factory() as session:
        return list(session.scalars(select(Kudos.message)))
