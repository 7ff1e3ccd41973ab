"""Golden tests of what reaches Slack through the outbox: a real command or job queues the message,
the real dispatcher sends it to the fake Slack API, and the bodies Slack received are compared with
tests/golden/sent/. These prove the whole path (producer, stored row, rendering at send time), not
just a renderer. Message metadata (it carries the row id) and Slack's `ts` are left out."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.clock import ManualClock
from bot.core.models import Person
from bot.kudos.values import parse_lines, replace_values
from handlers.slack.render import suggestions as views
from tests.fakes.slack.api import FakeSlack
from tests.scenarios.onboarding.test_onboarding import MONDAY as START_DATE
from tests.scenarios.onboarding.test_onboarding import Bot, bot, deliver_day0, open_checkin, submit_checkin  # noqa: F401 (bot: the fixture)
from tests.scenarios.onboarding.test_onboarding import checkin_message as onboarding_checkin
from tests.scenarios.pulse.test_digest import MONDAY, dispatch, history, make_hr, send_digests  # noqa: F401 (history: the fixture)
from tests.scenarios.pulse.test_pulse import Pulse, open_and_deliver, pulse  # noqa: F401 (the fixture)
from tests.scenarios.suggestions.test_suggestions import CHANNEL, Box, box, buttons, channel_messages, submit_one  # noqa: F401 (box: the fixture)
from tests.support.harness import Harness, make_harness
from tests.unit.handlers.slack.render.test_golden import check

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
KUDOS_CHANNEL = "C0KUDOS"
PEOPLE = [("U0PRIYA", "Priya <Natarajan>"), ("U0ANA", "Ana & Souza"), ("U0BEN", "Ben Okafor"), ("U0CHEN", "Chen Wei")]
VALUES = ":handshake: Teamwork - we win together\n:rocket: Ownership - we finish what we start\nCustomer first"


def sent(slack: FakeSlack) -> list[dict[str, Any]]:
    """What Slack was asked to post or change, in a stable order, without the parts that vary per run."""
    bodies = []
    for call in slack.calls:
        if call.method in ("chat.postMessage", "chat.update"):
            body = {k: v for k, v in call.body.items() if k not in ("metadata", "ts", "token")}
            bodies.append({"method": call.method, **body})
    return sorted(bodies, key=lambda b: (b["method"], str(b.get("channel")), str(b.get("text"))))


@pytest.fixture
def kudos(slack: FakeSlack, db_url: str, engine: Engine, session_factory: sessionmaker[Session]) -> Harness:
    harness = make_harness(
        slack, db_url, engine, session_factory, people=PEOPLE, hr=("U0PRIYA",), now=NOW,
        env={"EMPATHY_KUDOS_CHANNEL": KUDOS_CHANNEL},
    )  # fmt: skip
    with session_factory.begin() as session:
        workspace_id = session.scalar(select(Person.workspace_id))
        assert workspace_id is not None
        replace_values(session, workspace_id, parse_lines(VALUES), actor_id=None, via="cli", now=NOW)
    return harness


def _give(harness: Harness, text: str) -> None:
    before = len(harness.replies())
    reply = harness.command("/kudos", text) or harness.wait_reply(before + 1)
    assert "Thank you for noticing" in reply["text"], reply
    assert harness.dispatch() >= 1


def test_kudos_shout_out_and_recipient_dms_as_sent(kudos: Harness, slack: FakeSlack) -> None:
    _give(kudos, "<@U0BEN> <@U0CHEN> for untangling the &lt;release&gt; &amp; *more* #teamwork #unknown-tag")
    check("sent/kudos_public", sent(slack))


def test_private_kudos_dm_as_sent(kudos: Harness, slack: FakeSlack) -> None:
    _give(kudos, "private <@U0BEN> for covering my on-call > while I was ill #ownership")
    check("sent/kudos_private", sent(slack))


def test_pulse_invites_reminders_and_closed_updates_as_sent(pulse: Pulse) -> None:  # noqa: F811
    open_and_deliver(pulse)
    pulse.clock.advance(timedelta(hours=24))
    assert pulse.job("pulse.remind") == 4
    pulse.dispatch()
    pulse.clock.advance(timedelta(days=2))
    assert pulse.job("pulse.close") == 1
    pulse.dispatch()
    check("sent/pulse_round", sent(pulse.slack))


def test_digests_charts_and_the_hr_overview_as_sent(history, settings, session_factory, slack) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    make_hr(session_factory, "P5")
    clock = ManualClock(MONDAY)
    assert send_digests(settings, session_factory, clock) == 4
    dispatch(settings, session_factory, clock)
    files = [
        {k: v for k, v in f.items() if k not in ("content", "length")} | {"png": f["content"].startswith(b"\x89PNG")}
        for f in sorted(slack.files(), key=lambda f: f["channel"])
    ]
    check("sent/digests", {"messages": sent(slack), "files": files})


def test_suggestion_relay_replies_statuses_and_summary_as_sent(box: Box) -> None:  # noqa: F811
    reference = submit_one(box, "Standing desks <!channel> & *more* on the 3rd floor")
    relay = channel_messages(box)[-1]
    box.click("U0PRIYA", buttons(relay)["Reply"], CHANNEL, relay["ts"])
    modal = box.slack.wait_for("views.open")[-1]["view"]
    box.submit_text("U0PRIYA", views.OWNER_REPLY_VIEW, modal["private_metadata"], "Which side? <b>")
    box.dispatch()
    to_ana = box.slack.messages("U0ANA")[-1]
    box.click("U0ANA", buttons(to_ana)["Answer anonymously"], "D0ANA", to_ana["ts"])
    modal = box.slack.wait_for("views.open", 2)[-1]["view"]
    box.submit_text("U0ANA", views.AUTHOR_REPLY_VIEW, modal["private_metadata"], "Near the windows\n> & light")
    box.dispatch()
    box.click("U0PRIYA", buttons(relay)["Acknowledge"], CHANNEL, relay["ts"])
    box.wait_reply(1)
    box.dispatch()
    box.click("U0PRIYA", buttons(relay)["Done"], CHANNEL, relay["ts"])
    modal = box.slack.wait_for("views.open", 3)[-1]["view"]
    box.submit_text("U0PRIYA", views.CLOSE_VIEW, modal["private_metadata"], "Ordered 12 desks & chairs")
    box.dispatch()
    box.command("digest <#C0NEWS|news>", user="U0PRIYA")
    box.dispatch()
    bodies = {"sent": sent(box.slack), "replies": [{k: v for k, v in r.items()} for r in box.replies()]}
    # The reference is random, and a thread is named by Slack's ts: neither is part of the message.
    normalised = re.sub(
        r'"thread_ts": "[0-9.]+"', '"thread_ts": "<ts>"', json.dumps(bodies).replace(reference, "S-REF")
    )
    loaded = json.loads(normalised)
    loaded["sent"].sort(key=lambda b: json.dumps(b, sort_keys=True))
    check("sent/suggestions", loaded)


def test_onboarding_messages_as_sent(bot: Bot) -> None:  # noqa: F811
    bot.add_new_hire("U0SAM", "Sam <Reyes>", "Europe/Rome", "Sales", START_DATE, manager="U0SOFIA")
    deliver_day0(bot)
    modal = open_checkin(bot, onboarding_checkin(bot), 2)
    submit_checkin(bot, "U0NOOR", modal, 2, "still no laptop <!channel> & no desk", share=True)
    bot.dispatch()
    for _ in range(6):
        bot.tick(24)  # reminders for the manager's tasks, the overdue warning (consent was given)
    bodies = sent(bot.slack)
    bodies.sort(key=lambda b: json.dumps(b, sort_keys=True))
    check("sent/onboarding", bodies)


# -- App Home: what views.publish received -------------------------------------------------------------


def published(slack: FakeSlack, count: int) -> dict[str, Any]:
    return {b["user_id"]: b["view"] for b in slack.wait_for("views.publish", count=count)}


def test_home_tabs_with_digests_and_the_overview(history, settings, engine, session_factory, slack) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from handlers.slack.app import create_app
    from handlers.slack.web import create_web_app
    from tests.conftest import SIGNING_SECRET, TEAM_ID
    from tests.support.slack_requests import SlackRequests

    make_hr(session_factory, "P5")
    clock = ManualClock(MONDAY)
    send_digests(settings, session_factory, clock)
    dispatch(settings, session_factory, clock)
    app = create_app(settings, engine=engine, clock=clock)
    requests = SlackRequests(
        create_web_app(app).test_client(), SIGNING_SECRET, team_id=TEAM_ID, response_base=slack.url
    )
    for user in ("U0MARCUS", "U0P0", "U0P5"):
        requests.app_home_opened(user)
    check("sent/home_digests", published(slack, 3))


def test_home_tabs_with_kudos(kudos: Harness, slack: FakeSlack) -> None:
    _give(kudos, "<@U0BEN> for the review #teamwork")
    for user in ("U0PRIYA", "U0BEN"):
        kudos.requests.app_home_opened(user)
    check("sent/home_kudos", published(slack, 2))


def test_home_tabs_with_suggestions(box: Box) -> None:  # noqa: F811
    reference = submit_one(box)
    for user in ("U0ANA", "U0PRIYA"):
        box.requests.app_home_opened(user)
    views_ = json.loads(json.dumps(published(box.slack, 2)).replace(reference, "S-REF"))
    check("sent/home_suggestions", views_)


def test_home_tabs_with_onboarding(bot: Bot) -> None:  # noqa: F811
    deliver_day0(bot)
    for user in ("U0NOOR", "U0MARCUS", "U0PRIYA"):
        bot.requests.app_home_opened(user)
    check("sent/home_onboarding", published(bot.slack, 3))
