"""Weekly digests end to end: closed rounds → job → outbox → the fake Slack API."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.cli.main import main
from bot.core.clock import ManualClock
from bot.core.models import OutboxMessage, OutboxState, Person
from bot.delivery.outbox import OutboxDispatcher
from bot.delivery.scheduler import run_job
from bot.digest_jobs import digest_key, parse_week, week_end_for
from bot.jobs import build_jobs
from handlers.slack.client import build_web_client
from handlers.slack.platform import SlackPlatform
from handlers.slack.sender import SlackSender
from tests.conftest import make_env
from tests.fakes.slack.api import manifest_scopes
from tests.support.snapshots import built_once
from tests.unit.surveys.test_results import ORG, build_org, run_round

MONDAY = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)  # after the default 09:00 send time (everyone is on UTC)


@pytest.fixture
def history(engine, session_factory, workspace, slack):  # type: ignore[no-untyped-def]
    """Six closed weekly rounds for the whole organisation: built by the real services once per session
    and database, then restored as it was into each test's fresh database (tests/support/snapshots.py)."""

    def build() -> dict[str, int]:
        with session_factory.begin() as session:
            people = {n: p.id for n, p in build_org(session, session.merge(workspace)).items()}
        for week in range(6):
            day = date(2026, 10, 19) + timedelta(weeks=week)
            run_round(session_factory, workspace, {f"p{i}": 3 for i in range(6)}, day)
        return people

    people = dict(built_once("digest-history", engine, build))
    for name in ORG:
        slack.add_user(f"U0{name.upper()}", email=f"{name}@example.com", real_name=name.title())
    return people


def send_digests(settings, session_factory, clock) -> int:  # type: ignore[no-untyped-def]
    job = {j.name: j for j in build_jobs(settings, session_factory, [SlackPlatform(settings, session_factory)])}[
        "digest.weekly"
    ]
    return run_job(job, session_factory, clock)


def dispatch(settings, session_factory, clock) -> None:  # type: ignore[no-untyped-def]
    client = build_web_client(settings, for_outbox=True)
    OutboxDispatcher(session_factory, SlackSender(client, rate_per_minute=100_000, burst=1000), clock).run_once(
        time_budget=10
    )


def test_each_manager_gets_only_their_own_groups_once_a_week(history, settings, session_factory, slack) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock(MONDAY)
    assert send_digests(settings, session_factory, clock) == 3  # Dana, Marcus, and Grace (whose 3 are too few)
    assert send_digests(settings, session_factory, clock) == 0  # already queued this week: nothing new
    dispatch(settings, session_factory, clock)
    [grace] = slack.messages("D0GRACE")
    assert "Not enough responses to keep answers anonymous this week" in str(grace["blocks"])
    assert "Sales (your direct reports)" in str(grace["blocks"]) and "likely between" not in str(grace["blocks"])
    [marcus] = slack.messages("D0MARCUS")
    [dana] = slack.messages("D0DANA")
    marcus_text = str(marcus["blocks"])
    # Marcus's organisation is exactly his Platform team: one section, not the same numbers twice.
    assert "Your whole organisation" in marcus_text and marcus_text.count("*Took part*") == 1
    assert "Sales" not in marcus_text and "Grace" not in marcus_text
    assert "Marcus's organisation" in str(dana["blocks"])
    assert "every answer the same" in marcus_text and "answers)" in marcus_text  # the history is unanimous
    assert len(marcus["blocks"]) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in marcus["blocks"] if b["type"] == "section")
    assert len(slack.calls_to("chat.postMessage")) == 3
    charts = {f["channel"]: f for f in slack.files()}
    assert set(charts) == {"D0MARCUS", "D0DANA"}
    marcus_chart = charts["D0MARCUS"]
    assert marcus_chart["content"].startswith(b"\x89PNG\r\n\x1a\n") and marcus_chart["name"] == "team-trend.png"
    assert marcus_chart["alt_txt"].startswith("Line chart: Your whole organisation: last 6 rounds")
    assert "Engagement went from" in marcus_chart["alt_txt"]


def test_installed_from_the_manifest_each_digest_carries_its_trend_chart(
    history, settings, session_factory, slack
) -> None:  # type: ignore[no-untyped-def]
    """The chart goes up with files_upload_v2, which needs files:write: before manifest.yml asked for it,
    Slack refused files.getUploadURLExternal and the chart rows failed while the digests went out bare."""
    assert slack.scopes.split(",") == manifest_scopes()  # what a workspace installed from manifest.yml grants
    send_digests(settings, session_factory, ManualClock(MONDAY))
    dispatch(settings, session_factory, ManualClock(MONDAY))
    assert slack.scope_refusals() == []
    uploaded = {f["channel"] for f in slack.files() if f["content"] and f["channel"]}
    assert uploaded == {"D0MARCUS", "D0DANA"}
    with session_factory() as session:
        states = session.scalars(select(OutboxMessage.state)).all()
    assert set(states) == {OutboxState.SENT.value}


def test_without_files_write_the_chart_is_refused_as_slack_refuses_it(
    history, settings, session_factory, slack
) -> None:  # type: ignore[no-untyped-def]
    """The other side of the test above: the fake refuses what Slack refuses, through the real flow."""
    slack.revoke("files:write")
    send_digests(settings, session_factory, ManualClock(MONDAY))
    dispatch(settings, session_factory, ManualClock(MONDAY))
    assert "files.getUploadURLExternal: files:write" in slack.scope_refusals()
    assert slack.files() == [] and len(slack.calls_to("chat.postMessage")) == 3  # the digests themselves still go


def test_a_week_with_nothing_closed_sends_nothing(history, settings, session_factory) -> None:  # type: ignore[no-untyped-def]
    assert send_digests(settings, session_factory, ManualClock(MONDAY + timedelta(weeks=3))) == 0


def test_weeks_and_keys() -> None:
    assert week_end_for(MONDAY + timedelta(days=3)) == datetime(2026, 11, 30, tzinfo=UTC)
    assert parse_week("2026-W48") == datetime(2026, 11, 30, tzinfo=UTC)
    assert digest_key(datetime(2026, 11, 30, tzinfo=UTC), 7) == "digest:2026-W48:7"


def test_cli_preview_and_bad_input(history, slack, db_url, tmp_path, monkeypatch, capsys, session_factory) -> None:  # type: ignore[no-untyped-def]
    for name, value in make_env(slack, db_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    with session_factory.begin() as session:
        session.scalar(select(Person).where(Person.name == "Marcus")).email = "marcus@example.com"
    assert main(["digest", "preview", "--manager", "marcus@example.com", "--week", "2026-W48"]) == 0
    out = capsys.readouterr().out
    assert "How your team is doing" in out and "Your whole organisation" in out
    assert main(["digest", "preview", "--manager", "nobody@example.com"]) == 2
    assert "nobody has the email nobody@example.com" in capsys.readouterr().err
    assert main(["digest", "send", "--week", "week 48"]) == 2
    assert "isn't a week like 2026-W48" in capsys.readouterr().err


def test_app_home_shows_a_manager_their_latest_digest(history, settings, engine, slack) -> None:  # type: ignore[no-untyped-def]
    from handlers.slack.app import create_app
    from handlers.slack.web import create_web_app
    from tests.conftest import SIGNING_SECRET, TEAM_ID
    from tests.support.slack_requests import SlackRequests

    app = create_app(settings, engine=engine, clock=ManualClock(MONDAY))
    requests = SlackRequests(
        create_web_app(app).test_client(), SIGNING_SECRET, team_id=TEAM_ID, response_base=slack.url
    )
    requests.app_home_opened("U0MARCUS")
    requests.app_home_opened("U0P0")
    views = {c["user_id"]: c["view"] for c in slack.wait_for("views.publish", count=2)}
    assert "Your whole organisation" in str(views["U0MARCUS"]["blocks"])
    assert len(views["U0MARCUS"]["blocks"]) <= 100
    assert "Your whole organisation" not in str(views["U0P0"]["blocks"])


def make_hr(session_factory, name: str) -> None:  # type: ignore[no-untyped-def]
    from bot.core.models import Role, RoleGrant, RoleSource

    with session_factory.begin() as session:
        person = session.scalar(select(Person).where(Person.name == name))
        session.add(
            RoleGrant(workspace_id=person.workspace_id, person_id=person.id, role=Role.HR, source=RoleSource.CSV)
        )


def test_hr_gets_the_overview_with_hidden_groups_marked(history, settings, session_factory, slack) -> None:  # type: ignore[no-untyped-def]
    make_hr(session_factory, "P5")
    clock = ManualClock(MONDAY)
    assert send_digests(settings, session_factory, clock) == 4  # Dana, Marcus, Grace, and P5's overview
    dispatch(settings, session_factory, clock)
    [overview] = slack.messages("D0P5")
    assert overview["text"] == "The organisation-wide digest, up to 30 Nov 2026"
    blocks = overview["blocks"]
    assert len(blocks) <= 50 and all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    table = next(b["text"]["text"] for b in blocks if b["type"] == "section" and b["text"]["text"].startswith("```"))
    rows = {line[:40].strip(): line[40:] for line in table.strip("`").splitlines()[1:]}
    # Sales (Grace's 3 people) is below k, and so is Grace's organisation: every cell hidden.
    assert set(rows["Sales (Grace)"].split()) == {"·"}
    assert set(rows["Grace's organisation"].split()) == {"·"}
    assert rows["Platform (Marcus)"].split()[0] == "6"
    # Marcus's organisation is shown with a number in every driver column.
    assert "·" not in rows["Marcus's organisation"]
    # Only P5 (the HR admin) got an overview: managers got their own digests.
    assert "organisation-wide" not in str(slack.messages("D0MARCUS"))


def test_each_manager_gets_the_digest_at_their_own_local_time(history, settings, session_factory, slack) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as session:
        session.scalar(select(Person).where(Person.name == "Marcus")).timezone = "America/Los_Angeles"
        session.scalar(select(Person).where(Person.name == "Dana")).timezone = "Pacific/Auckland"
    # Monday 09:00 in Auckland is Sunday 20:00 UTC; in Los Angeles it is Monday 17:00 UTC.
    sunday_evening = datetime(2026, 11, 29, 20, 30, tzinfo=UTC)
    assert send_digests(settings, session_factory, ManualClock(sunday_evening)) == 1
    assert send_digests(settings, session_factory, ManualClock(datetime(2026, 11, 30, 16, 0, tzinfo=UTC))) == 1  # Grace
    assert send_digests(settings, session_factory, ManualClock(datetime(2026, 11, 30, 17, 5, tzinfo=UTC))) == 1
    dispatch(settings, session_factory, ManualClock(datetime(2026, 11, 30, 17, 5, tzinfo=UTC)))
    assert len(slack.messages("D0DANA")) == 1 and len(slack.messages("D0MARCUS")) == 1


def test_the_send_day_and_time_are_configurable(history, slack, db_url, session_factory) -> None:  # type: ignore[no-untyped-def]
    from bot.core.settings import load_settings

    friday = load_settings(make_env(slack, db_url, EMPATHY_DIGEST_DAY="friday", EMPATHY_DIGEST_TIME="16:00"))
    assert send_digests(friday, session_factory, ManualClock(datetime(2026, 11, 27, 15, 59, tzinfo=UTC))) == 0
    assert send_digests(friday, session_factory, ManualClock(datetime(2026, 11, 27, 16, 0, tzinfo=UTC))) == 3


def test_a_digest_more_than_three_days_late_is_skipped(history, settings, session_factory) -> None:  # type: ignore[no-untyped-def]
    assert send_digests(settings, session_factory, ManualClock(MONDAY + timedelta(days=3, hours=1))) == 0


def test_app_home_opens_previous_weeks(history, settings, engine, slack) -> None:  # type: ignore[no-untyped-def]
    from handlers.slack.app import create_app
    from handlers.slack.web import create_web_app
    from tests.conftest import SIGNING_SECRET, TEAM_ID
    from tests.support.slack_requests import SlackRequests

    app = create_app(settings, engine=engine, clock=ManualClock(MONDAY))
    requests = SlackRequests(
        create_web_app(app).test_client(), SIGNING_SECRET, team_id=TEAM_ID, response_base=slack.url
    )
    requests.app_home_opened("U0MARCUS")
    [first] = slack.wait_for("views.publish")
    picker = next(b for b in first["view"]["blocks"] if b.get("accessory", {}).get("action_id") == "home_digest_week")
    options = picker["accessory"]["options"]
    assert len(options) == 12 and picker["accessory"]["initial_option"] == options[0]
    assert options[0]["text"]["text"] == "Week up to Mon 30 Nov 2026"
    # Three weeks earlier only the rounds up to 9 Nov had closed: a different week, with its own figures.
    three_weeks_back = options[3]
    response = requests.interaction(
        {
            "type": "block_actions",
            "user": {"id": "U0MARCUS", "team_id": TEAM_ID},
            "trigger_id": "1.trigger",
            "container": {"type": "view", "view_id": "V1"},
            "view": {"id": "V1", "type": "home"},
            "actions": [
                {
                    "type": "static_select",
                    "action_id": "home_digest_week",
                    "block_id": "b",
                    "selected_option": three_weeks_back,
                    "action_ts": "1700000000.000001",
                }
            ],
        }
    )
    assert response.status_code == 200
    second = slack.wait_for("views.publish", count=2)[1]["view"]
    picker = next(b for b in second["blocks"] if b.get("accessory", {}).get("action_id") == "home_digest_week")
    assert picker["accessory"]["initial_option"] == three_weeks_back
    assert "Your whole organisation" in str(second["blocks"])


def test_hr_sees_the_overview_in_app_home_with_its_own_week_menu(
    history, settings, engine, slack, session_factory
) -> None:  # type: ignore[no-untyped-def]
    from handlers.slack.app import create_app
    from handlers.slack.web import create_web_app
    from tests.conftest import SIGNING_SECRET, TEAM_ID
    from tests.support.slack_requests import SlackRequests

    make_hr(session_factory, "P5")  # HR, and manages nobody
    app = create_app(settings, engine=engine, clock=ManualClock(MONDAY))
    requests = SlackRequests(
        create_web_app(app).test_client(), SIGNING_SECRET, team_id=TEAM_ID, response_base=slack.url
    )
    requests.app_home_opened("U0P5")
    [call] = slack.wait_for("views.publish")
    blocks = call["view"]["blocks"]
    assert len(blocks) <= 100
    text = str(blocks)
    assert "The whole organisation (HR)" in text and "Every group × driver" in text
    [picker] = [b for b in blocks if b.get("accessory", {}).get("action_id") == "home_digest_week"]
    assert picker["text"]["text"] == "*Organisation-wide digest*"
