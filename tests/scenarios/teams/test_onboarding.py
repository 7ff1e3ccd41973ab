"""Onboarding on Teams through the real SDK with signed activities, on a manual clock.

Journeys come from the platform-neutral jobs; their messages wait in the outbox (the Teams sender is
built elsewhere). `deliver` plays that sender's part: it renders a queued row into the activity Teams
would show (`render_payload`), posts it to the fake Bot Connector and records the activity id on the
row. The tests then click what those cards hold, as Teams would send the clicks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from flask import Flask
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.cli.server import create_front
from bot.core.accounts import link
from bot.core.clock import ManualClock
from bot.core.models import AuditEntry, OutboxMessage, OutboxState, Person, Role, RoleGrant, RoleSource, Team
from bot.core.settings import Settings
from bot.onboarding import jobs as onboarding_jobs
from bot.onboarding.models import (
    OnboardingCheckinScore,
    OnboardingCheckinSealed,
    OnboardingJourney,
    OnboardingStep,
    StepKind,
)
from handlers.slack.app import create_app
from handlers.teams.accounts import ConversationRef, teams_workspace
from handlers.teams.render.message import CARD_CONTENT_TYPE, render_payload
from tests.fakes.teams.auth import FakeBotFrameworkAuth
from tests.fakes.teams.cards import activity_problems, card_problems, walk
from tests.fakes.teams.connector import FakeBotConnector
from tests.fakes.teams.requests import Answer, TeamsRequests, TeamsUser
from tests.scenarios.teams.conftest import ANA, CLIENT_ID, PRIYA, TENANT_ID

SUNDAY = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
MONDAY = date(2026, 11, 23)
MARCUS = TeamsUser(aad_object_id="c1b2c3d4-0000-4000-8000-00000000c0c0", name="Marcus Oyelaran")
NOOR = TeamsUser(aad_object_id="d1b2c3d4-0000-4000-8000-00000000d0d0", name="Noor Haddad")
SOFIA = TeamsUser(aad_object_id="e1b2c3d4-0000-4000-8000-00000000e0e0", name="Sofia Rossi")
SAM = TeamsUser(aad_object_id="f1b2c3d4-0000-4000-8000-00000000f0f0", name="Sam Reyes")
LEA = TeamsUser(aad_object_id="a2b2c3d4-0000-4000-8000-00000000a1a1", name="Lea Meyer")


@dataclass
class World:
    clock: ManualClock
    teams: TeamsRequests
    connector: FakeBotConnector
    auth: FakeBotFrameworkAuth
    session_factory: sessionmaker[Session]

    def person(self, session: Session, user: TeamsUser) -> Person:
        found = session.scalar(select(Person).where(Person.name == user.name))
        assert found is not None
        return found

    def job(self) -> None:
        """The hourly onboarding job's work (enrol from start dates, advance every journey)."""
        with self.session_factory.begin() as session:
            onboarding_jobs.run(session, self.clock.now())

    def queued(self, user: TeamsUser) -> list[OutboxMessage]:
        with self.session_factory() as session:
            person = self.person(session, user)
            return list(
                session.scalars(
                    select(OutboxMessage).where(OutboxMessage.person_id == person.id).order_by(OutboxMessage.id)
                )
            )

    def deliver(self, row: OutboxMessage, user: TeamsUser) -> tuple[str, dict[str, Any]]:
        """Send a queued row as the Teams sender would; the activity id and the activity people see."""
        activity = render_payload(row.payload)
        assert activity_problems(activity) == []
        token = self.auth.app_token(CLIENT_ID, TENANT_ID)
        reply = httpx.post(
            f"{self.connector.url}/v3/conversations/{user.personal_conversation_id}/activities",
            json=activity,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert reply.status_code == 201
        activity_id = reply.json()["id"]
        with self.session_factory.begin() as session:
            sent = session.get(OutboxMessage, row.id)
            assert sent is not None
            sent.state, sent.sent_at, sent.sent_ts = OutboxState.SENT.value, self.clock.now(), activity_id
        return activity_id, activity

    def shown(self, user: TeamsUser, activity_id: str) -> dict[str, Any]:
        """The card as it now stands in the person's chat (after any update the bot made)."""
        return self.connector.conversations[user.personal_conversation_id].activities[activity_id]

    def post(self, activity: dict[str, Any]) -> Answer:
        answer = self.teams.post(activity)
        assert answer.status == 200, answer
        return answer


@pytest.fixture
def world(
    teams_settings: Settings,
    engine: Engine,
    session_factory: sessionmaker[Session],
    teams_auth: FakeBotFrameworkAuth,
    connector: FakeBotConnector,
) -> Iterator[World]:
    clock = ManualClock(SUNDAY)
    with session_factory.begin() as session:
        workspace = teams_workspace(session, TENANT_ID)
        workspace.name = "Contoso"
        platform = Team(workspace_id=workspace.id, name="Platform")
        sales = Team(workspace_id=workspace.id, name="Sales")
        session.add_all([platform, sales])
        session.flush()
        ids: dict[str, int] = {}
        # As the Graph sync and the install events leave them: a Teams account, a chat to write to.
        for user, tz, manager, start, team in (
            (MARCUS, "Europe/Berlin", None, None, platform),
            (ANA, "Europe/Lisbon", MARCUS, None, platform),
            (PRIYA, "Asia/Kolkata", None, None, platform),
            (NOOR, "Europe/Lisbon", MARCUS, MONDAY, platform),
            (SOFIA, "Europe/Rome", None, None, sales),
            (SAM, "Europe/Rome", SOFIA, None, sales),
            (LEA, "Europe/Rome", SOFIA, None, sales),
        ):
            person = Person(
                workspace_id=workspace.id,
                name=user.name,
                email=f"{user.name.split()[0].lower()}@contoso.example",
                timezone=tz,
                team_id=team.id,
                manager_id=ids.get(manager.name) if manager else None,
                start_date=start,
                source="teams",
            )
            session.add(person)
            session.flush()
            account = link(session, person, "teams", user.aad_object_id)
            account.conversation_ref = ConversationRef(user.personal_conversation_id, connector.url).to_json()
            ids[user.name] = person.id
        session.add(
            RoleGrant(workspace_id=workspace.id, person_id=ids[PRIYA.name], role=Role.HR, source=RoleSource.CSV)
        )
    bolt = create_app(teams_settings, engine=engine, clock=clock)
    front: Flask = create_front(
        teams_settings, bolt, teams_token=lambda _scope, _tenant: teams_auth.app_token(CLIENT_ID, TENANT_ID)
    )
    requests = TeamsRequests(
        teams_auth, client_id=CLIENT_ID, tenant_id=TENANT_ID, service_url=connector.url, client=front.test_client()
    )
    yield World(clock, requests, connector, teams_auth, session_factory)


def actions(card_or_activity: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in walk(card_or_activity) if str(e.get("type", "")).startswith("Action.")]


def done_buttons(activity: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in actions(activity) if a["type"] == "Action.Execute" and a["data"]["action"] == "onboard.done"]


def texts(card: dict[str, Any]) -> str:
    return "\n".join(str(e["text"]) for e in walk(card) if e.get("type") == "TextBlock")


def day_0(world: World) -> None:
    world.clock.advance(timedelta(hours=12))  # Sunday noon: day 0 (Monday 10:00 Lisbon) is within a day
    world.job()


def welcome(world: World) -> tuple[str, dict[str, Any]]:
    row = next(r for r in world.queued(NOOR) if r.idempotency_key.endswith(":welcome"))
    return world.deliver(row, NOOR)


def test_a_teams_new_hire_from_the_org_sync_is_enrolled_and_their_day_0_is_queued(world: World) -> None:
    day_0(world)
    with world.session_factory() as session:
        noor = world.person(session, NOOR)
        journey = session.scalar(select(OnboardingJourney).where(OnboardingJourney.person_id == noor.id))
        assert journey is not None and journey.start_date == MONDAY
    rows = world.queued(NOOR)
    assert [r.idempotency_key.rsplit(":", 1)[1] for r in rows] == ["welcome"]
    assert rows[0].state == OutboxState.PENDING.value
    # 10:00 on Monday in Lisbon, the template's send time in the new hire's zone.
    assert rows[0].due_at.replace(tzinfo=UTC) == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    activity = render_payload(rows[0].payload)
    assert "Welcome to Contoso, Noor!" in texts(activity)
    assert len(done_buttons(activity)) == 1  # her day-0 task, with its Done button
    # Her manager's day-0 task waits for him, in his chat.
    assert any("Introduce Noor Haddad" in texts(render_payload(r.payload)) for r in world.queued(MARCUS))


def test_done_on_the_new_hires_card_ticks_it_once_and_redraws_the_card(world: World) -> None:
    day_0(world)
    activity_id, activity = welcome(world)
    [done] = done_buttons(activity)
    step_id = int(done["data"]["value"])

    refused = world.post(world.teams.card_action(ANA, done["data"], verb=done["verb"], reply_to_id=activity_id))
    assert refused.body["type"] == "application/vnd.microsoft.activity.message"
    assert refused.body["value"] == "This task is for Noor Haddad, so only they (or HR) can tick it."
    with world.session_factory() as session:
        assert session.get(OnboardingStep, step_id).done_at is None

    answer = world.post(world.teams.card_action(NOOR, done["data"], verb=done["verb"], reply_to_id=activity_id))
    assert answer.body["statusCode"] == 200 and answer.body["type"] == CARD_CONTENT_TYPE
    card = answer.body["value"]
    assert card_problems(card) == []
    assert "✅ Set up your laptop" in texts(card)  # the task line redrawn, ticked
    assert "Welcome to Contoso, Noor!" in texts(card)  # the rest of the message as it was
    assert done_buttons(card) == []
    again = world.post(world.teams.card_action(NOOR, done["data"], verb=done["verb"], reply_to_id=activity_id))
    assert again.body["value"] == card  # a double click changes nothing
    with world.session_factory() as session:
        step = session.get(OnboardingStep, step_id)
        assert step.done_at is not None and step.done_by_id == world.person(session, NOOR).id


def test_the_managers_done_calls_off_the_reminder_already_queued(world: World) -> None:
    day_0(world)
    task = next(r for r in world.queued(MARCUS) if "Introduce Noor Haddad" in texts(render_payload(r.payload)))
    activity_id, activity = world.deliver(task, MARCUS)
    world.clock.advance(timedelta(days=2))  # Tuesday noon: the day after it was due, the reminder is queued
    world.job()
    [reminder] = [r for r in world.queued(MARCUS) if ":remind:" in r.idempotency_key]
    assert reminder.state == OutboxState.PENDING.value
    [done] = done_buttons(activity)
    answer = world.post(world.teams.card_action(MARCUS, done["data"], verb=done["verb"], reply_to_id=activity_id))
    assert "✅ Introduce Noor Haddad" in texts(answer.body["value"])
    [reminder] = [r for r in world.queued(MARCUS) if ":remind:" in r.idempotency_key]
    assert reminder.state == OutboxState.CANCELLED.value


def checkin(world: World) -> tuple[str, dict[str, Any]]:
    day_0(world)
    world.clock.advance(timedelta(days=1))  # Monday noon: the day-1 check-in is queued for Tuesday
    world.job()
    row = next(r for r in world.queued(NOOR) if "How did your first day go?" in texts(render_payload(r.payload)))
    return world.deliver(row, NOOR)


def open_dialog(world: World, activity_id: str, activity: dict[str, Any], score: int) -> dict[str, Any]:
    button = next(a for a in actions(activity) if a["data"].get("action") == f"onboard.checkin.{score}")
    assert button["type"] == "Action.Submit" and button["data"]["msteams"] == {"type": "task/fetch"}
    answer = world.post(world.teams.dialog_open(NOOR, button["data"], reply_to_id=activity_id))
    task = answer.body["task"]
    assert task["type"] == "continue"
    card = task["value"]["card"]["content"]
    assert card_problems(card) == []
    assert "May I share this with your manager so they can help?" in str(card)
    assert next(e for e in walk(card) if e.get("id") == "score")["value"] == str(score)
    return card


def submit(world: World, card: dict[str, Any], score: int, comment: str, share: bool) -> Answer:
    [send] = actions(card)
    values = {"score": str(score), "comment": comment, "consent": "share" if share else "no"}
    return world.post(world.teams.dialog_submit(NOOR, {**send["data"], **values}))


def test_a_low_checkin_without_consent_keeps_only_that_it_was_answered(world: World) -> None:
    activity_id, activity = checkin(world)
    card = open_dialog(world, activity_id, activity, 1)
    before = len(world.queued(MARCUS)) + len(world.queued(PRIYA))
    answer = submit(world, card, 1, "nobody talked to me", share=False)
    assert answer.body is None  # the dialog closes
    world.job()
    assert len(world.queued(MARCUS)) + len(world.queued(PRIYA)) == before  # nobody alerted
    with world.session_factory() as session:
        step = session.scalar(select(OnboardingStep).where(OnboardingStep.answered_at.is_not(None)))
        assert (step.consent, step.score, step.comment) == (False, None, None)
        # Counted, but sealed until the cell has answers from 5 people: nothing readable was written.
        assert session.scalar(select(func.count()).select_from(OnboardingCheckinScore)) == 0
        assert session.scalar(select(func.count()).select_from(OnboardingCheckinSealed)) == 1
    shown = world.shown(NOOR, activity_id)
    assert "counts only toward the anonymous" in texts(shown)
    assert activity_problems(shown) == []
    again = submit(world, card, 5, "", share=True)  # the same dialog sent twice
    assert again.body["task"] == {"type": "message", "value": "You've already answered this check-in, thank you!"}
    with world.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(OnboardingCheckinSealed)) == 1
    reopened = world.post(world.teams.dialog_open(NOOR, actions(activity)[0]["data"], reply_to_id=activity_id))
    assert reopened.body["task"]["type"] == "message"  # an old card's button cannot answer it twice


def test_a_low_checkin_with_consent_is_kept_and_alerts_the_manager_and_hr(world: World) -> None:
    activity_id, activity = checkin(world)
    card = open_dialog(world, activity_id, activity, 2)
    submit(world, card, 2, "still no laptop <at>everyone</at>", share=True)
    with world.session_factory() as session:
        step = session.scalar(select(OnboardingStep).where(OnboardingStep.answered_at.is_not(None)))
        assert (step.consent, step.score, step.comment) == (True, 2, "still no laptop <at>everyone</at>")
        assert session.scalar(select(OnboardingJourney.share_consent))
    alerts = [r for r in world.queued(MARCUS) + world.queued(PRIYA) if ":alert:" in r.idempotency_key]
    assert len(alerts) == 2  # the manager and HR
    alert = render_payload(alerts[0].payload)
    assert alert["summary"] == "Noor Haddad shared a low onboarding check-in"
    # What she typed shows as typed: no mention tag that would ping anyone.
    assert "still no laptop &lt;at&gt;everyone&lt;/at&gt;" in texts(alert)
    assert "You chose to share it with" in texts(world.shown(NOOR, activity_id))


def test_someone_elses_checkin_cannot_be_opened_or_answered(world: World) -> None:
    activity_id, activity = checkin(world)
    button = next(a for a in actions(activity) if a["data"].get("action") == "onboard.checkin.4")
    opened = world.post(world.teams.dialog_open(ANA, button["data"], reply_to_id=activity_id))
    assert opened.body["task"]["type"] == "message" and "someone else" in opened.body["task"]["value"]
    card = open_dialog(world, activity_id, activity, 4)
    [send] = actions(card)
    answer = world.post(world.teams.dialog_submit(ANA, {**send["data"], "score": "4", "consent": "share"}))
    assert answer.body["task"]["type"] == "message"
    with world.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(OnboardingCheckinSealed)) == 0
        assert (
            session.scalar(
                select(func.count())
                .select_from(OnboardingStep)
                .where(OnboardingStep.kind == StepKind.CHECKIN, OnboardingStep.answered_at.is_not(None))
            )
            == 0
        )


def mention_message(world: World, sender: TeamsUser, whom: TeamsUser, rest: str) -> dict[str, Any]:
    tag = f"<at>{whom.name}</at>"
    activity = world.teams.message(sender, f"onboard {tag} {rest}".strip())
    activity["entities"].append(
        {
            "type": "mention",
            "text": tag,
            "mentioned": {"id": whom.user_id, "name": whom.name, "aadObjectId": whom.aad_object_id},
        }
    )
    return activity


def replies(world: World) -> list[str]:
    return [call.body.get("text") or texts(call.body) for call in world.connector.sent() if call.method == "POST"]


def test_hr_starts_a_journey_by_hand_and_the_new_hire_sees_their_checklist(world: World) -> None:
    with world.session_factory.begin() as session:
        world.person(session, NOOR).start_date = None  # not in the org file's start dates
    world.post(world.teams.message(PRIYA, "onboard Noor please"))  # typed, not picked from the @ list
    world.connector.wait_for(lambda c: len(replies(world)) >= 1)
    assert replies(world)[-1].startswith("Onboarding: I didn't understand that. **onboard** shows your")
    world.connector.reset()
    world.post(mention_message(world, ANA, NOOR, "default start 2026-11-10"))
    world.connector.wait_for(lambda c: len(replies(world)) >= 1)
    assert replies(world)[-1] == "Only HR and Noor Haddad's manager can start their onboarding."
    world.post(mention_message(world, PRIYA, NOOR, "start 10/11/2026"))
    world.connector.wait_for(lambda c: len(replies(world)) >= 2)
    assert "YYYY-MM-DD" in replies(world)[-1]
    world.post(mention_message(world, PRIYA, NOOR, "default start 2026-11-23"))
    world.connector.wait_for(lambda c: len(replies(world)) >= 3)
    assert replies(world)[-1].startswith("Done: Noor Haddad's onboarding (default) starts on Mon 23 Nov 2026")
    with world.session_factory() as session:
        assert session.scalar(select(OnboardingJourney.person_id)) == world.person(session, NOOR).id
        assert session.scalar(select(AuditEntry.action).where(AuditEntry.action == "onboarding.enrol"))

    world.clock.advance(timedelta(days=1, hours=12))  # Monday noon: the day-0 tasks are out
    world.job()
    world.post(world.teams.message(NOOR, "onboard"))
    world.connector.wait_for(lambda c: len(replies(world)) >= 4)
    [checklist] = [c.body for c in world.connector.sent() if c.method == "POST"][-1:]
    assert activity_problems(checklist) == []
    assert "Your onboarding" in texts(checklist) and "Set up your laptop" in texts(checklist)
    [done] = done_buttons(checklist)
    # Ticking from the checklist (a reply, not a queued message) redraws the checklist.
    answer = world.post(world.teams.card_action(NOOR, done["data"], verb=done["verb"], reply_to_id="1999"))
    assert "✅ Set up your laptop" in texts(answer.body["value"]) and "1 of 3 tasks done" in texts(answer.body["value"])


def test_the_manager_picks_a_buddy_in_teams_people_picker(world: World) -> None:
    with world.session_factory.begin() as session:
        world.person(session, SAM).start_date = MONDAY  # the sales template: the manager picks the buddy
    day_0(world)
    [prompt] = [
        r for r in world.queued(SOFIA) if render_payload(r.payload)["summary"].startswith("Pick an onboarding buddy")
    ]
    activity_id, activity = world.deliver(prompt, SOFIA)
    picker = next(e for e in walk(activity) if e.get("type") == "Input.ChoiceSet")
    assert picker["choices.data"] == {"type": "Data.Query", "dataset": "graph.microsoft.com/users"}
    [send] = [a for a in actions(activity) if a["type"] == "Action.Execute"]

    def pick(user: TeamsUser, whom: TeamsUser) -> dict[str, Any]:
        # Teams sends the picked person's Entra object id under the picker's id, beside the action's data.
        data = {**send["data"], picker["id"]: whom.aad_object_id}
        return world.post(world.teams.card_action(user, data, verb=send["verb"], reply_to_id=activity_id)).body

    assert "someone other than the manager" in pick(SOFIA, SOFIA)["value"]
    assert pick(ANA, LEA)["value"] == "Only Sam Reyes's manager can pick their buddy."
    answer = pick(SOFIA, LEA)
    assert answer["type"] == CARD_CONTENT_TYPE and card_problems(answer["value"]) == []
    assert "Lea Meyer** is Sam Reyes's onboarding buddy" in texts(answer["value"])
    with world.session_factory() as session:
        journey = session.scalar(
            select(OnboardingJourney).where(OnboardingJourney.person_id == world.person(session, SAM).id)
        )
        assert journey.buddy_id == world.person(session, LEA).id and not journey.buddy_pending


def test_without_the_senders_activity_id_the_card_is_found_by_the_task_it_holds(world: World) -> None:
    day_0(world)
    activity_id, activity = welcome(world)
    with world.session_factory.begin() as session:
        for row in session.scalars(select(OutboxMessage)):
            row.sent_ts = None  # a sender that kept no activity ids
    [done] = done_buttons(activity)
    answer = world.post(world.teams.card_action(NOOR, done["data"], verb=done["verb"], reply_to_id=activity_id))
    card = answer.body["value"]
    assert "Welcome to Contoso, Noor!" in texts(card) and "✅ Set up your laptop" in texts(card)
