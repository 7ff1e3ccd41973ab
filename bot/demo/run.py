"""`empathy-bot demo`: the whole product on a fresh machine, without a Slack workspace.

It builds a throw-away SQLite database and a synthetic company (about 60 people in 3 levels across
several time zones), then simulates 12 weekly pulses by running the real scheduler jobs, services,
outbox and digest code against an in-process stand-in for the Slack Web API. One team slides toward
burnout while another recovers. The digests, the HR overview, the charts and App Home views land in
an output folder as Block Kit JSON (checked against Slack's limits), Markdown and PNG.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, joinedload, sessionmaker

from bot.core.clock import ManualClock
from bot.core.crypto import SecretBox
from bot.core.database import make_engine, make_session_factory, upgrade
from bot.core.message import Message
from bot.core.models import OutboxMessage, OutboxState, Person, PersonAccount, Workspace
from bot.core.settings import Settings, load_settings
from bot.core.workspaces import get_or_create_workspace
from bot.delivery.ports import DirectoryUser
from bot.delivery.scheduler import Job, run_job
from bot.demo import kudos as demo_kudos
from bot.demo import onboarding as demo_onboarding
from bot.demo import suggestions as demo_suggestions
from bot.demo.slack import StandInSlack
from bot.demo.teams import TeamsCards
from bot.digest_jobs import LATE_GRACE, latest_slot
from bot.jobs import build_jobs
from bot.org.importer import import_org
from handlers.slack.context import AppContext
from handlers.slack.platform import SlackPlatform
from handlers.slack.render.digest import message_text
from handlers.slack.render.limits import problems
from surveys.bank import QuestionBank
from surveys.cadence import candidate_days, earliest_send_at, is_round_day
from surveys.cadence import zone as time_zone
from surveys.models import PulseAnswer, PulseParticipant, PulseRound, PulseSchedule, PulseUnit
from surveys.pack_store import workspace_bank
from surveys.rounds import PulseError, record_answer, record_comment
from surveys.schedules import ScheduleSettings, save_schedule

START = datetime(2026, 8, 31, tzinfo=UTC)  # a Monday; 12 weekly pulses follow
WEEKS = 12
STEP = timedelta(hours=6)
SEED = 2026
DOMAIN = "demo.example.com"

FIRST = [
    "Ana",
    "Ben",
    "Chloe",
    "Dev",
    "Emma",
    "Farid",
    "Gita",
    "Hugo",
    "Ines",
    "Jonas",
    "Kemi",
    "Liam",
    "Mei",
    "Nora",
    "Omar",
    "Pia",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Umar",
    "Vera",
    "Wen",
    "Yara",
]
LAST = [
    "Okafor",
    "Silva",
    "Kowalski",
    "Haddad",
    "Nguyen",
    "Larsen",
    "Mehta",
    "Rossi",
    "Tanaka",
    "Dubois",
    "Novak",
    "Adeyemi",
    "Walsh",
    "Costa",
    "Ivanova",
    "Berg",
]


@dataclass(frozen=True)
class TeamPlan:
    lead: str
    team: str
    timezone: str
    trajectory: str  # "stable", "sliding" (toward burnout) or "recovering"
    size: int = 9


@dataclass(frozen=True)
class Department:
    head: str
    team: str
    timezone: str
    teams: tuple[TeamPlan, ...]


COMPANY = (
    Department(
        "Marcus Chen",
        "Engineering",
        "Europe/London",
        (
            TeamPlan("Ines Moreau", "Platform", "Europe/London", "recovering", 10),
            TeamPlan("Jonas Berg", "Product Engineering", "Europe/Berlin", "stable"),
        ),
    ),
    Department(
        "Sofia Alvarez",
        "Customer",
        "America/New_York",
        (
            TeamPlan("Kemi Adeyemi", "Support", "America/Chicago", "sliding", 14),
            TeamPlan("Liam Walsh", "Customer Success", "America/New_York", "stable", 8),
        ),
    ),
    Department(
        "Kenji Watanabe",
        "Sales",
        "Asia/Tokyo",
        (
            TeamPlan("Mei Tanaka", "Sales APAC", "Australia/Sydney", "stable", 6),
            TeamPlan("Omar Haddad", "Sales EMEA", "Asia/Kolkata", "stable", 6),
        ),
    ),
)

COMMENTS = {
    "sliding": [
        "Too many tickets and not enough people on the queue.",
        "The on-call rota is exhausting, I never get a quiet week.",
        "Too many meetings on top of the ticket queue.",
        "I am tired. The ticket queue never gets shorter.",
        "On-call again this week, and the weekend too.",
        "Would love fewer meetings and more focus time.",
    ],
    "recovering": [
        "The new release process makes Fridays calm again.",
        "Thanks for protecting focus time, it really helps.",
        "Pairing on the release process has been great.",
        "Much better since we dropped the extra meetings.",
    ],
    "stable": [
        "Good week overall, nice team lunch.",
        "Would like clearer priorities for next quarter.",
        "Happy with the team, busy but fine.",
        "The new onboarding docs are helpful.",
    ],
}


@dataclass
class Person_:
    email: str
    name: str
    team: str
    manager_email: str
    role: str
    timezone: str
    slack_id: str
    trajectory: str


@dataclass
class DemoReport:
    out: Path
    people: int = 0
    rounds: int = 0
    answers: int = 0
    comments: int = 0
    dms: int = 0
    files: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


def roster(rng: random.Random) -> list[Person_]:
    names = (f"{first} {last}" for first, last in zip(rng.sample(FIRST * 3, 72), rng.sample(LAST * 5, 72), strict=True))
    people: list[Person_] = []
    counter = iter(range(1, 1000))

    def add(name: str, team: str, manager: str, tz: str, trajectory: str, role: str = "employee") -> str:
        email = f"{name.lower().replace(' ', '.')}.{next(counter)}@{DOMAIN}"
        people.append(Person_(email, name, team, manager, role, tz, f"UDEMO{len(people) + 1:03d}", trajectory))
        return email

    ceo = add("Dana Whitfield", "Leadership", "", "America/New_York", "stable")
    add("Priya Natarajan", "People", ceo, "America/New_York", "stable", role="hr")
    for department in COMPANY:
        head = add(department.head, department.team, ceo, department.timezone, "stable")
        for plan in department.teams:
            lead = add(plan.lead, department.team, head, plan.timezone, plan.trajectory)
            for _ in range(plan.size):
                add(next(names), plan.team, lead, plan.timezone, plan.trajectory)
    return people


def org_csv(people: list[Person_]) -> str:
    lines = ["email,name,team,manager_email,role,start_date,slack_id,timezone"]
    lines += [
        f"{p.email},{p.name},{p.team},{p.manager_email},{p.role},2024-01-08,{p.slack_id},{p.timezone}" for p in people
    ]
    return "\n".join(lines) + "\n"


class RosterDirectory:
    """The org file already carries Slack ids; this answers the few lookups import may still make."""

    def __init__(self, people: list[Person_]) -> None:
        self._by_email = {p.email: p for p in people}

    def lookup_by_email(self, email: str) -> DirectoryUser | None:
        p = self._by_email.get(email)
        return DirectoryUser(p.slack_id, p.email, p.name, p.timezone) if p else None

    def list_users(self) -> Iterator[DirectoryUser]:
        for p in self._by_email.values():
            yield DirectoryUser(p.slack_id, p.email, p.name, p.timezone)


def targets(trajectory: str, week: int) -> tuple[float, float, float]:
    """(engagement, burnout, participation) the team is drifting toward in `week` (0-based)."""
    if trajectory == "sliding":
        return 70 - 2.5 * week, 38 + 3.6 * week, 0.95 - 0.02 * week
    if trajectory == "recovering":
        return 50 + 2.2 * week, 62 - 2.4 * week, 0.85 + 0.01 * week
    return 71.0, 39.0, 0.9


class Simulation:
    def __init__(self, out: Path, *, seed: int = SEED) -> None:
        self.out = out
        self.rng = random.Random(seed)
        self.report = DemoReport(out)
        self.clock = ManualClock(START)
        self.slack = StandInSlack()
        self.db_path = out / "demo.sqlite3"
        self.people = roster(self.rng)
        self.by_slack = {p.slack_id: p for p in self.people}
        self.handled: set[tuple[int, int]] = set()
        self.mood: dict[tuple[str, int], float] = {}
        self.teams = TeamsCards()

    # -- setup ---------------------------------------------------------------------------------

    def settings(self) -> Settings:
        return load_settings(
            {
                "SLACK_BOT_TOKEN": "xoxb-demo-stand-in",
                "SLACK_SIGNING_SECRET": "0" * 32,
                "DATABASE_URL": f"sqlite:///{self.db_path}",
                "EMPATHY_SECRET_KEY": Fernet.generate_key().decode(),
                "EMPATHY_OUTBOX_RATE_PER_MINUTE": "100000",
                "EMPATHY_ADMINS": self.people[1].email,
            }
        )

    def setup(self) -> None:
        if self.out.exists():
            shutil.rmtree(self.out)
        (self.out / "digests").mkdir(parents=True)
        (self.out / "charts").mkdir()
        (self.out / "home").mkdir()
        self.config = self.settings()
        upgrade(self.config.database_url)
        self.engine = make_engine(self.config.database_url)
        _throw_away(self.engine)
        self.factory: sessionmaker[Session] = make_session_factory(self.engine)
        self.box = SecretBox(self.config.secret_key)
        with self.factory.begin() as session:
            workspace = get_or_create_workspace(session, "TDEMO", "Demo Company")
            import_org(session, workspace, org_csv(self.people), RosterDirectory(self.people), now=self.clock.now())
            bank = workspace_bank(session, workspace.id)
            settings = ScheduleSettings(weekday="monday", send_time="10:00", questions_per_round=5, open_days=3)
            save_schedule(session, workspace, bank, settings, team=None, today=START.date())
            self.workspace_id = workspace.id
        self.report.people = len(self.people)
        jobs = build_jobs(
            self.config,
            self.factory,
            [SlackPlatform(self.config, self.factory, client=self.slack, outbox_client=self.slack)],
        )
        self.jobs: dict[str, Job] = {job.name: job for job in jobs}
        self.due = _Due(self)

    # -- the weeks -----------------------------------------------------------------------------

    def run(self) -> DemoReport:
        started = time.perf_counter()
        self.setup()
        end = START + timedelta(weeks=WEEKS, hours=18)  # the 13th Monday, until 09:00 in Chicago: the last digests
        with _charts_drawn_when_written():
            while self.clock.now() <= end:
                self.tick()
                self.clock.advance(STEP)
        self.write_outputs()
        self.report.seconds = time.perf_counter() - started
        return self.report

    def tick(self) -> None:
        """One step: each job runs only if it has something due now (see `_Due`), then the people act."""
        now = self.clock.now()
        due = self.due
        ran = False
        if due.opening(now):
            ran = self._run("pulse.open")
            due.opened(now)
        if due.outbox(now):
            ran = self._run("outbox.dispatch")
        if due.answers(now, self.handled):
            self.answer_delivered_pulses()
            ran = True
        ran = demo_onboarding.simulate(self) or ran
        ran = demo_suggestions.simulate(self) or ran
        ran = demo_kudos.simulate(self) or ran
        if ran:
            due.changed()
        if due.reminders(now):
            ran = self._run("pulse.remind")
        if due.closing(now):
            ran = self._run("pulse.close")
        if due.digests(now):
            ran = self._run("digest.weekly")
            due.digested(now)
        if ran:
            due.changed()
        if due.outbox(now):
            ran = self._run("outbox.dispatch")
        if ran:
            self.teams.collect(self.factory)

    def _run(self, name: str) -> bool:
        run_job(self.jobs[name], self.factory, self.clock)
        self.due.changed()
        return True

    def answer_delivered_pulses(self) -> None:
        """People answer the pulse DMs that reached them: some straight away, some never."""
        now = self.clock.now()
        with self.factory.begin() as session:
            workspace = session.get(Workspace, self.workspace_id)
            assert workspace is not None
            bank = workspace_bank(session, workspace.id)
            due = session.execute(
                select(PulseParticipant, PersonAccount.external_user_id, PulseRound.round_date)
                .join(PersonAccount, PersonAccount.person_id == PulseParticipant.person_id)
                .join(PulseRound, PulseRound.id == PulseParticipant.round_id)
                .where(PulseRound.status == "open", PulseParticipant.due_at <= now)
            ).all()
            new = [row for row in due if (row[0].round_id, row[0].person_id) not in self.handled]
            # Their units and people in two statements, held here (the session keeps only what something holds).
            units = {
                u.id: u
                for u in session.scalars(select(PulseUnit).where(PulseUnit.id.in_({p.unit_id for p, *_ in new})))
            }
            people = {
                p.id: p for p in session.scalars(select(Person).where(Person.id.in_({p.person_id for p, *_ in new})))
            }
            for participant, slack_id, starts_on in new:
                key = (participant.round_id, participant.person_id)
                if key in self.handled:
                    continue
                self.handled.add(key)
                self.answer(
                    session, workspace, bank, participant, slack_id, starts_on,
                    units[participant.unit_id], people[participant.person_id],
                )  # fmt: skip

    def answer(
        self, session: Session, workspace: Workspace, bank: QuestionBank, participant: PulseParticipant,
        slack_id: str, starts_on: date, unit: PulseUnit, person: Person,
    ) -> None:  # fmt: skip
        who = self.by_slack[slack_id]
        week = (starts_on - START.date()).days // 7
        engagement, burnout, participation = targets(who.trajectory, week)
        if self.rng.random() > participation:
            return
        lean = self.mood.setdefault((slack_id, 0), self.rng.gauss(0, 8))
        for index, question_id in enumerate(unit.questions):
            question = bank.question(question_id)
            target = (burnout if question.kind == "burnout" else engagement) + lean + self.rng.gauss(0, 10)
            value = min(question.scale.options, key=lambda o: abs(question.score(o.value) - target)).value
            try:
                record_answer(
                    session, workspace, bank, self.box, person=person, round_id=participant.round_id,
                    question_id=question_id, value=value, now=self.clock.now(),
                )  # fmt: skip
                if index == 0 and self.rng.random() < 0.45:
                    record_comment(
                        session, workspace, self.box, person=person, round_id=participant.round_id,
                        question_id=question_id, comment=self.rng.choice(COMMENTS[who.trajectory]), now=self.clock.now(),
                    )  # fmt: skip
                    self.report.comments += 1
            except PulseError:
                return  # the round closed under them: a late answer is simply not taken

    # -- output --------------------------------------------------------------------------------

    def write_outputs(self) -> None:
        with self.factory() as session:
            self.report.rounds = (
                session.scalar(select(func.count()).select_from(PulseRound).where(PulseRound.status == "closed")) or 0
            )
            self.report.answers = session.scalar(select(func.count()).select_from(PulseAnswer)) or 0
            names = {
                account.conversation_ref: account.person
                for account in session.scalars(select(PersonAccount).options(joinedload(PersonAccount.person)))
                if account.conversation_ref
            }
        self.report.dms = self.slack.calls.get("chat.postMessage", 0) + self.slack.calls.get("files.upload_v2", 0)
        latest: dict[str, dict[str, Any]] = {}
        for channel, messages in self.slack.messages.items():
            for message in messages:
                if message.get("text", "").startswith(("Your weekly team digest", "The organisation-wide digest")):
                    latest[channel] = message
        for channel, message in sorted(latest.items()):
            person = names.get(channel)
            stem = _slug(person.name if person else channel)
            kind = "hr-overview" if message["text"].startswith("The organisation") else "digest"
            self._write_message(self.out / "digests" / f"{kind}-{stem}", message)
        charts: dict[str, dict[str, Any]] = {}
        for upload in self.slack.files:
            charts[upload["channel"]] = upload
        for channel, upload in sorted(charts.items()):
            person = names.get(channel)
            path = self.out / "charts" / f"trend-{_slug(person.name if person else channel)}.png"
            path.write_bytes(_png(upload["file"]))
            path.with_suffix(".alt.txt").write_text(upload["alt_txt"] + "\n")
            self.report.files.append(path)
        self._write_homes()
        teams_files, teams_problems = self.teams.write(self.factory, self.out / "teams", self._home_messages())
        self.report.files += teams_files
        self.report.problems += teams_problems

    def _home_messages(self) -> list[tuple[str, Message]]:
        """The neutral home messages (Teams' home card) of the same three people as Slack's App Home files."""
        from bot.home import home_message

        found = []
        with self.factory() as session:
            workspace = session.get(Workspace, self.workspace_id)
            for who in (self.people[1], self.people[3], self.people[-1]):
                person = session.scalar(select(Person).where(Person.email == who.email))
                message = home_message(session, workspace, person, self.config, self.clock.now())
                found.append((f"home-{_slug(who.name)}", message))
        return found

    def _write_homes(self) -> None:
        from handlers.slack.listeners import home_sections
        from handlers.slack.listeners.home import build_home_view  # imports Bolt; only needed here

        empathy = AppContext(self.config, self.engine, self.factory, self.clock, self.box)
        empathy.home.sections[:] = home_sections()
        with self.factory() as session:
            workspace = session.get(Workspace, self.workspace_id)
            assert workspace is not None
            for who in (self.people[1], self.people[3], self.people[-1]):
                person = session.scalar(select(Person).where(Person.email == who.email))
                view = build_home_view(session, workspace, person, empathy)
                path = self.out / "home" / f"home-{_slug(who.name)}.json"
                path.write_text(json.dumps(view, indent=2, ensure_ascii=False) + "\n")
                self.report.problems += [f"{path.name}: {p}" for p in problems(view, "home")]
                self.report.files.append(path)

    def _write_message(self, stem: Path, message: dict[str, Any]) -> None:
        payload = {"text": message["text"], "blocks": message.get("blocks", [])}
        stem.with_suffix(".json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        stem.with_suffix(".md").write_text(message_text(payload) + "\n")
        self.report.problems += [f"{stem.name}: {p}" for p in problems(payload)]
        self.report.files += [stem.with_suffix(".json"), stem.with_suffix(".md")]


# What `_Due` reads after something was written, in two statements built once.
_DUE_OUTBOX = select(
    select(func.min(OutboxMessage.due_at)).where(OutboxMessage.state == OutboxState.PENDING.value).scalar_subquery(),
    # The close job also forgets its "closed" updates once they are sent.
    select(OutboxMessage.id)
    .where(
        OutboxMessage.idempotency_key.like("pulse-closed:%"),
        OutboxMessage.state.in_([OutboxState.SENT.value, OutboxState.FAILED.value]),
    )
    .exists(),
)
# Rounds not yet scrubbed, with their participants while they are open (a close deletes them).
_DUE_ROUNDS = (
    select(
        PulseRound.id,
        PulseRound.status,
        PulseRound.closes_at,
        PulseRound.reminder_after_hours,
        PulseParticipant.round_id,
        PulseParticipant.person_id,
        PulseParticipant.due_at,
        PulseParticipant.responded,
        PulseParticipant.reminded,
    )
    .outerjoin(PulseParticipant, PulseParticipant.round_id == PulseRound.id)
    .where(PulseRound.scrubbed_at.is_(None))
)


class _Due:
    """When the scheduler's jobs next have something to do, so that a step runs only those.

    In production each job polls (every 2 s to every 15 min) and most polls find nothing; the demo's
    steps ran every job at every step too, and those empty runs were about a third of its statements.
    Each question here is answered from what the job itself would look at (the outbox's due rows, the
    rounds' end and reminder times, the schedule's opening day, each time zone's digest slot), so a job
    is skipped only when running it would have done nothing: the demo's output is the same either way.
    """

    def __init__(self, sim: Simulation) -> None:
        self.engine = sim.engine
        self.settings = sim.config
        with sim.factory() as session:
            self.schedules = [
                (s.id, s.cadence, s.weekday, s.anchor_date, s.send_time, s.open_days)
                for s in session.scalars(select(PulseSchedule).where(PulseSchedule.active.is_(True)))
            ]
            # Every zone someone is in: a superset of the managers' and HR's, whose digests are due by it.
            self.zones = sorted({p.timezone or "UTC" for p in session.scalars(select(Person))} | {"UTC"})
        self.opened_days: set[tuple[int, date]] = set()
        self.digest_slots: set[tuple[str, datetime]] = set()
        self._state: dict[str, Any] | None = None

    def changed(self) -> None:
        """Something was written: what is due is read again when next asked."""
        self._state = None

    def _read(self) -> dict[str, Any]:
        if self._state is None:
            with self.engine.connect() as connection:
                outbox, updates = connection.execute(_DUE_OUTBOX).one()
                rows = connection.execute(_DUE_ROUNDS).all()
            self._state = {
                "outbox": outbox,
                "updates": updates,
                "rounds": {row.id: (row.status, row.closes_at) for row in rows},
                "invited": [
                    (row.round_id, row.person_id, row.due_at, row.reminder_after_hours, row.responded, row.reminded)
                    for row in rows
                    if row.round_id is not None and row.status == "open"
                ],
            }
        return self._state

    def outbox(self, now: datetime) -> bool:
        due = self._read()["outbox"]
        return due is not None and due <= now

    def closing(self, now: datetime) -> bool:
        # A closed round not yet scrubbed is the close job's work too (it scrubs after the close).
        state = self._read()
        return state["updates"] or any(
            status != "open" or closes_at <= now for status, closes_at in state["rounds"].values()
        )

    def reminders(self, now: datetime) -> bool:
        return any(
            not responded and not reminded and hours is not None and due_at + timedelta(hours=hours) <= now
            for _, _, due_at, hours, responded, reminded in self._read()["invited"]
        )

    def answers(self, now: datetime, handled: set[tuple[int, int]]) -> bool:
        """Someone's pulse came and they have not acted on it yet (they do at the first step after)."""
        return any(
            due_at <= now and (round_id, person_id) not in handled
            for round_id, person_id, due_at, *_ in self._read()["invited"]
        )

    def opening(self, now: datetime) -> bool:
        return bool(self._openable(now))

    def opened(self, now: datetime) -> None:
        self.opened_days |= self._openable(now)

    def _openable(self, now: datetime) -> set[tuple[int, date]]:
        """The scheduled rounds whose window contains `now` and that were not opened yet (as the job looks)."""
        found = set()
        for schedule_id, cadence, weekday, anchor, send_time, open_days in self.schedules:
            for day in candidate_days(now):
                starts = earliest_send_at(day, send_time)
                if is_round_day(cadence, weekday, anchor, day) and starts <= now < starts + timedelta(days=open_days):
                    found.add((schedule_id, day))
        return found - self.opened_days

    def digests(self, now: datetime) -> bool:
        return bool(self._slots(now))

    def digested(self, now: datetime) -> None:
        self.digest_slots |= self._slots(now)

    def _slots(self, now: datetime) -> set[tuple[str, datetime]]:
        """The zones whose weekly digest slot has come (within its grace) and was not run for yet."""
        found = set()
        for name in self.zones:
            slot = latest_slot(now, time_zone(name), self.settings.digest_day, self.settings.digest_time)
            if now - slot <= LATE_GRACE:
                found.add((name, slot))
        return found - self.digest_slots


def _slug(name: str) -> str:
    return "-".join(name.lower().split())


class _ChartToDraw(bytes):
    """A chart's spec in place of its PNG while the weeks run."""

    spec: dict[str, Any]


@contextmanager
def _charts_drawn_when_written() -> Iterator[None]:
    """The outbox draws every digest's chart as it sends it (61 in 12 weeks), but the demo writes only each
    manager's last one (7): drawing is half a second each, so the stand-in keeps the spec and the files are
    drawn from it at the end, by the same function."""
    from bot.delivery import charts

    draw = charts.render

    def later(spec: dict[str, Any]) -> bytes:
        chart = _ChartToDraw()
        chart.spec = spec
        return chart

    charts.render = later
    try:
        yield
    finally:
        charts.render = draw


def _png(content: bytes) -> bytes:
    from bot.delivery import charts

    return charts.render(content.spec) if isinstance(content, _ChartToDraw) else content


def _throw_away(engine: Engine) -> None:
    """The demo's database is deleted by the next run: waiting for the disk at each of its ~9,000 commits
    (a third of the demo's time on a busy disk) buys a durability nobody needs here."""

    def no_sync(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()

    event.listen(engine, "connect", no_sync)


def run_demo(out: Path) -> DemoReport:
    return Simulation(out).run()
