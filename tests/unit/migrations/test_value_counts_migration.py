"""Migration 0024 counts the answers of rounds closed before it (per round, unit, question and value,
skips left out), so that every closed round has its counts from the moment the table exists; an open
round's (legacy clear) answers are not counted until it closes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select

from bot.core.database import alembic_config, make_engine, make_session_factory
from bot.core.models import Workspace
from surveys.models import PulseAnswer, PulseRound, PulseUnit, PulseValueCount
from tests.support.migrating import database_at

THEN = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def at_0023(db_url: str, tmp_path: Path) -> Iterator[str]:
    with database_at("0023", db_url, tmp_path) as url:
        yield url


def test_rounds_closed_before_the_table_are_counted(at_0023: str) -> None:
    engine = make_engine(at_0023)
    factory = make_session_factory(engine)
    with factory.begin() as session:
        workspace = Workspace(external_id="T0001", name="Acme")
        session.add(workspace)
        session.flush()
        rounds = {}
        for status in ("closed", "open"):
            pulse = PulseRound(
                workspace_id=workspace.id, round_key=status, round_date=date(2026, 11, 2), status=status,
                opens_at=THEN, closes_at=THEN, closed_at=THEN if status == "closed" else None,
            )  # fmt: skip
            session.add(pulse)
            session.flush()
            units = [PulseUnit(round_id=pulse.id, chain=[], questions=["q.a", "q.b"]) for _ in range(2)]
            session.add_all(units)
            session.flush()
            for unit, values in zip(units, ([3, 3, 4, None], [5, None]), strict=True):
                for value in values:
                    session.add_all(
                        PulseAnswer(round_id=pulse.id, unit_id=unit.id, question_id=question, value=value)
                        for question in ("q.a", "q.b")
                    )
            rounds[status] = (pulse.id, [u.id for u in units])
    engine.dispose()
    command.upgrade(alembic_config(at_0023), "head")
    engine = make_engine(at_0023)
    with make_session_factory(engine)() as session:
        counted = session.execute(
            select(
                PulseValueCount.round_id, PulseValueCount.unit_id, PulseValueCount.question_id,
                PulseValueCount.value, PulseValueCount.answers,
            )
        ).all()  # fmt: skip
    engine.dispose()
    closed, (first, second) = rounds["closed"]
    expected = {(closed, first, question, value, n) for question in ("q.a", "q.b") for value, n in ((3, 2), (4, 1))} | {
        (closed, second, question, 5, 1) for question in ("q.a", "q.b")
    }
    assert set(map(tuple, counted)) == expected
