"""outbox: room for Teams' conversation ids and activity ids

Teams' conversation ids (`a:1…` for a 1:1 chat, `19:…@thread.tacv2` for a channel) and the JSON
reference the Teams sender records for a person (id and service URL) run to a few hundred characters,
and a 1:1 chat's activity ids are longer than Slack's `ts`; the 32-character columns made for Slack
refused them on PostgreSQL (0021 and 0022 widened the channel ids to 255, enough for a channel but not for a
person's reference). `channel_id`, `sent_channel_id` and `sent_ts` become unbounded text.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-30 13:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each column and its length before this revision.
COLUMNS = {"channel_id": 255, "sent_channel_id": 255, "sent_ts": 32}


def upgrade() -> None:
    with op.batch_alter_table("outbox_message") as batch:
        for column, length in COLUMNS.items():
            batch.alter_column(column, existing_type=sa.String(length), type_=sa.Text(), existing_nullable=True)


def downgrade() -> None:
    # Slack's ids fit again; a Teams row's longer ids would not, so this is only for a Slack-only database.
    with op.batch_alter_table("outbox_message") as batch:
        for column, length in COLUMNS.items():
            batch.alter_column(column, existing_type=sa.Text(), type_=sa.String(length), existing_nullable=True)
