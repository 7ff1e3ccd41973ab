"""inbox: one person's requests in the order they arrived

Adds `inbox_request.ordering_key` (a keyed hash of the sender, cut to 65,536 buckets) and an index to
find a row's earlier requests of the same key. Rows already waiting keep a NULL key and are taken as
before. On SQLite the inbox's rows live in a side file that `bot/delivery/inbox.py` upgrades itself; this
revision keeps the (empty) table in the main database the same shape.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 10:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbox_request") as batch:
        batch.add_column(sa.Column("ordering_key", sa.Integer(), nullable=True))
        batch.create_index("ix_inbox_request_ordering_key_id", ["ordering_key", "id"])


def downgrade() -> None:
    with op.batch_alter_table("inbox_request") as batch:
        batch.drop_index("ix_inbox_request_ordering_key_id")
        batch.drop_column("ordering_key")
