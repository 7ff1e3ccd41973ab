"""Inbox rows indexed by claim, then id: workers take the oldest free rows without a sort.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 13:38:46.302766
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbox_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbox_request_claimed_until"))
        batch_op.create_index("ix_inbox_request_claimed_until_id", ["claimed_until", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inbox_request", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_request_claimed_until_id")
        batch_op.create_index(batch_op.f("ix_inbox_request_claimed_until"), ["claimed_until"], unique=False)
