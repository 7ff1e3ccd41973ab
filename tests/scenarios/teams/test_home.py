"""The home card on Teams, through the real SDK with signed activities: sent on install and on `home`,
refreshed for whoever views it, different for an employee, a manager and HR, and never showing a group
below the anonymity threshold."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from slack_bolt import App
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.core.accounts import link
from bot.core.clock import ManualClock
from bot.core.message import Message, outbox_payload
from bot.core.message import text as words
from bot.core.models import OutboxState, Person, PersonAccount, Role, RoleGrant, Team, Workspace
from bot.core.settings import Settings
from bot.delivery.outbox import enqueue
from bot.delivery.scheduler import run_job
from bot.jobs import build_jobs
from bot.onboarding.messages import DONE_ACTION
from bot.onboarding.service import enrol
from handlers.teams.accounts import teams_workspace
from handlers.teams.listeners.home import REFRESH_ACTION
from handlers.teams.reasons import BLOCKED, NOT_INSTALLED_PREFIX
from tests.fakes.teams.cards import activity_problems, card_problems, walk
from tests.fakes.teams.connector import FakeBotConnector
from tests.fakes.teams.requests import TeamsRequests, TeamsUser
from tests.scenarios.teams.conftest import ANA, PRIYA, TENANT_ID
from tests.unit.surveys.test_results import run_round

MONDAY = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)  # after the default 09:00 digest time (everyone on UTC)
MARCUS = TeamsUser(aad_object_id="c1b2c3d4-0000-4000-8000-00000000c0c0", name="Marcus Lee")
GRACE = TeamsUser(aad_object_id="d1b2c3d4-0000-4000-8000-00000000d0d0", name="Grace Hopper")
# Priya (HR) leads Marcus (6 reports: Ana is one of them) and Grace (3 reports: too few to show anything).
ORG: dict[str, tuple[str, str | None, TeamsUser | None]] = {
    "priya": ("Leadership", None, PRIYA),
    "marcus": ("Leadership", "priya", MARCUS),
    "grace": ("Leadership", "priya", GRACE),
    "ana": ("Platform", "marcus", ANA),
    **{f"p{i}": ("Platform", "marcus", None) for i in range(1, 6)},
    **{f"s{i}": ("Sales", "grace", None) for i in range(3)},
}


@pytest.fixture
def bolt_app_for_teams(teams_settings: Settings, engine: Engine) -> App:
    from handlers.slack.app import create_app

    return create_app(teams_settings, engine=engine, clock=ManualClock(MONDAY))


def build_teams_org(session_factory: sessionmaker[Session], *, rounds: int = 0) -> Workspace:
    with session_factory.begin() as session:
        workspace = teams_workspace(session, TENANT_ID)
        people: dict[str, Person] = {}
        teams: dict[str, Team] = {}
        for name, (team_name, manager, user) in ORG.items():
            team = teams.get(team_name) or Team(workspace_id=workspace.id, name=team_name)
            teams[team_name] = team
            session.add(team)
            session.flush()
            person = Person(
                workspace_id=workspace.id,
                name=user.name if user else name.title(),
                email=f"{name}@example.com",
                team_id=team.id,
                manager_id=people[manager].id if manager else None,
                timezone="UTC",
            )
            session.add(person)
            session.flush()
            link(session, person, "teams", (user.aad_object_id if user else f"00000000-0000-4000-8000-{name:0>12}"))
            people[name] = person
        session.add(RoleGrant(workspace_id=workspace.id, person_id=people["priya"].id, role=Role.HR, source="org"))
        session.flush()
        session.expunge(workspace)
    for week in range(rounds):
        run_round(session_factory, workspace, {}, date(2026, 10, 19) + timedelta(weeks=week))
    return workspace


def card_text(card: dict[str, Any]) -> str:
    return "\n".join(str(item["text"]) for item in walk(card) if item.get("type") == "TextBlock")


def refresh(teams: TeamsRequests, user: TeamsUser) -> dict[str, Any]:
    answer = teams.post(teams.card_action(user, {"action": REFRESH_ACTION}, verb=REFRESH_ACTION, trigger="automatic"))
    assert answer.status == 200
    assert answer.body["statusCode"] == 200
    assert answer.body["type"] == "application/vnd.microsoft.card.adaptive"
    card: dict[str, Any] = answer.body["value"]
    assert card_problems(card) == []
    return card


def home_cards(connector: FakeBotConnector) -> list[dict[str, Any]]:
    return [c.body for c in connector.sent() if c.body.get("attachments")]


def test_installing_sends_one_home_card_that_refreshes_for_its_viewer(
    teams: TeamsRequests, connector: FakeBotConnector, session_factory: sessionmaker[Session]
) -> None:
    build_teams_org(session_factory)

    # Teams announces a personal install twice; one card, and a redelivery of either sends nothing more.
    install = teams.installation_update(ANA)
    assert teams.post(install).status == 200
    assert teams.post(teams.bot_added(ANA)).status == 200
    assert teams.post(install).status == 200

    [activity] = home_cards(connector)
    assert connector.sent()[0].path == f"/v3/conversations/{ANA.personal_conversation_id}/activities"
    assert activity_problems(activity) == []
    card = activity["attachments"][0]["content"]
    assert card["refresh"]["action"]["verb"] == REFRESH_ACTION
    assert card["refresh"]["action"]["type"] == "Action.Execute"
    assert card["refresh"]["userIds"] == [ANA.user_id]
    assert "Hi Ana" in card_text(card)
    assert "**Your pulse**" in card_text(card)  # our *bold* in Teams markdown
    # The per-bot 29: id went into the card, never into the database.
    with session_factory() as session:
        accounts = session.scalars(select(PersonAccount)).all()
        assert all(not a.external_user_id.startswith("29:") for a in accounts)
        assert all(ANA.user_id not in (a.conversation_ref or "") for a in accounts)


def test_home_command_sends_the_card_and_a_stranger_gets_a_welcome(
    teams: TeamsRequests, connector: FakeBotConnector, session_factory: sessionmaker[Session]
) -> None:
    stranger = TeamsUser(aad_object_id="e1b2c3d4-0000-4000-8000-00000000e0e0", name="Sam Stranger")
    assert teams.post(teams.message(stranger, "home")).status == 200
    build_teams_org(session_factory)
    assert teams.post(teams.message(ANA, "Home")).status == 200

    welcome, ana = home_cards(connector)
    assert activity_problems(welcome) == [] and activity_problems(ana) == []
    assert "I don't have you in the company directory yet" in card_text(welcome["attachments"][0]["content"])
    assert "Hi Ana" in card_text(ana["attachments"][0]["content"])
    with session_factory() as session:  # a home card creates nobody
        assert session.scalar(select(Person).where(Person.name == "Sam Stranger")) is None


def test_refresh_draws_the_card_for_whoever_views_it(
    teams: TeamsRequests, connector: FakeBotConnector, session_factory: sessionmaker[Session]
) -> None:
    build_teams_org(session_factory, rounds=6)

    ana = refresh(teams, ANA)
    priya = refresh(teams, PRIYA)

    assert ana["refresh"]["userIds"] == [ANA.user_id]
    assert priya["refresh"]["userIds"] == [PRIYA.user_id]
    assert "Hi Ana" in card_text(ana) and "Hi Priya" in card_text(priya)
    assert "The whole organisation" in card_text(priya)
    assert "active people in" in card_text(priya)
    for hr_only in ("The whole organisation", "active people in", "weekly digest"):
        assert hr_only not in card_text(ana)
    for everyone in ("Your pulse", "Kudos", "Suggestion box"):
        assert everyone in card_text(ana) and everyone in card_text(priya)
    assert connector.sent() == []  # a refresh is answered in the invoke's response, not with a new message


def test_a_managers_home_card_never_shows_a_group_below_the_threshold(
    teams: TeamsRequests, session_factory: sessionmaker[Session]
) -> None:
    build_teams_org(session_factory, rounds=6)

    marcus = card_text(refresh(teams, MARCUS))
    grace = card_text(refresh(teams, GRACE))

    assert "Your weekly digest" in marcus and "Engagement" in marcus and "Took part" in marcus
    # Grace's 3 reports answered every round, and still nothing of theirs shows: not a figure, not a count.
    assert "Your weekly digest" in grace
    assert "once enough people in a group have answered" in grace
    for figure in ("Engagement", "Burnout", "Took part", "Sales"):
        assert figure not in grace


def test_a_refresh_from_another_tenant_gets_no_card(
    teams: TeamsRequests, session_factory: sessionmaker[Session]
) -> None:
    build_teams_org(session_factory, rounds=1)
    click = teams.card_action(PRIYA, {"action": REFRESH_ACTION}, verb=REFRESH_ACTION, trigger="automatic")
    click["conversation"]["tenantId"] = click["channelData"]["tenant"]["id"] = "99999999-0000-4000-8000-000000000000"

    answer = teams.post(click)

    assert answer.status == 200
    assert answer.body["type"] == "application/vnd.microsoft.activity.message"
    assert "another organisation" in answer.body["value"]
    with session_factory() as session:
        assert session.scalar(text("select count(*) from workspace")) == 1


def test_both_announcements_of_an_install_at_once_send_one_home_card(
    teams: TeamsRequests, connector: FakeBotConnector, session_factory: sessionmaker[Session]
) -> None:
    """Teams often sends installationUpdate and conversationUpdate at the same moment: one greets."""
    build_teams_org(session_factory)
    people = [ANA, PRIYA, MARCUS, GRACE]
    announcements = [a for user in people for a in (teams.installation_update(user), teams.bot_added(user))]
    start = threading.Barrier(len(announcements))
    answers: list[int] = []

    def announce(activity: dict[str, Any]) -> None:
        start.wait()
        answers.append(teams.post(activity).status)

    threads = [threading.Thread(target=announce, args=(a,)) for a in announcements]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers == [200] * len(announcements)
    paths = sorted(c.path for c in connector.sent())
    assert paths == sorted(f"/v3/conversations/{user.personal_conversation_id}/activities" for user in people)


def test_a_new_hires_home_card_shows_their_checklist_and_their_manager_sees_the_journey(
    teams: TeamsRequests, teams_settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    build_teams_org(session_factory)
    with session_factory.begin() as session:
        ana = session.scalar(select(Person).where(Person.email == "ana@example.com"))
        assert ana is not None
        enrol(session, ana, now=MONDAY - timedelta(days=3), start=(MONDAY - timedelta(days=3)).date())
    # The onboarding job queues the steps that are due: they become the new hire's open tasks.
    job = {j.name: j for j in build_jobs(teams_settings, session_factory, [])}["onboarding"]
    run_job(job, session_factory, ManualClock(MONDAY))

    ana_card = refresh(teams, ANA)
    marcus = card_text(refresh(teams, MARCUS))

    assert "Onboarding" in card_text(ana_card) and "**Your onboarding**: day 3" in card_text(ana_card)
    done_buttons = [a for a in walk(ana_card) if a.get("type") == "Action.Execute" and a.get("verb") == DONE_ACTION]
    assert done_buttons  # the open tasks, each with its Done button
    assert "**New hires in your team**" in marcus and "Ana Souza" in marcus


def test_hrs_home_card_counts_who_cannot_be_reached_and_why_without_names(
    teams: TeamsRequests, session_factory: sessionmaker[Session]
) -> None:
    """HR's side of doctor's reach check: counts and reasons only. Two people's last messages failed (one
    blocked the bot, one has no app and Graph could not install it); an employee's card says nothing."""
    workspace = build_teams_org(session_factory)
    with session_factory.begin() as session:
        for index, (name, reason) in enumerate((("p1", BLOCKED), ("s0", f"{NOT_INSTALLED_PREFIX}no permission"))):
            person = session.scalar(select(Person).where(Person.email == f"{name}@example.com"))
            assert person is not None
            row = enqueue(
                session,
                workspace.id,
                f"reach-{index}",
                outbox_payload(Message(words("Hi"))),
                now=MONDAY,
                person_id=person.id,
            )
            row.state, row.last_error = OutboxState.FAILED.value, reason

    priya, ana = card_text(refresh(teams, PRIYA)), card_text(refresh(teams, ANA))

    assert "Who I can reach" in priya
    assert "2 of 12 people can't be reached in Teams" in priya
    assert "1 blocked the bot or removed the app" in priya and "1 do not have the app installed" in priya
    reach = priya.split("Who I can reach")[1]
    assert "P1" not in reach and "S0" not in reach, "counts, never names"
    assert "Who I can reach" not in ana
