"""A fresh database at an older revision, for tests that upgrade rows as an earlier version wrote them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.core.database import alembic_config, make_engine
from tests.conftest import PG_URL, _pg_admin_url


@contextmanager
def database_at(revision: str, db_url: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a new database of the test's kind (SQLite file or PostgreSQL database) migrated up to
    `revision`; a PostgreSQL one is dropped afterwards."""
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path}/old.sqlite3"
        command.upgrade(alembic_config(url), revision)
        yield url
        return
    assert PG_URL
    admin = make_engine(_pg_admin_url(PG_URL), isolation_level="AUTOCOMMIT")
    name = f"empathy_mig_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(_pg_admin_url(PG_URL)).set(database=name).render_as_string(hide_password=False)
    try:
        command.upgrade(alembic_config(url), revision)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
