"""anonymous suggestion box

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 04:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "suggestion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("submit_key", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("shared_name", sa.String(length=200), nullable=True),
        sa.Column("reply_handle", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_note", sa.Text(), nullable=True),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("acknowledged_on", sa.Date(), nullable=True),
        sa.Column("resolved_on", sa.Date(), nullable=True),
        sa.Column("summarised_on", sa.Date(), nullable=True),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspace.id"], name=op.f("fk_suggestion_workspace_id_workspace"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suggestion")),
        sa.UniqueConstraint("workspace_id", "reference", name=op.f("uq_suggestion_workspace_id_reference")),
        sa.UniqueConstraint("workspace_id", "submit_key", name=op.f("uq_suggestion_workspace_id_submit_key")),
    )
    with op.batch_alter_table("suggestion", schema=None) as batch_op:
        batch_op.create_index("ix_suggestion_workspace_status", ["workspace_id", "status"], unique=False)

    op.create_table(
        "suggestion_quota",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_suggestion_quota_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suggestion_quota")),
        sa.UniqueConstraint("workspace_id", "bucket", name=op.f("uq_suggestion_quota_workspace_id_bucket")),
    )
    with op.batch_alter_table("suggestion_quota", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_suggestion_quota_day"), ["day"], unique=False)

    op.create_table(
        "suggestion_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("suggestion_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("from_owner", sa.Boolean(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sent_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["person.id"], name=op.f("fk_suggestion_message_owner_id_person"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["suggestion_id"],
            ["suggestion.id"],
            name=op.f("fk_suggestion_message_suggestion_id_suggestion"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suggestion_message")),
        sa.UniqueConstraint("suggestion_id", "number", name=op.f("uq_suggestion_message_suggestion_id_number")),
    )
    with op.batch_alter_table("suggestion_message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_suggestion_message_suggestion_id"), ["suggestion_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("suggestion_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_suggestion_message_suggestion_id"))

    op.drop_table("suggestion_message")
    with op.batch_alter_table("suggestion_quota", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_suggestion_quota_day"))

    op.drop_table("suggestion_quota")
    with op.batch_alter_table("suggestion", schema=None) as batch_op:
        batch_op.drop_index("ix_suggestion_workspace_status")

    op.drop_table("suggestion")
