"""Operational figures for monitoring: outbox depth and lag, sends and failures, open pulses.

Read from the database on each request, so every web process reports the same numbers whichever
process did the work. Counts only: no names, no content.

The outbox gauges count only messages that are due (or past due). A new anonymous suggestion is
queued with a random delay so that its arrival time says nothing about who was online; a gauge that
counted it at once would tell a watcher the moment of the submission. Counted once due, a delayed
relay looks like any other message.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.core.models import OutboxMessage, OutboxState, Person, Workspace
from surveys.models import PulseRound


def gauges(session: Session, now: datetime) -> dict[str, float]:
    def count(*where: object) -> int:
        return int(session.scalar(select(func.count()).select_from(OutboxMessage).where(*where)) or 0)

    oldest_due = session.scalar(
        select(func.min(OutboxMessage.due_at)).where(
            OutboxMessage.state == OutboxState.PENDING.value, OutboxMessage.due_at <= now
        )
    )
    hour_ago = now - timedelta(hours=1)
    return {
        # Pending and due: rows queued for later (delayed relays, scheduled retries) are not counted yet.
        "empathy_outbox_pending": count(OutboxMessage.state == OutboxState.PENDING.value, OutboxMessage.due_at <= now),
        # Waiting for a retry after a failed attempt; a delayed relay that was never tried is not one.
        "empathy_outbox_retrying": count(
            OutboxMessage.state == OutboxState.PENDING.value, OutboxMessage.due_at > now, OutboxMessage.attempts > 0
        ),
        "empathy_outbox_sending": count(OutboxMessage.state == OutboxState.SENDING.value),
        "empathy_outbox_lag_seconds": max(0.0, (now - oldest_due).total_seconds()) if oldest_due else 0.0,
        "empathy_outbox_sent_last_hour": count(
            OutboxMessage.state == OutboxState.SENT.value, OutboxMessage.sent_at >= hour_ago
        ),
        "empathy_outbox_failed_total": count(OutboxMessage.state == OutboxState.FAILED.value),
        "empathy_pulse_rounds_open": int(
            session.scalar(select(func.count()).select_from(PulseRound).where(PulseRound.status == "open")) or 0
        ),
        "empathy_people_active": int(
            session.scalar(select(func.count()).select_from(Person).where(Person.active.is_(True))) or 0
        ),
        "empathy_workspaces": int(session.scalar(select(func.count()).select_from(Workspace)) or 0),
    }


def prometheus_text(values: dict[str, float]) -> str:
    """The Prometheus text exposition format: a TYPE line and a value per gauge."""
    lines = []
    for name, value in values.items():
        lines += [f"# TYPE {name} gauge", f"{name} {value:g}"]
    return "\n".join(lines) + "\n"
