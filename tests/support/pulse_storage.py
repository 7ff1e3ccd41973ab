"""Reading a pulse's stored answers in the tests, as only the key holder could while a round is open."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.crypto import Aead, SecretBox
from surveys.models import PulseAnswer, PulseRoundKey, PulseSealedAnswer
from surveys.rounds import _unseal
from tests.conftest import SECRET_KEY


@dataclass(frozen=True)
class StoredAnswer:
    round_id: int
    unit_id: int
    question_id: str
    value: int | None
    comment: str | None
    sealed: bool


def stored_answers(session: Session, box: SecretBox | None = None) -> list[StoredAnswer]:
    """Every answer: open rounds' opened with their round keys, closed rounds' as stored."""
    box = box or SecretBox(SECRET_KEY)
    found = [
        StoredAnswer(a.round_id, a.unit_id, a.question_id, a.value, a.comment, False)
        for a in session.scalars(select(PulseAnswer))
    ]
    keys = {k.round_id: Aead(box.open(k.sealed_key)) for k in session.scalars(select(PulseRoundKey))}
    for row in session.scalars(select(PulseSealedAnswer)):
        unit_id, question_id, answer = _unseal(keys[row.round_id], row.round_id, row.slot, row.sealed)
        found.append(StoredAnswer(row.round_id, unit_id, question_id, answer.value, answer.comment, True))
    return found
