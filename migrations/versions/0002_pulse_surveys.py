"""pulse surveys: schedules, rounds, units, participants, answers, exposure, custom packs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 00:44:07.474474
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op




revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    
    op.create_table('custom_pack',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('pack_id', sa.String(length=41), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], name=op.f('fk_custom_pack_workspace_id_workspace'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_custom_pack')),
    sa.UniqueConstraint('workspace_id', 'pack_id', name=op.f('uq_custom_pack_workspace_id_pack_id'))
    )
    with op.batch_alter_table('custom_pack', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_custom_pack_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('pulse_schedule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('cadence', sa.String(length=16), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('send_time', sa.String(length=5), nullable=False),
    sa.Column('questions_per_round', sa.Integer(), nullable=False),
    sa.Column('open_days', sa.Integer(), nullable=False),
    sa.Column('reminder_after_hours', sa.Integer(), nullable=True),
    sa.Column('packs', sa.JSON(), nullable=False),
    sa.Column('anchor_date', sa.Date(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('fk_pulse_schedule_team_id_team'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], name=op.f('fk_pulse_schedule_workspace_id_workspace'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pulse_schedule'))
    )
    with op.batch_alter_table('pulse_schedule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pulse_schedule_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('pulse_round',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('schedule_id', sa.Integer(), nullable=True),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('round_key', sa.String(length=100), nullable=False),
    sa.Column('round_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('min_group', sa.Integer(), nullable=False),
    sa.Column('min_group_comments', sa.Integer(), nullable=False),
    sa.Column('questions_per_round', sa.Integer(), nullable=False),
    sa.Column('reminder_after_hours', sa.Integer(), nullable=True),
    sa.Column('opens_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closes_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['schedule_id'], ['pulse_schedule.id'], name=op.f('fk_pulse_round_schedule_id_pulse_schedule'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('fk_pulse_round_team_id_team'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], name=op.f('fk_pulse_round_workspace_id_workspace'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pulse_round')),
    sa.UniqueConstraint('workspace_id', 'round_key', name=op.f('uq_pulse_round_workspace_id_round_key'))
    )
    with op.batch_alter_table('pulse_round', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pulse_round_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('question_exposure',
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.String(length=100), nullable=False),
    sa.Column('last_seen_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_question_exposure_person_id_person'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('person_id', 'question_id', name=op.f('pk_question_exposure'))
    )
    op.create_table('pulse_unit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('manager_id', sa.Integer(), nullable=True),
    sa.Column('chain', sa.JSON(), nullable=False),
    sa.Column('questions', sa.JSON(), nullable=False),
    sa.Column('invited', sa.Integer(), nullable=False),
    sa.Column('responded', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['manager_id'], ['person.id'], name=op.f('fk_pulse_unit_manager_id_person'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['round_id'], ['pulse_round.id'], name=op.f('fk_pulse_unit_round_id_pulse_round'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('fk_pulse_unit_team_id_team'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pulse_unit'))
    )
    with op.batch_alter_table('pulse_unit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pulse_unit_round_id'), ['round_id'], unique=False)

    op.create_table('pulse_answer',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.String(length=100), nullable=False),
    sa.Column('value', sa.Integer(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('slot', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['round_id'], ['pulse_round.id'], name=op.f('fk_pulse_answer_round_id_pulse_round'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['unit_id'], ['pulse_unit.id'], name=op.f('fk_pulse_answer_unit_id_pulse_unit'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pulse_answer')),
    sa.UniqueConstraint('round_id', 'slot', name=op.f('uq_pulse_answer_round_id_slot')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('pulse_answer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pulse_answer_round_id'), ['round_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pulse_answer_unit_id'), ['unit_id'], unique=False)

    op.create_table('pulse_participant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answer_key', sa.Text(), nullable=False),
    sa.Column('responded', sa.Boolean(), nullable=False),
    sa.Column('reminded', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_pulse_participant_person_id_person'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['round_id'], ['pulse_round.id'], name=op.f('fk_pulse_participant_round_id_pulse_round'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['unit_id'], ['pulse_unit.id'], name=op.f('fk_pulse_participant_unit_id_pulse_unit'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pulse_participant')),
    sa.UniqueConstraint('round_id', 'person_id', name=op.f('uq_pulse_participant_round_id_person_id'))
    )
    with op.batch_alter_table('pulse_participant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pulse_participant_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pulse_participant_round_id'), ['round_id'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('pulse_participant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pulse_participant_round_id'))
        batch_op.drop_index(batch_op.f('ix_pulse_participant_person_id'))

    op.drop_table('pulse_participant')
    with op.batch_alter_table('pulse_answer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pulse_answer_unit_id'))
        batch_op.drop_index(batch_op.f('ix_pulse_answer_round_id'))

    op.drop_table('pulse_answer')
    with op.batch_alter_table('pulse_unit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pulse_unit_round_id'))

    op.drop_table('pulse_unit')
    op.drop_table('question_exposure')
    with op.batch_alter_table('pulse_round', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pulse_round_workspace_id'))

    op.drop_table('pulse_round')
    with op.batch_alter_table('pulse_schedule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pulse_schedule_workspace_id'))

    op.drop_table('pulse_schedule')
    with op.batch_alter_table('custom_pack', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_custom_pack_workspace_id'))

    op.drop_table('custom_pack')
    
