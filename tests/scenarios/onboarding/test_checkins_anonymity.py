"""Attacks on the promise of an unshared onboarding check-in: "nobody sees your answer as yours" (#15, 10-12).

- A database reader replays the SQLite write-ahead log and diffs backups taken after each answer,
  pairing each journey step that became answered with the score row written in the same commit.
- On PostgreSQL, the reader matches row versions by the transaction that wrote them (`xmin`), and
  carves deleted rows out of the table files.
- HR diffs the cohort view before and after one more answer, and reads a cell counted by who is in
  the team today rather than by where the answers were given.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.core.crypto import SecretBox
from bot.core.models import Person, Team, Workspace
from bot.core.settings import Settings
from bot.delivery.scheduler import run_job
from bot.jobs import build_jobs
from bot.onboarding import checkins as onboarding_checkins
from bot.onboarding import service as onboarding
from bot.onboarding.models import (
    OnboardingCheckinKey,
    OnboardingCheckinScore,
    OnboardingCheckinSealed,
    OnboardingStep,
)
from handlers.slack.platform import SlackPlatform
from tests.scenarios.onboarding.test_onboarding import MONDAY, Bot, buttons
from tests.scenarios.onboarding.test_onboarding import bot as bot  # the app on a manual clock, as a fixture
from tests.support.forensics import copy_database, pg_table_bytes, sqlite_file_bytes, sqlite_path, wal_commits
from tests.support.people import slack_account


@pytest.fixture
def app(bot: Bot) -> Bot:  # the imported fixture, by name
    return bot


# -- driving the real app ------------------------------------------------------------------------


def hire(app: Bot, n: int, team: str = "Platform") -> str:
    slack_id = f"U0HIRE{n:02d}"
    app.add_new_hire(slack_id, f"Hire {n:02d}", "Europe/Lisbon", team, MONDAY)
    return slack_id


def deliver_first_checkins(app: Bot) -> None:
    """From Sunday 00:00 to Tuesday noon: day 0 and the day-1 check-in are in everyone's DMs."""
    app.clock.advance(timedelta(hours=12))
    app.job()
    app.clock.advance(timedelta(days=1))
    app.dispatch()
    app.tick(24)


def answer(app: Bot, slack_id: str, score: int, *, share: bool = False) -> None:
    """Click the score in the check-in DM, then submit the modal, as the new hire would."""
    message = next(m for m in reversed(app.dm(slack_id)) if "onboard.checkin." in str(m["blocks"]))
    button = next(b for b in buttons(message) if b["action_id"] == f"onboard.checkin.{score}")
    opened = len(app.slack.calls_to("views.open"))
    app.action(slack_id, button, message)
    modal = app.slack.wait_for("views.open", opened + 1)[-1]["view"]
    values = {
        "score": {"score": {"type": "radio_buttons", "selected_option": {"value": str(score)}}},
        "comment": {"comment": {"type": "plain_text_input", "value": ""}},
        "consent": {"consent": {"type": "checkboxes", "selected_options": [{"value": "share"}] if share else []}},
    }
    response = app.requests.view_submission(
        "onboard.checkin_view", values, user_id=slack_id, private_metadata=modal["private_metadata"]
    )
    assert response.status_code == 200 and not response.data


def hr_cohort_lines(app: Bot) -> list[str]:
    """What HR (Priya) reads in App Home under the check-in sentiment heading."""
    published = len(app.slack.calls_to("views.publish"))
    app.requests.app_home_opened("U0PRIYA")
    view = app.slack.wait_for("views.publish", published + 1)[-1]["view"]
    assert "Onboarding templates" in str(view)
    for block in view["blocks"]:
        body = (block.get("text") or {}).get("text", "")
        if body.startswith("*Check-in sentiment by start month and team*"):
            return body.splitlines()[1:]
    return []


# -- 10: a database reader ----------------------------------------------------------------------


def _snapshot(connection: sqlite3.Connection) -> tuple[dict[int, str | None], dict[str, int]]:
    """Which steps are answered, and the readable scores by row id, in one copy of the database."""
    steps = dict(connection.execute("SELECT id, answered_at FROM onboarding_step").fetchall())
    scores = dict(connection.execute("SELECT id, score FROM onboarding_checkin_score").fetchall())
    return steps, scores


def _relink(snapshots: list[tuple[dict[int, str | None], dict[str, int]]]) -> dict[int, list[int]]:
    """The audit's method: a step that became answered in the same commit (or between the same two
    backups) as a readable score appeared is that score's new hire."""
    linked: dict[int, list[int]] = {}
    for (steps_before, scores_before), (steps_after, scores_after) in itertools.pairwise(snapshots):
        flipped = [s for s, at in steps_after.items() if at is not None and steps_before.get(s) is None]
        appeared = [score for row_id, score in scores_after.items() if row_id not in scores_before]
        if len(flipped) == 1 and appeared:
            linked[flipped[0]] = appeared
    return linked


def test_a_database_reader_cannot_pair_an_unshared_score_with_its_new_hire_on_sqlite(
    app: Bot, db_url: str, tmp_path: Path
) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite's files and write-ahead log")
    path = sqlite_path(db_url)
    hires = [hire(app, n) for n in range(6)]
    deliver_first_checkins(app)
    backups = [copy_database(path, tmp_path / "backup-0")]
    scores = [4, 1, 5, 2, 3, 4]
    for n, (slack_id, score) in enumerate(zip(hires, scores, strict=True), start=1):
        answer(app, slack_id, score)
        backups.append(copy_database(path, tmp_path / f"backup-{n}"))  # a backup after every answer

    # The log holds every answer's commit: replayed one by one, none pairs a step with a score.
    commits = [_snapshot(c) for c in wal_commits(path)]
    answered_commits = _relink(commits)
    assert len([c for c in commits if any(c[0].values())]) >= 1  # the replay does see the answers
    assert answered_commits == {}
    assert all(not scores_now for _steps, scores_now in commits)  # nothing readable before the release
    with app.session_factory() as session:
        sealed = list(session.scalars(select(OnboardingCheckinSealed.sealed)))
        keys = list(session.scalars(select(OnboardingCheckinKey.sealed_key)))
    assert len(sealed) == 6 and len({len(s) for s in sealed}) == 1  # one size, whatever the score
    raw = sqlite_file_bytes(path)
    assert b'"s":' not in raw and b'"j":' not in raw  # the payload is never written in clear

    app.tick(1)  # the hourly job: one batch of 6 people, then the log is truncated
    backups.append(copy_database(path, tmp_path / "backup-released"))
    with app.session_factory() as session:
        released = sorted(session.scalars(select(OnboardingCheckinScore.score)))
        assert released == sorted(scores)
        assert session.scalar(select(OnboardingCheckinSealed.id)) is None

    # Diffing the backups: scores appear only in the release, where no step became answered.
    by_backup = []
    for backup in backups:
        connection = sqlite3.connect(f"file:{backup}?immutable=1", uri=True)
        by_backup.append(_snapshot(connection))
        connection.close()
    assert _relink(by_backup) == {}
    assert [len(s) for _steps, s in by_backup] == [0, 0, 0, 0, 0, 0, 0, 6]

    # And what was deleted is gone from the files: no sealed answer in the database or its log, and
    # the log that is left (written after the release) pairs nothing either.
    raw = sqlite_file_bytes(path)
    assert not any(blob in raw for blob in sealed)
    left = wal_commits(path)
    assert all(c.execute("SELECT count(*) FROM onboarding_checkin_sealed").fetchone() == (0,) for c in left)
    assert _relink([by_backup[-1], *(_snapshot(c) for c in left)]) == {}
    assert keys  # (the month's key stays for the next answers; it opens nothing that is left)


def test_on_postgresql_neither_transaction_ids_nor_dead_rows_pair_a_score_with_its_new_hire(
    settings: Settings, engine: Engine, session_factory: sessionmaker[Session], workspace: Workspace
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's row versions and table files")
    box = SecretBox(settings.secret_key)
    november = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    steps = _enrol(session_factory, workspace, 6, november)
    for step_id, person_id, score in zip(steps, steps.values(), [4, 1, 5, 2, 3, 4], strict=False):
        with session_factory.begin() as session:  # one transaction per answer, as in the handler
            person = session.get(Person, person_id)
            assert person is not None
            onboarding.record_checkin(
                session, step_id, person, score=score, comment=None, consent=False, box=box, now=november
            )
    with engine.connect() as connection:
        step_xmins = {row[0] for row in connection.execute(text("SELECT xmin::text FROM onboarding_step"))}
        sealed_xmins = {row[0] for row in connection.execute(text("SELECT xmin::text FROM onboarding_checkin_sealed"))}
        sealed = [bytes(r[0]) for r in connection.execute(text("SELECT sealed FROM onboarding_checkin_sealed"))]
        old_keys = [bytes(r[0]) for r in connection.execute(text("SELECT sealed_key FROM onboarding_checkin_key"))]
    # While waiting, each sealed answer shares its step's transaction (this is why it is sealed).
    assert sealed_xmins <= step_xmins and len(sealed_xmins) == 6

    clock = _Clock(datetime(2026, 12, 1, 0, 5, tzinfo=UTC))  # the hourly job, in the next month
    job = {j.name: j for j in build_jobs(settings, session_factory, [SlackPlatform(settings, session_factory)])}[
        "onboarding"
    ]
    assert "6 check-in answers released in 1 cells" in run_job(job, session_factory, clock)

    with engine.connect() as connection:
        score_xmins = [row[0] for row in connection.execute(text("SELECT xmin::text FROM onboarding_checkin_score"))]
        step_xmins = {row[0] for row in connection.execute(text("SELECT xmin::text FROM onboarding_step"))}
        ids = [row[0] for row in connection.execute(text("SELECT id FROM onboarding_checkin_score"))]
    assert len(score_xmins) == 6 and len(set(score_xmins)) == 1  # one commit for all six
    assert not set(score_xmins) & step_xmins
    assert all(len(i) == 32 for i in ids)  # random, not a sequence that follows the answers
    # Dead row versions are rewritten away: the deleted blobs and November's key leave the disk. VACUUM FULL
    # must keep row versions that a transaction still running anywhere on the server might see, so this can
    # take the next hourly run (which scrubs again) on a busy server; it must not take more.
    assert sealed and old_keys
    for _hour in range(6):
        on_disk = pg_table_bytes(engine, "onboarding_checkin_sealed") + pg_table_bytes(engine, "onboarding_checkin_key")
        if not any(blob in on_disk for blob in sealed + old_keys):
            break
        time.sleep(0.5)
        clock.advance(timedelta(hours=1))
        run_job(job, session_factory, clock)
    else:
        raise AssertionError("sealed answers or an old key are still in PostgreSQL's table files")


def test_shared_answers_cannot_be_subtracted_from_a_batch_to_leave_one_unshared_answer(
    session_factory: sessionmaker[Session], workspace: Workspace
) -> None:
    """Shared scores sit by name on the journey steps (and in the manager's digest): a reader who
    subtracts them from a released batch must still be left with five people's unshared answers."""
    box = SecretBox(Fernet.generate_key().decode())
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    steps = list(_enrol(session_factory, workspace, 9, now).items())
    plan = [(4, True), (4, True), (5, True), (3, True), (1, False), (2, False), (5, False), (3, False), (4, False)]

    def answer_service(index: int) -> None:
        (step_id, person_id), (score, share) = steps[index], plan[index]
        with session_factory.begin() as session:
            person = session.get(Person, person_id)
            assert person is not None
            onboarding.record_checkin(
                session, step_id, person, score=score, comment=None, consent=share, box=box, now=now
            )

    def released_and_known() -> tuple[Counter[int], Counter[int]]:
        with session_factory.begin() as session:
            onboarding_checkins.release(session, box, now)
            released = Counter(session.scalars(select(OnboardingCheckinScore.score)))
            shared = Counter(s for s in session.scalars(select(OnboardingStep.score)) if s is not None)
        return released, shared

    for index in range(5):  # four shared and one not: five people, but one unknown answer
        answer_service(index)
    released, _shared = released_and_known()
    assert released == Counter()  # subtracting the four known scores would have left the fifth
    for index in range(5, 8):
        answer_service(index)
        assert released_and_known()[0] == Counter()
    answer_service(8)
    released, shared = released_and_known()
    assert sum(released.values()) == 9
    assert sum((released - shared).values()) == 5  # what is left after subtracting: five people's answers


def test_the_first_answers_of_a_month_at_once_share_one_key(
    session_factory: sessionmaker[Session], workspace: Workspace
) -> None:
    box = SecretBox(Fernet.generate_key().decode())
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    steps = list(_enrol(session_factory, workspace, 6, now).items())
    start = threading.Barrier(len(steps))
    failures: list[BaseException] = []

    def answer_at_once(step_id: int, person_id: int) -> None:
        try:
            with session_factory.begin() as session:
                person = session.get(Person, person_id)
                assert person is not None
                start.wait(timeout=10)
                onboarding.record_checkin(
                    session, step_id, person, score=3, comment=None, consent=False, box=box, now=now
                )
        except BaseException as error:  # reported below, on the test's thread
            failures.append(error)

    threads = [threading.Thread(target=answer_at_once, args=pair) for pair in steps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    with session_factory() as session:
        assert len(session.scalars(select(OnboardingCheckinKey)).all()) == 1
        assert len(session.scalars(select(OnboardingCheckinSealed)).all()) == 6
        assert onboarding_checkins.release(session, box, now).released == 6


class _Clock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def advance(self, by: timedelta) -> None:
        self._now += by


def _enrol(
    session_factory: sessionmaker[Session], workspace: Workspace, count: int, now: datetime, team: str = "Platform"
) -> dict[int, int]:
    """`count` new hires in `team`, started this month: {first check-in step id: person id}."""
    found: dict[int, int] = {}
    with session_factory.begin() as session:
        team_row = session.scalar(select(Team).where(Team.workspace_id == workspace.id, Team.name == team))
        if team_row is None:
            team_row = Team(workspace_id=workspace.id, name=team)
            session.add(team_row)
            session.flush()
        for n in range(count):
            person = Person(
                workspace_id=workspace.id,
                accounts=slack_account(f"U0{team[:3].upper()}{n:03d}"),
                name=f"{team} Hire {n}",
                team_id=team_row.id,
                start_date=now.date(),
            )
            session.add(person)
            session.flush()
            journey = onboarding.enrol(session, person, now=now).journey
            step = next(s for s in onboarding.steps_of(session, journey) if s.kind == "checkin")
            step.state = "queued"
            found[step.id] = person.id
    return found


# -- 11 and 12: HR's cohort view ----------------------------------------------------------------


def test_hr_cannot_work_out_one_more_answer_from_the_cohort_view(app: Bot) -> None:
    hires = [hire(app, n) for n in range(10)]
    deliver_first_checkins(app)
    for slack_id, score in zip(hires[:5], [5, 3, 4, 4, 4], strict=True):
        answer(app, slack_id, score)
    assert hr_cohort_lines(app) == []  # answered, but not yet released
    app.tick(1)
    first = hr_cohort_lines(app)
    assert first == ["• Nov 2026 starters, Platform: 4.0/5 from 5 people"]

    answer(app, hires[5], 1)  # the audit's "4.0 from 5" -> "3.5 from 6"
    app.tick(1)
    assert hr_cohort_lines(app) == first  # nothing to subtract: the figure waits for 5 more people

    for slack_id, score in zip(hires[6:9], [2, 5, 3], strict=True):
        answer(app, slack_id, score)
        app.tick(1)
        assert hr_cohort_lines(app) == first
    answer(app, hires[9], 4)
    app.tick(1)
    # The next figure comes with five more people at once: 20 + (1+2+5+3+4) over 10.
    assert hr_cohort_lines(app) == ["• Nov 2026 starters, Platform: 3.5/5 from 10 people"]


def test_four_moves_into_sales_do_not_make_one_sales_answer_a_figure(app: Bot) -> None:
    with app.session_factory.begin() as session:  # Sales starts on the default journey too (day-1 check-in)
        workspace = session.scalar(select(Workspace))
        assert workspace is not None
        onboarding.ensure_templates(session, workspace.id, app.clock.now())
        onboarding.remove_template(session, workspace.id, "sales", actor_id=None, now=app.clock.now())
    sales = hire(app, 0, "Sales")
    platform = [hire(app, n) for n in range(1, 5)]
    more_sales = [hire(app, n, "Sales") for n in range(5, 9)]
    deliver_first_checkins(app)
    answer(app, sales, 1)
    for slack_id in platform:
        answer(app, slack_id, 5)
    # Four moves: the Platform hires join Sales (an org import would do the same).
    with app.session_factory.begin() as session:
        sales_team = session.scalar(select(Team).where(Team.name == "Sales"))
        assert sales_team is not None
        for slack_id in platform:
            app.person(session, slack_id).team_id = sales_team.id
    app.tick(1)
    lines = hr_cohort_lines(app)
    assert not any("Sales" in line for line in lines)  # was "Sales: 1.0/5 from 5 people": one person's answer
    assert lines == []  # and Platform had 4 people: not shown either

    for slack_id, score in zip(more_sales, [2, 3, 4, 5], strict=True):
        answer(app, slack_id, score)
    app.tick(1)
    # Sales counts the five who answered in Sales; the movers' answers stay in Platform's cell.
    assert hr_cohort_lines(app) == ["• Nov 2026 starters, Sales: 3.0/5 from 5 people"]


# -- 11 and 12, every order: a property --------------------------------------------------------

TEAMS = ("Platform", "Sales")
HIRES = 10
PROPERTY_BOX = SecretBox(Fernet.generate_key().decode())
events = st.lists(
    st.one_of(
        # score 6..10: the same score 1..5, shared with the manager (known by name, so subtractable)
        st.tuples(st.just("answer"), st.integers(0, HIRES - 1), st.integers(0, 2), st.integers(1, 10)),
        st.tuples(st.just("move"), st.integers(0, HIRES - 1), st.integers(0, 1), st.just(0)),
        st.tuples(st.just("job"), st.just(0), st.just(0), st.just(0)),
    ),
    min_size=20,
    max_size=60,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=events)
def test_every_change_in_the_cohort_view_comes_from_at_least_five_people_of_that_cell(
    session_factory: sessionmaker[Session], plan: list[tuple[str, int, int, int]]
) -> None:
    box = PROPERTY_BOX  # one deployment's key: the job releases every workspace's answers
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    with session_factory.begin() as session:
        workspace = Workspace(external_id=f"TPROP{datetime.now().timestamp()}", name="Property")
        session.add(workspace)
        session.flush()
        teams = [Team(workspace_id=workspace.id, name=name) for name in TEAMS]
        session.add_all(teams)
        session.flush()
        people, checkins = [], []
        for n in range(HIRES):
            person = Person(workspace_id=workspace.id, name=f"P{n}", team_id=teams[n % 2].id, start_date=MONDAY)
            session.add(person)
            session.flush()
            journey = onboarding.enrol(session, person, now=now).journey
            checkins.append([s.id for s in onboarding.steps_of(session, journey) if s.kind == "checkin"])
            people.append(person.id)
        workspace_id, team_ids = workspace.id, [t.id for t in teams]

    everything: dict[str, list[tuple[int, int]]] = defaultdict(list)  # cell -> (person, score), all time
    since_change: dict[str, set[int]] = defaultdict(set)  # cell -> people who answered since its last change
    unshared_since: dict[str, set[int]] = defaultdict(set)  # the same, counting only answers not shared
    answered: set[tuple[int, int]] = set()

    def view(session: Session) -> dict[str, tuple[int, int, float | None]]:
        rows = onboarding.cohort_figures(session, workspace_id)
        return {row.team: (row.people, row.answers, row.average) for row in rows}

    with session_factory() as session:
        shown = view(session)
    for kind, who, which, score in plan:
        with session_factory.begin() as session:
            person = session.get(Person, people[who])
            assert person is not None
            if kind == "move":
                person.team_id = team_ids[which]
            elif kind == "answer" and (who, which := which % len(checkins[who])) not in answered:
                answered.add((who, which))
                cell = TEAMS[team_ids.index(person.team_id)]  # where they are when answering
                step = session.get(OnboardingStep, checkins[who][which])
                assert step is not None
                step.state = "queued"
                onboarding.record_checkin(
                    session,
                    step.id,
                    person,
                    score=1 + (score - 1) % 5,
                    comment=None,
                    consent=score > 5,
                    box=box,
                    now=now,
                )
                everything[cell].append((who, 1 + (score - 1) % 5))
                since_change[cell].add(who)
                if score <= 5:
                    unshared_since[cell].add(who)
            elif kind == "job":
                onboarding_checkins.release(session, box, now)
        with session_factory() as session:
            now_shown = view(session)
        for cell in set(shown) | set(now_shown):
            if now_shown.get(cell) == shown.get(cell):
                continue
            # Changed: only by a batch of at least five people who answered in this very cell.
            assert kind == "job"
            # (Shared answers can be subtracted, so the unshared ones must be five people's on their own.)
            assert len(unshared_since[cell] or since_change[cell]) >= onboarding_checkins.MIN_GROUP
            people_now, answers_now, average_now = now_shown[cell]
            assert people_now == len({p for p, _ in everything[cell]})
            assert answers_now == len(everything[cell])
            assert average_now == round(sum(s for _, s in everything[cell]) / answers_now, 1)
            since_change[cell], unshared_since[cell] = set(), set()
        if kind == "job":  # and the batch is not held back once there are five
            assert all(
                len(unshared_since[cell] or since_change[cell]) < onboarding_checkins.MIN_GROUP for cell in since_change
            )
        shown = now_shown


# -- the migration keeps existing scores ----------------------------------------------------------


def test_existing_scores_migrate_to_random_ids_and_released_figures(tmp_path: Path) -> None:
    from alembic import command

    from bot.core.database import alembic_config, make_engine, make_session_factory

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    command.upgrade(alembic_config(url), "0012")
    engine = make_engine(url)
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    with make_session_factory(engine).begin() as session:  # these tables are the same at 0012, but workspace
        workspace_id = session.execute(
            text("INSERT INTO workspace (slack_team_id, name, created_at) VALUES ('T1', 'W', :now) RETURNING id"),
            {"now": now.replace(tzinfo=None)},
        ).scalar_one()
        # Enrolling looks for buddies among people with a chat account (person_account, from 0020): an
        # empty stand-in lets today's enrol write the old schema's journeys; dropped before the upgrade.
        session.execute(text("CREATE TABLE person_account (person_id INTEGER, platform VARCHAR(16))"))
        team = Team(workspace_id=workspace_id, name="Platform")
        session.add(team)
        session.flush()
        for n in range(6):
            person = Person(workspace_id=workspace_id, name=f"P{n}", team_id=team.id, start_date=MONDAY)
            session.add(person)
            session.flush()
            journey = onboarding.enrol(session, person, now=now).journey
            next(s for s in onboarding.steps_of(session, journey) if s.kind == "checkin").answered_at = now
        team_id = team.id
        session.execute(text("DROP TABLE person_account"))
    engine.dispose()
    with sqlite3.connect(tmp_path / "old.sqlite3") as old:
        for n, score in enumerate([5, 4, 4, 3, 4, 2], start=1):
            old.execute(
                "INSERT INTO onboarding_checkin_score (id, workspace_id, cohort, team_id, day, score) "
                "VALUES (?, ?, '2026-11-01', ?, 1, ?)",
                (n, workspace_id, team_id, score),
            )
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        rows = session.execute(select(OnboardingCheckinScore)).scalars().all()
        assert Counter(r.score for r in rows) == Counter([5, 4, 4, 3, 4, 2])
        assert all(len(r.id) == 32 and (r.cohort, r.team_id) == (date(2026, 11, 1), team_id) for r in rows)
        (row,) = onboarding.cohort_figures(session, workspace_id)
        assert (row.team, row.people, row.answers, row.average) == ("Platform", 6, 6, 3.7)
    engine.dispose()
