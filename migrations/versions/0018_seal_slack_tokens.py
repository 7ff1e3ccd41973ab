"""seal the Slack OAuth tokens at rest

Widens the credential columns of slack_bots and slack_installations (a sealed token is longer than
the token) and, when EMPATHY_SECRET_KEY is set for the migration (environment or .env), seals every
token and webhook URL still stored in clear with it. Without the key, rows stay in clear here and
`empathy-bot serve`/`worker`/`migrate` seal them at their next start with the app's key (they keep
working in between: the store opens sealed values and passes clear ones through).

Downgrade narrows the columns back but cannot unseal (that needs the key and would put tokens back
in clear): it refuses while sealed values exist.

Revision ID: 0018
Revises: 0016
Create Date: 2026-11-30 07:50:00
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = {
    "slack_bots": ("bot_token", "bot_refresh_token"),
    "slack_installations": (
        "bot_token",
        "bot_refresh_token",
        "user_token",
        "user_refresh_token",
        "incoming_webhook_url",
    ),
}


def _secret_key() -> str | None:
    from bot.core.settings import load_environment

    return load_environment().get("EMPATHY_SECRET_KEY") or None


def upgrade() -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.alter_column(
                    column, existing_type=sa.String(length=200), type_=sa.String(length=1000), existing_nullable=True
                )
    key = _secret_key()
    if key:
        from bot.core.crypto import SecretBox
        from handlers.slack.installations import seal_rows

        seal_rows(op.get_bind(), SecretBox(key))


def downgrade() -> None:
    bind = op.get_bind()
    for table, columns in COLUMNS.items():
        for column in columns:
            sealed = bind.execute(sa.text(f"SELECT count(*) FROM {table} WHERE {column} LIKE 'v2.%'")).scalar()
            if sealed:
                raise RuntimeError(f"{table}.{column} holds sealed tokens; reinstall the app after downgrading")
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.alter_column(
                    column, existing_type=sa.String(length=1000), type_=sa.String(length=200), existing_nullable=True
                )
