"""Kudos through the real app, the real outbox and the fake Slack API, on a manual clock."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.cli.main import main
from bot.core.clock import ManualClock
from bot.core.database import make_engine, make_session_factory
from bot.core.models import AuditEntry, Person, Workspace
from bot.core.settings import load_settings
from bot.delivery.inbox import Inbox
from bot.kudos import service as recognition
from bot.kudos.models import CompanyValue, Kudos, KudosKind
from bot.kudos.service import digest_section, insights
from bot.kudos.values import parse_lines, replace_values
from bot.privacy import forget, personal_data
from handlers.slack.app import create_app
from handlers.slack.context import empathy_context_of
from handlers.slack.inbox_app import inbox_for
from handlers.slack.render import kudos as views
from handlers.slack.web import create_web_app
from tests.conftest import SIGNING_SECRET, TEAM_ID, make_env
from tests.fakes.slack.api import FakeSlack
from tests.support.harness import Harness, make_harness, start_app
from tests.support.people import slack_account, slack_id, slack_is
from tests.support.slack_requests import SlackRequests

# Monday 23 Nov 2026, 10:00 in London.
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
CHANNEL = "C0KUDOS"
PEOPLE = [
    ("U0PRIYA", "Priya Natarajan"),
    ("U0ANA", "Ana Souza"),
    ("U0BEN", "Ben Okafor"),
    ("U0CHEN", "Chen Wei"),
    ("U0DAN", "Dan Moore"),
    ("U0HELPER", "Deploy Bot"),
    ("U0GONE", "Gus Left"),
]
VALUES = ":handshake: Teamwork - we win together\n:rocket: Ownership - we finish what we start\nCustomer first"


@pytest.fixture
def kudos(slack: FakeSlack, db_url: str, engine: Engine, session_factory: sessionmaker[Session]) -> Harness:
    harness = make_harness(
        slack,
        db_url,
        engine,
        session_factory,
        people=PEOPLE,
        hr=("U0PRIYA",),
        now=NOW,
        env={"EMPATHY_KUDOS_CHANNEL": CHANNEL},
    )
    with session_factory.begin() as session:
        helper = session.scalar(select(Person).where(slack_is("U0HELPER")))
        gone = session.scalar(select(Person).where(slack_is("U0GONE")))
        assert helper is not None and gone is not None
        helper.is_bot = True
        gone.active = False
        replace_values(session, helper.workspace_id, parse_lines(VALUES), actor_id=None, via="cli", now=NOW)
    return harness


def give(harness: Harness, text: str, user: str = "U0ANA") -> str:
    """The giver's reply: in the ack for help, else through the response_url after the ack."""
    before = len(harness.replies())
    reply = harness.command("/kudos", text, user=user) or harness.wait_reply(before + 1)
    assert reply["response_type"] == "ephemeral"
    return str(reply["text"])


def stored(harness: Harness) -> list[Kudos]:
    with harness.session_factory() as session:
        return list(session.scalars(select(Kudos).order_by(Kudos.id)))


def bodies(harness: Harness) -> str:
    return json.dumps([c.body for c in harness.slack.calls])


# -- giving -----------------------------------------------------------------------------------------


def test_a_typed_kudos_is_posted_in_the_channel_and_dmed_to_each_recipient(kudos: Harness) -> None:
    reply = give(kudos, "<@U0BEN|ben> <@U0CHEN> for untangling the release on Friday #teamwork")
    assert "Thank you for noticing" in reply
    assert f"<#{CHANNEL}>" in reply and "4 more today" in reply

    assert kudos.dispatch() == 3
    (post,) = kudos.slack.messages(CHANNEL)
    shown = json.dumps(post["blocks"])
    assert "<@U0ANA>" in shown and "<@U0BEN> and <@U0CHEN>" in shown
    assert "untangling the release on Friday" in shown and ":handshake: Teamwork" in shown
    for user in ("U0BEN", "U0CHEN"):
        (dm,) = kudos.slack.messages(kudos.slack._dm_for(user))
        assert "<@U0ANA> thanked you" in json.dumps(dm["blocks"])
        assert f"<#{CHANNEL}>" in json.dumps(dm["blocks"])
    (row,) = stored(kudos)
    assert row.message == "for untangling the release on Friday"
    assert [v.tag for v in row.values] == ["teamwork"]
    assert len(row.recipients) == 2


def test_private_kudos_go_by_dm_only(kudos: Harness) -> None:
    reply = give(kudos, "private <@U0BEN> for covering my on-call while I was ill")
    assert "will get it by DM" in reply
    kudos.dispatch()
    assert kudos.slack.messages(CHANNEL) == []
    (dm,) = kudos.slack.messages(kudos.slack._dm_for("U0BEN"))
    assert "Just between the two of you" in json.dumps(dm["blocks"])


def test_without_a_channel_kudos_still_reach_people_by_dm(
    slack: FakeSlack, db_url: str, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    harness = make_harness(slack, db_url, engine, session_factory, people=PEOPLE[:3], now=NOW)
    assert "will get it by DM" in give(harness, "<@U0BEN> for the review")
    harness.dispatch()
    assert [c.body["channel"] for c in slack.calls if c.method == "chat.postMessage"] == [slack._dm_for("U0BEN")]


def test_user_text_cannot_ping_everyone_or_break_the_layout(kudos: Harness) -> None:
    give(kudos, "<@U0BEN> for fixing <https://evil|the link> & *all* of it")
    kudos.dispatch()
    shown = bodies(kudos)
    assert "&lt;https://evil|the link&gt; &amp; *all* of it" in shown
    assert "<https://evil" not in shown


REFUSALS: list[tuple[str, str, str]] = [
    ("self", "<@U0ANA> for being great", "can't send one to you"),
    ("bot", "<@U0HELPER> for the deploys", "is a bot"),
    ("deactivated", "<@U0GONE> for everything", "no longer in the workspace"),
    ("unknown user", "<@U0NOBODY> for the help", "I don't know <@U0NOBODY> yet"),
    ("channel", "<#C0GENERAL|general> for the help", "not channels"),
    ("broadcast", "<!channel> for the help", "groups like @channel"),
    ("user group", "<!subteam^S0TEAM|@devs> for the help", "groups like @channel"),
    ("unlinked name", "@ana for the help", "I couldn't tell who `@ana` is"),
    ("no recipient", "for the help", "Who would you like to thank?"),
    ("only mentions", "<@U0BEN> <@U0CHEN>", "Tell them what for"),
    ("too long", "<@U0BEN> " + "thanks " * 200, "kudos can be up to 1,000"),
    ("fifty people", " ".join(f"<@U0P{i:03d}>" for i in range(50)) + " for the offsite", "That's 50 people!"),
]


@pytest.mark.parametrize(("case", "text", "says"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_each_refusal_says_why_and_stores_nothing(kudos: Harness, case: str, text: str, says: str) -> None:
    assert says in give(kudos, text)
    assert stored(kudos) == []
    assert kudos.dispatch() == 0


def test_more_than_ten_recipients_are_refused_kindly(kudos: Harness) -> None:
    with kudos.session_factory.begin() as session:
        workspace_id = kudos.person("U0ANA").workspace_id
        for i in range(11):
            session.add(Person(workspace_id=workspace_id, accounts=slack_account(f"U0P{i:03d}"), name=f"Person {i}"))
    text = " ".join(f"<@U0P{i:03d}>" for i in range(11)) + " for the offsite"
    assert "That's 11 people! I can carry kudos to up to 10 at once" in give(kudos, text)
    assert stored(kudos) == []


def test_the_daily_limit_says_what_is_left_and_resets_at_local_midnight(kudos: Harness) -> None:
    recipients = ["U0BEN", "U0CHEN", "U0DAN", "U0PRIYA", "U0BEN"]
    replies = [give(kudos, f"<@{r}> for thing {i}") for i, r in enumerate(recipients)]
    assert "4 more today" in replies[0] and "That was your last one for today" in replies[4]
    assert "daily limit" in give(kudos, "<@U0CHEN> for one more thing")
    assert len(stored(kudos)) == 5
    kudos.clock.advance(timedelta(hours=14))  # past midnight in London
    assert "Thank you for noticing" in give(kudos, "<@U0CHEN> for one more thing")


def test_the_same_pair_is_capped_per_week_both_ways_together(kudos: Harness) -> None:
    give(kudos, "<@U0BEN> for one")
    give(kudos, "<@U0ANA> for two", user="U0BEN")
    give(kudos, "<@U0BEN> for three")
    refusal = give(kudos, "<@U0BEN> for four")
    assert "You and Ben have exchanged 3 kudos in the last 7 days" in refusal
    assert "You can give 3 more kudos today." in refusal
    assert "Leave Ben out" in give(kudos, "<@U0CHEN> <@U0BEN> for five")
    assert len(stored(kudos)) == 3
    kudos.clock.advance(timedelta(days=7, minutes=1))
    assert "Thank you for noticing" in give(kudos, "<@U0BEN> for four")


def test_hr_can_require_a_value(kudos: Harness) -> None:
    done = kudos.command("/empathy", "config kudos-require-value on", user="U0PRIYA")["text"]
    assert "`kudos-require-value` is now on" in done
    reply = give(kudos, "<@U0BEN> for the help")
    assert "Please add one of our values" in reply and "`#customer-first`" in reply
    assert "Thank you" in give(kudos, "<@U0BEN> for the help #Customer-First")
    assert [v.tag for v in stored(kudos)[0].values] == ["customer-first"]


def test_a_hashtag_that_is_no_value_is_kept_as_text_and_the_giver_is_told_privately(kudos: Harness) -> None:
    reply = give(kudos, "<@U0BEN> for the release #temwork #ownership #shipit")
    assert "Thank you for noticing" in reply  # sent, not refused
    assert "I kept `#temwork`, `#shipit` as plain text" in reply and "Did you mean `#teamwork`?" in reply
    [row] = stored(kudos)
    assert row.message == "for the release #temwork #shipit"  # the values became tags, the rest stayed words
    assert [v.tag for v in row.values] == ["ownership"]
    kudos.dispatch()
    assert "#temwork #shipit" in bodies(kudos)  # as they wrote it, in the shout-out and the DM


def test_without_company_values_a_hashtag_never_costs_the_thank_you(
    slack: FakeSlack, db_url: str, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    harness = make_harness(slack, db_url, engine, session_factory, people=PEOPLE[:3], now=NOW)
    reply = give(harness, "<@U0BEN> for the release #teamwork")
    assert "Thank you for noticing" in reply
    assert "I kept `#teamwork` as plain text in your message: HR hasn't set up company values" in reply
    [row] = stored(harness)
    assert row.message == "for the release #teamwork" and row.values == []


def test_a_required_value_still_refuses_a_kudos_tagged_only_with_unknown_ones(kudos: Harness) -> None:
    kudos.command("/empathy", "config kudos-require-value on", user="U0PRIYA")
    reply = give(kudos, "<@U0BEN> for the help #temwork")
    assert "Please add one of our values" in reply and "Did you mean `#teamwork`?" in reply
    assert stored(kudos) == []


def test_the_same_typed_kudos_twice_posts_once(kudos: Harness) -> None:
    kudos.clock.advance(timedelta(seconds=599))  # just before a 10-minute window ends
    give(kudos, "<@U0BEN> for the demo")
    kudos.clock.advance(timedelta(seconds=2))  # the repeat lands in the next window
    assert "already on its way" in give(kudos, "<@U0BEN> for the demo")
    assert kudos.dispatch() == 2  # one post, one DM
    assert len(stored(kudos)) == 1


# -- the modal and the shortcut -----------------------------------------------------------------------


def modal_values(users: list[str], message: str, tags: list[str] = (), private: bool = False) -> dict[str, Any]:  # type: ignore[assignment]
    return {
        views.RECIPIENTS_BLOCK: {views.RECIPIENTS_INPUT: {"type": "multi_users_select", "selected_users": users}},
        views.MESSAGE_BLOCK: {views.MESSAGE_INPUT: {"type": "plain_text_input", "value": message}},
        views.VALUES_BLOCK: {
            views.VALUES_INPUT: {"type": "multi_static_select", "selected_options": [{"value": t} for t in tags]}
        },
        views.PRIVATE_BLOCK: {
            views.PRIVATE_INPUT: {
                "type": "checkboxes",
                "selected_options": [{"value": "private"}] if private else [],
            }
        },
    }


def test_kudos_alone_opens_the_modal_and_a_submission_posts_once(kudos: Harness) -> None:
    assert kudos.command("/kudos", "") == {}
    (opened,) = kudos.slack.wait_for("views.open")
    view = opened["view"]
    assert view["callback_id"] == views.KUDOS_VIEW
    options = next(b for b in view["blocks"] if b["block_id"] == views.VALUES_BLOCK)["element"]["options"]
    assert [o["value"] for o in options] == ["teamwork", "ownership", "customer-first"]

    values = modal_values(["U0BEN"], "for pairing with me all week", ["ownership"])
    first = kudos.submit("U0ANA", views.KUDOS_VIEW, values, view_id="V0SAME")
    again = kudos.submit("U0ANA", views.KUDOS_VIEW, values, view_id="V0SAME")
    assert first["response_action"] == "update" and again["response_action"] == "update"
    assert kudos.dispatch() == 2
    assert len(stored(kudos)) == 1


def test_modal_errors_sit_beside_the_field_they_are_about(kudos: Harness) -> None:
    reply = kudos.submit("U0ANA", views.KUDOS_VIEW, modal_values(["U0ANA"], "for me"))
    assert reply["response_action"] == "errors"
    assert "can't send one to you" in reply["errors"][views.RECIPIENTS_BLOCK]
    reply = kudos.submit("U0ANA", views.KUDOS_VIEW, modal_values(["U0BEN"], "   "))
    assert "Tell them what for" in reply["errors"][views.MESSAGE_BLOCK]
    assert stored(kudos) == []


def test_the_message_shortcut_prefills_the_author_and_remembers_the_message(kudos: Harness) -> None:
    payload = {
        "type": "message_action",
        "callback_id": views.MESSAGE_SHORTCUT,
        "trigger_id": "9.trigger",
        "user": {"id": "U0ANA", "team_id": "T0001"},
        "channel": {"id": "C0GENERAL"},
        "message": {"user": "U0CHEN", "ts": "1700000000.000200", "text": "Fixed the flaky test <!here>"},
        "response_url": kudos.requests.response_url(),
    }
    assert kudos.requests.interaction(payload).status_code == 200
    (opened,) = kudos.slack.wait_for("views.open")
    view = opened["view"]
    recipients = next(b for b in view["blocks"] if b.get("block_id") == views.RECIPIENTS_BLOCK)
    assert recipients["element"]["initial_users"] == ["U0CHEN"]
    assert "&lt;!here&gt;" in json.dumps(view["blocks"]) and "<!here>" not in json.dumps(view["blocks"])

    kudos.submit("U0ANA", views.KUDOS_VIEW, modal_values(["U0CHEN"], "for this fix"), metadata=view["private_metadata"])
    (row,) = stored(kudos)
    assert (row.item_channel, row.item_ts) == ("C0GENERAL", "1700000000.000200")


# -- reactions ----------------------------------------------------------------------------------------


def reaction(
    kind: str, user: str, author: str, emoji: str = "raised_hands", ts: str = "1700000000.000300"
) -> dict[str, Any]:
    return {
        "type": kind,
        "user": user,
        "reaction": emoji,
        "item_user": author,
        "item": {"type": "message", "channel": "C0GENERAL", "ts": ts},
    }


def wait_until(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError("the event was not handled in time")


def reactions(harness: Harness) -> list[Kudos]:
    return [k for k in stored(harness) if k.kind == KudosKind.REACTION.value]


def test_a_reaction_is_light_recognition_undone_if_removed_within_a_minute(kudos: Harness) -> None:
    kudos.event(reaction("reaction_added", "U0ANA", "U0BEN", "raised_hands::skin-tone-3"))
    wait_until(lambda: len(reactions(kudos)) == 1)
    assert [r.person_id for r in reactions(kudos)[0].recipients] == [kudos.person("U0BEN").id]

    kudos.clock.advance(timedelta(seconds=30))
    kudos.event(reaction("reaction_removed", "U0ANA", "U0BEN"))
    wait_until(lambda: reactions(kudos) == [])

    kudos.event(reaction("reaction_added", "U0ANA", "U0BEN", ts="1700000000.000400"))
    wait_until(lambda: len(reactions(kudos)) == 1)
    kudos.clock.advance(timedelta(minutes=2))
    kudos.event(reaction("reaction_removed", "U0ANA", "U0BEN", ts="1700000000.000400"))
    kudos.event(reaction("reaction_added", "U0CHEN", "U0BEN", ts="1700000000.000500"))
    wait_until(lambda: len(reactions(kudos)) == 2)  # the late removal changed nothing
    assert kudos.dispatch() == 0  # light recognition posts nothing


def test_reactions_follow_the_rules_silently(kudos: Harness) -> None:
    kudos.event(reaction("reaction_added", "U0ANA", "U0ANA"))  # own message
    kudos.event(reaction("reaction_added", "U0ANA", "U0BEN", emoji="thumbsup"))  # not the kudos emoji
    kudos.event(reaction("reaction_added", "U0ANA", "U0HELPER"))  # a bot's message
    kudos.event(reaction("reaction_added", "U0CHEN", "U0BEN", ts="1.1"))  # the marker: handled after the others
    wait_until(lambda: len(reactions(kudos)) == 1)
    assert reactions(kudos)[0].giver_id == kudos.person("U0CHEN").id


# -- stats, leaderboard, insights ------------------------------------------------------------------------


def test_stats_show_a_person_their_own_numbers(kudos: Harness) -> None:
    give(kudos, "<@U0BEN> for one #teamwork")
    give(kudos, "<@U0BEN> for two #teamwork #ownership", user="U0CHEN")
    stats = give(kudos, "stats", user="U0BEN")
    assert "gave 0 and received 2" in stats
    assert ":handshake: Teamwork ×2" in stats and ":rocket: Ownership ×1" in stats


def test_the_leaderboard_is_off_until_hr_switches_it_on(kudos: Harness) -> None:
    assert "The leaderboard is off" in give(kudos, "leaderboard")
    give(kudos, "<@U0BEN> for one")
    give(kudos, "<@U0BEN> for two", user="U0CHEN")
    give(kudos, "<@U0CHEN> for three", user="U0DAN")
    kudos.command("/empathy", "config kudos-leaderboard on", user="U0PRIYA")
    board = give(kudos, "leaderboard")
    assert "1. Ben Okafor: 2\n2. Chen Wei: 1" in board


def test_insights_count_a_team_and_invite_thanks_for_the_quiet_ones(
    kudos: Harness, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as session:
        people = {slack_id(p): p for p in session.scalars(select(Person))}
        for report in ("U0ANA", "U0BEN", "U0CHEN"):
            people[report].manager_id = people["U0DAN"].id
    give(kudos, "<@U0BEN> for one #teamwork", user="U0ANA")
    give(kudos, "<@U0BEN> for two #teamwork", user="U0PRIYA")
    kudos.clock.advance(timedelta(days=8))
    give(kudos, "<@U0CHEN> for three #ownership", user="U0ANA")
    now = kudos.clock.now()
    with session_factory() as session:
        team = [session.scalar(select(Person).where(slack_is(u))) for u in ("U0ANA", "U0BEN", "U0CHEN")]
        week = insights(session, [p for p in team if p], now - timedelta(days=7), now + timedelta(seconds=1))
        assert (week.people, week.given, week.received, week.recognised) == (3, 1, 1, 1)
        assert week.by_value == [("ownership", 1)]
        assert [p.name for p in week.not_recognised_lately] == ["Ana Souza"]
        dan = session.scalar(select(Person).where(slack_is("U0DAN")))
        assert dan is not None
        section = digest_section(session, dan, now - timedelta(days=7), now + timedelta(seconds=1))
    assert section is not None
    assert section.lines[0] == "1 public kudos received and 1 given this week; 1 of 3 people were recognised publicly."
    assert "Not publicly recognised in the last 30 days: Ana Souza." in section.lines[2]


# -- values, App Home, CLI ---------------------------------------------------------------------------------


def test_app_home_shows_kudos_to_everyone_and_values_to_hr(kudos: Harness) -> None:
    kudos.requests.app_home_opened("U0BEN")
    kudos.requests.app_home_opened("U0PRIYA")
    ben, priya = kudos.slack.wait_for("views.publish", 2)
    assert "*Kudos*" in json.dumps(ben) and "Edit values" not in json.dumps(ben)
    assert "Edit values" in json.dumps(priya) and ":rocket: Ownership" in json.dumps(priya)


def test_hr_edits_values_in_a_modal_with_line_numbered_errors(kudos: Harness) -> None:
    kudos.click("U0PRIYA", views.VALUES_ACTION, "values")
    (opened,) = kudos.slack.wait_for("views.open")
    assert ":handshake: Teamwork - we win together" in json.dumps(opened["view"])

    lines = {
        views.VALUE_LINES_BLOCK: {
            views.VALUE_LINES_INPUT: {"type": "plain_text_input", "value": "Care\n:bad emoji: X\ncare"}
        }
    }
    reply = kudos.submit("U0PRIYA", views.VALUES_VIEW, lines)
    assert reply["response_action"] == "errors"
    assert "line 3: `care` is already on line 1" in reply["errors"][views.VALUE_LINES_BLOCK]
    with kudos.session_factory() as session:
        assert session.scalar(select(func.count(CompanyValue.id))) == 3  # unchanged

    good = {views.VALUE_LINES_BLOCK: {views.VALUE_LINES_INPUT: {"type": "plain_text_input", "value": ":heart: Care"}}}
    assert kudos.submit("U0BEN", views.VALUES_VIEW, good)["response_action"] == "errors"  # not HR
    assert kudos.submit("U0PRIYA", views.VALUES_VIEW, good) == {}
    with kudos.session_factory() as session:
        assert list(session.scalars(select(CompanyValue.tag))) == ["care"]
        assert session.scalar(select(AuditEntry.action).order_by(AuditEntry.id.desc())) == "kudos.values"


def test_values_file_import_is_all_or_nothing_and_line_numbered(
    kudos: Harness,
    slack: FakeSlack,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in make_env(slack, db_url).items():
        monkeypatch.setenv(name, value)
    bad = tmp_path / "values.yml"
    bad.write_text("values:\n  - name: Care\n    emoji: heart\n  - name: care\n  - colour: red\n")
    assert main(["kudos", "values-import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "line 2: the emoji should look like `:handshake:`" in err
    assert "line 4: `care` is already on line 2" in err
    assert "line 5: unknown key `colour`" in err
    good = tmp_path / "good.yml"
    good.write_text('values:\n  - name: Care\n    emoji: ":heart:"\n    description: We look after each other.\n')
    assert main(["kudos", "values-import", str(good)]) == 0
    assert main(["kudos", "values-export"]) == 0
    assert "name: Care" in capsys.readouterr().out


# -- privacy -------------------------------------------------------------------------------------------


def test_privacy_export_and_forget_cover_kudos(kudos: Harness, session_factory: sessionmaker[Session]) -> None:
    give(kudos, "<@U0BEN> for one #teamwork")
    give(kudos, "<@U0ANA> <@U0CHEN> for two", user="U0BEN")
    box = empathy_context_of(kudos.app).box
    with session_factory.begin() as session:
        ben = session.scalar(select(Person).where(slack_is("U0BEN")))
        assert ben is not None
        data = personal_data(session, ben, box=box)["kudos"]
        assert [k["message"] for k in data["kudos_given"]] == ["for two"]
        assert [k["from"] for k in data["kudos_received"]] == ["Ana Souza"]
        report = forget(session, ben, box=box, now=kudos.clock.now(), actor_id=None, via="cli")
        assert (report["kudos.given"], report["kudos.received"]) == (1, 1)
    # Ben's own kudos went; Ana's had only Ben to thank, so it went too.
    assert stored(kudos) == []


# -- fair play under concurrency -----------------------------------------------------------------------


def add_people(harness: Harness, count: int) -> list[str]:
    """`count` more colleagues (U0P000, U0P001, …), in the directory and in the fake Slack."""
    ids = [f"U0P{i:03d}" for i in range(count)]
    with harness.session_factory.begin() as session:
        workspace_id = harness.person("U0ANA").workspace_id
        for slack_id in ids:
            harness.slack.add_user(slack_id, email=f"{slack_id.lower()}@example.com", real_name=f"Person {slack_id}")
            session.add(Person(workspace_id=workspace_id, accounts=slack_account(slack_id), name=f"Person {slack_id}"))
    return ids


def race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run `calls` on their own threads, released together; their results (or exceptions), in order."""
    start = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = calls[index]()
        except Exception as error:  # the test asserts on it
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def give_directly(
    factory: sessionmaker[Session], harness: Harness, giver: str, recipients: list[str], message: str
) -> str:
    """What the handlers do, in a session of its own: give under the rules and commit, or say why not."""
    try:
        with factory.begin() as session:
            people = {slack_id(p): p for p in session.scalars(select(Person))}
            workspace = session.get(Workspace, people[giver].workspace_id)
            assert workspace is not None
            given = recognition.give(
                session,
                workspace,
                people[giver],
                [people[r] for r in recipients],
                message,
                [],
                private=False,
                submit_key=f"race:{giver}:{message}",
                settings=harness.settings,
                now=harness.clock.now(),
            )
            return "given" if given.created else "repeat"
    except recognition.KudosRefused as refused:
        return str(refused)


@pytest.fixture
def second_process(db_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on an engine of their own: what another web process or worker would use."""
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()


def test_ten_kudos_at_once_from_one_person_store_exactly_the_daily_limit(
    kudos: Harness, second_process: sessionmaker[Session]
) -> None:
    others = add_people(kudos, 10)
    for round_ in range(2):  # two days: the limit holds again after it resets
        factories = [kudos.session_factory, second_process] * 5
        results = race(
            [
                partial(give_directly, factory, kudos, "U0ANA", [other], f"for day {round_} thing {i}")
                for i, (factory, other) in enumerate(zip(factories, others, strict=True))
            ]
        )
        assert results.count("given") == 5, results
        assert sum("daily limit" in str(r) for r in results) == 5, results
        assert len(stored(kudos)) == 5 * (round_ + 1)
        kudos.clock.advance(timedelta(days=1))


def test_a_kudos_to_several_people_counts_once_when_racing(
    kudos: Harness, second_process: sessionmaker[Session]
) -> None:
    others = add_people(kudos, 20)
    factories = [kudos.session_factory, second_process] * 5
    results = race(
        [
            partial(give_directly, factory, kudos, "U0ANA", others[2 * i : 2 * i + 2], f"for pair {i}")
            for i, factory in enumerate(factories)
        ]
    )
    assert results.count("given") == 5, results
    assert len(stored(kudos)) == 5


def test_the_pair_cap_holds_when_both_people_thank_each_other_at_once(
    kudos: Harness, second_process: sessionmaker[Session]
) -> None:
    factories = [kudos.session_factory, second_process] * 5
    pairs = [("U0ANA", "U0BEN"), ("U0BEN", "U0ANA")] * 5
    results = race(
        [
            partial(give_directly, factory, kudos, giver, [recipient], f"for the handover {i}")
            for i, (factory, (giver, recipient)) in enumerate(zip(factories, pairs, strict=True))
        ]
    )
    assert results.count("given") == 3, results
    assert sum("have exchanged 3 kudos in the last 7 days" in str(r) for r in results) == 7, results
    assert len(stored(kudos)) == 3


def test_the_same_submission_racing_itself_is_stored_once(
    kudos: Harness, second_process: sessionmaker[Session]
) -> None:
    factories = [kudos.session_factory, second_process] * 5
    results = race(
        [partial(give_directly, factory, kudos, "U0ANA", ["U0BEN"], "for the same thing") for factory in factories]
    )
    assert sorted(results) == ["given"] + ["repeat"] * 9, results
    assert len(stored(kudos)) == 1


def test_reactions_racing_with_kudos_count_towards_the_same_daily_limit(
    kudos: Harness, second_process: sessionmaker[Session]
) -> None:
    others = add_people(kudos, 10)
    before = kudos.person("U0ANA").updated_at

    def react(factory: sessionmaker[Session], author: str, ts: str) -> str:
        with factory.begin() as session:
            people = {slack_id(p): p for p in session.scalars(select(Person))}
            workspace = session.get(Workspace, people["U0ANA"].workspace_id)
            assert workspace is not None
            done = recognition.react(
                session,
                workspace,
                people["U0ANA"],
                people[author],
                channel="C0GENERAL",
                ts=ts,
                settings=kudos.settings,
                now=kudos.clock.now(),
            )
            return "given" if done is not None else "ignored"

    factories = [kudos.session_factory, second_process] * 5
    calls: list[Callable[[], Any]] = [
        partial(react, factory, other, f"1700000000.{i:06d}")
        if i % 2
        else partial(give_directly, factory, kudos, "U0ANA", [other], f"for thing {i}")
        for i, (factory, other) in enumerate(zip(factories, others, strict=True))
    ]
    results = race(calls)
    assert results.count("given") == 5, results
    assert len(stored(kudos)) == 5
    # The lock rewrote Ana's row unchanged: it does not record when she last gave kudos.
    assert kudos.person("U0ANA").updated_at == before


def send_at_once(kudos: Harness, second_process: sessionmaker[Session], texts: list[tuple[str, str]]) -> list[str]:
    """Each (user, text) as a signed `/kudos`, all at once, alternating between two web processes (each
    its own app and engine, acking early and working through its inbox's threads); the replies."""
    settings = load_settings(
        make_env(kudos.slack, kudos.settings.database_url, EMPATHY_KUDOS_CHANNEL=CHANNEL, EMPATHY_WORK_THREADS="5")
    )
    processes = [
        start_app(settings, factory.kw["bind"], factory, kudos.slack, kudos.clock.now())
        for factory in (kudos.session_factory, second_process)
    ]

    def send(index: int) -> int:
        web = processes[index % 2].requests.client.application.test_client()
        requests = SlackRequests(web, SIGNING_SECRET, team_id=TEAM_ID, response_base=kudos.slack.url)
        user, text = texts[index]
        return requests.command("/kudos", text, user_id=user).status_code

    assert race([partial(send, i) for i in range(len(texts))]) == [200] * len(texts)
    kudos.wait_reply(len(texts))
    return [str(r["text"]) for r in kudos.replies()]


@pytest.mark.parametrize("layout", ["serve", "two serving processes", "web and two workers"])
def test_six_kudos_typed_one_after_another_meet_the_daily_limit_at_the_sixth(
    kudos: Harness, second_process: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    """Ana types six `/kudos` in a row, each acked before the next. The fifth takes a while to apply
    (its work is slowed here); the sixth must wait for it rather than take the last slot of the day."""
    others = add_people(kudos, 6)
    real_give = recognition.give

    def give_slowly(*args: Any, **kwargs: Any) -> Any:
        if any("thing 4" in str(arg) for arg in args):
            time.sleep(0.6)
        return real_give(*args, **kwargs)

    monkeypatch.setattr(recognition, "give", give_slowly)
    settings = load_settings(
        make_env(kudos.slack, kudos.settings.database_url, EMPATHY_KUDOS_CHANNEL=CHANNEL, EMPATHY_WORK_THREADS="5")
    )
    engines = [kudos.session_factory.kw["bind"], second_process.kw["bind"]]
    workers: list[Inbox] = []
    if layout == "web and two workers":
        fronts = [create_web_app(create_app(settings, engine=engines[0], clock=ManualClock(NOW)), works=False)]
        workers = [
            inbox
            for engine in engines
            if (inbox := inbox_for(settings, engine=engine, clock=ManualClock(NOW), accepts=False, works=True))
        ]
        for worker in workers:
            worker.start()
    else:
        processes = [
            start_app(settings, engine, factory, kudos.slack, NOW)
            for engine, factory in zip(engines, (kudos.session_factory, second_process), strict=True)
        ]
        fronts = [p.requests.client.application for p in processes][: 1 if layout == "serve" else 2]

    for n, other in enumerate(others):
        web = fronts[n % len(fronts)].test_client()
        requests = SlackRequests(web, SIGNING_SECRET, team_id=TEAM_ID, response_base=kudos.slack.url)
        response = requests.command("/kudos", f"<@{other}> for thing {n}", user_id="U0ANA")
        assert response.status_code == 200 and response.data == b""  # acked early, handled behind the ack
    kudos.wait_reply(6)
    for worker in workers:
        worker.stop()

    assert sorted(k.message for k in stored(kudos)) == [f"for thing {n}" for n in range(5)]
    assert "which is the daily limit" in str(kudos.replies()[-1]["text"])


def test_ten_signed_kudos_at_once_through_two_processes_post_exactly_the_limit(
    kudos: Harness, second_process: sessionmaker[Session]
) -> None:
    others = add_people(kudos, 10)
    replies = send_at_once(kudos, second_process, [("U0ANA", f"<@{other}> for thing {other}") for other in others])
    assert sum(r.startswith(":raised_hands: Thank you for noticing!") for r in replies) == 5, replies
    assert sum("which is the daily limit" in r for r in replies) == 5, replies
    assert len(stored(kudos)) == 5
    kudos.dispatch()
    assert len(kudos.slack.messages(CHANNEL)) == 5


def test_signed_kudos_both_ways_at_once_through_two_processes_respect_the_pair_cap(
    kudos: Harness, second_process: sessionmaker[Session]
) -> None:
    texts = [
        ("U0ANA", f"<@U0BEN> for the handover {i}") if i % 2 else ("U0BEN", f"<@U0ANA> for the handover {i}")
        for i in range(8)
    ]
    replies = send_at_once(kudos, second_process, texts)
    assert sum(r.startswith(":raised_hands: Thank you for noticing!") for r in replies) == 3, replies
    assert sum("have exchanged 3 kudos in the last 7 days" in r for r in replies) == 5, replies
    assert len(stored(kudos)) == 3


def test_the_same_typed_kudos_sent_at_once_posts_once(kudos: Harness, second_process: sessionmaker[Session]) -> None:
    replies = send_at_once(kudos, second_process, [("U0ANA", "<@U0BEN> for the demo #teamwork")] * 6)
    assert sum(r.startswith(":raised_hands: Thank you for noticing!") for r in replies) == 1, replies
    assert sum("already on its way" in r for r in replies) == 5, replies
    assert kudos.dispatch() == 2  # one post, one DM
    assert len(stored(kudos)) == 1


# -- private kudos stay private ----------------------------------------------------------------------------


def test_private_kudos_change_nothing_a_manager_hr_or_the_leaderboard_sees(kudos: Harness, db_url: str) -> None:
    """Dan manages Ana, Ben and Chen. What Dan's App Home (his digest), HR's App Home and the leaderboard
    show must be byte for byte the same before and after private kudos among Ana, Ben and Chen (Dan's
    and Priya's own stats would rightly change had they given one): Ana thanked only privately is still
    "not publicly recognised" (else she could be picked out by elimination), and nothing is counted."""
    with kudos.session_factory.begin() as session:
        people = {slack_id(p): p for p in session.scalars(select(Person))}
        for report in ("U0ANA", "U0BEN", "U0CHEN"):
            people[report].manager_id = people["U0DAN"].id
    kudos.command("/empathy", "config kudos-leaderboard on", user="U0PRIYA")
    give(kudos, "<@U0BEN> for the release notes #teamwork", user="U0PRIYA")
    give(kudos, "<@U0CHEN> for the pairing #ownership", user="U0BEN")
    # Reading a week later, when Dan's digest covers the week these kudos were given in.
    viewer = start_app(kudos.settings, kudos.session_factory.kw["bind"], kudos.session_factory, kudos.slack, NOW)
    viewer.clock.advance(timedelta(days=7))

    def seen() -> list[str]:
        kudos.slack.reset()
        viewer.requests.app_home_opened("U0DAN")
        viewer.requests.app_home_opened("U0PRIYA")
        homes = kudos.slack.wait_for("views.publish", 2)
        assert viewer.command("/kudos", "leaderboard", user="U0BEN") == {}
        board = str(viewer.wait_reply(1)["text"])
        return [json.dumps(h, sort_keys=True) for h in sorted(homes, key=lambda h: h["user_id"])] + [board]

    before = seen()
    assert "Recognition" in before[0] and "Not publicly recognised in the last 30 days: Ana Souza" in before[0]
    assert "*Most thanked in public in the last 30 days*\n1. Ben Okafor: 1\n2. Chen Wei: 1" in before[2]

    kudos.clock.advance(timedelta(hours=1))
    assert "will get it by DM" in give(kudos, "private <@U0ANA> for covering my on-call #teamwork", user="U0BEN")
    assert "will get it by DM" in give(kudos, "private <@U0BEN> <@U0CHEN> for listening #ownership")
    assert "will get it by DM" in give(kudos, "private <@U0ANA> for the quiet help", user="U0CHEN")
    kudos.submit("U0CHEN", views.KUDOS_VIEW, modal_values(["U0ANA"], "for the offsite", ["teamwork"], private=True))
    assert len(stored(kudos)) == 6

    assert seen() == before
    # The recipient's own stats do count them: she may see what she was thanked for.
    stats = give(kudos, "stats", user="U0ANA")
    assert "gave 1 and received 3" in stats and "These include private kudos" in stats
