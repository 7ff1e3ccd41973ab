"""identity per platform: workspaces have a platform, people have platform accounts

- `workspace.platform` ('slack' for every existing row) and `workspace.slack_team_id` renamed to
  `workspace.external_id` (Slack's team id, or a Teams tenant id), unique per platform.
- `person_account` (person, workspace, platform, external user id, DM conversation reference),
  filled from `person.slack_user_id` and `person.dm_channel_id`, which are then dropped. A person
  forgotten earlier (both NULL) gets no account; nothing else is lost.

Downgrade puts the Slack account of each person back into the two columns (accounts on other
platforms cannot be represented there and are dropped).

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30 10:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workspace") as batch:
        batch.drop_constraint("uq_workspace_slack_team_id", type_="unique")
    with op.batch_alter_table("workspace") as batch:
        batch.add_column(sa.Column("platform", sa.String(length=16), server_default="slack", nullable=False))
        batch.alter_column("slack_team_id", new_column_name="external_id", type_=sa.String(length=64))
    with op.batch_alter_table("workspace") as batch:
        batch.create_unique_constraint("uq_workspace_platform_external_id", ["platform", "external_id"])

    op.create_table(
        "person_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("external_user_id", sa.String(length=64), nullable=False),
        sa.Column("conversation_ref", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_person_account_person_id_person"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspace.id"], name=op.f("fk_person_account_workspace_id_workspace"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_account")),
        sa.UniqueConstraint("person_id", "platform", name=op.f("uq_person_account_person_id_platform")),
        sa.UniqueConstraint(
            "workspace_id",
            "platform",
            "external_user_id",
            name=op.f("uq_person_account_workspace_id_platform_external_user_id"),
        ),
    )
    op.execute(
        "INSERT INTO person_account (person_id, workspace_id, platform, external_user_id, conversation_ref) "
        "SELECT id, workspace_id, 'slack', slack_user_id, dm_channel_id FROM person WHERE slack_user_id IS NOT NULL"
    )
    with op.batch_alter_table("person") as batch:
        batch.drop_constraint("uq_person_workspace_id_slack_user_id", type_="unique")
        batch.drop_column("dm_channel_id")
        batch.drop_column("slack_user_id")


def downgrade() -> None:
    with op.batch_alter_table("person") as batch:
        batch.add_column(sa.Column("slack_user_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("dm_channel_id", sa.String(length=32), nullable=True))
        batch.create_unique_constraint("uq_person_workspace_id_slack_user_id", ["workspace_id", "slack_user_id"])
    op.execute(
        "UPDATE person SET "
        "slack_user_id = (SELECT external_user_id FROM person_account a WHERE a.person_id = person.id AND a.platform = 'slack'), "
        "dm_channel_id = (SELECT conversation_ref FROM person_account a WHERE a.person_id = person.id AND a.platform = 'slack')"
    )
    op.drop_table("person_account")
    with op.batch_alter_table("workspace") as batch:
        batch.drop_constraint("uq_workspace_platform_external_id", type_="unique")
    with op.batch_alter_table("workspace") as batch:
        batch.alter_column("external_id", new_column_name="slack_team_id", type_=sa.String(length=32))
        batch.drop_column("platform")
    with op.batch_alter_table("workspace") as batch:
        batch.create_unique_constraint("uq_workspace_slack_team_id", ["slack_team_id"])
