"""Engine, sessions and migrations.

The schema is owned by Alembic: the application never calls `create_all`, so what runs in
production is exactly what the tests migrate.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, exc, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def make_engine(url: str, **kwargs: Any) -> Engine:
    # Bolt's 32 listener threads, the inbox's work threads and the jobs share one pool per process:
    # SQLAlchemy's default of 5 + 10 made them queue for connections under load.
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            # Bolt listeners and the scheduler run on threads; connections are never shared at
            # once, the pool hands each thread its own.
            connect_args={"check_same_thread": False, "timeout": 30},
            **kwargs,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # A database that hangs (a dropped network path) rather than refusing must not hold a listener past
    # Slack's 3 seconds: give up connecting after 2 s and answer "try again in a minute" instead.
    ping_when_idle = not kwargs.pop("pool_pre_ping", False)
    engine = create_engine(url, connect_args={"connect_timeout": 2}, **kwargs)
    if ping_when_idle:
        _ping_after_idle(engine)
    return engine


# A connection back from the pool within this long of its last use is not pinged first.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_after_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only when it sat idle, instead of SQLAlchemy's ping at every
    checkout: that ping was one round trip in every transaction (a click's 8 became 7). A connection
    that was in use a moment ago was alive a moment ago; one that waited longer may have lost its
    server (a restart, an idle timeout) and is pinged, and replaced at once if it does not answer. A
    restart inside that second costs one failed statement: SQLAlchemy then sees the disconnect and
    replaces every connection in the pool, and the inbox and outbox retry what failed."""

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _last_used(_dbapi_connection: Any, record: Any) -> None:
        record.info["last_used"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        last_used = record.info.get("last_used")
        if last_used is not None and time.monotonic() - last_used < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            if engine.dialect.is_disconnect(error, dbapi_connection, None):
                # The pool discards this connection and checks out another, as with pool_pre_ping.
                raise exc.DisconnectionError("the database closed this connection") from error
            raise


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets the web process read while the worker writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Deleted rows are overwritten with zeros (in the page, in free pages), so that what the bot
    # forgets (a closed round's links, a delivered author DM) cannot be carved out of the file.
    # The write-ahead log still holds old page versions until it is checkpointed and truncated:
    # see `bot.core.storage_scrub`.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def upsert_insert(session: Session, table: Any) -> Any:
    """`INSERT` with `ON CONFLICT` for the session's database: PostgreSQL's or SQLite's (the generic
    `insert` has no conflict clause)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def database_answers(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure means "not healthy"; the caller reports 503
        return False


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would choke on '%' in passwords.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    command.upgrade(alembic_config(url), "head")


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def schema_is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()
