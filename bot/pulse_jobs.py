"""Pulse jobs: open scheduled rounds and queue their DMs, remind, close. Each is safe to run twice:
rounds are unique by key and every DM by its outbox idempotency key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from bot.crypto import SecretBox
from bot.models import OutboxMessage, OutboxState, Person, Workspace
from bot.outbox import enqueue
from handlers.pulse_views import pulse_message
from surveys.bank import QuestionBank
from surveys.models import PulseParticipant, PulseRound, PulseUnit
from surveys.pack_store import workspace_bank
from surveys.rounds import Invitation, OpenedRound, close_due_rounds, due_reminders, open_round, open_scheduled_rounds


def invite_key(round_id: int, person_id: int) -> str:
    return f"pulse:{round_id}:{person_id}:invite"


def reminder_key(round_id: int, person_id: int) -> str:
    return f"pulse:{round_id}:{person_id}:remind"


def queue_invitations(session: Session, bank: QuestionBank, opened: OpenedRound) -> int:
    pulse = opened.round
    workspace = session.get(Workspace, pulse.workspace_id)
    assert workspace is not None
    for invitation in opened.invitations:
        _queue_pulse_dm(session, bank, workspace, pulse, invitation.person_id, invitation.question_ids, invitation)
    return len(opened.invitations)


def _queue_pulse_dm(
    session: Session,
    bank: QuestionBank,
    workspace: Workspace,
    pulse: PulseRound,
    person_id: int,
    question_ids: tuple[str, ...],
    invitation: Invitation | None,
    *,
    reminder: bool = False,
    now: datetime | None = None,
) -> None:
    person = session.get(Person, person_id)
    assert person is not None
    questions = [q for q in (bank.question(i) for i in question_ids) if q is not None]
    payload = pulse_message(
        first_name=person.first_name,
        round_id=pulse.id,
        questions=questions,
        answers={},
        closes_at=pulse.closes_at,
        min_group=pulse.min_group,
        company=workspace.name or "our company",
        reminder=reminder,
    )
    key = reminder_key(pulse.id, person_id) if reminder else invite_key(pulse.id, person_id)
    due_at = invitation.due_at if invitation else now
    enqueue(session, workspace.id, key, payload, person_id=person_id, due_at=due_at, now=now)


def open_pulse_now(
    session: Session,
    workspace: Workspace,
    bank: QuestionBank,
    box: SecretBox,
    *,
    now: datetime,
    team_id: int | None,
    key: str,
) -> OpenedRound:
    """An ad-hoc pulse (`/pulse send`, `empathy-bot pulse send`), on the default settings."""
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
    due = due_reminders(session, now)
    for pulse, participant in due:
        workspace = session.get(Workspace, pulse.workspace_id)
        assert workspace is not None
        bank = workspace_bank(session, workspace.id)
        unit_questions = _unit_questions(session, participant)
        _queue_pulse_dm(
            session, bank, workspace, pulse, participant.person_id, unit_questions, None, reminder=True, now=now
        )
    return len(due)


def _unit_questions(session: Session, participant: PulseParticipant) -> tuple[str, ...]:
    unit = session.get(PulseUnit, participant.unit_id)
    assert unit is not None
    return tuple(unit.questions)


def close_rounds(session: Session, now: datetime) -> int:
    closed = close_due_rounds(session, now)
    for round_id in closed:
        # The round's outbox rows say who was reminded, i.e. who had not answered by then: kept past the
        # close, they would tell a database reader which people a small unit's answers came from.
        # Unsent ones would only confuse now. Both go.
        session.execute(delete(OutboxMessage).where(OutboxMessage.idempotency_key.like(f"pulse:{round_id}:%")))
    return len(closed)


def cancel_pending(session: Session, key_pattern: str) -> int:
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.idempotency_key.like(key_pattern), OutboxMessage.state == OutboxState.PENDING.value)
        .values(state=OutboxState.CANCELLED.value)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)
