"""Pulse tables, split in two sides that never reference each other by person.

Identity side (may name a person): `PulseSchedule`, `PulseRound`, `PulseParticipant` (who was
invited and has answered: deleted when the round closes), `QuestionExposure` (rotation).

Answer side (never names a person): `PulseUnit` (the reporting unit an answer counts toward:
team and manager chain, as of the round's start), `PulseSealedAnswer` while a round is open and
`PulseAnswer` once it has closed.

While a round is open, nothing about an answer is stored in clear: a `PulseSealedAnswer` row holds
only its round, a slot (see `surveys.rounds`) and one fixed-size ciphertext of unit, question,
value and comment under the round's own key (`PulseRoundKey`, itself sealed with
EMPATHY_SECRET_KEY). At close the round's answers are decrypted and written as `PulseAnswer` rows
(round, unit, question, value, comment; random ids, shuffled, no slot, no timestamp), and the
round key, the sealed rows and the participant rows are deleted and scrubbed from the files
(`bot.core.storage_scrub`). What was written to disk while the round was open is useless without a key
that no longer exists.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.models import Base, utcnow


def random_id() -> str:
    return secrets.token_hex(16)


class PulseSchedule(Base):
    __tablename__ = "pulse_schedule"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    # None means everyone in the workspace.
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"))
    cadence: Mapped[str] = mapped_column(String(16), default="weekly")
    weekday: Mapped[int] = mapped_column(Integer, default=0)  # Monday = 0
    send_time: Mapped[str] = mapped_column(String(5), default="10:00")  # local time of each person
    questions_per_round: Mapped[int] = mapped_column(Integer, default=5)
    open_days: Mapped[int] = mapped_column(Integer, default=3)
    reminder_after_hours: Mapped[int | None] = mapped_column(Integer, default=24)
    packs: Mapped[list[str]] = mapped_column(default=list)
    anchor_date: Mapped[date]  # fortnightly rounds fall on weeks an even number of weeks from this
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PulseRound(Base):
    __tablename__ = "pulse_round"
    __table_args__ = (UniqueConstraint("workspace_id", "round_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("pulse_schedule.id", ondelete="SET NULL"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="SET NULL"))
    # "schedule:<id>:<date>" makes opening a scheduled round idempotent; ad-hoc rounds get a unique key.
    round_key: Mapped[str] = mapped_column(String(100))
    round_date: Mapped[date]
    status: Mapped[str] = mapped_column(String(16), default="open")
    # Anonymity thresholds, locked when the round opens.
    min_group: Mapped[int] = mapped_column(Integer, default=5)
    min_group_comments: Mapped[int] = mapped_column(Integer, default=10)
    questions_per_round: Mapped[int] = mapped_column(Integer, default=5)
    reminder_after_hours: Mapped[int | None] = mapped_column(Integer)
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    # When what the close deleted was last scrubbed from the database's files (None: still to do).
    scrubbed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PulseRoundKey(Base):
    """An open round's own key, sealed with EMPATHY_SECRET_KEY. Deleted, and scrubbed, at close: from
    then on the sealed answers written while the round was open can be read by no one."""

    __tablename__ = "pulse_round_key"

    round_id: Mapped[int] = mapped_column(ForeignKey("pulse_round.id", ondelete="CASCADE"), primary_key=True)
    sealed_key: Mapped[str] = mapped_column(Text)
    # True only for a round that was open at the upgrade to sealed answers and kept its clear ones.
    has_clear_answers: Mapped[bool] = mapped_column(Boolean, default=False)


class PulseUnit(Base):
    """A reporting unit in one round: people of one team under one manager. Answers count toward it."""

    __tablename__ = "pulse_unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("pulse_round.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="SET NULL"))
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    # Manager ids from the top of the organisation down to the direct manager.
    chain: Mapped[list[int]] = mapped_column(default=list)
    questions: Mapped[list[str]] = mapped_column(default=list)
    # Filled in at close, from the participant rows, which are then deleted.
    invited: Mapped[int] = mapped_column(Integer, default=0)
    responded: Mapped[int] = mapped_column(Integer, default=0)


class PulseParticipant(Base):
    """Identity side, for the life of the round only: who was invited, who has answered, and the key
    that lets a person change their own answer. Deleted at close."""

    __tablename__ = "pulse_participant"
    __table_args__ = (UniqueConstraint("round_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("pulse_round.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("pulse_unit.id", ondelete="CASCADE"))
    due_at: Mapped[datetime]
    # The per-person, per-round answer key, encrypted with EMPATHY_SECRET_KEY (never in the database).
    answer_key: Mapped[str] = mapped_column(Text)
    responded: Mapped[bool] = mapped_column(Boolean, default=False)
    reminded: Mapped[bool] = mapped_column(Boolean, default=False)


class PulseSealedAnswer(Base):
    """An answer in an open round: its slot, and everything else in one fixed-size ciphertext."""

    __tablename__ = "pulse_sealed_answer"
    # An ordinary rowid table on SQLite: a sealed answer (about 3.9 kB) then fits one page, where a
    # WITHOUT ROWID table spills anything over about 1 kB into overflow pages, a write more per click.
    # The physical order says only in which order opaque blocks arrived, which a backup diff shows anyway.
    __table_args__ = (UniqueConstraint("round_id", "slot"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=random_id)
    round_id: Mapped[int] = mapped_column(ForeignKey("pulse_round.id", ondelete="CASCADE"), index=True)
    # HMAC(the participant's answer key, question id): a second click finds and replaces the row.
    slot: Mapped[str] = mapped_column(String(64))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


class PulseAnswer(Base):
    """An answer of a closed round (and, from before sealed answers, of a round open at the upgrade)."""

    __tablename__ = "pulse_answer"
    __table_args__ = (UniqueConstraint("round_id", "slot"), {"sqlite_with_rowid": False})

    # Random, so neither the id nor (on SQLite, which then stores rows in id order) the physical
    # order of rows follows the order in which people answered.
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=random_id)
    round_id: Mapped[int] = mapped_column(ForeignKey("pulse_round.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("pulse_unit.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[str] = mapped_column(String(100))
    value: Mapped[int | None] = mapped_column(Integer)  # None: skipped
    comment: Mapped[str | None] = mapped_column(Text)
    # Only for rounds that were open when sealed answers came in (0013): HMAC(answer key, question id)
    # until they close; None for every other row.
    slot: Mapped[str | None] = mapped_column(String(64))


class PulseValueCount(Base):
    """How many answers a closed round's unit gave each value of each question: what digests read.

    Written in the same transaction as the round's close (`surveys.rounds.close_round`), so a closed
    round always has its counts; rounds closed before the table existed were counted by its migration.
    It holds no more than the answer rows do (unit, question, value), summed, and answers never change
    after close, so the counts never need adjusting. Skipped questions (no value) are not counted."""

    __tablename__ = "pulse_value_count"

    round_id: Mapped[int] = mapped_column(ForeignKey("pulse_round.id", ondelete="CASCADE"), primary_key=True)
    # Indexed for the foreign key: deleting a round's units would otherwise scan this table per unit.
    unit_id: Mapped[int] = mapped_column(ForeignKey("pulse_unit.id", ondelete="CASCADE"), primary_key=True, index=True)
    question_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, primary_key=True)
    answers: Mapped[int] = mapped_column(Integer)


class QuestionExposure(Base):
    """When a person was last asked a question, for rotation. Identity side; says nothing of answers."""

    __tablename__ = "question_exposure"

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    question_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_seen_on: Mapped[date]


class CustomPack(Base):
    """A question pack an admin loaded from a file (e.g. a licensed instrument), kept as its YAML."""

    __tablename__ = "custom_pack"
    __table_args__ = (UniqueConstraint("workspace_id", "pack_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    pack_id: Mapped[str] = mapped_column(String(41))
    source: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
