"""Tables for onboarding journeys (issue #7).

A template is stored as immutable versions: an edit or an import that changes a template adds
a new version, and a running journey keeps pointing at the version it started with.

Check-in scores (issue #15, points 10-12):
- `OnboardingStep.score`/`comment` are filled only when the new hire ticked "share with my
  manager"; without that consent the step only records *that* the check-in was answered.
- Every score also goes, at answer time, into `OnboardingCheckinSealed`: one opaque, fixed-size
  blob under a per-month key (`OnboardingCheckinKey`, itself sealed with EMPATHY_SECRET_KEY), with
  a random id and nothing in clear. So the commit that marks the step answered writes nothing a
  database reader can read a score from.
- The hourly onboarding job opens the sealed blobs and, for each start-month-and-team cell whose
  pending unshared answers come from at least 5 different new hires, moves them (and any shared
  ones, which are known by name anyway) in one shuffled batch into
  `OnboardingCheckinScore` (random ids; cohort, team and score only) and adds them to the cell's
  `OnboardingCohortFigure`, the only thing HR's cohort view reads. A cell's figures therefore
  change only by batches of at least 5 people, and are counted by the team the answers were
  given in, never by who is in the team today.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.models import Base, utcnow
from surveys.models import random_id


class BuddyRule(enum.StrEnum):
    RANDOM_FROM_TEAM = "random_from_team"
    MANAGER_PICKS = "manager_picks"
    NONE = "none"


class StepKind(enum.StrEnum):
    TASK = "task"
    CHECKIN = "checkin"


class StepOwner(enum.StrEnum):
    NEW_HIRE = "new_hire"
    MANAGER = "manager"
    BUDDY = "buddy"
    HR = "hr"


class JourneyState(enum.StrEnum):
    ACTIVE = "active"
    FINISHED = "finished"  # every step has been sent and the last day has passed
    STOPPED = "stopped"  # the new hire left, or HR stopped it


class StepState(enum.StrEnum):
    WAITING = "waiting"  # not yet queued
    QUEUED = "queued"  # its message is in the outbox (sent at the step's local send time)
    MISSED = "missed"  # its time had passed before the journey got there: listed in a catch-up instead
    SKIPPED = "skipped"  # nobody to send it to (no buddy could be found), or the journey stopped first


class OnboardingTemplate(Base):
    """One version of a named journey template."""

    __tablename__ = "onboarding_template"
    __table_args__ = (UniqueConstraint("workspace_id", "name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Only the newest version of a name is current; a template removed by an import has none current.
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str] = mapped_column(String(300), default="")
    buddy_rule: Mapped[str] = mapped_column(String(32), default=BuddyRule.NONE.value)
    send_time: Mapped[str] = mapped_column(String(5), default="10:00")
    # Team names that get this template (case-insensitive); a template named like a team also matches.
    teams: Mapped[list[str]] = mapped_column(default=list)
    # [{"day": 0, "kind": "task", "owner": "new_hire", "text": "..."}, ...] in the template's order.
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OnboardingJourney(Base):
    """One new hire's journey through one template version."""

    __tablename__ = "onboarding_journey"
    __table_args__ = (
        UniqueConstraint("person_id"),
        Index("ix_onboarding_journey_workspace_state", "workspace_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    template_id: Mapped[int] = mapped_column(ForeignKey("onboarding_template.id", ondelete="RESTRICT"), index=True)
    start_date: Mapped[date]
    state: Mapped[str] = mapped_column(String(16), default=JourneyState.ACTIVE.value)
    buddy_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"), index=True)
    # The HR person hr-owned tasks go to (who enrolled them, else the first HR admin found).
    hr_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    # True while the manager has been asked to pick a buddy and has not yet.
    buddy_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    # The new hire's answer to "may I share this with your manager?" in their latest check-in;
    # early warnings about overdue tasks are sent only while it is True.
    share_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    enrolled_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    enrolled_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]


class OnboardingStep(Base):
    """One step of a journey, copied from its template version at enrolment."""

    __tablename__ = "onboarding_step"
    __table_args__ = (UniqueConstraint("journey_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    journey_id: Mapped[int] = mapped_column(ForeignKey("onboarding_journey.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    day: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    due_date: Mapped[date]
    state: Mapped[str] = mapped_column(String(16), default=StepState.WAITING.value)
    queued_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    reminded_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    # Only with consent (see the module docstring).
    consent: Mapped[bool | None] = mapped_column(Boolean)
    score: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    alerted_at: Mapped[datetime | None]


class OnboardingCheckinKey(Base):
    """The key that seals one workspace's check-in answers given in one month (`period`, YYYY-MM).

    Stored sealed with EMPATHY_SECRET_KEY. Deleted by the hourly job once no sealed answer uses it
    (answers still waiting from an earlier month are sealed again under the current month's key),
    so a copy of the database taken after that holds no key that opens an old blob."""

    __tablename__ = "onboarding_checkin_key"
    __table_args__ = (UniqueConstraint("workspace_id", "period"), {"sqlite_with_rowid": False})

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=random_id)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(7))
    sealed_key: Mapped[bytes] = mapped_column(LargeBinary)


class OnboardingCheckinSealed(Base):
    """A check-in answer waiting to be released into the cohort figures: nothing in clear.

    The blob holds the cohort, the team at answering time, the score and the journey id (only so
    that the job can count *different* people; it never leaves the blob), padded to one size.
    The id is random, so neither ids nor (on SQLite) the physical order of rows follow the order
    of answers."""

    __tablename__ = "onboarding_checkin_sealed"
    __table_args__ = {"sqlite_with_rowid": False}

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=random_id)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("onboarding_checkin_key.id", ondelete="RESTRICT"), index=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


class OnboardingCheckinScore(Base):
    """A released check-in score: no person, no journey, no day, no time, a random id — only the
    cell it was given in (start month, and team at answering time). Rows arrive in batches."""

    __tablename__ = "onboarding_checkin_score"
    __table_args__ = (
        Index("ix_onboarding_checkin_score_cohort", "workspace_id", "cohort"),
        {"sqlite_with_rowid": False},
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=random_id)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    cohort: Mapped[date]  # first day of the new hire's start month
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="SET NULL"))
    score: Mapped[int] = mapped_column(Integer)


class OnboardingCohortFigure(Base):
    """What HR's cohort view shows for one cell, as of its last batch (never between batches).

    `respondents` counts different new hires whose answers were released in this cell; the sealed
    `respondent_tags` (their journey ids, sealed with EMPATHY_SECRET_KEY) lets the next batch
    count only people not counted before. `team_key` is the team id or 0 (no team), so that the
    cell is unique even without a team."""

    __tablename__ = "onboarding_cohort_figure"
    __table_args__ = (UniqueConstraint("workspace_id", "cohort", "team_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    cohort: Mapped[date]
    team_key: Mapped[int] = mapped_column(Integer)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="SET NULL"))
    respondents: Mapped[int] = mapped_column(Integer, default=0)
    answers: Mapped[int] = mapped_column(Integer, default=0)
    score_sum: Mapped[int] = mapped_column(Integer, default=0)
    respondent_tags: Mapped[bytes | None] = mapped_column(LargeBinary)
