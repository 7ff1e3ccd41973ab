"""Weekly digests end to end: closed rounds → job → outbox → the fake Slack API."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.clock import ManualClock
from bot.digest_jobs import digest_key, parse_week, week_end_for
from bot.jobs import build_jobs
from bot.models import Person
from bot.outbox import OutboxDispatcher
from bot.scheduler import run_job
from bot.slack_client import build_web_client
from tests.conftest import make_env
from tests.test_results import ORG, build_org, run_round

MONDAY = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)  # after the default 09:00 send time (everyone is on UTC)


@pytest.fixture
def history(session_factory, workspace, slack):  # type: ignore[no-untyped-def]
    """Six closed weekly rounds for the whole organisation."""
    with session_factory.begin() as session:
        people = {n: p.id for n, p in build_org(session, session.merge(workspace)).items()}
    for name in ORG:
        slack.add_user(f"U0{name.upper()}", email=f"{name}@example.com", real_name=name.title())
    for week in range(6):
        day = date(2026, 10, 19) + timedelta(weeks=week)
        run_round(session_factory, workspace, {f"p{i}": 3 for i in range(6)}, day)
    return people


def send_digests(settings, session_factory, clock) -> int:  # type: ignore[no-untyped-def]
    job = {j.name: j for j in build_jobs(settings, session_factory)}["digest.weekly"]
    return run_job(job, session_factory, clock)


def dispatch(settings, session_factory, clock) -> None:  # type: ignore[no-untyped-def]
    client = build_web_client(settings, for_outbox=True)
    OutboxDispatcher(session_factory, client, clock, rate_per_minute=100_000, burst=1000).run_once(time_budget=10)


def test_each_manager_gets_only_their_own_groups_once_a_week(history, settings, session_factory, slack) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock(MONDAY)
    assert send_digests(settings, session_factory, clock) == 2  # Dana and Marcus; Grace's 3 are too few
    assert send_digests(settings, session_factory, clock) == 0  # already queued this week: nothing new
    dispatch(settings, session_factory, clock)
    assert slack.messages("D0GRACE") == []
    [marcus] = slack.messages("D0MARCUS")
    [dana] = slack.messages("D0DANA")
    marcus_text = str(marcus["blocks"])
    assert "Your whole organisation" in marcus_text and "your direct reports" in marcus_text
    assert "Sales" not in marcus_text and "Grace" not in marcus_text
    assert "Marcus's organisation" in str(dana["blocks"])
    assert "likely between" in marcus_text and "answers)" in marcus_text
    assert len(marcus["blocks"]) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in marcus["blocks"] if b["type"] == "section")
    assert len(slack.calls_to("chat.postMessage")) == 2
    charts = {f["channel"]: f for f in slack.files()}
    assert set(charts) == {"D0MARCUS", "D0DANA"}
    marcus_chart = charts["D0MARCUS"]
    assert marcus_chart["content"].startswith(b"\x89PNG\r\n\x1a\n") and marcus_chart["name"] == "team-trend.png"
    assert marcus_chart["alt_txt"].startswith("Line chart: Your whole organisation: last 6 rounds")
    assert "Engagement went from" in marcus_chart["alt_txt"]


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
    from bot.app import create_app
    from bot.web import create_web_app
    from tests.conftest import SIGNING_SECRET, TEAM_ID
    from tests.slack_requests import SlackRequests

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
