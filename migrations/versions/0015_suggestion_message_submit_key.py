"""Owner replies and anonymous answers keyed by their form: a replayed submission is stored once.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 07:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: messages stored before this revision have no form key (NULLs never collide, on either
    # database), so they migrate untouched.
    with op.batch_alter_table("suggestion_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("submit_key", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_suggestion_message_suggestion_id_submit_key"), ["suggestion_id", "submit_key"]
        )


def downgrade() -> None:
    with op.batch_alter_table("suggestion_message", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_suggestion_message_suggestion_id_submit_key"), type_="unique")
        batch_op.drop_column("submit_key")
