"""Onboarding services on both databases: templates and versions, enrolment, buddy rules, the
scheduling job (send times, catch-up, leavers, idempotency), check-ins and consent, privacy hooks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.crypto import SecretBox
from bot.core.models import AuditEntry, OutboxMessage, OutboxState, Person, Role, RoleGrant, RoleSource, Team, Workspace
from bot.onboarding import checkins as onboarding_checkins
from bot.onboarding import service as onboarding
from bot.onboarding.jobs import queue_checkin_alert, run
from bot.onboarding.models import (
    JourneyState,
    OnboardingCheckinScore,
    OnboardingCheckinSealed,
    OnboardingJourney,
    OnboardingStep,
    OnboardingTemplate,
    StepState,
)
from bot.onboarding.templates import TemplateError
from handlers.slack.render.message import render_payload
from tests.support.paths import ROOT
from tests.support.people import slack_account

EXAMPLE = (ROOT / "examples" / "onboarding.yml").read_text()
NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # a Monday, 06:00 UTC
BOX = SecretBox(Fernet.generate_key().decode())


def add(session: Session, workspace: Workspace, slack_id: str, name: str, **fields: object) -> Person:
    person = Person(
        workspace_id=workspace.id,
        accounts=slack_account(slack_id),
        email=f"{slack_id.lower()}@example.com",
        name=name,
        **fields,
    )
    session.add(person)
    session.flush()
    return person


@pytest.fixture
def org(session_factory: sessionmaker[Session], workspace: Workspace) -> dict[str, int]:
    """Marcus (HR) manages the Platform team: Ana, Chen, Iris; Noor is new (starts today, Lisbon)."""
    with session_factory.begin() as session:
        team = Team(workspace_id=workspace.id, name="Platform")
        sales = Team(workspace_id=workspace.id, name="Sales")
        session.add_all([team, sales])
        session.flush()
        marcus = add(session, workspace, "U0MARCUS", "Marcus Oyelaran", team_id=team.id, timezone="Europe/Berlin")
        ids = {"marcus": marcus.id, "team": team.id, "sales": sales.id}
        for key, slack_id, name in [
            ("ana", "U0ANA", "Ana Souza"),
            ("chen", "U0CHEN", "Chen Wei"),
            ("iris", "U0IRIS", "Iris Novak"),
        ]:
            ids[key] = add(session, workspace, slack_id, name, team_id=team.id, manager_id=marcus.id).id
        ids["noor"] = add(
            session,
            workspace,
            "U0NOOR",
            "Noor Haddad",
            team_id=team.id,
            manager_id=marcus.id,
            timezone="Europe/Lisbon",
            start_date=date(2026, 11, 23),
        ).id
        session.add(RoleGrant(workspace_id=workspace.id, person_id=marcus.id, role=Role.HR, source=RoleSource.CSV))
    return ids


def keys(session: Session) -> dict[str, OutboxMessage]:
    return {m.idempotency_key: m for m in session.scalars(select(OutboxMessage))}


def test_import_versions_templates_and_running_journeys_keep_theirs(
    session_factory: sessionmaker[Session], workspace: Workspace, org: dict[str, int]
) -> None:
    with session_factory.begin() as session:
        report = onboarding.import_templates(session, workspace.id, EXAMPLE, actor_id=None, via="cli", now=NOW)
        assert report.unchanged == ["default", "sales"]  # the built-ins are the example file
        noor = session.get(Person, org["noor"])
        journey = onboarding.enrol(session, noor, now=NOW).journey
        assert session.get(OnboardingTemplate, journey.template_id).version == 1
    edited = EXAMPLE.replace("Set up your laptop, email and Slack profile", "Set up your laptop")
    with session_factory.begin() as session:
        report = onboarding.import_templates(session, workspace.id, edited, actor_id=None, via="cli", now=NOW)
        assert report.changed == ["default"]
        versions = session.execute(
            select(OnboardingTemplate.version, OnboardingTemplate.current).where(OnboardingTemplate.name == "default")
        ).all()
        assert sorted(versions) == [(1, False), (2, True)]
        steps = onboarding.steps_of(session, session.scalar(select(OnboardingJourney)))
        assert steps[0].text == "Set up your laptop, email and Slack profile"
        assert (
            session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "onboarding.import"))
            == 2
        )
    with session_factory.begin() as session, pytest.raises(TemplateError):
        onboarding.import_templates(session, workspace.id, "templates: []\n", actor_id=None, via="cli", now=NOW)
    with session_factory() as session:
        assert [t.name for t in onboarding.current_templates(session, workspace.id)] == ["default", "sales"]


def test_team_mapping_picks_the_template(
    session_factory: sessionmaker[Session], workspace: Workspace, org: dict[str, int]
) -> None:
    with session_factory.begin() as session:
        onboarding.import_templates(session, workspace.id, EXAMPLE, actor_id=None, via="cli", now=NOW)
        seller = add(session, workspace, "U0SAM", "Sam Reyes", team_id=org["sales"])
        assert onboarding.template_for(session, workspace.id, seller, NOW).name == "sales"  # named like the team
        noor = session.get(Person, org["noor"])
        assert onboarding.template_for(session, workspace.id, noor, NOW).name == "default"
        with pytest.raises(onboarding.OnboardingError, match="don't know an onboarding template called `nope`"):
            onboarding.enrol(session, noor, now=NOW, template_name="nope")


def test_random_buddy_is_a_teammate_not_the_manager_nor_anyone_with_two(
    session_factory: sessionmaker[Session], workspace: Workspace, org: dict[str, int]
) -> None:
    with session_factory.begin() as session:
        busy = session.get(Person, org["ana"])
        for n in range(2):
            hire = add(session, workspace, f"U0OLD{n}", f"Old Hire {n}", team_id=org["sales"], manager_id=org["marcus"])
            journey = onboarding.enrol(session, hire, now=NOW, template_name="sales").journey
            journey.buddy_id, journey.buddy_pending = busy.id, False
        journey = onboarding.enrol(session, session.get(Person, org["noor"]), now=NOW).journey
        assert journey.buddy_id in {org["chen"], org["iris"]}
        assert not journey.buddy_pending


def test_no_teammate_left_asks_the_manager_and_their_pick_is_checked(
    session_factory: sessionmaker[Session], workspace: Workspace, org: dict[str, int]
) -> None:
    with session_factory.begin() as session:
        for name in ("ana", "chen", "iris"):
            session.get(Person, org[name]).team_id = org["sales"]
        noor = session.get(Person, org["noor"])
        journey = onboarding.enrol(session, noor, now=NOW).journey
        assert journey.buddy_id is None and journey.buddy_pending
        marcus, ana = session.get(Person, org["marcus"]), session.get(Person, org["ana"])
        with pytest.raises(onboarding.OnboardingError, match="other than the manager"):
            onboarding.pick_buddy(session, journey, marcus, marcus)
        with pytest.raises(onboarding.OnboardingError, match="their own buddy"):
            onboarding.pick_buddy(session, journey, marcus, noor)
        with pytest.raises(onboarding.OnboardingError, match="Only Noor Haddad's manager"):
            onboarding.pick_buddy(session, journey, ana, ana)
        assert onboarding.pick_buddy(session, journey, marcus, ana) is ana
        assert journey.buddy_id == ana.id and not journey.buddy_pending


def test_steps_are_queued_once_at_the_local_send_time(
    session_factory: sessionmaker[Session], workspace: Workspace, org: dict[str, int]
) -> None:
    with session_factory.begin() as session:
        report = run(session, NOW)
        assert report.enrolled == 1
    with session_factory.begin() as session:
        run(session, NOW)  # twice: nothing new
        queued = keys(session)
        journey = session.scalar(select(OnboardingJourney))
        welcome = queued[f"onboard:{journey.id}:welcome"]
        # 10:00 in Lisbon on the start date (UTC+0 in November)
        assert welcome.due_at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
        assert "Set up your laptop" in str(render_payload(welcome.payload)["blocks"])
        manager_tasks = queued[f"onboard:{journey.id}:d0:manager"]
        assert manager_tasks.person_id == org["marcus"]
        assert "Introduce Noor Haddad to the team" in str(render_payload(manager_tasks.payload))
        assert len(queued) == 2  # the day-1 check-in is 28 hours away: not yet
    with session_factory.begin() as session:
        run(session, NOW + timedelta(hours=5))
        checkin = keys(session)[f"onboard:{journey.id}:s2"]  # now within 24 hours
        assert checkin.due_at == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
        assert len(keys(session)) == 3


def test_late_enrolment_sends_one_catch_up_not_a_burst(
    session_factory: sessionmaker[Session], workspace: Workspace, org: dict[str, int]
) -> None:
    later = NOW + timedelta(days=10)
    with session_factory.begin() as session:
        run(session, later)
        queued = keys(session)
        journey = session.scalar(select(OnboardingJourney))
        new_hire_messages = [m for m in queued.values() if m.person_id == org["noor"]]
        assert [m.idempotency_key for m in new_hire_messages] == [f"onboard:{journey.id}:welcome"]
        text = str(render_payload(new_hire_messages[0].payload))
        assert "Set up your laptop" in text and "I skipped 2 earlier check-ins" in text
        states = {s.position: s.state for s in onboarding.steps_of(session, journey)}
        assert states[0] == states[2] == states[4] == StepState.MISSED
        assert states[5] == StepState.WAITING  # day 30 is still to come
        assert sum(1 for m in queued.values() if m.person_id == org["marcus"] and "catchup" in m.idempotency_key) == 1


def test_a_leaver_stops_the_journey_and_nothing_more_goes_out(
    session_factory: sessionmaker[Session], workspace: Workspace, org: dict[str, int]
) -> None:
    with session_factory.begin() as session:
        run(session, NOW)
    with session_factory.begin() as session:
        session.get(Person, org["noor"]).active = False
        report = run(session, NOW + timedelta(hours=1))
        assert report.stopped == 1
        assert {m.state for m in keys(session).values()} == {OutboxState.CANCELLED.value}
        journey = session.scalar(select(OnboardingJourney))
        assert journey.state == JourneyState.STOPPED
    with session_factory.begin() as session:
        run(session, NOW + timedelta(days=40))
        assert all(m.state == OutboxState.CANCELLED.value for m in keys(session).values())


def test_checkins_count_anonymously_and_alert_only_with_consent(
    session_factory: sessionmaker[Session], workspace: Workspace, org: dict[str, int]
) -> None:
    with session_factory.begin() as session:
        run(session, NOW)
        journey = session.scalar(select(OnboardingJourney))
        day1, day7 = [s for s in onboarding.steps_of(session, journey) if s.kind == "checkin"][:2]
        noor = session.get(Person, org["noor"])
        quiet = onboarding.record_checkin(
            session, day1.id, noor, score=1, comment="rough day", consent=False, box=BOX, now=NOW
        )
        assert not quiet.alert and queue_checkin_alert(session, quiet, NOW) == 0
        assert (day1.score, day1.comment, day1.answered_at) == (None, None, NOW)
        with pytest.raises(onboarding.OnboardingError, match="already answered"):
            onboarding.record_checkin(session, day1.id, noor, score=5, comment=None, consent=True, box=BOX, now=NOW)
        shared = onboarding.record_checkin(
            session, day7.id, noor, score=2, comment="no laptop yet", consent=True, box=BOX, now=NOW
        )
        assert shared.alert and queue_checkin_alert(session, shared, NOW) == 1  # Marcus is manager and HR
        assert (day7.score, day7.comment) == (2, "no laptop yet")
        # Both count anonymously, but only sealed until their cell is released in a batch.
        assert session.scalar(select(func.count()).select_from(OnboardingCheckinScore)) == 0
        assert session.scalar(select(func.count()).select_from(OnboardingCheckinSealed)) == 2
        onboarding_checkins.release(session, BOX, NOW, min_group=1)
        assert sorted(session.scalars(select(OnboardingCheckinScore.score))) == [1, 2]
        with pytest.raises(onboarding.OnboardingError, match="can't find that check-in"):
            onboarding.record_checkin(
                session,
                day7.id,
                session.get(Person, org["ana"]),
                score=3,
                comment=None,
                consent=False,
                box=BOX,
                now=NOW,
            )


def test_a_check_in_comment_is_stored_without_control_characters(
    session_factory: sessionmaker[Session], workspace: Workspace, org: dict[str, int]
) -> None:
    """PostgreSQL refuses NUL in text: a comment carrying one is stored cleaned, not answered with a 500."""
    with session_factory.begin() as session:
        run(session, NOW)
        journey = session.scalar(select(OnboardingJourney))
        step = next(s for s in onboarding.steps_of(session, journey) if s.kind == "checkin")
        noor = session.get(Person, org["noor"])
        onboarding.record_checkin(
            session, step.id, noor, score=4, comment="\x00All\x07 good,\r\nthanks\x1b", consent=True, box=BOX, now=NOW
        )
    with session_factory() as session:
        assert session.get(OnboardingStep, step.id).comment == "All good,\nthanks"


def test_privacy_hooks(session_factory: sessionmaker[Session], workspace: Workspace, org: dict[str, int]) -> None:
    with session_factory.begin() as session:
        run(session, NOW)
        journey = session.scalar(select(OnboardingJourney))
        noor = session.get(Person, org["noor"])
        step = next(s for s in onboarding.steps_of(session, journey) if s.kind == "checkin")
        onboarding.record_checkin(session, step.id, noor, score=4, comment="fine", consent=True, box=BOX, now=NOW)
        onboarding_checkins.release(session, BOX, NOW, min_group=1)
        data = onboarding.personal_data(session, noor)
        assert data["journey"]["start_date"] == "2026-11-23"
        assert any(s.get("comment") == "fine" for s in data["journey"]["steps"])
        buddy = session.get(Person, journey.buddy_id)
        assert onboarding.personal_data(session, buddy)["buddy_of"] == ["Noor Haddad"]
        counts = onboarding.forget(session, noor)
        assert counts["onboarding journeys"] == 1
        assert session.scalar(select(func.count()).select_from(OnboardingStep)) == 0
        assert session.scalar(select(func.count()).select_from(OnboardingCheckinScore)) == 1  # anonymous stays
        assert onboarding.expire(session, NOW + timedelta(days=800), months=24) == 1


def test_the_digest_shows_progress_and_only_shared_checkins(
    session_factory: sessionmaker[Session], workspace: Workspace, org: dict[str, int]
) -> None:
    from bot.digest_sections import providers

    with session_factory.begin() as session:
        run(session, NOW)
        journey = session.scalar(select(OnboardingJourney))
        noor = session.get(Person, org["noor"])
        day1, day7 = [s for s in onboarding.steps_of(session, journey) if s.kind == "checkin"][:2]
        onboarding.record_checkin(session, day1.id, noor, score=1, comment="secret", consent=False, box=BOX, now=NOW)
        onboarding.record_checkin(
            session, day7.id, noor, score=2, comment="need a laptop", consent=True, box=BOX, now=NOW
        )
        # Marcus's own manager sees Noor too: the whole sub-organisation counts.
        boss = add(session, workspace, "U0BOSS", "Bea Boss")
        session.get(Person, org["marcus"]).manager_id = boss.id
        session.flush()
        assert onboarding.digest_section in providers()
        section = onboarding.digest_section(session, boss, NOW - timedelta(days=7), NOW + timedelta(days=3))
        assert section is not None and section.key == "onboarding"
        text = "\n".join(section.lines)
        assert "Noor Haddad (day 3, default): 0 of 3 tasks done, 2 overdue; next: tasks on Thu 26 Nov." in text
        assert "Noor shared their day-7 check-in: 2/5 — “need a laptop”" in text
        assert "secret" not in text and "1/5" not in text
        assert onboarding.digest_section(session, session.get(Person, org["ana"]), NOW, NOW + timedelta(days=1)) is None


def test_cohort_figures_show_an_average_only_from_five_people(
    session_factory: sessionmaker[Session], workspace: Workspace, org: dict[str, int]
) -> None:
    with session_factory.begin() as session:
        hires = [session.get(Person, org["noor"])] + [
            add(
                session,
                workspace,
                f"U0NEW{i}",
                f"New Hire {i}",
                team_id=org["team"],
                manager_id=org["marcus"],
                timezone="Europe/Lisbon",
                start_date=date(2026, 11, 23),
            )
            for i in range(4)
        ]
        run(session, NOW)
        for score, hire in zip([1, 2, 4, 5], hires[:4], strict=True):
            assert hire is not None
            journey = onboarding.journey_of(session, hire)
            day1 = next(s for s in onboarding.steps_of(session, journey) if s.kind == "checkin")
            onboarding.record_checkin(
                session, day1.id, hire, score=score, comment=None, consent=False, box=BOX, now=NOW
            )
        assert onboarding_checkins.release(session, BOX, NOW).waiting == 4
        assert onboarding.cohort_figures(session, workspace.id) == []  # nothing released, nothing to show

        fifth = hires[4]
        assert fifth is not None
        journey = onboarding.journey_of(session, fifth)
        day1 = next(s for s in onboarding.steps_of(session, journey) if s.kind == "checkin")
        onboarding.record_checkin(session, day1.id, fifth, score=3, comment=None, consent=False, box=BOX, now=NOW)
        assert onboarding.cohort_figures(session, workspace.id) == []  # until the job's next batch
        assert onboarding_checkins.release(session, BOX, NOW).released == 5
        (row,) = onboarding.cohort_figures(session, workspace.id)
        assert (row.cohort, row.team, row.people, row.answers, row.average) == (
            date(2026, 11, 1),
            "Platform",
            5,
            5,
            3.0,
        )
        # The anonymous table holds no person, journey, day or time: only cohort, team and score.
        columns = set(OnboardingCheckinScore.__table__.columns.keys())
        assert columns == {"id", "workspace_id", "cohort", "team_id", "score"}
        assert session.scalar(select(func.count()).select_from(OnboardingCheckinSealed)) == 0


def test_the_built_in_templates_are_added_once_when_two_requests_race(
    session_factory: sessionmaker[Session], workspace: Workspace
) -> None:
    """A job and `/onboard` can both find no templates at once: both succeed, and each template is added once."""
    import threading

    barrier, errors = threading.Barrier(4), []

    def ensure() -> None:
        try:
            with session_factory.begin() as session:
                barrier.wait(5)
                onboarding.ensure_templates(session, workspace.id, NOW)
        except Exception as error:  # the test reports it below
            errors.append(error)

    threads = [threading.Thread(target=ensure) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    with session_factory() as session:
        names = [t.name for t in onboarding.current_templates(session, workspace.id)]
    assert names and len(names) == len(set(names))
