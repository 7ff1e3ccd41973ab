"""Who on the Teams tenant the bot can write to, counted for HR (`empathy-bot doctor`).

Read from what the outbox already knows, without asking Microsoft: a person's conversation reference
(stored from their install, or made at the first message), and how the last message to them ended. A
person whose last message failed for a reach reason (`handlers.teams.sender.reach_label`: blocked,
not installed, the chat gone) cannot be reached until that changes; someone with no conversation yet
gets one at their first message if the app is installed for them. Only counts and reasons: no names,
and nothing of what anyone answered.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.core.models import OutboxMessage, OutboxState, Person, PersonAccount, Platform
from handlers.teams.reasons import reach_label

TEAMS = Platform.TEAMS.value


@dataclass
class Reach:
    people: int = 0
    reachable: int = 0
    # No conversation stored yet: the first message makes one (it fails as "not installed" if it can't).
    not_yet: int = 0
    # label -> how many people cannot be reached for it
    unreachable: Counter[str] = field(default_factory=Counter)

    @property
    def cannot(self) -> int:
        return sum(self.unreachable.values())


def teams_reach(session: Session) -> Reach:
    accounts = session.execute(
        select(PersonAccount.person_id, PersonAccount.conversation_ref)
        .join(Person, Person.id == PersonAccount.person_id)
        .where(PersonAccount.platform == TEAMS, Person.active.is_(True), Person.is_bot.is_(False))
    ).all()
    ids = [person_id for person_id, _ref in accounts]
    # The newest finished message to each of them (sealed rows name nobody, so they are not counted).
    newest = (
        select(func.max(OutboxMessage.id))
        .where(
            OutboxMessage.person_id.in_(ids),
            OutboxMessage.state.in_([OutboxState.SENT.value, OutboxState.FAILED.value]),
        )
        .group_by(OutboxMessage.person_id)
    )
    last = {
        person_id: (state, error)
        for person_id, state, error in session.execute(
            select(OutboxMessage.person_id, OutboxMessage.state, OutboxMessage.last_error).where(
                OutboxMessage.id.in_(newest)
            )
        )
    } if ids else {}  # fmt: skip
    reach = Reach(people=len(accounts))
    for person_id, ref in accounts:
        state, error = last.get(person_id, (None, None))
        label = reach_label(error or "") if state == OutboxState.FAILED.value else None
        if label is not None:
            reach.unreachable[label] += 1
        elif ref is None:
            reach.not_yet += 1
        else:
            reach.reachable += 1
    return reach
