"""outbox: room for a Teams channel's conversation id

A Teams channel is addressed by its conversation id (`19:…@thread.tacv2`, about 50 characters and up to
a few hundred), where a Slack channel id is at most 32. `outbox_message.channel_id` grows to 255 so a
kudos shout-out queued for a Teams channel keeps its address whole (PostgreSQL would refuse it).

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30 13:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_message") as batch:
        batch.alter_column("channel_id", existing_type=sa.String(32), type_=sa.String(255), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("outbox_message") as batch:
        batch.alter_column("channel_id", existing_type=sa.String(255), type_=sa.String(32), existing_nullable=True)
