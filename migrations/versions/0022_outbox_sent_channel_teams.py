"""outbox sent channel ids long enough for a Teams channel

A Teams channel's conversation id (`19:…@thread.tacv2`, with `;messageid=…` for a thread) is longer
than Slack's channel ids, for which `outbox_message.sent_channel_id` was sized (32); `channel_id` was
widened by 0021. Widened to 255; Slack's values are unchanged. Downgrade narrows them back (a Teams id longer than 32
characters would not fit, so downgrading is refused while one is queued).

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-30 13:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("sent_channel_id",)


def upgrade() -> None:
    with op.batch_alter_table("outbox_message") as batch:
        for column in COLUMNS:
            batch.alter_column(column, existing_type=sa.String(32), type_=sa.String(255), existing_nullable=True)


def downgrade() -> None:
    bind = op.get_bind()
    longest = bind.execute(
        sa.text("SELECT MAX(LENGTH(sent_channel_id)) FROM outbox_message")
    ).one()
    if any((n or 0) > 32 for n in longest):
        raise RuntimeError(
            "outbox_message holds Teams channel ids longer than 32 characters; deliver or delete them first"
        )
    with op.batch_alter_table("outbox_message") as batch:
        for column in COLUMNS:
            batch.alter_column(column, existing_type=sa.String(255), type_=sa.String(32), existing_nullable=True)
