"""onboarding journeys

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 04:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "onboarding_checkin_score",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("cohort", sa.Date(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["team.id"], name=op.f("fk_onboarding_checkin_score_team_id_team"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_onboarding_checkin_score_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_onboarding_checkin_score")),
    )
    with op.batch_alter_table("onboarding_checkin_score", schema=None) as batch_op:
        batch_op.create_index("ix_onboarding_checkin_score_cohort", ["workspace_id", "cohort"], unique=False)

    op.create_table(
        "onboarding_template",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("buddy_rule", sa.String(length=32), nullable=False),
        sa.Column("send_time", sa.String(length=5), nullable=False),
        sa.Column("teams", sa.JSON(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["person.id"],
            name=op.f("fk_onboarding_template_created_by_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_onboarding_template_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_onboarding_template")),
        sa.UniqueConstraint(
            "workspace_id", "name", "version", name=op.f("uq_onboarding_template_workspace_id_name_version")
        ),
    )
    with op.batch_alter_table("onboarding_template", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_onboarding_template_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "onboarding_journey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("buddy_id", sa.Integer(), nullable=True),
        sa.Column("hr_id", sa.Integer(), nullable=True),
        sa.Column("buddy_pending", sa.Boolean(), nullable=False),
        sa.Column("share_consent", sa.Boolean(), nullable=False),
        sa.Column("enrolled_by_id", sa.Integer(), nullable=True),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["buddy_id"], ["person.id"], name=op.f("fk_onboarding_journey_buddy_id_person"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["enrolled_by_id"],
            ["person.id"],
            name=op.f("fk_onboarding_journey_enrolled_by_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["hr_id"], ["person.id"], name=op.f("fk_onboarding_journey_hr_id_person"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_onboarding_journey_person_id_person"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["onboarding_template.id"],
            name=op.f("fk_onboarding_journey_template_id_onboarding_template"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_onboarding_journey_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_onboarding_journey")),
        sa.UniqueConstraint("person_id", name=op.f("uq_onboarding_journey_person_id")),
    )
    with op.batch_alter_table("onboarding_journey", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_onboarding_journey_buddy_id"), ["buddy_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_onboarding_journey_template_id"), ["template_id"], unique=False)
        batch_op.create_index("ix_onboarding_journey_workspace_state", ["workspace_id", "state"], unique=False)

    op.create_table(
        "onboarding_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_by_id", sa.Integer(), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consent", sa.Boolean(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["done_by_id"], ["person.id"], name=op.f("fk_onboarding_step_done_by_id_person"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["journey_id"],
            ["onboarding_journey.id"],
            name=op.f("fk_onboarding_step_journey_id_onboarding_journey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_onboarding_step")),
        sa.UniqueConstraint("journey_id", "position", name=op.f("uq_onboarding_step_journey_id_position")),
    )
    with op.batch_alter_table("onboarding_step", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_onboarding_step_journey_id"), ["journey_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("onboarding_step", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_onboarding_step_journey_id"))

    op.drop_table("onboarding_step")
    with op.batch_alter_table("onboarding_journey", schema=None) as batch_op:
        batch_op.drop_index("ix_onboarding_journey_workspace_state")
        batch_op.drop_index(batch_op.f("ix_onboarding_journey_template_id"))
        batch_op.drop_index(batch_op.f("ix_onboarding_journey_buddy_id"))

    op.drop_table("onboarding_journey")
    with op.batch_alter_table("onboarding_template", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_onboarding_template_workspace_id"))

    op.drop_table("onboarding_template")
    with op.batch_alter_table("onboarding_checkin_score", schema=None) as batch_op:
        batch_op.drop_index("ix_onboarding_checkin_score_cohort")

    op.drop_table("onboarding_checkin_score")
