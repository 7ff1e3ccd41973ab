"""Onboarding check-ins that stay anonymous on disk (issue #15, points 10-12).

- New: `onboarding_checkin_key` (per workspace and month, sealed with EMPATHY_SECRET_KEY),
  `onboarding_checkin_sealed` (answers waiting to be released, opaque) and
  `onboarding_cohort_figure` (what HR's cohort view shows, changed only by batches).
- `onboarding_checkin_score` is rebuilt: random ids instead of autoincrement ids (which followed
  the order of answers, and so the order of the journey steps' `answered_at`), no `day` (it told
  apart answers released together), and, on SQLite, WITHOUT ROWID, so the physical order of rows
  is that of the random ids. Existing scores are copied in random order.
- Existing scores become their cells' first released figures. Their respondents are counted as
  the old view counted them (journeys with an answered check-in by start month and the person's
  team today), capped by the number of answers: the only count there is for them.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 07:45:00
"""

from __future__ import annotations

import random
import secrets
from collections import defaultdict
from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _date(value: object) -> date:
    """SQLite hands dates back as text to a raw query."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _score_table(new: bool) -> list[sa.SchemaItem]:
    columns: list[sa.SchemaItem] = [
        sa.Column("id", sa.String(length=32) if new else sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("cohort", sa.Date(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
    ]
    if not new:
        columns.append(sa.Column("day", sa.Integer(), nullable=False))
    return [
        *columns,
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
    ]


def _replace_scores(rows: list[dict[str, object]], new: bool) -> None:
    with op.batch_alter_table("onboarding_checkin_score", schema=None) as batch_op:
        batch_op.drop_index("ix_onboarding_checkin_score_cohort")
    op.drop_table("onboarding_checkin_score")
    extra = {"sqlite_with_rowid": False} if new else {}
    table = op.create_table("onboarding_checkin_score", *_score_table(new), **extra)
    with op.batch_alter_table("onboarding_checkin_score", schema=None) as batch_op:
        batch_op.create_index("ix_onboarding_checkin_score_cohort", ["workspace_id", "cohort"], unique=False)
    if rows:
        op.bulk_insert(table, rows)


def upgrade() -> None:
    op.create_table(
        "onboarding_checkin_key",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("sealed_key", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_onboarding_checkin_key_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_onboarding_checkin_key")),
        sa.UniqueConstraint("workspace_id", "period", name=op.f("uq_onboarding_checkin_key_workspace_id_period")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "onboarding_checkin_sealed",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["onboarding_checkin_key.id"],
            name=op.f("fk_onboarding_checkin_sealed_key_id_onboarding_checkin_key"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_onboarding_checkin_sealed_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_onboarding_checkin_sealed")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("onboarding_checkin_sealed", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_onboarding_checkin_sealed_key_id"), ["key_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_onboarding_checkin_sealed_workspace_id"), ["workspace_id"], unique=False)

    figure = op.create_table(
        "onboarding_cohort_figure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("cohort", sa.Date(), nullable=False),
        sa.Column("team_key", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("respondents", sa.Integer(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("score_sum", sa.Integer(), nullable=False),
        sa.Column("respondent_tags", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["team_id"], ["team.id"], name=op.f("fk_onboarding_cohort_figure_team_id_team"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_onboarding_cohort_figure_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_onboarding_cohort_figure")),
        sa.UniqueConstraint(
            "workspace_id",
            "cohort",
            "team_key",
            name=op.f("uq_onboarding_cohort_figure_workspace_id_cohort_team_key"),
        ),
    )

    connection = op.get_bind()
    old = [
        (w, _date(c), t, s)
        for w, c, t, s in connection.execute(
            sa.text("SELECT workspace_id, cohort, team_id, score FROM onboarding_checkin_score")
        )
    ]
    rows: list[dict[str, object]] = [
        {"id": secrets.token_hex(16), "workspace_id": w, "cohort": c, "team_id": t, "score": s} for w, c, t, s in old
    ]
    random.SystemRandom().shuffle(rows)  # on PostgreSQL the heap keeps insertion order
    _replace_scores(rows, new=True)

    # The old view's respondent count, the only one there is for scores given before this revision.
    answered = connection.execute(
        sa.text(
            "SELECT DISTINCT j.id, j.workspace_id, j.start_date, p.team_id FROM onboarding_journey j "
            "JOIN person p ON p.id = j.person_id JOIN onboarding_step s ON s.journey_id = j.id "
            "WHERE s.answered_at IS NOT NULL"
        )
    ).all()
    people: dict[tuple[int, date, int | None], int] = defaultdict(int)
    for _journey, workspace_id, start, team_id in answered:
        people[(workspace_id, _date(start).replace(day=1), team_id)] += 1
    cells: dict[tuple[int, date, int | None], list[int]] = defaultdict(list)
    for workspace_id, cohort, team_id, score in old:
        cells[(workspace_id, cohort, team_id)].append(score)
    figures = [
        {
            "workspace_id": workspace_id,
            "cohort": cohort,
            "team_key": team_id or 0,
            "team_id": team_id,
            "respondents": min(people.get((workspace_id, cohort, team_id), 0), len(scores)),
            "answers": len(scores),
            "score_sum": sum(scores),
            "respondent_tags": None,
        }
        for (workspace_id, cohort, team_id), scores in cells.items()
    ]
    if figures:
        op.bulk_insert(figure, figures)


def downgrade() -> None:
    # Answers still sealed cannot be opened here (their keys need EMPATHY_SECRET_KEY): they are lost.
    connection = op.get_bind()
    released = connection.execute(
        sa.text("SELECT workspace_id, cohort, team_id, score FROM onboarding_checkin_score")
    ).all()
    # Ids from the table's own sequence (the day is not known any more).
    rows: list[dict[str, object]] = [
        {"workspace_id": w, "cohort": _date(c), "team_id": t, "day": 0, "score": s} for w, c, t, s in released
    ]
    _replace_scores(rows, new=False)
    op.drop_table("onboarding_cohort_figure")
    with op.batch_alter_table("onboarding_checkin_sealed", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_onboarding_checkin_sealed_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_onboarding_checkin_sealed_key_id"))
    op.drop_table("onboarding_checkin_sealed")
    op.drop_table("onboarding_checkin_key")
