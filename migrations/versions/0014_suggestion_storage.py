"""suggestions: one sealed tally per workspace and day, untimed reply handles

The per-person daily counters (`suggestion_quota`, one HMAC(person, day) row each) changed in the same
commit as the suggestion they counted, so replaying the log linked a person's suggestions together.
They become one sealed {person: count} value per workspace and day (`suggestion_tally`). Reply
handles were Fernet tokens, which carry their creation second in clear; they are re-sealed with
`SecretBox.seal_untimed`.

Both need EMPATHY_SECRET_KEY. When the migration can read it (the environment or .env, as the bot
does), today's counters are carried over and the handles re-sealed here. Without it, handles are
re-sealed by the `suggestions.tend` job within minutes of the bot starting (idempotently), and the
counters, which are one-way HMACs, cannot be carried over: they only matter until midnight UTC, so
the worst case is that someone who already sent suggestions today may send the daily number again.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 08:00:00
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import struct
import time
from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

from bot.core.crypto import UNTIMED_PREFIX, SecretBox, pad

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

# Frozen copies of the formats in bot/suggestions/service.py as of this revision (a migration must not change
# meaning when the code moves on).
TALLY_ENTRY = struct.Struct(">IH")
TALLY_STEP = 256


def _secret_key() -> str | None:
    """EMPATHY_SECRET_KEY as the bot would read it; None if it is not set (a generated one is no use)."""
    try:
        from bot.core.settings import load_settings

        settings = load_settings(require_slack=False)
    except Exception:  # any configuration problem: do what needs no key, leave the rest to the bot
        return None
    return None if settings.secret_key_generated else settings.secret_key


def _quota_bucket(secret: str, person_id: int, day: date) -> str:
    return hmac.new(f"quota:{secret}".encode(), f"{person_id}:{day.isoformat()}".encode(), hashlib.sha256).hexdigest()


def _seal_tally(box: SecretBox, workspace_id: int, day: date, counts: dict[int, int], head_count: int) -> bytes:
    slots = -(-max(head_count, len(counts), 1) // TALLY_STEP) * TALLY_STEP
    entries = b"".join(TALLY_ENTRY.pack(p, min(n, 0xFFFF)) for p, n in sorted(counts.items()))
    return box.seal_bytes(
        pad(entries, 4 + slots * TALLY_ENTRY.size), f"suggestion-tally:{workspace_id}:{day.isoformat()}".encode()
    )


def upgrade() -> None:
    op.create_table(
        "suggestion_tally",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_suggestion_tally_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suggestion_tally")),
        sa.UniqueConstraint("workspace_id", "day", name=op.f("uq_suggestion_tally_workspace_id_day")),
    )
    with op.batch_alter_table("suggestion_tally", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_suggestion_tally_day"), ["day"], unique=False)

    secret = _secret_key()
    if secret is not None:
        box = SecretBox(secret)
        _carry_counters_over(box, secret)
        _reseal_handles(box)
    else:
        log.warning(
            "EMPATHY_SECRET_KEY is not set for this migration: the suggestion reply handles will be re-sealed "
            "by the suggestions.tend job, and today's suggestion counts start from zero"
        )

    with op.batch_alter_table("suggestion_quota", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_suggestion_quota_day"))
    op.drop_table("suggestion_quota")

    if secret is not None and op.get_bind().dialect.name == "postgresql":
        # The old handles stay in the table's file as dead row versions until it is rewritten, which
        # VACUUM FULL does but only outside a transaction, and only for versions no running transaction
        # may still read. (SQLite: secure_delete zeroes them, and the log is checkpointed when the
        # migration's connection closes.)
        xid = int(op.get_bind().scalar(sa.text("SELECT txid_current()")))
        with op.get_context().autocommit_block():
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                oldest = op.get_bind().scalar(sa.text("SELECT txid_snapshot_xmin(txid_current_snapshot())"))
                if int(oldest) > xid:
                    break
                time.sleep(0.05)
            op.execute("VACUUM (FULL) suggestion")


def _carry_counters_over(box: SecretBox, secret: str) -> None:
    connection = op.get_bind()
    # Every day still there (past days are deleted by the next tend run anyway).
    rows = connection.execute(sa.text("SELECT workspace_id, bucket, day, count FROM suggestion_quota")).all()
    if not rows:
        return
    tally = sa.table(
        "suggestion_tally",
        sa.column("workspace_id", sa.Integer),
        sa.column("day", sa.Date),
        sa.column("sealed", sa.LargeBinary),
    )
    by_workspace: dict[tuple[int, date], dict[str, int]] = {}
    for workspace_id, bucket, day, count in rows:
        day = day if isinstance(day, date) else date.fromisoformat(str(day))
        by_workspace.setdefault((workspace_id, day), {})[bucket] = int(count)
    for (workspace_id, day), buckets in by_workspace.items():
        people = (
            connection.execute(sa.text("SELECT id FROM person WHERE workspace_id = :w"), {"w": workspace_id})
            .scalars()
            .all()
        )
        counts = {}
        for person_id in people:
            bucket = _quota_bucket(secret, person_id, day)
            if bucket in buckets:
                counts[person_id] = buckets[bucket]
        connection.execute(
            tally.insert().values(
                workspace_id=workspace_id, day=day, sealed=_seal_tally(box, workspace_id, day, counts, len(people))
            )
        )


def _reseal_handles(box: SecretBox) -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.text("SELECT id, reply_handle FROM suggestion WHERE reply_handle IS NOT NULL AND reply_handle NOT LIKE :p"),
        {"p": UNTIMED_PREFIX + "%"},
    ).all()
    for suggestion_id, handle in rows:
        try:
            secret = box.open(handle)
        except ValueError:
            continue  # sealed under another key: nobody can open it; left as it is
        connection.execute(
            sa.text("UPDATE suggestion SET reply_handle = :h WHERE id = :i"),
            {"h": box.seal_untimed(secret), "i": suggestion_id},
        )


def downgrade() -> None:
    # The previous code reads Fernet handles only: give them back that form when the key is at hand
    # (sealed outbox rows to authors are left to fail there; they are seconds-lived).
    secret = _secret_key()
    if secret is not None:
        box = SecretBox(secret)
        connection = op.get_bind()
        rows = connection.execute(
            sa.text("SELECT id, reply_handle FROM suggestion WHERE reply_handle LIKE :p"),
            {"p": UNTIMED_PREFIX + "%"},
        ).all()
        for suggestion_id, handle in rows:
            try:
                secret_bytes = box.open_untimed(handle)
            except ValueError:
                continue
            connection.execute(
                sa.text("UPDATE suggestion SET reply_handle = :h WHERE id = :i"),
                {"h": box.seal(secret_bytes), "i": suggestion_id},
            )
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
    with op.batch_alter_table("suggestion_tally", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_suggestion_tally_day"))
    op.drop_table("suggestion_tally")
