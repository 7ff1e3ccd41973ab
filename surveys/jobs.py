"""Pulse jobs: open scheduled rounds and queue their DMs, remind, close. Each is safe to run twice:
rounds are unique by key and every DM by its outbox idempotency key."""

from __future__ import annotations

import random
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

import surveys.models
from bot.core.clock import Clock
from bot.core.crypto import SecretBox
from bot.core.errors import UserFacingError
from bot.core.message import Block, Divider, Section, outbox_payload, text
from bot.core.models import OutboxMessage, OutboxState, Person, Workspace
from bot.core.settings import Settings
from bot.core.storage_scrub import scrub
from bot.delivery.inbox import inbox_engine, inbox_file
from bot.delivery.outbox import OutboxRow, enqueue_many
from bot.delivery.scheduler import Job
from bot.features import Feature, JobDeps
from surveys.bank import QuestionBank
from surveys.models import PulseParticipant, PulseRound, PulseUnit
from surveys.pack_store import workspace_bank
from surveys.pulse_messages import closed_message, greeting, greeting_payload, pulse_message
from surveys.rounds import (
    OpenedRound,
    close_due_rounds,
    close_round,
    due_reminders,
    open_progress_for,
    open_round,
    open_scheduled_rounds,
)


def invite_key(round_id: int, person_id: int) -> str:
    return f"pulse:{round_id}:{person_id}:invite"


def reminder_key(round_id: int, person_id: int) -> str:
    return f"pulse:{round_id}:{person_id}:remind"


def queue_invitations(session: Session, bank: QuestionBank, opened: OpenedRound) -> int:
    return _queue_pulse_dms(
        session, bank, opened.round, [(i.person_id, i.question_ids, i.due_at) for i in opened.invitations]
    )


def _queue_pulse_dms(
    session: Session,
    bank: QuestionBank,
    pulse: PulseRound,
    recipients: Sequence[tuple[int, tuple[str, ...], datetime]],
    *,
    reminder: bool = False,
) -> int:
    """Queue one DM per recipient. A unit's questions are built once; only the greeting is per person."""
    workspace = session.get(Workspace, pulse.workspace_id)
    assert workspace is not None
    rendered: dict[tuple[str, ...], dict[str, Any]] = {}
    rows = []
    for person_id, question_ids, due_at in recipients:
        person = session.get(Person, person_id)
        assert person is not None
        if question_ids not in rendered:
            rendered[question_ids] = outbox_payload(
                pulse_message(
                    first_name="",
                    round_id=pulse.id,
                    questions=[q for q in (bank.question(i) for i in question_ids) if q is not None],
                    answers={},
                    closes_at=pulse.closes_at,
                    min_group=pulse.min_group,
                    company=workspace.name or "our company",
                    reminder=reminder,
                )
            )
        hello = greeting(
            first_name=person.first_name,
            count=len(question_ids),
            closes_at=pulse.closes_at,
            min_group=pulse.min_group,
            reminder=reminder,
        )
        key = reminder_key(pulse.id, person_id) if reminder else invite_key(pulse.id, person_id)
        payload = greeting_payload(rendered[question_ids], hello)
        rows.append(OutboxRow(key, payload, due_at, person_id=person_id))
    enqueue_many(session, workspace.id, rows)
    return len(rows)


def open_pulse_now(
    session: Session,
    workspace: Workspace,
    bank: QuestionBank,
    box: SecretBox,
    *,
    now: datetime,
    team_id: int | None,
) -> OpenedRound:
    """An ad-hoc pulse (`/pulse send`, `empathy-bot pulse send`), on the default settings.

    At most one a day per team (or for everyone): the key is the day, so a repeated or doubled
    command finds the round already open (`created` is False) and sends nobody a second DM.
    """
    key = f"adhoc:{team_id if team_id is not None else 'everyone'}:{now.date().isoformat()}"
    opened = open_round(
        session,
        workspace,
        bank,
        box,
        now=now,
        round_key=key,
        round_date=now.date(),
        packs=bank.default_pack_ids(),
        team_id=team_id,
    )
    if opened.created:
        queue_invitations(session, bank, opened)
    return opened


def open_scheduled(session: Session, box: SecretBox, now: datetime) -> int:
    return sum(
        queue_invitations(session, workspace_bank(session, opened.round.workspace_id), opened)
        for opened in open_scheduled_rounds(session, box, now)
    )


def send_reminders(session: Session, now: datetime) -> int:
    by_round: dict[int, list[tuple[int, tuple[str, ...], datetime]]] = {}
    rounds: dict[int, PulseRound] = {}
    for pulse, participant in due_reminders(session, now):
        rounds[pulse.id] = pulse
        by_round.setdefault(pulse.id, []).append((participant.person_id, _unit_questions(session, participant), now))
    return sum(
        _queue_pulse_dms(
            session, workspace_bank(session, rounds[rid].workspace_id), rounds[rid], recipients, reminder=True
        )
        for rid, recipients in by_round.items()
    )


def _unit_questions(session: Session, participant: PulseParticipant) -> tuple[str, ...]:
    unit = session.get(PulseUnit, participant.unit_id)
    assert unit is not None
    return tuple(unit.questions)


def closed_key(round_id: int) -> str:
    return f"pulse-closed:{round_id}:{secrets.token_hex(8)}"


def close_rounds(session: Session, now: datetime, box: SecretBox) -> int:
    closed = close_due_rounds(session, now, box)
    for round_id in closed:
        pulse = session.get(PulseRound, round_id)
        assert pulse is not None
        _neutralise_messages(session, pulse, now)
    return len(closed)


def open_rounds(session: Session, workspace: Workspace, team_id: int | None) -> list[PulseRound]:
    """The rounds open now for one team, or (team_id None) the ones sent to everyone."""
    team = PulseRound.team_id == team_id if team_id is not None else PulseRound.team_id.is_(None)
    return list(
        session.scalars(
            select(PulseRound)
            .where(PulseRound.workspace_id == workspace.id, PulseRound.status == "open", team)
            .order_by(PulseRound.opens_at)
        )
    )


def close_early(session: Session, pulse: PulseRound, now: datetime, box: SecretBox) -> tuple[int, int] | None:
    """HR ends a round before its time: the scheduled close's path, now. Returns (took part, invited),
    or None if it had closed meanwhile.

    The caller scrubs the files once this has committed (`scrub_closed_rounds`)."""
    if not close_round(session, pulse, now, box):
        return None
    _neutralise_messages(session, pulse, now)
    units = session.scalars(select(PulseUnit).where(PulseUnit.round_id == pulse.id)).all()
    return sum(u.responded for u in units), sum(u.invited for u in units)


# Slack's confirmation dialog allows 300 characters.
EARLY_CLOSE_CONFIRM = (
    "People can't answer any more; I count who took part per team, forget who answered, and turn every "
    "pulse message into a thank-you. Results come with the next digests, for groups of 5 or more."
)
EARLY_CLOSE_EXPLAINED = (
    "Ending it now closes it for everyone at once, exactly as at its planned end: people can't answer "
    "or change answers any more, the bot counts who took part per team and then forgets who answered, "
    "and every pulse message becomes a short thank-you. Results appear in the next digests, only for "
    "groups of 5 or more."
)


def _neutralise_messages(session: Session, pulse: PulseRound, now: datetime) -> None:
    """Every pulse message of the round becomes the same "closed, thank you" message.

    A message left as it was would keep showing a half-answered pulse's answers ("✅ Your answer: …")
    in the conversation after the close. The round's own outbox rows go: they say who was reminded, i.e.
    who had not answered by then. The updates that replace them are keyed at random and deleted once
    sent (`forget_closed_updates`)."""
    sent = session.execute(
        select(OutboxMessage.workspace_id, OutboxMessage.sent_channel_id, OutboxMessage.sent_ts).where(
            OutboxMessage.idempotency_key.like(f"pulse:{pulse.id}:%"),
            OutboxMessage.state == OutboxState.SENT.value,
            OutboxMessage.sent_channel_id.is_not(None),
            OutboxMessage.sent_ts.is_not(None),
        )
    ).all()
    session.execute(delete(OutboxMessage).where(OutboxMessage.idempotency_key.like(f"pulse:{pulse.id}:%")))
    message = closed_message(closed_on=now, min_group=pulse.min_group)
    rows = [
        OutboxRow(closed_key(pulse.id), outbox_payload(message, replaces=ts), now, channel_id=channel)
        for _workspace, channel, ts in sent
    ]
    random.SystemRandom().shuffle(rows)
    enqueue_many(session, pulse.workspace_id, rows)


def forget_closed_updates(session: Session) -> int:
    """The "closed" updates name a DM channel each: once sent, nothing needs them."""
    result = session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.idempotency_key.like("pulse-closed:%"),
            OutboxMessage.state.in_([OutboxState.SENT.value, OutboxState.FAILED.value]),
        )
    )
    return int(result.rowcount or 0)


def cancel_pending(session: Session, workspace_id: int, key: str) -> int:
    """Cancel the outbox message with this key if it has not been sent (a reminder after an answer)."""
    # Equality on the unique (workspace_id, idempotency_key) index: it runs on every answer, and a LIKE
    # scanned every pending message (thousands while kudos DMs queue behind Slack's rate limit).
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.workspace_id == workspace_id,
            OutboxMessage.idempotency_key == key,
            OutboxMessage.state == OutboxState.PENDING.value,
        )
        .values(state=OutboxState.CANCELLED.value)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


# Small tables whose deleted rows still name people or hold a round's key: rewritten on PostgreSQL after
# a close. (The sealed answers' dead rows need no rewrite: without the round key they are noise.)
SCRUBBED_TABLES = ("pulse_round_key", "pulse_participant", "inbox_request")


def scrub_closed_rounds(session_factory: sessionmaker[Session], database_url: str, now: datetime) -> bool:
    """Remove what closing rounds deleted from the database's files (and the inbox's, on SQLite).

    Runs after the close has committed; a round stays marked until a scrub has fully succeeded, so a
    busy write-ahead log is simply tried again at the next run."""
    with session_factory() as session:
        pending = list(
            session.scalars(
                select(PulseRound.id).where(PulseRound.status == "closed", PulseRound.scrubbed_at.is_(None))
            )
        )
    if not pending:
        return True
    done = scrub(session_factory.kw["bind"], SCRUBBED_TABLES)
    if inbox_file(database_url) is not None:
        side = inbox_engine(database_url)
        try:
            done = scrub(side) and done
        finally:
            side.dispose()
    if done:
        with session_factory.begin() as session:
            session.execute(update(PulseRound).where(PulseRound.id.in_(pending)).values(scrubbed_at=now))
        # That commit is a write too: truncate the log once more so no frame of the close is left.
        scrub(session_factory.kw["bind"])
    return done


def _jobs(deps: JobDeps) -> list[Job]:
    def open_pulses(session: Session, clock: Clock) -> int:
        return open_scheduled(session, deps.box, clock.now())

    def remind_pulses(session: Session, clock: Clock) -> int:
        return send_reminders(session, clock.now())

    def close_pulses(session: Session, clock: Clock) -> int:
        # Its own transaction, so the scrub below runs after the close has committed.
        with deps.session_factory.begin() as own:
            closed = close_rounds(own, clock.now(), deps.box)
            forget_closed_updates(own)
        scrub_closed_rounds(deps.session_factory, deps.settings.database_url, clock.now())
        return closed

    return [
        Job(
            name="pulse.open",
            func=open_pulses,
            trigger=IntervalTrigger(minutes=1, timezone="UTC"),
            description="Open scheduled pulse rounds and queue each person's DM for their local send time.",
            misfire_grace_time=300,
        ),
        Job(
            name="pulse.remind",
            func=remind_pulses,
            trigger=IntervalTrigger(minutes=5, timezone="UTC"),
            description="Queue one gentle reminder for people who have not answered yet.",
            misfire_grace_time=600,
        ),
        Job(
            name="pulse.close",
            func=close_pulses,
            trigger=IntervalTrigger(minutes=5, timezone="UTC"),
            description="Close rounds past their end, count participation, and forget who answered.",
            misfire_grace_time=3600,
        ),
    ]


def home_message_parts(
    session: Session, _workspace: Workspace, person: Person, settings: Settings, now: datetime
) -> list[Block]:
    """The person's open pulse, for their home message: how far they got, never what they answered."""
    try:
        found = open_progress_for(session, SecretBox(settings.secret_key), person, now)
    except UserFacingError as error:
        return [Divider(), Section(text("*Your pulse*\n", error.text))]
    if found is None:
        pulse = "No pulse is open for you right now; the next one will come to our chat."
    elif found.done:
        pulse = f"You've answered your pulse, thank you! It closes on {found.round.closes_at:%a %d %b}."
    else:
        pulse = (
            f"Your pulse is open until {found.round.closes_at:%a %d %b}: {found.answered} of "
            f"{len(found.question_ids)} answered. It's in our chat."
        )
    return [
        Divider(),
        Section(
            text(
                f"*Your pulse*\n{pulse}\nConfidential: results are only shown for groups of 5 or more, and your "
                "answers are never stored with your name."
            )
        ),
    ]


FEATURE = Feature(name="pulse", models=(surveys.models,), jobs=_jobs, home=home_message_parts)
