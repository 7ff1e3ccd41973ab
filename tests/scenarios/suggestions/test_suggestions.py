"""The suggestion box through the real app, the real outbox and the fake Slack API, on a manual clock."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.models import AuditEntry, OutboxMessage, Person
from bot.suggestions.models import Suggestion, SuggestionMessage
from handlers.slack.render import suggestions as views
from tests.conftest import TEAM_ID
from tests.fakes.slack.api import FakeSlack
from tests.support.harness import Harness, make_harness
from tests.support.people import slack_is

MONDAY = datetime(2026, 11, 23, 14, 3, tzinfo=UTC)
CHANNEL = "C0IDEAS"
PEOPLE = [("U0PRIYA", "Priya Natarajan"), ("U0ANA", "Ana Souza"), ("U0CHEN", "Chen Wei")]
ANA_IDENTITY = ("U0ANA", "D0ANA", "Ana", "Souza", "u0ana@example.com")


class Box(Harness):
    """The suggestion box's own verbs on top of the shared harness."""

    def command(self, text: str, user: str = "U0ANA") -> dict[str, Any]:  # type: ignore[override]
        return super().command("/suggest", text, user)

    def submit(  # type: ignore[override]
        self,
        text: str,
        *,
        user: str = "U0ANA",
        category: str = "tools",
        share: bool = False,
        view_id: str | None = None,
        callback_id: str = views.SUGGEST_VIEW,
        metadata: str = "",
    ) -> dict[str, Any]:
        values: dict[str, Any] = {
            views.CATEGORY_BLOCK: {
                views.CATEGORY_INPUT: {"type": "static_select", "selected_option": {"value": category}}
            },
            views.SHARE_BLOCK: {
                views.SHARE_INPUT: {
                    "type": "checkboxes",
                    "selected_options": [{"value": "share"}] if share else [],
                }
            },
        }
        if callback_id == views.SUGGEST_VIEW:
            values[views.TEXT_BLOCK] = {views.TEXT_INPUT: {"type": "plain_text_input", "value": text}}
        return self._view(user, callback_id, values, metadata, view_id)

    def submit_text(self, user: str, callback_id: str, metadata: str, text: str) -> dict[str, Any]:
        values = {views.NOTE_BLOCK: {views.NOTE_INPUT: {"type": "plain_text_input", "value": text}}}
        return self._view(user, callback_id, values, metadata, None)

    def _view(
        self, user: str, callback_id: str, values: dict[str, Any], metadata: str, view_id: str | None
    ) -> dict[str, Any]:
        return super().submit(user, callback_id, values, metadata=metadata, view_id=view_id)

    def click(self, user: str, button: dict[str, Any], channel: str, ts: str) -> None:  # type: ignore[override]
        payload = {
            "type": "block_actions",
            "user": {"id": user, "team_id": TEAM_ID},
            "trigger_id": "2.trigger",
            "container": {"type": "message", "channel_id": channel, "message_ts": ts},
            "channel": {"id": channel},
            "response_url": self.requests.response_url(),
            "actions": [
                {"type": "button", "action_id": button["action_id"], "block_id": "a", "value": button["value"]}
            ],
        }
        assert self.requests.interaction(payload).status_code == 200

    def suggestion(self) -> Suggestion:
        with self.session_factory() as session:
            return session.scalars(select(Suggestion)).one()


def make_box(slack: FakeSlack, db_url: str, engine: Engine, session_factory: sessionmaker[Session], **env: str) -> Box:
    harness = make_harness(
        slack,
        db_url,
        engine,
        session_factory,
        people=PEOPLE,
        hr=("U0PRIYA",),
        now=MONDAY,
        env={"EMPATHY_SUGGESTIONS_CHANNEL": CHANNEL, "EMPATHY_SUGGESTIONS_RELAY_DELAY_MINUTES": "0", **env},
    )
    return Box(**vars(harness))


@pytest.fixture
def box(slack: FakeSlack, db_url: str, engine: Engine, session_factory: sessionmaker[Session]) -> Box:
    return make_box(slack, db_url, engine, session_factory)


def to_owners(box: Box) -> list[dict[str, Any]]:
    """Every Web API body that went anywhere but Ana's DM."""
    return [
        c.body
        for c in box.slack.calls
        if c.method in ("chat.postMessage", "chat.update") and c.body.get("channel") not in ("U0ANA", "D0ANA")
    ]


def channel_messages(box: Box) -> list[dict[str, Any]]:
    return box.slack.messages(CHANNEL)


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for block in message.get("blocks", []):
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            found[element["text"]["text"]] = element
        if block.get("accessory", {}).get("type") == "button":
            found[block["accessory"]["text"]["text"]] = block["accessory"]
    return found


def assert_names_nobody(box: Box, *identity: str) -> None:
    bodies = json.dumps(to_owners(box))
    with box.session_factory() as session:
        rows = json.dumps(
            [
                {k: str(v) for k, v in row.__dict__.items() if not k.startswith("_")}
                for row in [*session.scalars(select(Suggestion)), *session.scalars(select(SuggestionMessage))]
            ]
        )
    for secret in identity:
        assert secret not in bodies, secret
        assert secret not in rows, secret
    assert "14:03" not in bodies and "14:03" not in rows


def submit_one(box: Box, text: str = "Standing desks on the 3rd floor", **kw: Any) -> str:
    reply = box.submit(text, **kw)
    assert reply["response_action"] == "update", reply
    box.dispatch()
    return box.suggestion().reference


# -- submitting ----------------------------------------------------------------------------------


def test_the_modal_path_gives_a_receipt_and_owners_see_no_author(box: Box) -> None:
    box.command("")
    opened = box.slack.wait_for("views.open")[0]["view"]
    assert opened["callback_id"] == views.SUGGEST_VIEW
    text_input = opened["blocks"][0]["element"]
    assert text_input["max_length"] == 2000 and "2000" in opened["blocks"][0]["hint"]["text"]
    options = [o["value"] for o in opened["blocks"][1]["element"]["options"]]
    assert options == ["workplace", "process", "tools", "culture", "wellbeing", "other"]
    assert "What stays private" in json.dumps(opened)

    reply = box.submit("Standing desks on the 3rd floor <!channel>")
    reference = box.suggestion().reference
    assert reference in json.dumps(reply["view"])
    receipt = box.slack.wait_for("chat.postMessage")[0]
    assert receipt["channel"] == "U0ANA" and reference in json.dumps(receipt["blocks"])

    assert box.dispatch() == 1
    posted = channel_messages(box)[-1]
    assert reference in json.dumps(posted["blocks"]) and "Anonymous" in json.dumps(posted["blocks"])
    assert "&lt;!channel&gt;" in json.dumps(posted["blocks"]) and "<!channel>" not in json.dumps(posted["blocks"])
    assert "Mon 23 Nov 2026" in json.dumps(posted["blocks"])
    assert_names_nobody(box, *ANA_IDENTITY)


def test_sharing_a_name_shows_it_to_the_owners(box: Box) -> None:
    submit_one(box, share=True)
    assert "from Ana Souza" in json.dumps(channel_messages(box)[-1]["blocks"])
    assert box.suggestion().shared_name == "Ana Souza"


def test_the_inline_path_confirms_first(box: Box) -> None:
    assert box.command("Free fruit <3 & more on Fridays") == {}
    opened = box.slack.wait_for("views.open")[0]["view"]
    assert opened["callback_id"] == views.CONFIRM_VIEW and "Free fruit &lt;3 &amp; more" in json.dumps(opened["blocks"])
    with box.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Suggestion)) == 0  # nothing until confirmed
    reply = box.submit("", callback_id=views.CONFIRM_VIEW, metadata=opened["private_metadata"], category="wellbeing")
    assert reply["response_action"] == "update"
    row = box.suggestion()
    assert (row.text, row.category) == ("Free fruit <3 & more on Fridays", "wellbeing")
    box.dispatch()
    assert_names_nobody(box, *ANA_IDENTITY)


def test_an_over_long_inline_suggestion_says_the_limit(box: Box) -> None:
    reply = box.command("x" * 2001)
    assert reply["response_type"] == "ephemeral" and "the limit is 2000" in reply["text"]
    assert box.slack.calls_to("views.open") == []


@pytest.mark.parametrize(
    ("text", "category", "block", "words"),
    [
        ("", "tools", views.TEXT_BLOCK, "is empty"),
        ("  \n ", "tools", views.TEXT_BLOCK, "is empty"),
        ("y" * 2500, "tools", views.TEXT_BLOCK, "the limit is 2000"),
        ("Fine idea", "snacks", views.CATEGORY_BLOCK, "I don't know the category `snacks`"),
    ],
)
def test_bad_input_in_the_form_is_refused_and_stores_nothing(
    box: Box, text: str, category: str, block: str, words: str
) -> None:
    reply = box.submit(text, category=category)
    assert reply["response_action"] == "errors" and words in reply["errors"][block]
    with box.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Suggestion)) == 0
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_a_double_submit_creates_one_suggestion(box: Box) -> None:
    first = box.submit("Quieter meeting rooms", view_id="VSAME")
    second = box.submit("Quieter meeting rooms", view_id="VSAME")
    assert first == second
    box.slack.wait_for("chat.postMessage")
    time.sleep(0.2)  # let a second (wrong) receipt arrive if one were coming
    assert len(box.slack.calls_to("chat.postMessage")) == 1
    assert box.dispatch() == 1
    with box.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Suggestion)) == 1


def test_the_daily_limit(slack: FakeSlack, db_url: str, engine: Engine, session_factory: sessionmaker[Session]) -> None:
    box = make_box(slack, db_url, engine, session_factory, EMPATHY_SUGGESTIONS_PER_DAY="2")
    for n in range(2):
        assert box.submit(f"Idea {n}")["response_action"] == "update"
    refused = box.submit("Idea 3")
    assert refused["response_action"] == "errors"
    assert "2 suggestions today" in refused["errors"][views.TEXT_BLOCK]
    box.clock.advance(timedelta(days=1))
    assert box.submit("Idea 3")["response_action"] == "update"
    with box.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Suggestion)) == 3


def test_relays_wait_for_the_random_delay(
    slack: FakeSlack, db_url: str, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    box = make_box(slack, db_url, engine, session_factory, EMPATHY_SUGGESTIONS_RELAY_DELAY_MINUTES="5")
    box.submit("Later, please")
    with box.session_factory() as session:
        due = session.scalar(select(OutboxMessage.due_at).where(OutboxMessage.channel_id == CHANNEL))
    assert due is not None and MONDAY <= due <= MONDAY + timedelta(minutes=10)
    if due >= MONDAY + timedelta(seconds=1):  # a draw under a second (1 in 600) leaves nothing to wait for
        box.clock.advance(due - MONDAY - timedelta(seconds=1))
        assert box.dispatch() == 0 and channel_messages(box) == []
    box.clock.advance(timedelta(seconds=2))
    assert box.dispatch() == 1 and len(channel_messages(box)) == 1


# -- the conversation ----------------------------------------------------------------------------


def test_reply_round_trip_and_status_notifications(box: Box) -> None:
    reference = submit_one(box)
    relay = channel_messages(box)[-1]

    # An owner replies from the channel message.
    box.click("U0PRIYA", buttons(relay)["Reply"], CHANNEL, relay["ts"])
    modal = box.slack.wait_for("views.open")[-1]["view"]
    assert modal["callback_id"] == views.OWNER_REPLY_VIEW
    assert box.submit_text("U0PRIYA", views.OWNER_REPLY_VIEW, modal["private_metadata"], "Which side?") == {}
    box.dispatch()
    to_ana = box.slack.messages("U0ANA")[-1]
    assert "Which side?" in json.dumps(to_ana["blocks"]) and "Priya Natarajan" in json.dumps(to_ana["blocks"])
    thread = channel_messages(box)[-1]
    assert thread.get("thread_ts") == relay["ts"] and "if they can still be reached" in json.dumps(thread["blocks"])

    # The author answers, still anonymous, in the suggestion's thread.
    box.click("U0ANA", buttons(to_ana)["Answer anonymously"], "D0ANA", to_ana["ts"])
    modal = box.slack.wait_for("views.open", 2)[-1]["view"]
    assert modal["callback_id"] == views.AUTHOR_REPLY_VIEW
    assert box.submit_text("U0ANA", views.AUTHOR_REPLY_VIEW, modal["private_metadata"], "Near the windows") == {}
    box.dispatch()
    answer = channel_messages(box)[-1]
    assert f"Anonymous {reference} replied" in json.dumps(answer["blocks"]) and answer["thread_ts"] == relay["ts"]

    # Status changes update the owners' message and reach the author.
    box.click("U0PRIYA", buttons(relay)["Acknowledge"], CHANNEL, relay["ts"])
    updated = box.wait_reply(1)
    assert updated["replace_original"] is True and "acknowledged" in json.dumps(updated["blocks"])
    box.dispatch()
    assert f"{reference}* is now *acknowledged*" in json.dumps(box.slack.messages("U0ANA")[-1]["blocks"])

    box.click("U0PRIYA", buttons(relay)["Done"], CHANNEL, relay["ts"])
    modal = box.slack.wait_for("views.open", 3)[-1]["view"]
    assert modal["callback_id"] == views.CLOSE_VIEW
    assert box.submit_text("U0PRIYA", views.CLOSE_VIEW, modal["private_metadata"], "Ordered 12 desks") == {}
    box.dispatch()
    done = json.dumps(box.slack.messages("U0ANA")[-1]["blocks"])
    assert "is now *done*" in done and "Ordered 12 desks" in done
    assert "done" in json.dumps(channel_messages(box)[0]["blocks"])  # the relay now shows its status

    # Replies to a closed suggestion are refused kindly.
    box.click("U0ANA", buttons(to_ana)["Answer anonymously"], "D0ANA", to_ana["ts"])
    assert "closed, so replies are off" in box.wait_reply(2)["text"]
    with box.session_factory() as session:
        assert [m.text for m in session.scalars(select(SuggestionMessage).order_by(SuggestionMessage.number))] == [
            "Which side?",
            "Near the windows",
        ]
        audit = session.scalars(select(AuditEntry.subject).where(AuditEntry.action.like("suggestion.%"))).all()
        assert set(audit) == {reference, f"{reference} -> acknowledged", f"{reference} -> done"}
    assert_names_nobody(box, *ANA_IDENTITY)

    # Delivered messages to the author leave no trace that ties her to the suggestion.
    box.job("suggestions.tend")
    with box.session_factory() as session:
        ana = session.scalar(select(Person).where(slack_is("U0ANA")))
        assert ana is not None
        left = session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.person_id == ana.id))
        assert left == 0


def test_won_t_do_needs_a_reason(box: Box) -> None:
    submit_one(box)
    relay = channel_messages(box)[-1]
    box.click("U0PRIYA", buttons(relay)["Won't do"], CHANNEL, relay["ts"])
    modal = box.slack.wait_for("views.open")[-1]["view"]
    refused = box.submit_text("U0PRIYA", views.CLOSE_VIEW, modal["private_metadata"], "   ")
    assert refused["response_action"] == "errors" and "give a reason" in refused["errors"][views.NOTE_BLOCK]
    assert box.suggestion().status == "new"
    assert box.submit_text("U0PRIYA", views.CLOSE_VIEW, modal["private_metadata"], "No budget this year") == {}
    assert box.suggestion().status == "wont_do"


# -- permissions ---------------------------------------------------------------------------------


def test_non_owners_cannot_change_status_or_read_the_queue(box: Box) -> None:
    reference = submit_one(box)
    relay = channel_messages(box)[-1]
    box.click("U0CHEN", buttons(relay)["Acknowledge"], CHANNEL, relay["ts"])
    assert "Only the suggestion owners" in box.wait_reply(1)["text"]
    box.click("U0CHEN", buttons(relay)["Reply"], CHANNEL, relay["ts"])
    assert "Only the suggestion owners" in box.wait_reply(2)["text"]
    assert box.suggestion().status == "new"
    assert box.slack.calls_to("views.open") == []
    refused = box.command("queue", user="U0CHEN")
    assert "only for its owners" in refused["text"] and reference not in refused["text"]
    listed = box.command("queue", user="U0PRIYA")
    assert reference in listed["text"] and "anonymous" in listed["text"]


def test_a_category_owner_handles_only_their_category(box: Box) -> None:
    reply = box.requests.command("/empathy", "config suggestion-owners tools:<@U0CHEN|chen>", user_id="U0PRIYA")
    assert "Done" in reply.get_json()["text"]
    submit_one(box, category="tools")
    tools = channel_messages(box)[-1]
    box.submit("Team offsite", category="culture")
    box.dispatch()
    culture = channel_messages(box)[-1]
    box.click("U0CHEN", buttons(culture)["Acknowledge"], CHANNEL, culture["ts"])
    assert "Only the suggestion owners" in box.wait_reply(1)["text"]
    box.click("U0CHEN", buttons(tools)["Acknowledge"], CHANNEL, tools["ts"])
    assert box.wait_reply(2)["replace_original"] is True
    with box.session_factory() as session:
        assert dict(session.execute(select(Suggestion.category, Suggestion.status)).all()) == {
            "tools": "acknowledged",
            "culture": "new",
        }


# -- deletion, summary, nudges, home ---------------------------------------------------------------


def test_the_author_deletes_a_suggestion(box: Box) -> None:
    reference = submit_one(box)
    receipt = box.slack.messages("U0ANA")[0]
    box.click("U0CHEN", buttons(receipt)["Delete my suggestion"], "D0CHEN", receipt["ts"])  # not theirs
    assert "can't find a suggestion" in box.wait_reply(1)["text"]
    box.click("U0ANA", buttons(receipt)["Delete my suggestion"], "D0ANA", receipt["ts"])
    assert f"suggestion *{reference}* and its replies are deleted" in box.wait_reply(2)["text"]
    with box.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Suggestion)) == 0
    withdrawn = channel_messages(box)[-1]
    assert "withdrawn by its author" in withdrawn["text"] and "Standing desks" not in json.dumps(withdrawn)
    again = box.command(f"delete {reference}")
    assert "can't find a suggestion" in again["text"]


def test_you_said_we_did(box: Box) -> None:
    reference = submit_one(box)
    assert "Only HR admins" in box.command("digest <#C0NEWS|news>", user="U0ANA")["text"]
    assert "nothing new to report" in box.command("digest <#C0NEWS|news>", user="U0PRIYA")["text"]
    relay = channel_messages(box)[-1]
    box.click("U0PRIYA", buttons(relay)["Done"], CHANNEL, relay["ts"])
    modal = box.slack.wait_for("views.open")[-1]["view"]
    box.submit_text("U0PRIYA", views.CLOSE_VIEW, modal["private_metadata"], "Desks ordered")
    assert "with 1 suggestion to <#C0NEWS>" in box.command("digest <#C0NEWS|news>", user="U0PRIYA")["text"]
    box.dispatch()
    summary = json.dumps(box.slack.messages("C0NEWS")[-1]["blocks"])
    assert "You said, we did" in summary and "Desks ordered" in summary and reference not in summary
    assert "nothing new to report" in box.command("digest <#C0NEWS|news>", user="U0PRIYA")["text"]
    assert_names_nobody(box, *ANA_IDENTITY)


def test_owners_are_nudged_once_after_two_working_days(box: Box) -> None:
    reference = submit_one(box)
    box.clock.advance(timedelta(days=1))
    assert box.job("suggestions.tend")["nudges"] == 0
    box.clock.advance(timedelta(days=1))  # Wednesday: two working days
    assert box.job("suggestions.tend")["nudges"] == 1
    assert box.job("suggestions.tend")["nudges"] == 0
    box.dispatch()
    nudge = json.dumps(channel_messages(box)[-1]["blocks"])
    assert reference in nudge and "hasn't been acknowledged" in nudge


def test_app_home_shows_the_box_and_the_owners_queue(box: Box) -> None:
    reference = submit_one(box)
    box.requests.app_home_opened("U0ANA")
    box.requests.app_home_opened("U0PRIYA")
    published = {v["user_id"]: json.dumps(v["view"]) for v in box.slack.wait_for("views.publish", 2)}
    assert "Share a suggestion" in published["U0ANA"] and reference in published["U0ANA"]
    assert "Suggestions to handle" not in published["U0ANA"]
    assert "Suggestions to handle" in published["U0PRIYA"] and reference in published["U0PRIYA"]
    assert "you said, we did" in published["U0PRIYA"]
