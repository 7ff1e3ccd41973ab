"""Make what the bot deleted unrecoverable from the database's own files, as far as the bot can reach.

SQLite: every connection runs with `secure_delete=ON` (deleted rows and freed pages are zeroed),
and `scrub` checkpoints the write-ahead log and truncates it to zero bytes, so the page versions
from before a delete are gone from the `-wal` file too. A checkpoint cannot finish while another
connection is reading an older snapshot; `scrub` then reports False and the caller tries again
later (the jobs that call it run every few minutes).

PostgreSQL keeps deleted row versions (dead tuples) in the table's files until they are vacuumed,
and a plain VACUUM frees their space without overwriting it. `scrub` rewrites the small tables
named by the caller with VACUUM FULL, which writes a new file and unlinks the old one. What
PostgreSQL has already written to its own write-ahead log (and any archive or backup of it) is out
of the application's reach: the design keeps only data sealed under keys that are destroyed in
those places, and the README says what an operator must still do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from sqlalchemy import Engine, text

log = logging.getLogger(__name__)


def scrub(engine: Engine, rewrite_tables: Iterable[str] = ()) -> bool:
    """True when nothing deleted so far survives in the files the application controls."""
    if engine.dialect.name == "sqlite":
        return _checkpoint_and_truncate(engine)
    if engine.dialect.name == "postgresql":
        return _vacuum_full(engine, list(rewrite_tables))
    return True


def _checkpoint_and_truncate(engine: Engine) -> bool:
    with engine.connect() as connection:
        busy, _log_frames, _checkpointed = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    if busy:
        log.info("the database's write-ahead log is still in use; it will be truncated at the next run")
    return not busy


def _vacuum_full(engine: Engine, tables: list[str], *, wait: float = 10.0) -> bool:
    """Rewrite `tables` without their dead rows.

    VACUUM FULL copies a deleted row into the new file while any transaction that began before the
    delete could still see it, so first wait (up to `wait` seconds) until every such transaction has
    ended; a longer one means trying again at the next run."""
    if not tables:
        return True
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        since = connection.scalar(text("SELECT clock_timestamp()"))
        deadline = time.monotonic() + wait
        while connection.scalar(_OLDER_TRANSACTIONS, {"since": since}):
            if time.monotonic() > deadline:
                log.info("a long transaction holds deleted rows visible; they will be scrubbed at the next run")
                return False
            time.sleep(0.05)
        for table in tables:
            # Table names come from our own code, never from input.
            connection.exec_driver_sql(f'VACUUM (FULL) "{table}"')
    return True


# Any database of the cluster: a snapshot held elsewhere can hold back what VACUUM may remove here too.
_OLDER_TRANSACTIONS = text(
    "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
    "AND (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL) AND xact_start < :since"
)
