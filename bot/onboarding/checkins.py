"""Onboarding check-in scores on the answer side: sealed when given, released in batches (issue #15).

The check-in promises "nobody sees your answer as yours" unless the new hire ticks "share with my
manager". Three ways an unshared score was linked back to its new hire, and what stops each:

- **What reaches the disk when someone answers.** The commit that marks the journey step answered
  used to add a readable score row too, so replaying the SQLite write-ahead log, or diffing two
  backups, paired them. Now that commit adds only an opaque blob (`seal`): a random id and
  AES-GCM ciphertext of a fixed size under the month's key, which is itself sealed with
  EMPATHY_SECRET_KEY. Nothing in it can be read, ordered or sized by a database reader.
- **Ids and times.** Released rows have random ids, no day and no time, and are written in a
  shuffled order, all in one commit per cell, by the hourly job — never in a commit that touches
  a journey step.
- **Differencing HR's figures, and counting by today's team.** A cell (start month, team at
  answering time) is released only when its waiting unshared answers come from at least
  `MIN_GROUP` different new hires (shared ones are known by name, so they could be subtracted),
  and HR's figures (`OnboardingCohortFigure`) change only then. So any two views HR ever sees
  differ by the unshared answers of at least `MIN_GROUP` people, and the people are counted from
  the answers' own cell, not from who is in the team today.

After a release the job calls `bot.core.storage_scrub.scrub`, so the deleted blobs and keys do not
survive in SQLite's log or in PostgreSQL's dead tuples of these small tables.
"""

from __future__ import annotations

import json
import logging
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.core.crypto import Aead, SecretBox, pad, unpad
from bot.core.database import upsert_insert
from bot.core.models import Team
from bot.core.storage_scrub import scrub
from bot.onboarding.models import (
    OnboardingCheckinKey,
    OnboardingCheckinScore,
    OnboardingCheckinSealed,
    OnboardingCohortFigure,
)
from surveys.models import random_id

log = logging.getLogger(__name__)

MIN_GROUP = 5  # different new hires per released batch, as for pulse results
PAYLOAD_BYTES = 96  # every sealed answer is this long before sealing, so sizes say nothing
GIVE_UP_MONTHS = 12  # a start month this old gets no more answers: what never reached MIN_GROUP is dropped
SCRUBBED_TABLES = ("onboarding_checkin_sealed", "onboarding_checkin_key", "onboarding_cohort_figure")


class ReleaseRace(RuntimeError):
    """Another run released some of the same answers first; this run's transaction is rolled back."""


@dataclass(frozen=True)
class Waiting:
    """One opened blob."""

    row_id: str
    key_id: str
    cohort: date
    team_id: int | None
    score: int
    journey_id: int
    shared: bool  # the new hire also shared it with their manager, so it is known by name elsewhere


def period_of(now: datetime) -> str:
    return f"{now:%Y-%m}"


def _key_context(workspace_id: int, period: str) -> bytes:
    return f"onboarding-checkin-key:{workspace_id}:{period}".encode()


def _blob_context(workspace_id: int) -> bytes:
    return f"onboarding-checkin:{workspace_id}".encode()


def _tags_context(workspace_id: int, cohort: date, team_key: int) -> bytes:
    return f"onboarding-cohort-tags:{workspace_id}:{cohort.isoformat()}:{team_key}".encode()


def _month_key(session: Session, box: SecretBox, workspace_id: int, now: datetime) -> tuple[OnboardingCheckinKey, Aead]:
    """The workspace's key for this month, made by the first answer of the month."""
    period = period_of(now)
    query = select(OnboardingCheckinKey).where(
        OnboardingCheckinKey.workspace_id == workspace_id, OnboardingCheckinKey.period == period
    )
    row = session.scalar(query)
    if row is None:
        # Two first answers of the month at once: the unique constraint keeps one key, and the
        # other insert does nothing (on PostgreSQL it waits for the first to commit, then reads it).
        session.execute(
            upsert_insert(session, OnboardingCheckinKey)
            .values(
                id=random_id(),
                workspace_id=workspace_id,
                period=period,
                sealed_key=box.seal_bytes(Aead.new_key(), _key_context(workspace_id, period)),
            )
            .on_conflict_do_nothing(index_elements=["workspace_id", "period"])
        )
        row = session.scalar(query)
    assert row is not None
    return row, Aead(box.open_bytes(row.sealed_key, _key_context(workspace_id, period)))


def _payload(cohort: date, team_id: int | None, score: int, journey_id: int, shared: bool) -> bytes:
    data = json.dumps(
        {"c": cohort.isoformat(), "t": team_id, "s": score, "j": journey_id, "x": int(shared)}, separators=(",", ":")
    )
    return pad(data.encode(), PAYLOAD_BYTES)


def seal(
    session: Session,
    box: SecretBox,
    *,
    workspace_id: int,
    cohort: date,
    team_id: int | None,
    score: int,
    journey_id: int,
    shared: bool,
    now: datetime,
) -> None:
    """Keep one answer, unreadable, until its cell is released. `team_id` is the team at answering time."""
    key, aead = _month_key(session, box, workspace_id, now)
    session.add(
        OnboardingCheckinSealed(
            id=random_id(),
            workspace_id=workspace_id,
            key_id=key.id,
            sealed=aead.seal(_payload(cohort, team_id, score, journey_id, shared), _blob_context(workspace_id)),
        )
    )


@dataclass
class ReleaseReport:
    released: int = 0  # answers moved into the cohort figures
    cells: int = 0
    waiting: int = 0  # answers still sealed, in cells with fewer than MIN_GROUP people so far
    dropped: int = 0  # answers of start months so old that their cell can never be shown
    scrubbed: bool = True

    def __str__(self) -> str:
        return (
            f"{self.released} check-in answers released in {self.cells} cells, {self.waiting} waiting, "
            f"{self.dropped} dropped"
        )


def _open_all(session: Session, box: SecretBox) -> tuple[list[Waiting], dict[str, OnboardingCheckinKey], int]:
    """Every waiting answer, opened; and how many could not be (sealed under another EMPATHY_SECRET_KEY)."""
    keys = {k.id: k for k in session.scalars(select(OnboardingCheckinKey))}
    aeads: dict[str, Aead] = {}
    for key in keys.values():
        try:
            aeads[key.id] = Aead(box.open_bytes(key.sealed_key, _key_context(key.workspace_id, key.period)))
        except ValueError:
            continue  # the secret key was changed: these answers stay sealed, and the others still go
    opened, unreadable = [], 0
    for row in session.scalars(select(OnboardingCheckinSealed)):
        if row.key_id not in aeads:
            unreadable += 1
            continue
        data = json.loads(unpad(aeads[row.key_id].open(row.sealed, _blob_context(row.workspace_id))))
        opened.append(
            Waiting(
                row.id,
                row.key_id,
                date.fromisoformat(data["c"]),
                data["t"],
                int(data["s"]),
                int(data["j"]),
                bool(data["x"]),
            )
        )
    return opened, keys, unreadable


def release(session: Session, box: SecretBox, now: datetime, *, min_group: int = MIN_GROUP) -> ReleaseReport:
    """Move every cell whose waiting answers come from `min_group` or more people into the figures.

    A cell's whole backlog goes at once, in one shuffled batch; a cell with fewer people keeps
    waiting (sealed again under this month's key, so older keys can be deleted)."""
    report = ReleaseReport()
    opened, keys, unreadable = _open_all(session, box)
    if unreadable:
        log.warning("%d check-in answers are sealed under another EMPATHY_SECRET_KEY and stay unreleased", unreadable)
    report.waiting += unreadable
    cells: dict[tuple[int, date, int | None], list[Waiting]] = defaultdict(list)
    for answer in opened:
        cells[(keys[answer.key_id].workspace_id, answer.cohort, answer.team_id)].append(answer)
    month = now.date().replace(day=1)
    too_old = _months_before(month, GIVE_UP_MONTHS)
    for (workspace_id, cohort, team_id), answers in cells.items():
        if _enough(answers, min_group):
            _release_cell(session, box, workspace_id, cohort, team_id, answers)
            report.released += len(answers)
            report.cells += 1
        elif cohort < too_old:
            _delete_exactly(session, [a.row_id for a in answers])
            report.dropped += len(answers)
        else:
            _reseal_if_old(session, box, workspace_id, answers, keys, now)
            report.waiting += len(answers)
    session.flush()
    # Keys that no waiting answer uses any more (this month's stays for the next answers).
    used = set(session.scalars(select(OnboardingCheckinSealed.key_id).distinct()))
    session.execute(
        delete(OnboardingCheckinKey).where(
            OnboardingCheckinKey.period != period_of(now), OnboardingCheckinKey.id.not_in(used or {""})
        )
    )
    return report


def _enough(answers: list[Waiting], min_group: int) -> bool:
    """Whether a cell's waiting answers may go out as one batch.

    Shared answers are known by name (to the manager in the digest, and on the journey step to a
    database reader), so they can be subtracted from a batch: what must come from `min_group`
    different people is the part nobody knows, the unshared answers. A batch of shared answers
    only hides nothing, so it just needs `min_group` people."""
    unshared = {a.journey_id for a in answers if not a.shared}
    if unshared:
        return len(unshared) >= min_group
    return len({a.journey_id for a in answers}) >= min_group


def _months_before(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _delete_exactly(session: Session, row_ids: list[str]) -> None:
    """Delete these sealed answers, or fail if another run already has (so nothing is counted twice)."""
    deleted = session.execute(delete(OnboardingCheckinSealed).where(OnboardingCheckinSealed.id.in_(row_ids))).rowcount
    if deleted != len(row_ids):
        raise ReleaseRace(f"{len(row_ids) - int(deleted or 0)} answers were released by another run")


def _release_cell(
    session: Session, box: SecretBox, workspace_id: int, cohort: date, team_id: int | None, answers: list[Waiting]
) -> None:
    _delete_exactly(session, [a.row_id for a in answers])
    rows = [
        {"id": random_id(), "workspace_id": workspace_id, "cohort": cohort, "team_id": team_id, "score": a.score}
        for a in answers
    ]
    # PostgreSQL keeps rows in insertion order: shuffle, so neither order nor ids follow the answers'.
    random.SystemRandom().shuffle(rows)
    if team_id is not None and session.get(Team, team_id) is None:
        for row in rows:
            row["team_id"] = None  # the team was deleted meanwhile
        team_id = None
    session.execute(insert(OnboardingCheckinScore), rows)
    team_key = team_id or 0
    figure = session.scalar(
        select(OnboardingCohortFigure)
        .where(
            OnboardingCohortFigure.workspace_id == workspace_id,
            OnboardingCohortFigure.cohort == cohort,
            OnboardingCohortFigure.team_key == team_key,
        )
        .with_for_update()
    )
    if figure is None:
        figure = OnboardingCohortFigure(
            workspace_id=workspace_id,
            cohort=cohort,
            team_key=team_key,
            team_id=team_id,
            respondents=0,
            answers=0,
            score_sum=0,
        )
        session.add(figure)
    context = _tags_context(workspace_id, cohort, team_key)
    known: set[int] = (
        set(json.loads(box.open_bytes(figure.respondent_tags, context))) if figure.respondent_tags else set()
    )
    batch = {a.journey_id for a in answers}
    # Scores migrated from before batches have no tags: their people may be counted again here.
    figure.respondents = (figure.respondents or 0) + len(batch - known)
    figure.answers = (figure.answers or 0) + len(answers)
    figure.score_sum = (figure.score_sum or 0) + sum(a.score for a in answers)
    figure.respondent_tags = box.seal_bytes(json.dumps(sorted(known | batch)).encode(), context)


def _reseal_if_old(
    session: Session,
    box: SecretBox,
    workspace_id: int,
    answers: list[Waiting],
    keys: dict[str, OnboardingCheckinKey],
    now: datetime,
) -> None:
    """Answers still waiting from an earlier month move to this month's key, so the old one can go."""
    stale = [a for a in answers if keys[a.key_id].period != period_of(now)]
    if not stale:
        return
    key, aead = _month_key(session, box, workspace_id, now)
    for answer in stale:
        row = session.get(OnboardingCheckinSealed, answer.row_id)
        if row is None:
            continue
        row.key_id = key.id
        row.sealed = aead.seal(
            _payload(answer.cohort, answer.team_id, answer.score, answer.journey_id, answer.shared),
            _blob_context(workspace_id),
        )


def release_and_scrub(
    session_factory: sessionmaker[Session], box: SecretBox, now: datetime, *, min_group: int = MIN_GROUP
) -> ReleaseReport:
    """The hourly job's part: release in its own transaction, then make the deleted blobs unrecoverable.

    Scrubbing runs every time, not only after a release: a scrub that found SQLite's log busy
    is simply done again an hour later."""
    try:
        with session_factory.begin() as session:
            report = release(session, box, now, min_group=min_group)
    except (ReleaseRace, IntegrityError):
        # Another run released some of the same answers, or an answer used a month's key just as it
        # was being deleted (the foreign key refused): nothing is done now, the next run starts afresh.
        log.info("check-in answers changed while being released; nothing done this time")
        report = ReleaseReport()
    engine = session_factory.kw["bind"]
    report.scrubbed = scrub(engine, SCRUBBED_TABLES)
    return report


# -- HR's cohort view --------------------------------------------------------------------------


@dataclass(frozen=True)
class CohortRow:
    cohort: date
    team: str
    people: int
    answers: int
    average: float | None  # None when fewer than `min_group` people: too few to show


def cohort_figures(session: Session, workspace_id: int, *, min_group: int = MIN_GROUP) -> list[CohortRow]:
    """HR's figures as of each cell's last release (never between releases); people are counted
    from the answers' own cell (start month and team when they answered)."""
    names = dict(session.execute(select(Team.id, Team.name).where(Team.workspace_id == workspace_id)).all())
    rows = [
        CohortRow(
            cohort=figure.cohort,
            team=names.get(figure.team_id, "No team") if figure.team_id is not None else "No team",
            people=figure.respondents,
            answers=figure.answers,
            average=round(figure.score_sum / figure.answers, 1)
            if figure.respondents >= min_group and figure.answers
            else None,
        )
        for figure in session.scalars(
            select(OnboardingCohortFigure).where(OnboardingCohortFigure.workspace_id == workspace_id)
        )
    ]
    rows.sort(key=lambda r: (r.cohort, r.team), reverse=True)
    return rows
