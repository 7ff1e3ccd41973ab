"""pulse: per-round, per-unit, per-question value counts for the digests

A digest showed each group's figures for the week and for each of the 12 weeks before it, and
worked every one of them out again from the answer rows, in every run (#18). A closed round's
answers never change, so `close_round` now counts them once, per unit, question and value, in the
same transaction as the close; the digests read the counts.

Rounds closed before this revision are counted here, by one INSERT … SELECT, so that every closed
round has its counts from the moment the schema has the table and the read path needs no "not
counted yet" branch. Counting is one grouped scan of `pulse_answer` (seconds at a year of history for
10,000 people). Open rounds have no clear answers to count (and a round open at the upgrade to sealed
answers gets its counts when it closes, like any other).

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-30 15:42:46
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pulse_value_count",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"], ["pulse_round.id"], name=op.f("fk_pulse_value_count_round_id_pulse_round"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["pulse_unit.id"], name=op.f("fk_pulse_value_count_unit_id_pulse_unit"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("round_id", "unit_id", "question_id", "value", name=op.f("pk_pulse_value_count")),
    )
    with op.batch_alter_table("pulse_value_count", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pulse_value_count_unit_id"), ["unit_id"], unique=False)
    op.execute(
        "INSERT INTO pulse_value_count (round_id, unit_id, question_id, value, answers) "
        "SELECT a.round_id, a.unit_id, a.question_id, a.value, count(*) FROM pulse_answer a "
        "JOIN pulse_round r ON r.id = a.round_id "
        "WHERE r.status = 'closed' AND a.value IS NOT NULL "
        "GROUP BY a.round_id, a.unit_id, a.question_id, a.value"
    )


def downgrade() -> None:
    with op.batch_alter_table("pulse_value_count", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pulse_value_count_unit_id"))
    op.drop_table("pulse_value_count")
