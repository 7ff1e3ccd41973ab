"""Pulse rounds: open, answer, remind, close. Plain services over a session; no Slack here.

How a person changes their answer without their answer being linked to them
---------------------------------------------------------------------------
At opening, each participant gets a random 32-byte answer key, and the round gets a random 32-byte
round key; both are stored sealed with EMPATHY_SECRET_KEY, which lives only in the environment.
An answer is stored as `slot = HMAC(answer key, question id)` plus one ciphertext, under the round
key, of unit, question, value and comment, padded to one fixed size: a second click finds the same
slot and replaces the ciphertext, so a change never creates a second row. A database reader without
the environment key sees, per person, only that they have answered (they must not be reminded), and
per answer only an opaque block of the same size as every other: nothing says which unit, question
or value it is, so neither one snapshot nor a series of backups ties a value to anyone.

At close the round's answers are decrypted once and written in clear for the reports, shuffled, with
random ids and no slot; the participant rows, the sealed answers and the round key are deleted in the
same transaction, and `bot.core.storage_scrub` then removes them from the database's files (SQLite: zeroed
pages and a truncated write-ahead log; PostgreSQL: the small tables rewritten). Whatever of the open
round survives elsewhere (PostgreSQL's own WAL, a backup) is sealed under a round key that no
longer exists, except the sealed round key itself: see the README for what an operator must do.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import secrets
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import (
    LargeBinary,
    and_,
    bindparam,
    case,
    cast,
    delete,
    false,
    func,
    insert,
    null,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, lazyload, load_only
from sqlalchemy.orm.attributes import set_committed_value

from bot.core.accounts import account_of_user_in_workspace, has_account
from bot.core.crypto import Aead, SecretBox, pad, unpad
from bot.core.database import upsert_insert
from bot.core.errors import UserFacingError
from bot.core.message import Command, text
from bot.core.models import Person, PersonAccount, Workspace
from bot.core.text import clean_typed
from surveys.bank import QuestionBank
from surveys.cadence import candidate_days, earliest_send_at, is_round_day, local_send_at
from surveys.models import (
    PulseAnswer,
    PulseParticipant,
    PulseRound,
    PulseRoundKey,
    PulseSchedule,
    PulseSealedAnswer,
    PulseUnit,
    PulseValueCount,
    QuestionExposure,
    random_id,
)
from surveys.pack_store import note_pack_version, pack_version, workspace_bank
from surveys.rotation import choose_questions

COMMENT_LIMIT = 1000
# Every sealed answer is this many bytes before encryption, whatever it holds, so that a row with its
# ciphertext fits one 4 kB SQLite page: room for 1,000 characters of any script up to 3 bytes each in
# UTF-8 (all of Latin, Cyrillic, Greek, Arabic, Hebrew, Indic scripts, Chinese, Japanese, Korean).
# Only a comment made mostly of emoji could be too long, and its writer is asked to shorten it.
SEALED_SIZE = 3840
MIN_GROUP = 5
MIN_GROUP_COMMENTS = 10

logger = logging.getLogger(__name__)


class PulseError(UserFacingError):
    """A reason an answer was not recorded; `str()` is written for the person who clicked."""


class RoundNotFound(PulseError):
    def __init__(self) -> None:
        super().__init__(
            text(
                "I can't find that pulse any more, so nothing was recorded. ",
                Command("pulse"),
                " shows the one open now.",
            )
        )


class RoundClosed(PulseError):
    def __init__(self, closed_on: date) -> None:
        super().__init__(
            f"This pulse closed on {closed_on:%a %d %b}, so answers can't be changed any more. "
            "Thank you for taking part; the next one will come to your DMs."
        )


class NotInvited(PulseError):
    def __init__(self) -> None:
        super().__init__(
            text(
                "This pulse wasn't sent to you, so I can't record an answer from you. ",
                Command("pulse"),
                " shows any pulse that is yours.",
            )
        )


class QuestionNotInRound(PulseError):
    def __init__(self) -> None:
        super().__init__("That question isn't part of your pulse this time, so nothing was recorded.")


class InvalidAnswer(PulseError):
    def __init__(self) -> None:
        super().__init__(
            "That isn't one of the answers this question offers, so nothing was recorded. Please pick again."
        )


class Deactivated(PulseError):
    def __init__(self) -> None:
        super().__init__(
            "Your Empathy Bot account is switched off, so I can't record answers. If that's a mistake, let HR know."
        )


class CommentTooLong(PulseError):
    def __init__(self, length: int) -> None:
        super().__init__(
            f"Comments can be up to {COMMENT_LIMIT} characters; this one has {length}. Please shorten it and send again."
        )


class CommentTooBig(PulseError):
    def __init__(self) -> None:
        super().__init__(
            "This comment has a lot of emoji or symbols, which take extra room, so it doesn't quite fit. "
            "Please shorten it a little and send again."
        )


# The room a comment has inside a sealed answer, beside the unit, the question and the value.
_COMMENT_ROOM = SEALED_SIZE - 4 - 160


def comment_problem(raw: str) -> PulseError | None:
    """Why a comment can't be stored as typed (too long, or too big once encoded), or None."""
    comment = clean_comment(raw)
    if len(comment) > COMMENT_LIMIT:
        return CommentTooLong(len(comment))
    if len(json.dumps(comment, ensure_ascii=False).encode()) > _COMMENT_ROOM:
        return CommentTooBig()
    return None


@dataclass(frozen=True)
class Invitation:
    round_id: int
    person_id: int
    due_at: datetime
    question_ids: tuple[str, ...]


@dataclass
class OpenedRound:
    round: PulseRound
    invitations: list[Invitation] = field(default_factory=list)
    created: bool = True


@dataclass(frozen=True)
class Answer:
    value: int | None  # None: skipped
    comment: str | None


@dataclass
class Progress:
    """One person's own view of their round: what they were asked and what they answered."""

    round: PulseRound
    person: Person
    question_ids: tuple[str, ...]
    answers: dict[str, Answer]
    # This click was the person's first in the round (their pending reminder is to be called off).
    first_response: bool = False

    @property
    def done(self) -> bool:
        return all(q in self.answers for q in self.question_ids)

    @property
    def answered(self) -> int:
        return sum(1 for q in self.question_ids if q in self.answers)


# -- opening -------------------------------------------------------------------------------------


def open_round(
    session: Session,
    workspace: Workspace,
    bank: QuestionBank,
    box: SecretBox,
    *,
    now: datetime,
    round_key: str,
    round_date: date,
    packs: Sequence[str],
    questions_per_round: int = 5,
    open_days: int = 3,
    reminder_after_hours: int | None = 24,
    send_time: str | None = None,
    team_id: int | None = None,
    schedule_id: int | None = None,
) -> OpenedRound:
    """Open a round (once per key) and say who to invite when. `send_time=None` means "now"."""
    existing = session.scalar(
        select(PulseRound).where(PulseRound.workspace_id == workspace.id, PulseRound.round_key == round_key)
    )
    if existing is not None:
        return OpenedRound(existing, created=False)
    people = _participants(session, workspace, team_id)
    due = {p.id: max(now, local_send_at(round_date, send_time, p.timezone)) if send_time else now for p in people}
    opens_at = min(due.values(), default=now)
    pulse = PulseRound(
        workspace_id=workspace.id,
        schedule_id=schedule_id,
        team_id=team_id,
        round_key=round_key,
        round_date=round_date,
        status="open",
        min_group=MIN_GROUP,
        min_group_comments=MIN_GROUP_COMMENTS,
        questions_per_round=questions_per_round,
        reminder_after_hours=reminder_after_hours,
        opens_at=opens_at,
        closes_at=max(due.values(), default=now) + timedelta(days=open_days),
    )
    session.add(pulse)
    session.flush()
    session.add(PulseRoundKey(round_id=pulse.id, sealed_key=box.seal(Aead.new_key())))
    opened = OpenedRound(pulse)
    questions = bank.questions(packs)
    exposures = _exposures(session, [p.id for p in people])
    seen_now: list[dict[str, object]] = []
    for (team, manager), members in _units(people).items():
        unit = PulseUnit(round_id=pulse.id, team_id=team, manager_id=manager, chain=_chain(session, manager))
        unit.questions = choose_questions(
            questions, [exposures[m.id] for m in members], questions_per_round, round_date
        )
        session.add(unit)
        session.flush()
        for person in members:
            session.add(
                PulseParticipant(
                    round_id=pulse.id,
                    person_id=person.id,
                    unit_id=unit.id,
                    due_at=due[person.id],
                    answer_key=box.seal(secrets.token_bytes(32)),
                )
            )
            seen_now += [{"person_id": person.id, "question_id": q, "last_seen_on": round_date} for q in unit.questions]
            opened.invitations.append(Invitation(pulse.id, person.id, due[person.id], tuple(unit.questions)))
    _record_exposures(session, seen_now)
    session.flush()
    return opened


def _participants(session: Session, workspace: Workspace, team_id: int | None) -> list[Person]:
    query = select(Person).where(
        Person.workspace_id == workspace.id,
        Person.active.is_(True),
        Person.is_bot.is_(False),
        has_account(workspace.platform),
    )
    if team_id is not None:
        query = query.where(Person.team_id == team_id)
    return list(session.scalars(query.order_by(Person.id)))


def _units(people: Iterable[Person]) -> dict[tuple[int | None, int | None], list[Person]]:
    """A person's answers count toward their team under their manager. A manager's own answers count
    toward the unit they belong to (their manager's), never toward the team they lead."""
    units: dict[tuple[int | None, int | None], list[Person]] = defaultdict(list)
    for person in people:
        units[(person.team_id, person.manager_id)].append(person)
    return units


def _chain(session: Session, manager_id: int | None) -> list[int]:
    chain: list[int] = []
    while manager_id is not None and manager_id not in chain:
        chain.append(manager_id)
        manager_id = session.scalar(select(Person.manager_id).where(Person.id == manager_id))
    return list(reversed(chain))


def _exposures(session: Session, person_ids: list[int]) -> dict[int, dict[str, date]]:
    seen: dict[int, dict[str, date]] = {pid: {} for pid in person_ids}
    for chunk in _chunks(person_ids, 500):
        for row in session.scalars(select(QuestionExposure).where(QuestionExposure.person_id.in_(chunk))):
            seen[row.person_id][row.question_id] = row.last_seen_on
    return seen


def _record_exposures(session: Session, rows: list[dict[str, object]]) -> None:
    """One upsert per batch instead of a statement per person and question (10,000 people × 5)."""
    statement = upsert_insert(session, QuestionExposure)
    statement = statement.on_conflict_do_update(
        index_elements=["person_id", "question_id"], set_={"last_seen_on": statement.excluded.last_seen_on}
    )
    for start in range(0, len(rows), 1000):
        session.execute(statement, rows[start : start + 1000])


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def open_scheduled_rounds(session: Session, box: SecretBox, now: datetime) -> list[OpenedRound]:
    """Open every scheduled round whose day has begun somewhere on Earth. Safe to run any number of times."""
    opened: list[OpenedRound] = []
    for schedule in session.scalars(select(PulseSchedule).where(PulseSchedule.active.is_(True))):
        workspace = session.get(Workspace, schedule.workspace_id)
        assert workspace is not None
        bank = workspace_bank(session, workspace.id)
        for day in candidate_days(now):
            starts = earliest_send_at(day, schedule.send_time)
            if not is_round_day(schedule.cadence, schedule.weekday, schedule.anchor_date, day):
                continue
            if not starts <= now < starts + timedelta(days=schedule.open_days):
                continue
            result = open_round(
                session,
                workspace,
                bank,
                box,
                now=now,
                round_key=f"schedule:{schedule.id}:{day.isoformat()}",
                round_date=day,
                packs=schedule.packs or bank.default_pack_ids(),
                questions_per_round=schedule.questions_per_round,
                open_days=schedule.open_days,
                reminder_after_hours=schedule.reminder_after_hours,
                send_time=schedule.send_time,
                team_id=schedule.team_id,
                schedule_id=schedule.id,
            )
            if result.created:
                opened.append(result)
    return opened


# -- answering -------------------------------------------------------------------------------------


class KeyChanged(PulseError):
    def __init__(self) -> None:
        super().__init__(
            "I can't record this answer: the bot's secret key changed since this pulse opened, so I can no "
            "longer find your earlier answers. Nothing was changed. Please let HR know (EMPATHY_SECRET_KEY must "
            "stay the same between restarts)."
        )


def slot_for(box: SecretBox, participant: PulseParticipant, question_id: str) -> str:
    return slots_for(box, participant, [question_id])[0]


def slots_for(box: SecretBox, participant: PulseParticipant, question_ids: Sequence[str]) -> list[str]:
    """The participant's slots for these questions, their answer key opened once for all of them."""
    try:
        key = box.open(participant.answer_key)
    except ValueError:
        raise KeyChanged() from None
    return [hmac.new(key, q.encode(), hashlib.sha256).hexdigest() for q in question_ids]


# The statements every click runs, built once: building one (its expressions and cache key) cost more
# CPU than running it.
_PARTICIPATION = (
    select(PulseRound, PulseRoundKey, PulseParticipant, PulseUnit, *pack_version(PulseRound.workspace_id))
    .join(
        PulseParticipant,
        and_(PulseParticipant.round_id == PulseRound.id, PulseParticipant.person_id == bindparam("person_id")),
    )
    .join(PulseUnit, PulseUnit.id == PulseParticipant.unit_id)
    .outerjoin(PulseRoundKey, PulseRoundKey.round_id == PulseRound.id)
    .where(PulseRound.id == bindparam("round_id"))
    .with_for_update(of=PulseParticipant)
)
_SEALED_BY_SLOT = select(PulseSealedAnswer.slot, PulseSealedAnswer.sealed).where(
    PulseSealedAnswer.round_id == bindparam("round_id"), PulseSealedAnswer.slot.in_(bindparam("slots", expanding=True))
)
# PostgreSQL: the click's answer inserted if its slot is new, and the person's answers as they were
# before, in ONE statement (a data-modifying WITH): a person's first answer to a question, the usual
# click, needs no second round trip. The rows read are the snapshot before the insert; the last column
# says which row is the insert's. SQLite has no INSERT inside WITH and keeps the two statements.
_ADDED = (
    postgresql.insert(PulseSealedAnswer)
    .values(id=bindparam("id"), round_id=bindparam("round_id"), slot=bindparam("slot"), sealed=bindparam("sealed"))
    .on_conflict_do_nothing(index_elements=["round_id", "slot"])
    .returning(PulseSealedAnswer.slot)
    .cte("added")
)
_ADD_AND_READ = union_all(
    select(PulseSealedAnswer.slot, PulseSealedAnswer.sealed, false().label("added")).where(
        PulseSealedAnswer.round_id == bindparam("round_id"),
        PulseSealedAnswer.slot.in_(bindparam("slots", expanding=True)),
    ),
    select(_ADDED.c.slot, cast(null(), LargeBinary), true()),
)
_SEAL = {
    name: (
        dialect.insert(PulseSealedAnswer)
        .values(id=bindparam("id"), round_id=bindparam("round_id"), slot=bindparam("slot"), sealed=bindparam("sealed"))
        .on_conflict_do_update(index_elements=["round_id", "slot"], set_={"sealed": bindparam("sealed")})
    )
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


# Who clicked and what they clicked in, in one round trip: the listener's identity lookup folded into
# `_PARTICIPATION` (each was a round trip of its own on every click). Inner joins throughout: anyone it
# does not find (unknown workspace or person, not invited, another workspace's round) goes the way
# that says which.
_CLICKER_PARTICIPATION = (
    select(
        Workspace,
        PersonAccount,
        Person,
        PulseRound,
        PulseRoundKey,
        PulseParticipant,
        PulseUnit,
        *pack_version(PulseRound.workspace_id),
    )
    .join(PersonAccount, account_of_user_in_workspace())
    # The person's own workspace is checked in Python: as a join condition it let the planner start
    # from everyone in the workspace instead of from the account's unique index (8 ms at 2,000 people).
    .join(Person, Person.id == PersonAccount.person_id)
    .join(
        PulseParticipant,
        and_(PulseParticipant.person_id == Person.id, PulseParticipant.round_id == bindparam("round_id")),
    )
    .join(PulseRound, PulseRound.id == PulseParticipant.round_id)
    .join(PulseUnit, PulseUnit.id == PulseParticipant.unit_id)
    .outerjoin(PulseRoundKey, PulseRoundKey.round_id == PulseRound.id)
    .where(Workspace.platform == bindparam("platform"), Workspace.external_id == bindparam("workspace"))
    .with_for_update(of=PulseParticipant)
    # Only the columns a click reads (about 30 of 75, and not the person's team): turning columns into
    # attributes was a quarter of a click's CPU. Any other attribute still loads if something asks.
    .options(
        load_only(Workspace.platform, Workspace.external_id, Workspace.name),
        load_only(Person.workspace_id, Person.name, Person.active),
        lazyload(Person.team),
        load_only(PulseRound.workspace_id, PulseRound.status, PulseRound.closes_at, PulseRound.min_group),
        load_only(
            PulseParticipant.round_id,
            PulseParticipant.person_id,
            PulseParticipant.unit_id,
            PulseParticipant.answer_key,
            PulseParticipant.responded,
        ),
        load_only(PulseUnit.questions),
    )
)


@dataclass(frozen=True)
class Participation:
    """What a click is about, read (and the participant locked) before the click is recorded."""

    round: PulseRound
    person: Person
    participant: PulseParticipant
    unit: PulseUnit


@dataclass(frozen=True)
class Clicker:
    """Who clicked (their workspace, themselves with the account they clicked from) and their place in
    the round the click names."""

    workspace: Workspace
    person: Person
    participation: Participation


def find_clicker(
    session: Session, platform: str, workspace_external_id: str, external_user_id: str, round_id: int
) -> Clicker | None:
    """The workspace, person and participation of a click on `round_id` in ONE query, the participant
    row locked for the rest of the transaction; None when any of them is missing (the caller then finds
    who it is the usual way, and `record_answer` says what is wrong). Checks nothing about the round:
    `record_answer` does, after the caller's own checks, in the same order as without this."""
    row = session.execute(
        _CLICKER_PARTICIPATION,
        {"platform": platform, "workspace": workspace_external_id, "user": external_user_id, "round_id": round_id},
    ).first()
    if row is None:
        return None
    workspace, account, person, pulse, key, participant, unit, *version = row
    if person.workspace_id != workspace.id:
        return None
    if "accounts" not in person.__dict__:
        set_committed_value(person, "accounts", [account])
    if key is not None:
        session.info.setdefault(_KEYS, {})[round_id] = key
    note_pack_version(session, pulse.workspace_id, *version)
    return Clicker(workspace, person, Participation(pulse, person, participant, unit))


def _participation(
    session: Session,
    workspace: Workspace,
    person: Person | None,
    round_id: int,
    now: datetime,
    known: Participation | None = None,
) -> tuple[PulseRound, Person, PulseParticipant, PulseUnit]:
    if known is not None and known.person is person and known.round.id == round_id:
        # Read with who clicked (`find_clicker`): the same checks as the query below.
        _check_round(known.round, workspace, now)
        if not known.person.active:
            raise Deactivated()
        return known.round, known.person, known.participant, known.unit
    if person is not None and person.workspace_id == workspace.id:
        # Everything a click needs before its answers, in one round trip: the round with its key, the
        # participant (locked), their unit, and the version of the workspace's custom packs.
        found = session.execute(_PARTICIPATION, {"person_id": person.id, "round_id": round_id}).first()
        if found is not None:
            pulse, key, participant, unit, *version = found
            if key is not None:
                session.info.setdefault(_KEYS, {})[round_id] = key
            _check_round(pulse, workspace, now)
            note_pack_version(session, pulse.workspace_id, *version)
            if not person.active:
                raise Deactivated()
            return pulse, person, participant, unit
    # Not invited, or not found: the steps one by one, to say which.
    # The round's key comes with the round (one round trip; `_round_key` then finds it in the session).
    found = session.execute(
        select(PulseRound, PulseRoundKey)
        .outerjoin(PulseRoundKey, PulseRoundKey.round_id == PulseRound.id)
        .where(PulseRound.id == round_id)
    ).first()
    pulse = found[0] if found else None
    if found is not None and found[1] is not None:
        # Held for this session only: the identity map keeps objects weakly, and the key is needed below.
        session.info.setdefault(_KEYS, {})[round_id] = found[1]
    _check_round(pulse, workspace, now)
    assert pulse is not None
    if person is None or person.workspace_id != workspace.id:
        raise NotInvited()
    if not person.active:
        raise Deactivated()
    # Locked for the rest of the transaction: one person's quick clicks are applied one after the
    # other, so each sees the answers before it (and a double click cannot race for the same slot).
    participant = session.scalar(
        select(PulseParticipant)
        .where(PulseParticipant.round_id == pulse.id, PulseParticipant.person_id == person.id)
        .with_for_update()
    )
    if participant is None:
        raise NotInvited()
    unit = session.get(PulseUnit, participant.unit_id)
    assert unit is not None
    return pulse, person, participant, unit


def _check_round(pulse: PulseRound | None, workspace: Workspace, now: datetime) -> None:
    if pulse is None or pulse.workspace_id != workspace.id:
        raise RoundNotFound()
    if pulse.status != "open" or pulse.closes_at <= now:
        raise RoundClosed(pulse.closes_at.date())


def record_answer(
    session: Session,
    workspace: Workspace,
    bank: QuestionBank | None,
    box: SecretBox,
    *,
    person: Person | None,
    round_id: int,
    question_id: str,
    value: int | None,
    now: datetime,
    known: Participation | None = None,
) -> Progress:
    """Record (or replace) one answer of `person` (None: someone the directory does not know);
    `value=None` skips the question. `bank=None`: the workspace's (`workspace_bank`), checked for
    changes in the query that finds the round. `known`: the participation `find_clicker` read in this
    transaction, if it did."""
    pulse, person, participant, unit = _participation(session, workspace, person, round_id, now, known)
    if question_id not in unit.questions:
        raise QuestionNotInRound()
    question = (bank or workspace_bank(session, workspace.id)).question(question_id)
    if question is None:
        raise QuestionNotInRound()
    if value is not None and question.scale.option(value) is None:
        raise InvalidAnswer()
    answers = _upsert(session, participant, unit, box, question_id, value=value)
    return Progress(pulse, person, tuple(unit.questions), answers, _first_response(session, participant))


def record_comment(
    session: Session,
    workspace: Workspace,
    box: SecretBox,
    *,
    person: Person | None,
    round_id: int,
    question_id: str,
    comment: str,
    now: datetime,
) -> Progress:
    problem = comment_problem(comment)
    if problem is not None:
        raise problem
    comment = clean_comment(comment)
    pulse, person, participant, unit = _participation(session, workspace, person, round_id, now)
    if question_id not in unit.questions:
        raise QuestionNotInRound()
    answers = _upsert(session, participant, unit, box, question_id, comment=comment or None)
    return Progress(pulse, person, tuple(unit.questions), answers, _first_response(session, participant))


def _first_response(session: Session, participant: PulseParticipant) -> bool:
    """Mark the participant as having responded; True only for the click that did it. Later clicks
    write nothing here. A conditional update, so that of two clicks racing (other processes, SQLite)
    exactly one is first whatever each read before."""
    if participant.responded:
        return False
    flipped = session.execute(
        update(PulseParticipant)
        .where(PulseParticipant.id == participant.id, PulseParticipant.responded.is_(False))
        .values(responded=True)
        .execution_options(synchronize_session=False)
    )
    set_committed_value(participant, "responded", True)
    return bool(flipped.rowcount)


_UNSET: object = object()
_KEYS = "pulse_round_keys"  # session.info: round keys read with their round in this transaction


def _round_key(session: Session, box: SecretBox, round_id: int) -> tuple[Aead, bool]:
    """The open round's own key, and whether the round still has answers in clear from before sealed
    answers existed (such a round gets its key at its first answer after the upgrade)."""
    row = session.info.get(_KEYS, {}).get(round_id) or session.get(PulseRoundKey, round_id)
    if row is None:
        session.execute(
            upsert_insert(session, PulseRoundKey)
            .values(round_id=round_id, sealed_key=box.seal(Aead.new_key()), has_clear_answers=True)
            .on_conflict_do_nothing(index_elements=["round_id"])
        )
        row = session.get(PulseRoundKey, round_id)
        assert row is not None
    try:
        return Aead(box.open(row.sealed_key)), row.has_clear_answers
    except ValueError:
        raise KeyChanged() from None


def _seal(aead: Aead, round_id: int, slot: str, unit_id: int, question_id: str, answer: Answer) -> bytes:
    plain = json.dumps([unit_id, question_id, answer.value, answer.comment], ensure_ascii=False).encode()
    try:
        padded = pad(plain, SEALED_SIZE)
    except ValueError:
        raise CommentTooBig() from None
    return aead.seal(padded, _associated(round_id, slot))


def _unseal(aead: Aead, round_id: int, slot: str, sealed: bytes) -> tuple[int, str, Answer]:
    unit_id, question_id, value, comment = json.loads(unpad(aead.open(sealed, _associated(round_id, slot))))
    return int(unit_id), str(question_id), Answer(value, comment)


def _associated(round_id: int, slot: str) -> bytes:
    # Binds each ciphertext to its round and slot: a block copied to another row does not open there.
    return f"{round_id}:{slot}".encode()


def clean_comment(raw: str) -> str:
    """The shared rule for typed text (no control characters), and no lone surrogates: a comment is
    sealed as UTF-8, which has no encoding for them."""
    return "".join(ch for ch in clean_typed(raw) if unicodedata.category(ch) != "Cs")


def _upsert(
    session: Session,
    participant: PulseParticipant,
    unit: PulseUnit,
    box: SecretBox,
    question_id: str,
    *,
    value: int | object | None = _UNSET,
    comment: str | object | None = _UNSET,
) -> dict[str, Answer]:
    """Seal the person's new answer to this question, keeping what this click does not change, and
    return all their answers in the round.

    The participant row is locked (see `_participation`), so one person's clicks are applied one after
    the other; the upsert makes a double click one row on either database."""
    aead, has_clear = _round_key(session, box, participant.round_id)
    slots = dict(zip(slots_for(box, participant, unit.questions), unit.questions, strict=True))
    slot = next(s for s, q in slots.items() if q == question_id)
    if not has_clear and session.get_bind().dialect.name == "postgresql":
        # Sealed as it reads if the question had no answer yet; inserted only then (see `_ADD_AND_READ`).
        fresh = Answer(
            None if value is _UNSET else value,  # type: ignore[arg-type]
            None if comment is _UNSET else comment,  # type: ignore[arg-type]
        )
        added, answers = _add_and_read(session, aead, participant, slots, slot, question_id, fresh)
        if added:
            return {**answers, question_id: fresh}
        # The question had an answer: replaced below, keeping what this click does not change.
    else:
        answers = _own_answers(session, aead, has_clear, participant.round_id, slots)
    before = answers.get(question_id, Answer(None, None))
    answer = Answer(
        before.value if value is _UNSET else value,  # type: ignore[arg-type]
        before.comment if comment is _UNSET else comment,  # type: ignore[arg-type]
    )
    sealed = _seal(aead, participant.round_id, slot, participant.unit_id, question_id, answer)
    session.execute(
        _SEAL[session.get_bind().dialect.name],
        {"id": random_id(), "round_id": participant.round_id, "slot": slot, "sealed": sealed},
    )
    if has_clear:
        # An answer given in clear before the upgrade to sealed answers moves into the sealed row.
        session.execute(
            delete(PulseAnswer).where(PulseAnswer.round_id == participant.round_id, PulseAnswer.slot == slot)
        )
    return {**answers, question_id: answer}


def _add_and_read(
    session: Session,
    aead: Aead,
    participant: PulseParticipant,
    slots: dict[str, str],
    slot: str,
    question_id: str,
    fresh: Answer,
) -> tuple[bool, dict[str, Answer]]:
    """Insert `fresh` if the slot has no row yet; whether it did, and the person's answers before it."""
    round_id = participant.round_id
    sealed = _seal(aead, round_id, slot, participant.unit_id, question_id, fresh)
    rows = session.execute(
        _ADD_AND_READ, {"id": random_id(), "round_id": round_id, "slot": slot, "sealed": sealed, "slots": list(slots)}
    )
    added, answers = False, {}
    for row_slot, blob, is_added in rows:
        if is_added:
            added = True
        else:
            answers[slots[row_slot]] = _unseal(aead, round_id, row_slot, blob)[2]
    return added, answers


def _own_answers(
    session: Session, aead: Aead, has_clear: bool, round_id: int, slots: dict[str, str]
) -> dict[str, Answer]:
    """Answers found through their slots (question ids by slot): nobody else's can be reached this way."""
    answers: dict[str, Answer] = {}
    if has_clear:
        legacy = session.scalars(
            select(PulseAnswer).where(PulseAnswer.round_id == round_id, PulseAnswer.slot.in_(list(slots)))
        )
        for row in legacy:
            if row.slot is not None:
                answers[slots[row.slot]] = Answer(row.value, row.comment)
    sealed = session.execute(_SEALED_BY_SLOT, {"round_id": round_id, "slots": list(slots)})
    for slot, blob in sealed:
        _unit, _question, answer = _unseal(aead, round_id, slot, blob)
        answers[slots[slot]] = answer
    return answers


def progress(
    session: Session, box: SecretBox, pulse: PulseRound, person: Person, participant: PulseParticipant
) -> Progress:
    """A person's own answers, found through their slots."""
    unit = session.get(PulseUnit, participant.unit_id)
    assert unit is not None
    slots = dict(zip(slots_for(box, participant, unit.questions), unit.questions, strict=True))
    aead, has_clear = _round_key(session, box, pulse.id)
    return Progress(pulse, person, tuple(unit.questions), _own_answers(session, aead, has_clear, pulse.id, slots))


def open_progress_for(session: Session, box: SecretBox, person: Person | None, now: datetime) -> Progress | None:
    """The person's most recent open round, if any (for `/pulse` and the Home tab)."""
    if person is None:
        return None
    row = session.execute(
        select(PulseRound, PulseParticipant)
        .join(PulseParticipant, PulseParticipant.round_id == PulseRound.id)
        .where(
            PulseParticipant.person_id == person.id,
            PulseRound.status == "open",
            PulseRound.closes_at > now,
            PulseParticipant.due_at <= now,
        )
        .order_by(PulseRound.opens_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return progress(session, box, row[0], person, row[1])


# -- reminders -------------------------------------------------------------------------------------


def due_reminders(session: Session, now: datetime) -> list[tuple[PulseRound, PulseParticipant]]:
    """Participants to nudge now (at most once, never after they answered); marks them reminded."""
    rows = session.execute(
        select(PulseRound, PulseParticipant)
        .join(PulseParticipant, PulseParticipant.round_id == PulseRound.id)
        .join(Person, Person.id == PulseParticipant.person_id)
        .where(
            PulseRound.status == "open",
            PulseRound.closes_at > now,
            PulseRound.reminder_after_hours.is_not(None),
            PulseParticipant.responded.is_(False),
            PulseParticipant.reminded.is_(False),
            Person.active.is_(True),
        )
    ).all()
    due = {
        participant.id: (pulse, participant)
        for pulse, participant in rows
        if participant.due_at + timedelta(hours=pulse.reminder_after_hours or 0) <= now
    }
    if not due:
        return []
    # Marked by one conditional UPDATE, not from what the SELECT read: a first click may have set
    # `responded` since, and only the click that sets it calls reminders off. The UPDATE waits for that
    # click's row lock and then sees its commit; a click that comes after waits for this transaction
    # and then cancels the reminder it queued.
    marked = set(
        session.scalars(
            update(PulseParticipant)
            .where(
                PulseParticipant.id.in_(sorted(due)),
                PulseParticipant.responded.is_(False),
                PulseParticipant.reminded.is_(False),
            )
            .values(reminded=True)
            .returning(PulseParticipant.id)
            .execution_options(synchronize_session=False)
        )
    )
    for participant_id in marked:
        set_committed_value(due[participant_id][1], "reminded", True)
    return [due[participant_id] for participant_id in sorted(marked)]


# -- closing ---------------------------------------------------------------------------------------


def close_due_rounds(session: Session, now: datetime, box: SecretBox) -> list[int]:
    """Close every round past its end: count participation per unit, then forget who answered."""
    closed = []
    for pulse in session.scalars(select(PulseRound).where(PulseRound.status == "open", PulseRound.closes_at <= now)):
        if close_round(session, pulse, now, box):
            closed.append(pulse.id)
    return closed


def close_round(session: Session, pulse: PulseRound, now: datetime, box: SecretBox) -> bool:
    """Count participation per unit, write the answers in clear for the reports, forget every link.
    False, and nothing done, if the round was no longer open (another close got there first).

    One transaction: the counts, the clear answers (shuffled, new random ids, no slot), and the
    deletion of participants, sealed answers and the round key. The caller then scrubs the files.

    The status moves first, by one conditional UPDATE: the scheduled close and HR's early close racing
    each other must not both write the answers in clear (on PostgreSQL the second waits for the first
    and then finds the round closed; SQLite lets one writer in at a time)."""
    claimed = session.execute(
        update(PulseRound)
        .where(PulseRound.id == pulse.id, PulseRound.status == "open")
        .values(status="closed")
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        session.refresh(pulse)
        return False
    counts = session.execute(
        select(
            PulseParticipant.unit_id,
            func.count(),
            func.sum(case((PulseParticipant.responded.is_(True), 1), else_=0)),
        )
        .where(PulseParticipant.round_id == pulse.id)
        .group_by(PulseParticipant.unit_id)
    ).all()
    for unit_id, invited, responded in counts:
        session.execute(
            update(PulseUnit).where(PulseUnit.id == unit_id).values(invited=invited, responded=int(responded or 0))
        )
    answers = _opened_answers(session, pulse.id, box) + _legacy_answers(session, pulse.id)
    random.SystemRandom().shuffle(answers)
    session.execute(delete(PulseAnswer).where(PulseAnswer.round_id == pulse.id))
    session.execute(delete(PulseSealedAnswer).where(PulseSealedAnswer.round_id == pulse.id))
    session.execute(delete(PulseParticipant).where(PulseParticipant.round_id == pulse.id))
    session.execute(delete(PulseRoundKey).where(PulseRoundKey.round_id == pulse.id))
    session.flush()
    for start in range(0, len(answers), 1000):
        session.execute(insert(PulseAnswer), answers[start : start + 1000])
    # Counted here, in the close's transaction, so that no closed round is ever without its counts.
    counts = value_counts(pulse.id, answers)
    for start in range(0, len(counts), 1000):
        session.execute(insert(PulseValueCount), counts[start : start + 1000])
    pulse.status = "closed"
    pulse.closed_at = now
    pulse.closes_at = min(pulse.closes_at, now)  # an early close: "closed on" is today
    pulse.scrubbed_at = None
    session.flush()
    return True


def value_counts(round_id: int, answers: Iterable[Mapping[str, object]]) -> list[dict[str, object]]:
    """`PulseValueCount` rows for a round's clear answers: per unit, question and value (skips not counted)."""
    tally: Counter[tuple[int, str, int]] = Counter(
        (int(a["unit_id"]), str(a["question_id"]), int(a["value"]))  # type: ignore[call-overload]
        for a in answers
        if a["value"] is not None
    )
    return [
        {"round_id": round_id, "unit_id": unit_id, "question_id": question_id, "value": value, "answers": n}
        for (unit_id, question_id, value), n in sorted(tally.items())
    ]


def _opened_answers(session: Session, round_id: int, box: SecretBox) -> list[dict[str, object]]:
    rows = session.execute(
        select(PulseSealedAnswer.slot, PulseSealedAnswer.sealed).where(PulseSealedAnswer.round_id == round_id)
    ).all()
    if not rows:
        return []
    key_row = session.get(PulseRoundKey, round_id)
    try:
        aead = Aead(box.open(key_row.sealed_key)) if key_row is not None else None
    except ValueError:
        aead = None
    if aead is None:
        # EMPATHY_SECRET_KEY changed while the round was open: these answers can be read by no one.
        logger.warning("pulse round %s closed with %s answers that no key opens any more", round_id, len(rows))
        return []
    opened = []
    for slot, sealed in rows:
        unit_id, question_id, answer = _unseal(aead, round_id, slot, sealed)
        opened.append(_clear_row(round_id, unit_id, question_id, answer))
    return opened


def _legacy_answers(session: Session, round_id: int) -> list[dict[str, object]]:
    """Answers given in clear before the upgrade to sealed answers: rewritten like the others."""
    return [
        _clear_row(round_id, row.unit_id, row.question_id, Answer(row.value, row.comment))
        for row in session.scalars(select(PulseAnswer).where(PulseAnswer.round_id == round_id))
    ]


def _clear_row(round_id: int, unit_id: int, question_id: str, answer: Answer) -> dict[str, object]:
    return {
        "id": random_id(),
        "round_id": round_id,
        "unit_id": unit_id,
        "question_id": question_id,
        "value": answer.value,
        "comment": answer.comment,
        "slot": None,
    }
