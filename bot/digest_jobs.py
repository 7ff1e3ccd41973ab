"""Weekly digests through the outbox: each manager's at their local send time (default Monday 09:00),
and HR's organisation-wide overview at theirs. One of each per person per week, however often the job runs.
"""

from __future__ import annotations

import gc
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from bot.core.accounts import with_ids
from bot.core.message import Chart, Message, outbox_payload, text
from bot.core.models import OutboxMessage, OutboxState, Person, Platform, Role, RoleGrant, Workspace
from bot.core.settings import Settings
from bot.delivery.charts import trend_alt_text, trend_spec
from bot.delivery.outbox import OutboxRow, enqueue, enqueue_many
from bot.digest_sections import build_digest, trend_settings
from bot.features import DigestRun
from surveys.bank import QuestionBank
from surveys.digest import CHART_METRICS, DIGEST_K, Digest, DigestSection, RoundResults, WeekData, hr_overview
from surveys.digest_messages import digest_message, overview_messages
from surveys.pack_store import workspace_bank

# A digest that couldn't go out at its time (worker down) still goes out within this window; older
# than that it would be stale news, and the next week's digest covers what matters.
LATE_GRACE = timedelta(days=3)

# Per platform (a `Platform` value), whether a message fits in one of its messages: Teams counts bytes
# (100 KB), so a large overview is sent there in pages. The composition root passes the platforms'
# checks (`bot.cli.platforms.message_fits`); a platform without one gets the overview as one message.
Fits = Mapping[str, Callable[[Message], bool]]


class WeekError(ValueError):
    pass


def week_end_for(now: datetime) -> datetime:
    """Monday 00:00 UTC of the current week: the digest covers the seven days before it."""
    today = now.astimezone(UTC).date()
    return datetime.combine(today - timedelta(days=today.weekday()), time(0), UTC)


def parse_week(value: str) -> datetime:
    """'2026-W48' → the Monday after that week, 00:00 UTC (the end of the week the digest covers)."""
    match = re.fullmatch(r"(\d{4})-W(\d{2})", value.strip())
    if not match:
        raise WeekError(f"'{value}' isn't a week like 2026-W48")
    try:
        monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise WeekError(f"'{value}' isn't a week of that year") from None
    return datetime.combine(monday + timedelta(days=7), time(0), UTC)


def week_label(week_end: datetime) -> str:
    year, week, _ = (week_end - timedelta(days=1)).isocalendar()
    return f"{year}-W{week:02d}"


def digest_key(week_end: datetime, manager_id: int) -> str:
    return f"digest:{week_label(week_end)}:{manager_id}"


def chart_key(week_end: datetime, manager_id: int) -> str:
    return f"digest-chart:{week_label(week_end)}:{manager_id}"


def overview_key(week_end: datetime, person_id: int) -> str:
    return f"overview:{week_label(week_end)}:{person_id}"


def zone(person: Person) -> ZoneInfo:
    try:
        return ZoneInfo(person.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def latest_slot(now: datetime, tz: ZoneInfo, day: int, at: time) -> datetime:
    """The most recent send time (weekday `day` at local `at`) at or before `now`, in UTC."""
    local_today = now.astimezone(tz).date()
    monday = local_today - timedelta(days=local_today.weekday())
    for weeks_back in (0, 1):
        slot = datetime.combine(monday - timedelta(weeks=weeks_back) + timedelta(days=day), at, tz).astimezone(UTC)
        if slot <= now:
            return slot
    raise AssertionError("a slot one week back is always in the past")


def managers(session: Session, workspace_id: int) -> list[Person]:
    report = aliased(Person)
    return list(
        session.scalars(
            select(Person)
            .where(Person.workspace_id == workspace_id, Person.active.is_(True))
            .where(select(report.id).where(report.manager_id == Person.id, report.active.is_(True)).exists())
            .order_by(Person.id)
        )
    )


def hr_admins(session: Session, workspace_id: int, settings: Settings | None) -> list[Person]:
    """Active people with the HR role, from the org file, Slack, or EMPATHY_ADMINS."""
    granted = select(RoleGrant.person_id).where(RoleGrant.workspace_id == workspace_id, RoleGrant.role == Role.HR)
    named = [Person.id.in_(granted)]
    if settings is not None and settings.admin_emails:
        named.append(Person.email.in_(sorted(settings.admin_emails)))
    if settings is not None and settings.admin_slack_ids:
        named.append(with_ids(Platform.SLACK, settings.admin_slack_ids))
    return list(
        session.scalars(
            select(Person)
            .where(Person.workspace_id == workspace_id, Person.active.is_(True), or_(*named))
            .order_by(Person.id)
        )
    )


@dataclass
class _Weeks:
    """One `WeekData` per (workspace, week end): managers in one time zone share it."""

    session: Session
    bank: QuestionBank
    workspace_id: int
    settings: Settings | None

    def __post_init__(self) -> None:
        self._cache: dict[datetime, WeekData] = {}
        self._rounds = RoundResults(self.session, self.bank, DIGEST_K)

    def get(self, week_end: datetime) -> WeekData:
        if week_end not in self._cache:
            self._cache[week_end] = WeekData(
                self.session, self.bank, self.workspace_id, week_end, k=DIGEST_K, trend=trend_settings(self.settings),
                rounds=self._rounds,
            )  # fmt: skip
        return self._cache[week_end]


def queue_digests(
    session: Session,
    now: datetime,
    settings: Settings | None = None,
    *,
    week_end: datetime | None = None,
    manager_email: str | None = None,
    fits: Fits | None = None,
) -> int:
    """Queue each manager's digest whose send time has come (or, with `week_end`, everyone's for that week).

    Running it again queues nothing new: keys already in the outbox are skipped before any work.
    """
    with _CYCLES_LATER:
        return _queue_digests(session, now, settings, week_end=week_end, manager_email=manager_email, fits=fits)


class _CyclesLater:
    """Python's cycle collector held off while digests are built, and let run again after the last
    concurrent run ends. A week's digests make about 150,000 long-lived objects (value counts, results,
    sections), and every 50,000 or so that survive, the collector walked the whole process (its
    modules' 170,000 objects and more): about a quarter of the run's CPU at 10,000 people, to find no
    cycles. Memory is still freed as references drop; cycles made meanwhile, by any thread, wait for
    the first collection after. Process-wide, hence the count of runs under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs = 0
        self._was_enabled = False

    def __enter__(self) -> None:
        with self._lock:
            if self._runs == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._runs += 1

    def __exit__(self, *_exc: object) -> None:
        with self._lock:
            self._runs -= 1
            if self._runs == 0 and self._was_enabled:
                gc.enable()


_CYCLES_LATER = _CyclesLater()


def _queue_digests(
    session: Session,
    now: datetime,
    settings: Settings | None,
    *,
    week_end: datetime | None,
    manager_email: str | None,
    fits: Fits | None,
) -> int:
    day = settings.digest_day if settings else 0
    at = settings.digest_time if settings else time(9, 0)
    queued = 0
    for workspace in session.scalars(select(Workspace)):
        weeks = _Weeks(session, workspace_bank(session, workspace.id), workspace.id, settings)
        run = DigestRun(session, workspace.id)
        done = _queued_keys(session, workspace.id, "digest:")
        ready: list[OutboxRow] = []
        for manager in managers(session, workspace.id):
            if manager_email and (manager.email or "").lower() != manager_email.lower():
                continue
            end = week_end or latest_slot(now, zone(manager), day, at)
            if week_end is None and now - end > LATE_GRACE:
                continue
            if digest_key(end, manager.id) in done:
                continue
            digest = build_digest(session, weeks.bank, manager, end, settings=settings, data=weeks.get(end), run=run)
            if digest.empty:
                _nothing_this_week(session, workspace.id, digest_key(end, manager.id), manager.id, now)
                continue
            ready += digest_rows(manager, digest, now)
            queued += 1
        # One multi-row insert per 500 messages, not an insert and a read-back each.
        enqueue_many(session, workspace.id, ready)
        if manager_email is None:
            check = (fits or {}).get(workspace.platform)
            queued += _queue_overviews(session, workspace.id, weeks, now, week_end, day, at, settings, check)
    return queued


def digest_rows(manager: Person, digest: Digest, now: datetime) -> list[OutboxRow]:
    """The digest message, then its chart (the outbox sends in order of due time, then id)."""
    rows = [
        OutboxRow(
            digest_key(digest.week_end, manager.id),
            outbox_payload(digest_message(digest, manager.first_name)),
            now,
            person_id=manager.id,
        )
    ]
    chart = chart_message(digest.sections[0]) if digest.sections else None
    if chart is not None:
        rows.append(OutboxRow(chart_key(digest.week_end, manager.id), outbox_payload(chart), now, person_id=manager.id))
    return rows


def chart_message(section: DigestSection) -> Message | None:
    """The message that draws and shares `section`'s trend chart, or None with nothing to draw."""
    series = {CHART_METRICS[m]: values for m, values in section.series.items()}
    if sum(v is not None for values in series.values() for v in values) < 2:
        return None
    spec = trend_spec(f"{section.title}: last {len(section.series_dates)} rounds", section.series_dates, series)
    alt_text = trend_alt_text(spec)
    chart = Chart(spec, filename="team-trend.png", title="Engagement and burnout trend", alt_text=alt_text)
    return Message(text(alt_text), (chart,))


def _queue_overviews(
    session: Session,
    workspace_id: int,
    weeks: _Weeks,
    now: datetime,
    week_end: datetime | None,
    day: int,
    at: time,
    settings: Settings | None,
    fits: Callable[[Message], bool] | None = None,
) -> int:
    done = _queued_keys(session, workspace_id, "overview:")
    queued = 0
    for person in hr_admins(session, workspace_id, settings):
        end = week_end or latest_slot(now, zone(person), day, at)
        if (week_end is None and now - end > LATE_GRACE) or overview_key(end, person.id) in done:
            continue
        overview = hr_overview(session, weeks.get(end))
        if overview.empty:
            _nothing_this_week(session, workspace_id, overview_key(end, person.id), person.id, now)
            continue
        # Pages after the first (a platform that counts bytes) go out in order after it, under keys of their own.
        for page, message in enumerate(overview_messages(overview, person.first_name, fits), 1):
            key = overview_key(end, person.id) + (f":{page}" if page > 1 else "")
            enqueue(session, workspace_id, key, outbox_payload(message), person_id=person.id, now=now)
        queued += 1
    return queued


def _nothing_this_week(session: Session, workspace_id: int, key: str, person_id: int, now: datetime) -> None:
    """Remember that this week's digest had nothing to say, so later runs don't work it out again."""
    nothing = outbox_payload(Message(text("Nothing to report this week.")))
    row = enqueue(session, workspace_id, key, nothing, person_id=person_id, now=now)
    if row.state == OutboxState.PENDING.value:
        row.state = OutboxState.CANCELLED.value


def _queued_keys(session: Session, workspace_id: int, prefix: str) -> set[str]:
    return set(
        session.scalars(
            select(OutboxMessage.idempotency_key).where(
                OutboxMessage.workspace_id == workspace_id, OutboxMessage.idempotency_key.like(f"{prefix}%")
            )
        )
    )
