"""outbox: room for Teams' conversation ids and activity ids

Teams' conversation ids (`a:1…` for a 1:1 chat, `19:…@thread.tacv2` for a channel) and the JSON
reference the Teams sender records for a person (id and service URL) run to a few hundred characters,
and a 1:1 chat's activity ids are longer than Slack's `ts`; the 32-character columns made for Slack
refused them on PostgreSQL. `channel_id`, `sent_channel_id` and `sent_ts` become unbounded text.

Revision ID: MIGNUM
Revises: 0020
Create Date: 2026-11-30 13:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "MIGNUM"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("channel_id", "sent_channel_id", "sent_ts")


def upgrade() -> None:
    with op.batch_alter_table("outbox_message") as batch:
        for column in COLUMNS:
            batch.alter_column(column, existing_type=sa.String(32), type_=sa.Text(), existing_nullable=True)


def downgrade() -> None:
    # Slack's ids fit again; a Teams row's longer ids would not, so this is only for a Slack-only database.
    with op.batch_alter_table("outbox_message") as batch:
        for column in COLUMNS:
            batch.alter_column(column, existing_type=sa.Text(), type_=sa.String(32), existing_nullable=True)
